"""The scenario's principals: the people of a mid-size company (Hanbit Commerce, head office in Seoul,
teams in Tokyo, Singapore, Europe and North America), its automation and the AWS services acting in
the account."""

from __future__ import annotations

from dataclasses import dataclass

from localaws.scenario import geo
from localaws.scenario.records import ACCOUNT_ID, hex_id, rng_for, stable_token

DOMAIN = "hanbit.example"
SSO_PATH = "/aws-reserved/sso.amazonaws.com/ap-northeast-2/"
SSO_PROVIDER = f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/AWSSSO_5f2c8e1a9d3b7c40_DO_NOT_DELETE"
ADFS_PROVIDER = f"arn:aws:iam::{ACCOUNT_ID}:saml-provider/HanbitADFS"
OIDC_PROVIDER = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/token.actions.githubusercontent.com"
MONITORING_ACCOUNT = "210987654321"


@dataclass(frozen=True)
class Principal:
    """One principal and the habits the generator gives it."""

    name: str  # IAM user name, session name, "root" or the service's name
    display: str
    type: str  # IAMUser / AssumedRole / Root / AWSService
    persona: str  # what it does all day: a key of activity.MENUS, or a schedule of its own
    email: str = ""
    city: str = ""  # home city (a key of geo.CITIES)
    ip: str = ""  # usual address
    location: str = "home"  # home / office / hop (office + VPN) / traveller / nat / vendor / aws
    console: bool = False
    cli: bool = False
    mfa: bool = True
    role: str = ""
    role_path: str = "/"
    federation: str = ""  # sso / saml / oidc
    principal_id: str = ""  # AIDA... (users) or AROA... (roles)
    access_key: str = ""  # AKIA... of an IAM user with a long-lived key
    cli_platform: int = 0
    rate: float = 8.0  # events per active hour
    eu: bool = False  # works mostly in eu-west-1
    essential: bool = False  # an episode or a look-alike needs it
    travel_city: str = ""

    @property
    def key(self) -> str:
        if self.type == "IAMUser":
            return f"arn:aws:iam::{ACCOUNT_ID}:user/{self.name}"
        if self.type == "AssumedRole":
            return f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{self.role}/{self.name}"
        if self.type == "Root":
            return f"arn:aws:iam::{ACCOUNT_ID}:root"
        return self.name

    @property
    def offset(self) -> float:
        return geo.CITIES[self.city].utc_offset if self.city else 9

    def as_json(self) -> dict:
        data = {"key": self.key, "type": self.type, "name": self.name, "display_name": self.display}
        data["persona"] = self.persona
        if self.email:
            data["email"] = self.email
        if self.role:
            data["role"] = self.role
        if self.federation:
            data["federation"] = self.federation
        if self.ip:
            # Where GeoLite2 places the usual address (the NAT gateways are in AWS, not in Seoul).
            city, country = geo.SPECIAL_IPS.get(self.ip) or (self.city, geo.CITIES[self.city].country)
            data["home"] = {"city": city, "country": country, "ip": self.ip, "network": self.location}
            data["utc_offset"] = self.offset
        if self.travel_city:
            data["travels_to"] = {"city": self.travel_city, "country": geo.CITIES[self.travel_city].country}
        return data


def sso_role(permission_set: str) -> str:
    return f"AWSReservedSSO_{permission_set}_{hex_id(rng_for('sso', permission_set), 16)}"


# The people. Flags: console (a console password), cli (an access key or CLI sessions), mfa, eu (works in
# eu-west-1), essential (an episode or a look-alike needs them: kept by the smallest scenarios).
CORE_TABLE = """
hyunwoo.lee   | iam                     | developer | Seoul     | home      | console cli essential
soyeon.choi   | iam                     | developer | Seoul     | home      | console cli essential
junho.kang    | iam                     | devops    | Seoul     | office    | console cli mfa essential
eunji.han     | iam                     | developer | Busan     | home      | console cli mfa essential
daniel.murphy | iam                     | sre       | Dublin    | home      | console cli mfa eu essential
lukas.becker  | iam                     | developer | Berlin    | home      | console cli mfa eu essential
build-bot     | iam                     | build     | Seoul     | nat       | cli essential
svc-backup    | iam                     | backup    | Seoul     | office    | cli essential
jiwoo.kim     | sso:AdministratorAccess | admin     | Seoul     | office    | console cli mfa essential
taeyang.yoon  | sso:PowerUserAccess     | developer | Seoul     | traveller | console cli mfa essential
mina.jung     | sso:PowerUserAccess     | network   | Seoul     | hop       | console cli mfa essential
noah.garcia   | saml:ADFS-Developers    | developer | New York  | home      | console cli mfa essential
sora.yamada   | sso:PowerUserAccess     | developer | Tokyo     | home      | console cli mfa
priya.nair    | sso:PowerUserAccess     | developer | Singapore | home      | console cli mfa
emma.clarke   | sso:AdministratorAccess | admin     | London    | home      | console cli mfa eu
haruto.sato   | sso:ReadOnlyAccess      | finance   | Osaka     | home      | console mfa
minseo.park   | iam                     | security  | Seoul     | office    | console cli mfa
olivia.brown  | saml:ADFS-DataAnalysts  | analyst   | Seattle   | home      | console cli mfa
ethan.wong    | saml:ADFS-Developers    | developer | Toronto   | home      | console cli mfa
sophie.martin | saml:ADFS-DataAnalysts  | analyst   | Paris     | home      | console mfa eu
"""
# name, display name, kind, persona, city, location, console, cli, mfa, eu, essential
_H = tuple[str, str, str, str, str, str, bool, bool, bool, bool, bool]


