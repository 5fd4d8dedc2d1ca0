"""The account's resources: what apply_scenario creates in the emulator and what the events name."""

from __future__ import annotations

from dataclasses import dataclass, field

from localaws.scenario.records import ACCOUNT_ID, event_uuid, hex_id, rng_for

ORG_REGIONS = ("us-east-1", "eu-west-1")
HOME_REGION = "us-east-1"
TRAIL_NAME = "hanbit-org-trail"
TRAIL_BUCKET = f"hanbit-cloudtrail-logs-{ACCOUNT_ID}"
TRAIL_ARN = f"arn:aws:cloudtrail:{HOME_REGION}:{ACCOUNT_ID}:trail/{TRAIL_NAME}"


@dataclass(frozen=True)
class Bucket:
    name: str
    region: str
    access: str  # private / public-acl / public-policy
    purpose: str

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"


@dataclass(frozen=True)
class Instance:
    instance_id: str
    region: str
    name: str
    instance_type: str
    availability_zone: str
    private_ip: str
    volume_id: str
    subnet_id: str
    vpc_id: str


@dataclass(frozen=True)
class Network:
    region: str
    vpc_id: str
    cidr: str
    subnet_ids: tuple[str, ...]
    security_groups: dict[str, str]  # name -> id
    network_acl_id: str
    internet_gateway_id: str
    route_table_id: str


@dataclass(frozen=True)
class Role:
    name: str
    path: str
    trust: str  # a service principal, "saml", "oidc" or an account id
    description: str
    managed_policies: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceSpec:
    account_id: str
    regions: tuple[str, ...]
    buckets: tuple[Bucket, ...]
    instances: tuple[Instance, ...]
    networks: dict[str, Network]
    roles: tuple[Role, ...]
    functions: dict[str, tuple[str, ...]]
    kms_keys: dict[str, str]  # region -> key id
    secrets: tuple[str, ...]
    parameters: tuple[str, ...]
    tables: tuple[str, ...]
    log_groups: tuple[str, ...]
    repositories: tuple[str, ...]
    databases: dict[str, str]  # region -> RDS instance identifier
    trail_name: str = TRAIL_NAME
    trail_bucket: str = TRAIL_BUCKET
    users: tuple = field(default=())  # filled by the cast: the IAM users' (name, email, console, keys)

    def bucket(self, name: str) -> Bucket:
        return next(b for b in self.buckets if b.name == name)

    def instances_in(self, region: str) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if i.region == region)

    def as_json(self) -> dict:
        return {
            "account_id": self.account_id,
            "regions": list(self.regions),
            "trail": {"name": self.trail_name, "bucket": self.trail_bucket, "multi_region": True},
            "buckets": [
                {"name": b.name, "region": b.region, "access": b.access, "purpose": b.purpose}
                for b in self.buckets
            ],
            "instances": [
                {"id": i.instance_id, "region": i.region, "name": i.name, "type": i.instance_type}
                for i in self.instances
            ],
            "roles": [{"name": r.name, "path": r.path, "trust": r.trust} for r in self.roles],
            "users": [dict(u) for u in self.users],
        }


BUCKETS = (
    Bucket(TRAIL_BUCKET, "us-east-1", "private", "CloudTrail log files of the organization trail"),
    Bucket("hanbit-press-kit", "us-east-1", "public-acl", "Press kit and brand assets"),
    Bucket("hanbit-web-static", "eu-west-1", "public-policy", "Static assets of the web shop"),
    Bucket("hanbit-prod-orders", "us-east-1", "private", "Order exports of the production shop"),
    Bucket("hanbit-data-lake-raw", "us-east-1", "private", "Raw analytics events"),
    Bucket("hanbit-athena-results", "us-east-1", "private", "Athena query results"),
    Bucket("hanbit-tmp-exports", "us-east-1", "private", "Temporary exports, cleaned weekly"),
    Bucket("hanbit-terraform-state", "us-east-1", "private", "Terraform state"),
    Bucket("hanbit-eu-customer-exports", "eu-west-1", "private", "GDPR exports of EU customers"),
)

