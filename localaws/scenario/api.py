"""The API calls the scenario's principals make, each with the requestParameters, responseElements and
resources CloudTrail records for it. Read calls record no responseElements (CloudTrail leaves them
null); writes record what the service answered."""

from __future__ import annotations

import base64
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from localaws.scenario.records import (
    ACCOUNT_ID,
    Actor,
    event_uuid,
    expiration,
    hex_id,
    record,
    token,
)
from localaws.scenario.spec import ResourceSpec

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"  # the account's canonical ID
_API_VERSION = re.compile(r"\d{8}(v\d+)?$")  # Lambda's event names carry their API version
IAM_PREFIX = {"monitoring": "cloudwatch", "tagging": "tag", "elasticloadbalancing": "elasticloadbalancing"}


@dataclass
class Call:
    """What one API call touched; the builders fill it in."""

    rng: random.Random
    spec: ResourceSpec
    region: str
    t: int
    actor: Actor
    request: dict | None = None
    response: dict | None = None
    resources: list | None = None
    additional: dict | None = None
    bucket: str | None = None
    error: tuple[str, str] | None = None
    shared_event_id: str | None = None
    resource_arn: str = "*"

    def pick(self, options):
        return options[self.rng.randrange(len(options))]

    def instance(self):
        instances = self.spec.instances_in(self.region) or self.spec.instances
        return self.pick(instances)


@dataclass(frozen=True)
class Api:
    source: str
    name: str
    read_only: bool
    build: Callable[[Call], None] | None = None
    scope: str = "regional"  # regional / global (us-east-1) / bucket (the bucket's region)
    denied_rate: float = 0.0  # how often the caller lacks the permission
    data_event: bool = False

    @property
    def key(self) -> str:
        return f"{self.source.split('.')[0]}:{self.name}"


def resource_element(arn: str, kind: str) -> dict:
    return {"accountId": ACCOUNT_ID, "type": kind, "ARN": arn}


def s3_extra(c: Call, bytes_out: int | None = None) -> None:
    c.additional = {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": 0,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": base64.b64encode(c.rng.randbytes(57)).decode(),
        "bytesTransferredOut": c.rng.randint(200, 4000) if bytes_out is None else bytes_out,
    }


def _bucket_call(subresource: str) -> Callable[[Call], None]:
    def build(c: Call) -> None:
        bucket = c.pick(c.spec.buckets)
        c.bucket, c.region = bucket.name, bucket.region
        c.request = {"bucketName": bucket.name, "Host": f"{bucket.name}.s3.{bucket.region}.amazonaws.com"}
        c.request[subresource] = ""
        c.resources = [resource_element(bucket.arn, "AWS::S3::Bucket")]
        c.resource_arn = bucket.arn
        s3_extra(c)
        if subresource == "policy" and bucket.access != "public-policy":
            c.error = ("NoSuchBucketPolicy", "The bucket policy does not exist")

    return build


def _list_buckets(c: Call) -> None:
    c.request = {"Host": "s3.amazonaws.com"}
    s3_extra(c, c.rng.randint(2500, 4500))


def _ec2_filter(set_name: str) -> Callable[[Call], None]:
    def build(c: Call) -> None:
        c.request = {set_name: {}, "filterSet": {}}
        if c.actor.channel == "console":
            c.request["maxResults"] = 1000

    return build


def _describe_instance_status(c: Call) -> None:
    c.request = {"instancesSet": {}, "filterSet": {}, "includeAllInstances": True}


def _describe_snapshots(c: Call) -> None:
    c.request = {
        "snapshotSet": {},
        "ownersSet": {"items": [{"owner": "self"}]},
        "sharedUsersSet": {},
        "filterSet": {},
    }