SERVICE_USERS = {"build-bot": "Legacy build user", "svc-backup": "Backup service user"}


def _row(line: str) -> _H:
    name, kind, persona, city, location, flags = (cell.strip() for cell in line.split("|"))
    words = set(flags.split())
    return (
        name,
        SERVICE_USERS.get(name) or " ".join(part.title() for part in name.split(".")),
        kind,
        persona,
        city,
        location,
        "console" in words,
        "cli" in words,
        "mfa" in words,
        "eu" in words,
        "essential" in words,
    )


CORE_HUMANS: tuple[_H, ...] = tuple(_row(line) for line in CORE_TABLE.strip().splitlines())
PERSONA_RATES = {
    "developer": 9.0,
    "admin": 7.0,
    "devops": 10.0,
    "sre": 9.0,
    "security": 8.0,
    "analyst": 6.0,
    "finance": 3.0,
    "network": 6.0,
    "build": 4.0,
    "backup": 0.0,
}
# The extra people of bigger scenarios (--principals above the core cast, and the scale mode).
FIRST_NAMES = (
    "minjun", "seoyeon", "jihoon", "yuna", "dohyun", "hana", "kenji", "yuki", "wei", "mei", "arjun", "ananya",
    "liam", "ava", "lucas", "mia", "oliver", "chloe", "mateo", "lea", "jonas", "elena", "marco", "sara",
)  # fmt: skip
LAST_NAMES = (
    "kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "tanaka", "suzuki", "chen", "lim", "sharma",
    "iyer", "smith", "johnson", "dubois", "muller", "rossi", "garcia", "silva", "novak", "berg", "walsh",
)  # fmt: skip
EXTRA_CITIES = tuple(name for name in geo.CITIES if name != "Bucharest")
EXTRA_KINDS = (
    ("sso:PowerUserAccess", "developer"),
    ("saml:ADFS-Developers", "developer"),
    ("iam", "developer"),
    ("sso:ReadOnlyAccess", "analyst"),
    ("saml:ADFS-DataAnalysts", "analyst"),
    ("sso:PowerUserAccess", "sre"),
)
EU_COUNTRIES = {"GB", "IE", "FR", "DE", "NL", "ES", "SE", "PL"}


def _human(spec: _H, ip: str, index: int) -> Principal:
    name, display, kind, persona, city, location, console, cli, mfa, eu, essential = spec
    email = (
        f"{name}@{DOMAIN}"
        if "." in name
        else f"{'platform' if name == 'build-bot' else 'infra'}-team@{DOMAIN}"
    )
    rate = PERSONA_RATES[persona] * (0.75 + 0.5 * rng_for("rate", name).random())
    common = dict(
        display=display,
        persona=persona,
        email=email,
        city=city,
        ip=ip,
        location=location,
        console=console,
        cli=cli,
        mfa=mfa,
        cli_platform=index,
        rate=rate,
        eu=eu,
        essential=essential,
        travel_city="Tokyo" if location == "traveller" else "",  # KR and JP: neighbours
    )
    if kind == "iam":
        return Principal(
            name=name,
            type="IAMUser",
            principal_id="AIDA" + stable_token(17, "user", name),
            access_key=("AKIA" + stable_token(16, "key", name)) if cli else "",
            **common,
        )
    federation, _, role = kind.partition(":")
    role_name = sso_role(role) if federation == "sso" else role
    return Principal(
        name=email,
        type="AssumedRole",
        role=role_name,
        role_path=SSO_PATH if federation == "sso" else "/",
        federation=federation,
        principal_id="AROA" + stable_token(17, "role", role_name),
        **common,
    )


def _assign_ip(city: str, location: str, used: dict[str, int]) -> str:
    if location in {"office", "hop"}:
        pool = geo.OFFICE.ips
        key = "office"
    elif location == "nat":
        return geo.NAT_IP["us-east-1"]
    else:
        pool = geo.CITIES[city].ips
        key = city
    index = used.get(key, 0)
    used[key] = index + 1
    return pool[index % len(pool)]