INSTANCE_LAYOUT = {
    "us-east-1": (
        ("orders-api-1", "m6i.large"),
        ("orders-api-2", "m6i.large"),
        ("orders-api-3", "m6i.large"),
        ("web-frontend-1", "c6i.large"),
        ("web-frontend-2", "c6i.large"),
        ("batch-worker-1", "c6i.xlarge"),
        ("batch-worker-2", "c6i.xlarge"),
        ("bastion-use1", "t3.micro"),
    ),
    "eu-west-1": (
        ("eu-orders-api-1", "m6i.large"),
        ("eu-orders-api-2", "m6i.large"),
        ("eu-batch-worker-1", "c6i.xlarge"),
        ("bastion-euw1", "t3.micro"),
    ),
}
VPC_CIDRS = {"us-east-1": "10.10", "eu-west-1": "10.20"}

ROLES = (
    Role("app-server-role", "/", "ec2.amazonaws.com", "Instance profile of the application servers"),
    Role(
        "lambda-orders-role",
        "/service-role/",
        "lambda.amazonaws.com",
        "Execution role of the order functions",
    ),
    Role(
        "s3-retention-cleanup-role",
        "/service-role/",
        "lambda.amazonaws.com",
        "Weekly cleanup of temp exports",
    ),
    Role("terraform-deployer", "/", ACCOUNT_ID, "Assumed by Atlantis to plan and apply Terraform"),
    Role("github-actions-deploy", "/", "oidc", "Assumed by GitHub Actions through OIDC to deploy"),
    Role("observability-integration", "/", "210987654321", "Read-only role of the monitoring vendor"),
    Role("ADFS-Developers", "/", "saml", "Developers federated from ADFS"),
    Role("ADFS-DataAnalysts", "/", "saml", "Data analysts federated from ADFS"),
)


def build_spec(seed: int) -> ResourceSpec:
    rng = rng_for("spec", seed)
    networks: dict[str, Network] = {}
    instances: list[Instance] = []
    for region in ORG_REGIONS:
        prefix = VPC_CIDRS[region]
        subnets = tuple(f"subnet-{hex_id(rng, 17)}" for _ in range(2))
        networks[region] = Network(
            region=region,
            vpc_id=f"vpc-{hex_id(rng, 17)}",
            cidr=f"{prefix}.0.0/16",
            subnet_ids=subnets,
            security_groups={
                name: f"sg-{hex_id(rng, 17)}" for name in ("web-alb-sg", "app-sg", "bastion-sg", "db-sg")
            },
            network_acl_id=f"acl-{hex_id(rng, 17)}",
            internet_gateway_id=f"igw-{hex_id(rng, 17)}",
            route_table_id=f"rtb-{hex_id(rng, 17)}",
        )
        for index, (name, instance_type) in enumerate(INSTANCE_LAYOUT[region]):
            zone = "ab"[index % 2]
            instances.append(
                Instance(
                    instance_id=f"i-{hex_id(rng, 17)}",
                    region=region,
                    name=name,
                    instance_type=instance_type,
                    availability_zone=f"{region}{zone}",
                    private_ip=f"{prefix}.{1 + index % 2}.{20 + index}",
                    volume_id=f"vol-{hex_id(rng, 17)}",
                    subnet_id=subnets[index % 2],
                    vpc_id=networks[region].vpc_id,
                )
            )
    return ResourceSpec(
        account_id=ACCOUNT_ID,
        regions=ORG_REGIONS,
        buckets=BUCKETS,
        instances=tuple(instances),
        networks=networks,
        roles=ROLES,
        functions={
            "us-east-1": (
                "orders-api-authorizer",
                "thumbnail-generator",
                "nightly-sales-report",
                "s3-retention-cleanup",
            ),
            "eu-west-1": ("eu-gdpr-export", "eu-thumbnail-generator"),
        },
        kms_keys={region: event_uuid(rng) for region in ORG_REGIONS},
        secrets=("prod/orders/db-password", "prod/payments/psp-api-key", "staging/orders/db-password"),
        parameters=(
            "/prod/orders/feature-flags",
            "/prod/shared/monitoring-api-key",
            "/staging/orders/feature-flags",
        ),
        tables=("orders", "sessions", "terraform-locks"),
        log_groups=(
            "/aws/lambda/orders-api-authorizer",
            "/aws/lambda/thumbnail-generator",
            "/ecs/orders-api",
        ),
        repositories=("orders-api", "web-frontend"),
        databases={"us-east-1": "orders-prod", "eu-west-1": "orders-eu"},
    )