def _create_tags(c: Call) -> None:
    instance = c.instance()
    c.request = {
        "resourcesSet": {"items": [{"resourceId": instance.instance_id}]},
        "tagSet": {
            "items": [{"key": c.pick(("Owner", "CostCenter", "Service")), "value": c.pick(("orders", "web"))}]
        },
    }
    c.response = {"requestId": event_uuid(c.rng), "_return": True}


def _instance_state(name: str, current: tuple[int, str], previous: tuple[int, str]) -> Callable[[Call], None]:
    def build(c: Call) -> None:
        instance = c.instance()
        c.resource_arn = f"arn:aws:ec2:{c.region}:{ACCOUNT_ID}:instance/{instance.instance_id}"
        c.request = {"instancesSet": {"items": [{"instanceId": instance.instance_id}]}}
        if name == "StopInstances":
            c.request["force"] = False
        c.response = {
            "requestId": event_uuid(c.rng),
            "instancesSet": {
                "items": [
                    {
                        "instanceId": instance.instance_id,
                        "currentState": {"code": current[0], "name": current[1]},
                        "previousState": {"code": previous[0], "name": previous[1]},
                    }
                ]
            },
        }

    return build


def _create_snapshot(c: Call) -> None:
    instance = c.instance()
    description = f"nightly backup of {instance.name}"
    c.request = {"volumeId": instance.volume_id, "description": description}
    c.response = {
        "requestId": event_uuid(c.rng),
        "snapshotId": f"snap-{hex_id(c.rng, 17)}",
        "volumeId": instance.volume_id,
        "status": "pending",
        "startTime": c.t * 1000,
        "progress": "",
        "ownerId": ACCOUNT_ID,
        "volumeSize": 100,
        "description": description,
        "encrypted": True,
    }


def _delete_snapshot(c: Call) -> None:
    c.request = {"snapshotId": f"snap-{hex_id(c.rng, 17)}"}
    c.response = {"requestId": event_uuid(c.rng), "_return": True}


def _describe_regions(c: Call) -> None:
    c.request = {"regionSet": {}, "allRegions": False}


def _iam_role(c: Call) -> None:
    role = c.pick(c.spec.roles)
    c.request = {"roleName": role.name}
    c.resource_arn = f"arn:aws:iam::{ACCOUNT_ID}:role{role.path}{role.name}"


def _iam_user(c: Call) -> None:
    users = [u["name"] for u in c.spec.users] or ["build-bot"]
    c.request = {"userName": c.pick(users)}


def _iam_list(c: Call) -> None:
    c.request = {"maxItems": 1000} if c.actor.channel == "console" else None


def _iam_policy(c: Call) -> None:
    name = c.pick(("AmazonS3ReadOnlyAccess", "ReadOnlyAccess", "AmazonEC2FullAccess", "PowerUserAccess"))
    c.request = {"policyArn": f"arn:aws:iam::aws:policy/{name}"}


def _iam_policy_version(c: Call) -> None:
    _iam_policy(c)
    c.request["versionId"] = f"v{c.rng.randint(1, 9)}"


def _caller_identity(c: Call) -> None:
    c.request = None


def _assume_role(c: Call) -> None:
    role = next(r for r in c.spec.roles if r.name == "terraform-deployer")
    arn = f"arn:aws:iam::{ACCOUNT_ID}:role{role.path}{role.name}"
    session = c.actor.identity.get("userName") or "cli-session"
    c.request = {"roleArn": arn, "roleSessionName": session, "durationSeconds": 3600}
    c.response = credentials(c, role.name, session, 3600)
    c.resources = [resource_element(arn, "AWS::IAM::Role")]
    c.resource_arn = arn


def credentials(c: Call, role: str, session: str, seconds: int, role_id: str | None = None) -> dict:
    role_id = role_id or "AROA" + token(c.rng, 17)
    return {
        "credentials": {
            "accessKeyId": "ASIA" + token(c.rng, 16),
            "sessionToken": base64.b64encode(c.rng.randbytes(48)).decode(),
            "expiration": expiration(c.t + seconds),
        },
        "assumedRoleUser": {
            "assumedRoleId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session}",
        },
    }


