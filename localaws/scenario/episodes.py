"""The last day's attacks, one event per activity template of PRODUCT.md 6.1, and look-alikes that
must not alert. Each lands at a fixed UTC clock time within the last 24 hours before the anchor, so
local times stay plausible (the Seoul sign-in happens in the Seoul morning) whatever the anchor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from localaws.scenario import calls, geo
from localaws.scenario.activity import DAY, HOUR, Activity
from localaws.scenario.api import api_event
from localaws.scenario.cast import Principal
from localaws.scenario.records import ACCOUNT_ID, TOR_BROWSER, Actor, hex_id, rng_for
from localaws.scenario.spec import TRAIL_ARN, TRAIL_BUCKET, TRAIL_NAME

ATTACKER_REGION = "ap-southeast-2"  # never used by the organization
ATTACKER_TOOL = (
    "aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off command/{command}"
)
VCPU_LIMIT = (
    "You have requested more vCPU capacity than your current vCPU limit of 64 allows for the instance "
    "bucket that the specified instance type belongs to. Please visit "
    "http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit."
)
TEMPLATE_KEYS = (
    "aws_console_failed_logins",
    "aws_cloudtrail_config_changes",
    "aws_ec2_instance_config_changes",
    "aws_iam_policy_changes",
    "aws_risky_ip_logon",
    "aws_network_acl_changes",
    "aws_network_gateway_changes",
    "aws_s3_config_changes",
    "aws_security_group_changes",
    "aws_vpn_changes",
)
CONFIG_TEMPLATES = [k for k in TEMPLATE_KEYS if k not in {"aws_console_failed_logins", "aws_risky_ip_logon"}]
TERMINATED_USER = "eunji.han"


@dataclass
class Episode:
    name: str
    description: str
    expect: list[str]
    principal: str
    records: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "expect": self.expect,
            "principal": self.principal,
            "event_ids": [r["eventID"] for r in self.records],
        }


def slot(end: int, hour: int, minute: int, duration: int = 0) -> int:
    """The moment at hour:minute UTC within the last 24 hours before ``end``, leaving ``duration``."""
    first = end - DAY
    t = first // DAY * DAY + hour * HOUR + minute * 60
    if t < first:
        t += DAY
    latest = end - 300 - duration
    return max(first, min(t, latest))


def termination_time(end: int) -> int:
    """When the directory disabled the leaver: the morning (Seoul) before the last day's episode."""
    return (slot(end, 4, 15) - 28 * HOUR) // HOUR * HOUR