def _extra_humans(count: int, start: int) -> list[_H]:
    extra = []
    for i in range(count):
        first = FIRST_NAMES[(start + i) % len(FIRST_NAMES)]
        last = LAST_NAMES[(start + 7 * i) % len(LAST_NAMES)]
        suffix = "" if i < len(FIRST_NAMES) else str(i // len(FIRST_NAMES))
        city = EXTRA_CITIES[(3 * i) % len(EXTRA_CITIES)]
        kind, persona = EXTRA_KINDS[i % len(EXTRA_KINDS)]
        eu = geo.CITIES[city].country in EU_COUNTRIES
        extra.append(
            (
                f"{first}.{last}{suffix}",
                f"{first.title()} {last.title()}",
                kind,
                persona,
                city,
                "home",
                True,
                True,
                True,
                eu,
                False,
            )
        )
    return extra


def machine_principals() -> list[Principal]:
    """Root, the AWS services and the automation: the same in every scenario."""
    return [
        Principal(
            name="root",
            display="Root user",
            type="Root",
            persona="root",
            city="Seoul",
            ip=geo.OFFICE.ips[0],
            location="office",
            console=True,
            mfa=True,
            essential=True,
        ),
        Principal(
            name="ec2.amazonaws.com",
            display="Amazon EC2",
            type="AWSService",
            persona="svc-ec2",
            rate=6.0,
            essential=True,
        ),
        Principal(
            name="lambda.amazonaws.com",
            display="AWS Lambda",
            type="AWSService",
            persona="svc-lambda",
            rate=3.0,
            essential=True,
        ),
        Principal(
            name="cloudtrail.amazonaws.com",
            display="AWS CloudTrail",
            type="AWSService",
            persona="svc-cloudtrail",
            rate=0.25,
            essential=True,
        ),
        Principal(
            name="kms.amazonaws.com",
            display="AWS KMS",
            type="AWSService",
            persona="svc-kms",
            rate=0.0,
            essential=True,
        ),
        Principal(
            name="atlantis",
            display="Terraform (Atlantis)",
            type="AssumedRole",
            persona="terraform",
            role="terraform-deployer",
            city="Seoul",
            ip=geo.NAT_IP["us-east-1"],
            location="nat",
            principal_id="AROA" + stable_token(17, "role", "terraform-deployer"),
            essential=True,
        ),
        Principal(
            name="GitHubActions",
            display="GitHub Actions deploy",
            type="AssumedRole",
            persona="ci",
            role="github-actions-deploy",
            federation="oidc",
            city="Seoul",
            ip=geo.NAT_IP["us-east-1"],
            location="nat",
            principal_id="AROA" + stable_token(17, "role", "github-actions-deploy"),
            essential=True,
        ),
        Principal(
            name="obs-poller",
            display="Monitoring integration",
            type="AssumedRole",
            persona="monitoring",
            role="observability-integration",
            city="Boston",
            ip=geo.CITIES["Boston"].ips[2],
            location="vendor",
            principal_id="AROA" + stable_token(17, "role", "observability-integration"),
            rate=24.0,
            essential=True,
        ),
        Principal(
            name="AutoScaling",
            display="EC2 Auto Scaling",
            type="AssumedRole",
            persona="autoscaling",
            role="AWSServiceRoleForAutoScaling",
            role_path="/aws-service-role/autoscaling.amazonaws.com/",
            principal_id="AROA" + stable_token(17, "role", "AWSServiceRoleForAutoScaling"),
            essential=True,
        ),
        Principal(
            name="s3-retention-cleanup",
            display="S3 retention cleanup (Lambda)",
            type="AssumedRole",
            persona="cleanup",
            role="s3-retention-cleanup-role",
            role_path="/service-role/",
            ip=geo.NAT_IP["us-east-1"],
            location="nat",
            principal_id="AROA" + stable_token(17, "role", "s3-retention-cleanup-role"),
            essential=True,
        ),
    ]


def build_cast(principals: int) -> list[Principal]:
    """``principals`` in total (never fewer than the episodes need): machines first, then people."""
    machines = machine_principals()
    essential = [h for h in CORE_HUMANS if h[10]]
    optional = [h for h in CORE_HUMANS if not h[10]]
    wanted_humans = max(len(essential), principals - len(machines))
    specs = essential + optional[: max(0, wanted_humans - len(essential))]
    specs += _extra_humans(wanted_humans - len(specs), len(specs))
    used: dict[str, int] = {}
    humans = [_human(spec, _assign_ip(spec[4], spec[5], used), i) for i, spec in enumerate(specs)]
    return machines + humans


def traveller_ip(principal: Principal) -> str:
    return geo.CITIES[principal.travel_city].ips[-1]