def _function(c: Call) -> str:
    functions = c.spec.functions.get(c.region) or c.spec.functions["us-east-1"]
    name = c.pick(functions)
    c.resource_arn = f"arn:aws:lambda:{c.region}:{ACCOUNT_ID}:function:{name}"
    return name


def _get_function(c: Call) -> None:
    c.request = {"functionName": _function(c)}


def _list_functions(c: Call) -> None:
    c.request = None


def _update_function_code(c: Call) -> None:
    name = _function(c)
    c.request = {"functionName": name, "publish": True, "dryRun": False}
    c.response = _function_config(c, name)


def _update_function_configuration(c: Call) -> None:
    name = _function(c)
    c.request = {"functionName": name, "environment": {}, "timeout": c.pick((30, 60, 120))}
    c.response = _function_config(c, name)


def _function_config(c: Call, name: str) -> dict:
    return {
        "functionName": name,
        "functionArn": f"arn:aws:lambda:{c.region}:{ACCOUNT_ID}:function:{name}",
        "runtime": "python3.12",
        "role": f"arn:aws:iam::{ACCOUNT_ID}:role/service-role/lambda-orders-role",
        "handler": "app.handler",
        "codeSize": c.rng.randint(40_000, 9_000_000),
        "description": "",
        "timeout": 60,
        "memorySize": 512,
        "lastModified": f"{_iso_ms(c.t)}+0000",
        "codeSha256": base64.b64encode(c.rng.randbytes(32)).decode(),
        "version": "$LATEST",
        "tracingConfig": {"mode": "PassThrough"},
        "revisionId": event_uuid(c.rng),
        "state": "Active",
        "lastUpdateStatus": "InProgress",
        "packageType": "Zip",
        "architectures": ["x86_64"],
    }


def _iso_ms(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000", time.gmtime(t))


def _kms(c: Call) -> None:
    key = c.spec.kms_keys.get(c.region) or next(iter(c.spec.kms_keys.values()))
    arn = f"arn:aws:kms:{c.region}:{ACCOUNT_ID}:key/{key}"
    c.resources = [resource_element(arn, "AWS::KMS::Key")]
    c.resource_arn = arn
    c.request = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"service": "orders"}}


def _kms_data_key(c: Call) -> None:
    _kms(c)
    c.request = {"keyId": c.resource_arn, "keySpec": "AES_256"}


def _kms_list_aliases(c: Call) -> None:
    c.request = {"limit": 100} if c.actor.channel == "console" else None


def _secret(c: Call) -> None:
    c.request = {"secretId": c.pick(c.spec.secrets)}
    c.resource_arn = (
        f"arn:aws:secretsmanager:{c.region}:{ACCOUNT_ID}:secret:{c.request['secretId']}-{token(c.rng, 6)}"
    )


def _list_secrets(c: Call) -> None:
    c.request = {"maxResults": 100} if c.actor.channel == "console" else None


def _parameter(c: Call) -> None:
    c.request = {"name": c.pick(c.spec.parameters), "withDecryption": True}


def _parameters_by_path(c: Call) -> None:
    c.request = {"path": c.pick(("/prod/orders", "/staging/orders", "/prod/shared")), "recursive": True}


def _put_parameter(c: Call) -> None:
    name = c.pick(c.spec.parameters[::2])
    c.request = {"name": name, "type": "String", "overwrite": True}
    c.response = {"version": c.rng.randint(2, 80), "tier": "Standard"}


def _metric_data(c: Call) -> None:
    c.request = {
        "metricDataQueries": [
            {
                "id": "m1",
                "metricStat": {
                    "metric": {
                        "namespace": c.pick(("AWS/EC2", "AWS/Lambda", "AWS/ApplicationELB")),
                        "metricName": "CPUUtilization",
                    },
                    "period": 300,
                    "stat": "Average",
                },
            }
        ],
        "startTime": "",
        "endTime": "",
    }
    c.request["startTime"] = _iso_ms(c.t - 10800) + "Z"
    c.request["endTime"] = _iso_ms(c.t) + "Z"