class EpisodeBuilder:
    def __init__(self, *, activity: Activity, salt: str, seed: int, end: int) -> None:
        self.activity, self.salt, self.seed, self.end = activity, salt, seed, end
        self.spec = activity.spec
        self.by_name = {p.name: (i, p) for i, p in enumerate(activity.cast)}
        self.episodes: list[Episode] = []
        self.look_alikes: list[Episode] = []
        self.extra: list[dict] = []  # records in the stream that belong to no episode

    # --- helpers -------------------------------------------------------------------------------
    def who(self, name: str) -> Principal:
        return self.by_name[name][1]

    def email(self, name: str) -> Principal:
        return self.by_name[f"{name}@hanbit.example"][1]

    def day_of(self, p: Principal, t: int) -> int:
        return (t - self.activity.local_midnight(p, 0)) // DAY

    def actor(self, p: Principal, channel: str, ip: str, created: int) -> Actor:
        return self.activity.actor(p, self.day_of(p, created), channel, ip, created)

    def console(self, p: Principal, t: int) -> Actor:
        """The console session the person opened that day (the same session key as their own calls)."""
        day = self.day_of(p, t)
        index, _ = self.by_name[p.name]
        logins = [f.t for f in self.activity.plan(index, day).fixed if f.kind == "login" and f.t <= t]
        return self.actor(p, "console", p.ip, logins[-1] if logins else t - 1800)

    def rng(self, name: str, index: int):
        return rng_for(self.salt, self.seed, "episode", name, index)

    def episode(self, name: str, description: str, expect: list[str], p: Principal) -> Episode:
        episode = Episode(name, description, expect, p.key)
        self.episodes.append(episode)
        return episode

    def look_alike(self, name: str, description: str, keys: list[str], p: Principal) -> Episode:
        episode = Episode(name, description, keys, p.key)
        self.look_alikes.append(episode)
        return episode

    def call(
        self, episode: Episode, key: str, p: Principal, actor: Actor, t: int, region: str = "us-east-1"
    ) -> dict:
        rec = api_event(
            key,
            actor=actor,
            actor_arn=p.key,
            rng=self.rng(episode.name, len(episode.records)),
            spec=self.spec,
            region=region,
            t=t,
            denied=False,
        )
        episode.records.append(rec)
        return rec

    def add(self, episode: Episode, make: Callable[..., dict], **kwargs) -> dict:
        rec = make(rng=self.rng(episode.name, len(episode.records)), **kwargs)
        episode.records.append(rec)
        return rec

    # --- everything ----------------------------------------------------------------------------
    def build(self, *, attacks: bool) -> None:
        if attacks:
            self.brute_force()
            self.impossible_travel()
            self.mass_termination()
            self.crypto_mining()
            self.security_group_opened()
            self.terminated_user()
            self.bucket_public_acl()
            self.bucket_public_policy()
            self.suspicious_ip()
            self.templates()
        self.organizations_policy()
        self.read_only_calls()

    def brute_force(self) -> None:
        p = self.who("hyunwoo.lee")
        t0 = slot(self.end, 17, 10, 20 * 60)
        ep = self.episode(
            "brute_force_tor",
            "14 failed console sign-ins of hyunwoo.lee from a Tor exit node within 7 minutes, then a success "
            "without MFA and reconnaissance from the same address.",
            ["anomaly_multiple_failed_logins", "anomaly_anonymous_ip", "aws_console_failed_logins"],
            p,
        )
        signin = replace(
            self.activity.login_actor(p, geo.TOR_EXIT_IP, t0, self.day_of(p, t0)), user_agent=TOR_BROWSER
        )
        rng = self.rng(ep.name, 999)
        t = t0
        for _ in range(14):
            self.add(ep, calls.console_login, t=t, actor=signin, success=False, mfa=False)
            t += rng.randint(20, 40)
        success = t + rng.randint(30, 60)
        self.add(ep, calls.console_login, t=success, actor=signin, success=True, mfa=False)
        console = self.actor(p, "console", geo.TOR_EXIT_IP, success)
        for step, key in enumerate(
            ("s3:ListBuckets", "iam:ListUsers", "ec2:DescribeInstances", "secretsmanager:ListSecrets")
        ):
            self.call(ep, key, p, console, success + 50 + 45 * step)

    def impossible_travel(self) -> None:
        p = self.who("soyeon.choi")
        t0 = slot(self.end, 1, 20, 60 * 60)
        ep = self.episode(
            "impossible_travel",
            "soyeon.choi signs in from Seoul, and 40 minutes later from Bucharest (about 7,800 km away) "
            "and reads secrets.",
            ["anomaly_impossible_travel", "anomaly_infrequent_country"],
            p,
        )
        day = self.day_of(p, t0)
        self.add(
            ep,
            calls.console_login,
            t=t0,
            actor=self.activity.login_actor(p, p.ip, t0, day),
            success=True,
            mfa=False,
        )
        self.call(ep, "ec2:DescribeInstances", p, self.actor(p, "console", p.ip, t0), t0 + 95)
        away = t0 + 40 * 60
        signin = self.activity.login_actor(p, geo.TRAVEL_ATTACKER_IP, away, day)
        self.add(ep, calls.console_login, t=away, actor=signin, success=True, mfa=False)
        console = self.actor(p, "console", geo.TRAVEL_ATTACKER_IP, away)
        for step, key in enumerate(
            (
                "secretsmanager:ListSecrets",
                "secretsmanager:GetSecretValue",
                "secretsmanager:GetSecretValue",
                "s3:ListBuckets",
            )
        ):
            self.call(ep, key, p, console, away + 60 + 70 * step)

    def mass_termination(self) -> None:
        p = self.who("junho.kang")
        t0 = slot(self.end, 6, 30, 40 * 60)
        ep = self.episode(
            "mass_vm_termination",
            "junho.kang terminates 26 instances in 25 minutes with the CLI (usually none in a day).",
            ["anomaly_mass_vm_deletion", "aws_ec2_instance_config_changes"],
            p,
        )
        cli = self.actor(p, "cli", p.ip, t0)
        self.call(ep, "ec2:DescribeInstances", p, cli, t0)
        rng = self.rng(ep.name, 999)
        fleet = [i.instance_id for i in self.spec.instances_in("us-east-1")]
        fleet += [f"i-{rng.getrandbits(68):017x}" for _ in range(26 - len(fleet))]
        t = t0 + 120
        for start in range(0, 26, 5):
            batch = fleet[start : start + 5]
            self.add(ep, calls.terminate_instances, t=t, actor=cli, region="us-east-1", instance_ids=batch)
            t += rng.randint(180, 300)

    def crypto_mining(self) -> None:
        p = self.who("build-bot")
        t0 = slot(self.end, 19, 36, 50 * 60)
        recon = self.episode(
            "crypto_mining_launch",
            "The leaked key of build-bot is used from a VPS: reconnaissance, then 18 GPU and "
            f"compute-optimised instances in {ATTACKER_REGION}, a region the organization never used.",
            ["anomaly_mass_vm_creation", "anomaly_unusual_region", "aws_ec2_instance_config_changes"],
            p,
        )
        tool = Actor(
            dict(self.activity.actor(p, self.day_of(p, t0), "cli", geo.MINER_IP, t0).identity),
            geo.MINER_IP,
            "attacker",
        )

        def at(name: str, source: str = "ec2") -> Actor:
            return replace(tool, user_agent=ATTACKER_TOOL.format(command=f"{source}.{name}"))

        self.call(recon, "sts:GetCallerIdentity", p, at("get-caller-identity", "sts"), t0)
        self.call(recon, "ec2:DescribeRegions", p, at("describe-regions"), t0 + 40)
        self.call(recon, "cloudtrail:DescribeTrails", p, at("describe-trails", "cloudtrail"), t0 + 95)
        stop = self.episode(
            "cloudtrail_stop_logging",
            "The same leaked key stops the organization trail before launching the miners.",
            ["aws_cloudtrail_config_changes"],
            p,
        )
        self.add(
            stop,
            calls.cloudtrail_change,
            t=t0 + 240,
            actor=at("stop-logging", "cloudtrail"),
            name="StopLogging",
        )
        rng = self.rng(recon.name, 999)
        vpc, subnet = f"vpc-{hex_id(rng, 17)}", f"subnet-{hex_id(rng, 17)}"
        self.add(
            recon,
            calls.create_key_pair,
            t=t0 + 540,
            actor=at("create-key-pair"),
            region=ATTACKER_REGION,
            name="xmr-node",
        )
        group = self.add(
            recon,
            calls.create_security_group,
            t=t0 + 600,
            actor=at("create-security-group"),
            region=ATTACKER_REGION,
            vpc=vpc,
            name="default-ssh",
            description="ssh",
        )["responseElements"]["groupId"]
        self.add(
            recon,
            calls.security_group_ingress,
            t=t0 + 630,
            actor=at("authorize-security-group-ingress"),
            region=ATTACKER_REGION,
            group_id=group,
            port=22,
            cidr="0.0.0.0/0",
        )
        t = t0 + 720
        for instance_type, count, failed in (
            ("p3.16xlarge", 4, False),
            ("p4d.24xlarge", 4, True),
            ("g4dn.12xlarge", 5, False),
            ("c5.24xlarge", 5, False),
            ("c6i.32xlarge", 4, False),
        ):
            ids = [] if failed else [f"i-{rng.getrandbits(68):017x}" for _ in range(count)]
            self.add(
                recon,
                calls.run_instances,
                t=t,
                actor=at("run-instances"),
                region=ATTACKER_REGION,
                image=f"ami-{hex_id(rng, 17)}",
                instance_type=instance_type,
                instance_ids=ids,
                count=count,
                subnet=subnet,
                vpc=vpc,
                security_group=group,
                name_tag="worker",
                cidr_prefix="172.31",
                key_name="xmr-node",
                error=("Client.VcpuLimitExceeded", VCPU_LIMIT) if failed else None,
            )
            t += rng.randint(120, 300)

    def security_group_opened(self) -> None:
        p = self.email("noah.garcia")
        t0 = slot(self.end, 15, 20, 10 * 60)
        ep = self.episode(
            "security_group_open_ssh",
            "noah.garcia opens SSH (tcp/22) of the bastion security group to 0.0.0.0/0 from the console.",
            ["aws_security_group_changes"],
            p,
        )
        console = self.console(p, t0)
        network = self.spec.networks["us-east-1"]
        self.call(ep, "ec2:DescribeSecurityGroups", p, console, t0)
        self.add(
            ep,
            calls.security_group_ingress,
            t=t0 + 75,
            actor=console,
            region="us-east-1",
            group_id=network.security_groups["bastion-sg"],
            port=22,
            cidr="0.0.0.0/0",
        )

    def terminated_user(self) -> None:
        p = self.who(TERMINATED_USER)
        t0 = slot(self.end, 4, 15, 15 * 60)
        ep = self.episode(
            "terminated_user_activity",
            f"{p.email} left the company (terminated in directory.csv); her access key still reads secrets.",
            ["anomaly_terminated_user"],
            p,
        )
        cli = self.actor(p, "cli", p.ip, t0)
        for step, key in enumerate(
            (
                "sts:GetCallerIdentity",
                "s3:ListBuckets",
                "secretsmanager:ListSecrets",
                "secretsmanager:GetSecretValue",
                "secretsmanager:GetSecretValue",
                "s3:GetBucketLocation",
            )
        ):
            self.call(ep, key, p, cli, t0 + 35 * step)

    def bucket_public_acl(self) -> None:
        p = self.email("jiwoo.kim")
        t0 = slot(self.end, 2, 45, 10 * 60)
        ep = self.episode(
            "bucket_made_public_acl",
            "jiwoo.kim grants AllUsers READ on the hanbit-press-kit bucket ACL.",
            ["aws_s3_config_changes"],
            p,
        )
        console = self.console(p, t0)
        self.add(
            ep, calls.put_bucket_acl_public, t=t0, actor=console, spec=self.spec, bucket="hanbit-press-kit"
        )

    def bucket_public_policy(self) -> None:
        p = self.email("noah.garcia")
        t0 = slot(self.end, 18, 30, 10 * 60)
        ep = self.episode(
            "bucket_made_public_policy",
            'noah.garcia puts a bucket policy with Principal "*" on hanbit-web-static.',
            ["aws_s3_config_changes"],
            p,
        )
        cli = self.actor(p, "cli", p.ip, t0 - 600)
        self.add(
            ep, calls.put_bucket_policy_public, t=t0, actor=cli, spec=self.spec, bucket="hanbit-web-static"
        )

    def suspicious_ip(self) -> None:
        p = self.who("svc-backup")
        t0 = slot(self.end, 22, 50, 10 * 60)
        ep = self.episode(
            "suspicious_ip_activity",
            f"The svc-backup access key is used from {geo.BOTNET_IP}, listed in the botnet feed, to "
            "enumerate IAM and S3.",
            ["anomaly_suspicious_ip"],
            p,
        )
        identity = self.activity.actor(p, self.day_of(p, t0), "cli", geo.BOTNET_IP, t0).identity
        for step, (key, command) in enumerate(
            (
                ("sts:GetCallerIdentity", "sts.get-caller-identity"),
                ("s3:ListBuckets", "s3.ls"),
                ("iam:ListUsers", "iam.list-users"),
                ("iam:ListAccessKeys", "iam.list-access-keys"),
                ("iam:ListRoles", "iam.list-roles"),
                ("s3:GetBucketAcl", "s3api.get-bucket-acl"),
            )
        ):
            actor = Actor(identity, geo.BOTNET_IP, "attacker", ATTACKER_TOOL.format(command=command))
            self.call(ep, key, p, actor, t0 + 20 * step)

    def templates(self) -> None:
        network = self.spec.networks["us-east-1"]
        # Management console sign-in failure (a typo, followed by a success that is not part of it).
        p = self.who("daniel.murphy")
        t0 = slot(self.end, 9, 5, 300)
        ep = self.episode(
            "template_aws_console_failed_logins",
            "One mistyped console password of daniel.murphy.",
            ["aws_console_failed_logins"],
            p,
        )
        signin = self.activity.login_actor(p, p.ip, t0, self.day_of(p, t0))
        self.add(ep, calls.console_login, t=t0, actor=signin, success=False, mfa=True)
        self.extra.append(
            calls.console_login(t=t0 + 38, actor=signin, rng=self.rng(ep.name, 50), success=True, mfa=True)
        )
        # CloudTrail configuration change.
        p = self.email("jiwoo.kim")
        t0 = slot(self.end, 3, 30)
        ep = self.episode(
            "template_aws_cloudtrail_config_changes",
            "jiwoo.kim turns on log file validation of the trail.",
            ["aws_cloudtrail_config_changes"],
            p,
        )
        self.add(
            ep,
            calls.cloudtrail_change,
            t=t0,
            actor=self.console(p, t0),
            name="UpdateTrail",
            request={"name": TRAIL_NAME, "enableLogFileValidation": True},
            response={
                "name": TRAIL_NAME,
                "s3BucketName": TRAIL_BUCKET,
                "includeGlobalServiceEvents": True,
                "isMultiRegionTrail": True,
                "trailARN": TRAIL_ARN,
                "logFileValidationEnabled": True,
                "isOrganizationTrail": False,
            },
        )
        # EC2 instance configuration change.
        p = self.who("junho.kang")
        t0 = slot(self.end, 5, 10)
        ep = self.episode(
            "template_aws_ec2_instance_config_changes",
            "junho.kang requires IMDSv2 on the bastion.",
            ["aws_ec2_instance_config_changes"],
            p,
        )
        bastion = next(i for i in self.spec.instances_in("us-east-1") if i.name.startswith("bastion"))
        self.add(
            ep,
            calls.modify_metadata_options,
            t=t0,
            actor=self.actor(p, "cli", p.ip, t0),
            region="us-east-1",
            instance_id=bastion.instance_id,
        )
        # IAM policy change.
        p = self.who("atlantis")
        t0 = slot(self.end, 4, 40)
        ep = self.episode(
            "template_aws_iam_policy_changes",
            "Terraform updates the inline policy of app-server-role.",
            ["aws_iam_policy_changes"],
            p,
        )
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": "arn:aws:s3:::hanbit-prod-orders/*",
                }
            ],
        }
        self.add(
            ep,
            calls.put_role_policy,
            t=t0,
            actor=self.actor(p, "terraform", p.ip, t0),
            role="app-server-role",
            policy_name="orders-bucket-access",
            document=document,
        )
        # Logon from a risky IP address.
        p = self.who("lukas.becker")
        t0 = slot(self.end, 21, 40)
        ep = self.episode(
            "template_aws_risky_ip_logon",
            f"lukas.becker signs in from {geo.RISKY.ips[0]}, in a range of category risky (ip_ranges.json).",
            ["aws_risky_ip_logon"],
            p,
        )
        self.add(
            ep,
            calls.console_login,
            t=t0,
            actor=self.activity.login_actor(p, geo.RISKY.ips[0], t0, self.day_of(p, t0)),
            success=True,
            mfa=True,
        )
        # Network ACL change and VPN change (the network engineer).
        p = self.email("mina.jung")
        t0 = slot(self.end, 2, 20)
        console = self.console(p, t0)
        ep = self.episode(
            "template_aws_network_acl_changes",
            "mina.jung adds a deny rule for RDP to the VPC's network ACL.",
            ["aws_network_acl_changes"],
            p,
        )
        self.add(
            ep,
            calls.create_network_acl_entry,
            t=t0,
            actor=console,
            region="us-east-1",
            acl_id=network.network_acl_id,
        )
        ep = self.episode(
            "template_aws_vpn_changes",
            "mina.jung creates a site-to-site VPN connection to the Busan warehouse.",
            ["aws_vpn_changes"],
            p,
        )
        self.add(ep, calls.create_vpn_connection, t=slot(self.end, 2, 35), actor=console, region="us-east-1")
        # Network gateway change.
        p = self.who("atlantis")
        t0 = slot(self.end, 4, 42)
        eu = self.spec.networks["eu-west-1"]
        ep = self.episode(
            "template_aws_network_gateway_changes",
            "Terraform creates a NAT gateway in eu-west-1.",
            ["aws_network_gateway_changes"],
            p,
        )
        self.add(
            ep,
            calls.create_nat_gateway,
            t=t0,
            actor=self.actor(p, "terraform", p.ip, t0),
            region="eu-west-1",
            subnet=eu.subnet_ids[0],
            vpc=eu.vpc_id,
        )
        # S3 configuration change.
        p = self.who("daniel.murphy")
        t0 = slot(self.end, 10, 20)
        ep = self.episode(
            "template_aws_s3_config_changes",
            "daniel.murphy sets KMS default encryption on the EU export bucket.",
            ["aws_s3_config_changes"],
            p,
        )
        key_arn = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/{self.spec.kms_keys['eu-west-1']}"
        self.add(
            ep,
            calls.put_bucket_encryption,
            t=t0,
            actor=self.actor(p, "cli", p.ip, t0),
            spec=self.spec,
            bucket="hanbit-eu-customer-exports",
            key_arn=key_arn,
        )
        # Security group change.
        p = self.email("jiwoo.kim")
        t0 = slot(self.end, 3, 50)
        ep = self.episode(
            "template_aws_security_group_changes",
            "jiwoo.kim removes an old RDP rule from the bastion security group.",
            ["aws_security_group_changes"],
            p,
        )
        self.add(
            ep,
            calls.security_group_ingress,
            t=t0,
            actor=self.console(p, t0),
            region="us-east-1",
            group_id=network.security_groups["bastion-sg"],
            port=3389,
            cidr="203.0.113.0/24",
            revoke=True,
        )

    def organizations_policy(self) -> None:
        p = self.email("jiwoo.kim")
        t0 = slot(self.end, 4, 5)
        ep = self.look_alike(
            "organizations_create_policy",
            "An SCP created in AWS Organizations: CreatePolicy, but not an IAM policy change.",
            ["aws_iam_policy_changes"],
            p,
        )
        self.add(ep, calls.organizations_create_policy, t=t0, actor=self.console(p, t0))

    def read_only_calls(self) -> None:
        p = self.who("obs-poller")
        t0 = slot(self.end, 12, 0)
        ep = self.look_alike(
            "read_only_describe_calls",
            "The monitoring integration reads what the templates watch: read-only calls, never a change.",
            CONFIG_TEMPLATES,
            p,
        )
        poller = self.actor(p, "poll", p.ip, self.activity.local_midnight(p, self.day_of(p, t0)))
        for step, key in enumerate(
            (
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeNetworkAcls",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeNatGateways",
                "ec2:DescribeVpnConnections",
                "ec2:DescribeInstances",
                "cloudtrail:DescribeTrails",
                "cloudtrail:GetTrailStatus",
                "cloudtrail:GetEventSelectors",
                "s3:GetBucketAcl",
                "s3:GetBucketEncryption",
                "iam:GetPolicy",
                "iam:ListAttachedRolePolicies",
            )
        ):
            self.call(ep, key, p, poller, t0 + 2 * step)

    def records(self) -> list[dict]:
        """Every record the episodes and look-alikes add to the stream."""
        return [r for ep in self.episodes + self.look_alikes for r in ep.records] + self.extra


def build_episodes(*, activity: Activity, salt: str, seed: int, end: int, attacks: bool) -> EpisodeBuilder:
    builder = EpisodeBuilder(activity=activity, salt=salt, seed=seed, end=end)
    builder.build(attacks=attacks)
    return builder