def _describe_alarms(c: Call) -> None:
    c.request = {"maxRecords": 100}


def _list_metrics(c: Call) -> None:
    c.request = {"namespace": c.pick(("AWS/EC2", "AWS/Lambda", "AWS/RDS", "AWS/ApplicationELB"))}


def _log_groups(c: Call) -> None:
    c.request = {"limit": 50}


def _log_streams(c: Call) -> None:
    c.request = {"logGroupName": c.pick(c.spec.log_groups), "orderBy": "LastEventTime", "descending": True}


def _lookup_events(c: Call) -> None:
    c.request = {
        "maxResults": 50,
        "lookupAttributes": [{"attributeKey": "ReadOnly", "attributeValue": "false"}],
    }


def _describe_trails(c: Call) -> None:
    c.request = {"trailNameList": [], "includeShadowTrails": True}


def _trail_status(c: Call) -> None:
    c.request = {"name": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/{c.spec.trail_name}"}


def _event_selectors(c: Call) -> None:
    c.request = {"trailName": c.spec.trail_name}


def _table(c: Call) -> None:
    c.request = {"tableName": c.pick(c.spec.tables)}


def _nothing(c: Call) -> None:
    c.request = None


def _empty(c: Call) -> None:
    c.request = {}


def _rds_snapshot(c: Call) -> None:
    db = c.spec.databases.get(c.region, "orders-prod")
    snapshot = f"{db}-nightly-{token(c.rng, 8).lower()}"
    c.request = {"dBSnapshotIdentifier": snapshot, "dBInstanceIdentifier": db}
    c.response = {
        "dBSnapshotIdentifier": snapshot,
        "dBInstanceIdentifier": db,
        "engine": "postgres",
        "allocatedStorage": 200,
        "status": "creating",
        "port": 5432,
        "availabilityZone": f"{c.region}a",
        "vpcId": c.spec.networks[c.region].vpc_id if c.region in c.spec.networks else "",
        "masterUsername": "orders_admin",
        "engineVersion": "16.3",
        "licenseModel": "postgresql-license",
        "snapshotType": "manual",
        "encrypted": True,
        "dBSnapshotArn": f"arn:aws:rds:{c.region}:{ACCOUNT_ID}:snapshot:{snapshot}",
        "storageType": "gp3",
    }


def _ecr_token(c: Call) -> None:
    c.request = {"registryIds": [ACCOUNT_ID]}


def _ecr_images(c: Call) -> None:
    c.request = {"repositoryName": c.pick(c.spec.repositories), "registryId": ACCOUNT_ID, "maxResults": 100}


def _ecr_put_image(c: Call) -> None:
    repository = c.pick(c.spec.repositories)
    digest = "sha256:" + hex_id(c.rng, 64)
    c.request = {
        "repositoryName": repository,
        "imageTag": hex_id(c.rng, 7),
        "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
    }
    c.response = {
        "image": {
            "registryId": ACCOUNT_ID,
            "repositoryName": repository,
            "imageId": {"imageDigest": digest, "imageTag": c.request["imageTag"]},
        }
    }
    arn = f"arn:aws:ecr:{c.region}:{ACCOUNT_ID}:repository/{repository}"
    c.resources = [resource_element(arn, "AWS::ECR::Repository")]


def _ecs_services(c: Call) -> None:
    c.request = {"cluster": "prod", "services": [c.pick(("orders-api", "web-frontend"))]}


def _ecs_update(c: Call) -> None:
    service = c.pick(("orders-api", "web-frontend"))
    c.request = {"cluster": "prod", "service": service, "forceNewDeployment": True}
    c.response = {
        "service": {
            "serviceArn": f"arn:aws:ecs:{c.region}:{ACCOUNT_ID}:service/prod/{service}",
            "serviceName": service,
            "clusterArn": f"arn:aws:ecs:{c.region}:{ACCOUNT_ID}:cluster/prod",
            "status": "ACTIVE",
            "desiredCount": 3,
            "runningCount": 3,
            "launchType": "FARGATE",
        }
    }


def _athena_start(c: Call) -> None:
    query_id = event_uuid(c.rng)
    c.request = {
        "queryString": c.pick(
            (
                "SELECT country, count(*) FROM sales.orders WHERE dt = current_date GROUP BY 1",
                "SELECT * FROM marketing.campaign_clicks LIMIT 100",
                "SELECT sku, sum(amount) FROM sales.order_lines GROUP BY sku ORDER BY 2 DESC LIMIT 50",
            )
        ),
        "clientRequestToken": event_uuid(c.rng),
        "queryExecutionContext": {"database": c.pick(("sales", "marketing"))},
        "workGroup": "primary",
    }
    c.response = {"queryExecutionId": query_id}


def _athena_query(c: Call) -> None:
    c.request = {"queryExecutionId": event_uuid(c.rng)}


def _glue_tables(c: Call) -> None:
    c.request = {"databaseName": c.pick(("sales", "marketing")), "maxResults": 100}


def _cost(c: Call) -> None:
    end = time.strftime("%Y-%m-%d", time.gmtime(c.t))
    start = time.strftime("%Y-%m-%d", time.gmtime(c.t - 30 * 86400))
    c.request = {
        "timePeriod": {"start": start, "end": end},
        "granularity": c.pick(("DAILY", "MONTHLY")),
        "metrics": ["UnblendedCost"],
        "groupBy": [{"type": "DIMENSION", "key": "SERVICE"}],
    }


def _guardduty_findings(c: Call) -> None:
    c.request = {
        "detectorId": hex_id(c.rng, 32),
        "maxResults": 50,
        "sortCriteria": {"attributeName": "updatedAt", "orderBy": "DESC"},
    }


def _securityhub_findings(c: Call) -> None:
    c.request = {"filters": {"RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}]}, "maxResults": 100}


def _health(c: Call) -> None:
    c.request = {"aggregateField": "eventTypeCategory", "filter": {"eventStatusCodes": ["open", "upcoming"]}}


def _elb(c: Call) -> None:
    c.request = {"pageSize": 400}


def _tagging(c: Call) -> None:
    c.request = {
        "resourcesPerPage": 100,
        "resourceTypeFilters": [c.pick(("ec2:instance", "s3", "lambda:function"))],
    }


def _cloudtrail_acl_check(c: Call) -> None:
    bucket = c.spec.bucket(c.spec.trail_bucket)
    c.bucket, c.region = bucket.name, bucket.region
    c.request = {"bucketName": bucket.name, "Host": f"{bucket.name}.s3.amazonaws.com", "acl": ""}
    c.resources = [resource_element(bucket.arn, "AWS::S3::Bucket")]
    s3_extra(c)


def _service_assume_role(role_name: str) -> Callable[[Call], None]:
    def build(c: Call) -> None:
        role = next(r for r in c.spec.roles if r.name == role_name)
        arn = f"arn:aws:iam::{ACCOUNT_ID}:role{role.path}{role.name}"
        if role_name == "app-server-role":
            session = c.instance().instance_id
        else:
            functions = c.spec.functions.get(c.region) or c.spec.functions["us-east-1"]
            session = c.pick(functions)
        c.request = {"roleArn": arn, "roleSessionName": session}
        c.response = credentials(c, role.name, session, 21600 if role_name == "app-server-role" else 43200)
        c.resources = [resource_element(arn, "AWS::IAM::Role")]
        c.shared_event_id = event_uuid(c.rng)

    return build


APIS: dict[str, Api] = {
    api.key: api
    for api in (
        # EC2 reads and routine writes
        Api("ec2.amazonaws.com", "DescribeInstances", True, _ec2_filter("instancesSet")),
        Api("ec2.amazonaws.com", "DescribeInstanceStatus", True, _describe_instance_status),
        Api("ec2.amazonaws.com", "DescribeSecurityGroups", True, _ec2_filter("securityGroupSet")),
        Api("ec2.amazonaws.com", "DescribeVpcs", True, _ec2_filter("vpcSet")),
        Api("ec2.amazonaws.com", "DescribeSubnets", True, _ec2_filter("subnetSet")),
        Api("ec2.amazonaws.com", "DescribeVolumes", True, _ec2_filter("volumeSet")),
        Api("ec2.amazonaws.com", "DescribeNetworkAcls", True, _ec2_filter("networkAclIdSet")),
        Api("ec2.amazonaws.com", "DescribeInternetGateways", True, _ec2_filter("internetGatewayIdSet")),
        Api("ec2.amazonaws.com", "DescribeNatGateways", True, _ec2_filter("natGatewayIdSet")),
        Api("ec2.amazonaws.com", "DescribeRouteTables", True, _ec2_filter("routeTableIdSet")),
        Api("ec2.amazonaws.com", "DescribeVpnConnections", True, _ec2_filter("vpnConnectionSet")),
        Api("ec2.amazonaws.com", "DescribeSnapshots", True, _describe_snapshots),
        Api("ec2.amazonaws.com", "DescribeRegions", True, _describe_regions),
        Api("ec2.amazonaws.com", "DescribeAddresses", True, _ec2_filter("publicIpsSet")),
        Api("ec2.amazonaws.com", "CreateTags", False, _create_tags, denied_rate=0.02),
        Api(
            "ec2.amazonaws.com",
            "StartInstances",
            False,
            _instance_state("StartInstances", (0, "pending"), (80, "stopped")),
            denied_rate=0.05,
        ),
        Api(
            "ec2.amazonaws.com",
            "StopInstances",
            False,
            _instance_state("StopInstances", (64, "stopping"), (16, "running")),
            denied_rate=0.05,
        ),
        Api("ec2.amazonaws.com", "CreateSnapshot", False, _create_snapshot),
        Api("ec2.amazonaws.com", "DeleteSnapshot", False, _delete_snapshot),
        # S3 bucket-level management events
        Api("s3.amazonaws.com", "ListBuckets", True, _list_buckets, scope="global"),
        Api("s3.amazonaws.com", "GetBucketLocation", True, _bucket_call("location"), scope="bucket"),
        Api("s3.amazonaws.com", "GetBucketAcl", True, _bucket_call("acl"), scope="bucket", denied_rate=0.01),
        Api("s3.amazonaws.com", "GetBucketPolicy", True, _bucket_call("policy"), scope="bucket"),
        Api("s3.amazonaws.com", "GetBucketVersioning", True, _bucket_call("versioning"), scope="bucket"),
        Api("s3.amazonaws.com", "GetBucketEncryption", True, _bucket_call("encryption"), scope="bucket"),
        Api("s3.amazonaws.com", "GetBucketPolicyStatus", True, _bucket_call("policyStatus"), scope="bucket"),
        Api(
            "s3.amazonaws.com",
            "GetBucketPublicAccessBlock",
            True,
            _bucket_call("publicAccessBlock"),
            scope="bucket",
        ),
        Api("s3.amazonaws.com", "GetBucketTagging", True, _bucket_call("tagging"), scope="bucket"),
        # IAM and STS
        Api("iam.amazonaws.com", "ListUsers", True, _iam_list, scope="global", denied_rate=0.03),
        Api("iam.amazonaws.com", "ListRoles", True, _iam_list, scope="global", denied_rate=0.03),
        Api("iam.amazonaws.com", "ListPolicies", True, _iam_list, scope="global"),
        Api("iam.amazonaws.com", "GetRole", True, _iam_role, scope="global"),
        Api("iam.amazonaws.com", "GetUser", True, _iam_user, scope="global"),
        Api("iam.amazonaws.com", "ListAttachedRolePolicies", True, _iam_role, scope="global"),
        Api("iam.amazonaws.com", "ListRolePolicies", True, _iam_role, scope="global"),
        Api("iam.amazonaws.com", "GetPolicy", True, _iam_policy, scope="global"),
        Api("iam.amazonaws.com", "GetPolicyVersion", True, _iam_policy_version, scope="global"),
        Api("iam.amazonaws.com", "GetAccountSummary", True, _nothing, scope="global"),
        Api("iam.amazonaws.com", "GetAccountPasswordPolicy", True, _nothing, scope="global"),
        Api("iam.amazonaws.com", "GenerateCredentialReport", False, _nothing, scope="global"),
        Api("iam.amazonaws.com", "GetCredentialReport", True, _nothing, scope="global"),
        Api("iam.amazonaws.com", "ListAccessKeys", True, _iam_user, scope="global"),
        Api("sts.amazonaws.com", "GetCallerIdentity", True, _caller_identity),
        Api("sts.amazonaws.com", "AssumeRole", True, _assume_role),
        # Lambda, KMS, secrets and parameters
        Api("lambda.amazonaws.com", "ListFunctions20150331", True, _list_functions),
        Api("lambda.amazonaws.com", "GetFunction20150331v2", True, _get_function),
        Api(
            "lambda.amazonaws.com",
            "UpdateFunctionCode20150331v2",
            False,
            _update_function_code,
            denied_rate=0.03,
        ),
        Api(
            "lambda.amazonaws.com",
            "UpdateFunctionConfiguration20150331v2",
            False,
            _update_function_configuration,
        ),
        Api("kms.amazonaws.com", "Decrypt", True, _kms),
        Api("kms.amazonaws.com", "GenerateDataKey", True, _kms_data_key),
        Api("kms.amazonaws.com", "ListAliases", True, _kms_list_aliases),
        Api("secretsmanager.amazonaws.com", "GetSecretValue", True, _secret, denied_rate=0.04),
        Api("secretsmanager.amazonaws.com", "ListSecrets", True, _list_secrets),
        Api("ssm.amazonaws.com", "GetParameter", True, _parameter),
        Api("ssm.amazonaws.com", "GetParametersByPath", True, _parameters_by_path),
        Api("ssm.amazonaws.com", "PutParameter", False, _put_parameter, denied_rate=0.02),
        # Observability
        Api("monitoring.amazonaws.com", "GetMetricData", True, _metric_data),
        Api("monitoring.amazonaws.com", "DescribeAlarms", True, _describe_alarms),
        Api("monitoring.amazonaws.com", "ListMetrics", True, _list_metrics),
        Api("logs.amazonaws.com", "DescribeLogGroups", True, _log_groups),
        Api("logs.amazonaws.com", "DescribeLogStreams", True, _log_streams),
        Api("cloudtrail.amazonaws.com", "LookupEvents", True, _lookup_events),
        Api("cloudtrail.amazonaws.com", "DescribeTrails", True, _describe_trails),
        Api("cloudtrail.amazonaws.com", "GetTrailStatus", True, _trail_status),
        Api("cloudtrail.amazonaws.com", "GetEventSelectors", True, _event_selectors),
        Api("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", True, _elb),
        Api("tagging.amazonaws.com", "GetResources", True, _tagging),
        Api("health.amazonaws.com", "DescribeEventAggregates", True, _health, scope="global"),
        # Data stores and containers
        Api("dynamodb.amazonaws.com", "DescribeTable", True, _table),
        Api("dynamodb.amazonaws.com", "ListTables", True, _empty),
        Api("rds.amazonaws.com", "DescribeDBInstances", True, _nothing),
        Api("rds.amazonaws.com", "DescribeDBSnapshots", True, _nothing),
        Api("rds.amazonaws.com", "CreateDBSnapshot", False, _rds_snapshot),
        Api("ecr.amazonaws.com", "GetAuthorizationToken", True, _ecr_token),
        Api("ecr.amazonaws.com", "DescribeImages", True, _ecr_images),
        Api("ecr.amazonaws.com", "PutImage", False, _ecr_put_image),
        Api("ecs.amazonaws.com", "DescribeServices", True, _ecs_services),
        Api("ecs.amazonaws.com", "UpdateService", False, _ecs_update),
        # Analytics, cost, security tooling
        Api("athena.amazonaws.com", "StartQueryExecution", False, _athena_start),
        Api("athena.amazonaws.com", "GetQueryExecution", True, _athena_query),
        Api("athena.amazonaws.com", "GetQueryResults", True, _athena_query),
        Api("glue.amazonaws.com", "GetTables", True, _glue_tables),
        Api("glue.amazonaws.com", "GetDatabases", True, _empty),
        Api("ce.amazonaws.com", "GetCostAndUsage", True, _cost, scope="global"),
        Api("guardduty.amazonaws.com", "ListFindings", True, _guardduty_findings),
        Api("guardduty.amazonaws.com", "ListDetectors", True, _empty),
        Api("securityhub.amazonaws.com", "GetFindings", True, _securityhub_findings),
        # AWS services acting on their own
        Api("sts.amazonaws.com", "AssumeRole#ec2", True, _service_assume_role("app-server-role")),
        Api("sts.amazonaws.com", "AssumeRole#lambda", True, _service_assume_role("lambda-orders-role")),
        Api("s3.amazonaws.com", "GetBucketAcl#cloudtrail", True, _cloudtrail_acl_check, scope="bucket"),
    )
}


def access_denied(api_source: str, name: str, actor_arn: str, resource: str) -> tuple[str, str]:
    service = api_source.split(".")[0]
    action = _API_VERSION.sub("", name.split("#")[0])
    if service == "ec2":
        return (
            "Client.UnauthorizedOperation",
            f"You are not authorized to perform this operation. User: {actor_arn} is not authorized to "
            f"perform: ec2:{action} because no identity-based policy allows the ec2:{action} action",
        )
    if service == "s3":
        return ("AccessDenied", "Access Denied")
    prefix = IAM_PREFIX.get(service, service)
    return (
        "AccessDenied",
        f"User: {actor_arn} is not authorized to perform: {prefix}:{action} on resource: {resource} "
        f"because no identity-based policy allows the {prefix}:{action} action",
    )


def api_event(
    key: str,
    *,
    actor: Actor,
    actor_arn: str,
    rng: random.Random,
    spec: ResourceSpec,
    region: str,
    t: int,
    denied: bool | None = None,
) -> dict:
    """One CloudTrail record of the catalogued call ``key`` made by ``actor``."""
    api = APIS[key]
    if api.scope == "global":
        region = "us-east-1"
    call = Call(rng=rng, spec=spec, region=region, t=t, actor=actor)
    if api.build:
        api.build(call)
    if call.error is None and (denied if denied is not None else rng.random() < api.denied_rate):
        call.error = access_denied(api.source, api.name, actor_arn, call.resource_arn)
    s3 = api.source == "s3.amazonaws.com"
    return record(
        t=t,
        actor=actor,
        source=api.source,
        name=api.name.split("#")[0],
        region=call.region,
        read_only=api.read_only,
        event_id=event_uuid(rng),
        request_id=hex_id(rng, 16).upper() if s3 else event_uuid(rng),
        request=call.request,
        response=call.response,
        resources=call.resources,
        error=call.error,
        additional=call.additional,
        management=not api.data_event,
        shared_event_id=call.shared_event_id,
        bucket=call.bucket,
    )
