"""Normal activity: what each principal does on each of its local days.

A principal's day is a *plan*: working segments (a time span, an address, an expected number of
calls) plus fixed events (sign-ins, scheduled jobs). Plans are pure functions of (scenario, principal,
local day), so any hour of any principal can be regenerated on its own: that is what lets the
scenario stream a million events in time order without holding them, and lets the manifest name
events without generating the rest.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import random
import time
from dataclasses import dataclass, field

from localaws.scenario import calls, geo
from localaws.scenario.api import api_event
from localaws.scenario.cast import ADFS_PROVIDER, OIDC_PROVIDER, SSO_PROVIDER, Principal, traveller_ip
from localaws.scenario.records import (
    BOTO3,
    BOTO3_LAMBDA,
    BROWSERS,
    CONSOLE,
    GO_SDK,
    TERRAFORM,
    Actor,
    assumed_role_identity,
    iam_user_identity,
    rng_for,
    root_identity,
    service_identity,
    session_context,
    stable_token,
    token,
)
from localaws.scenario.spec import ResourceSpec

HOUR = 3600
DAY = 86400
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# --- what each persona calls -----------------------------------------------------------------------
_DEV = {
    "ec2:DescribeInstances": 10,
    "ec2:DescribeSecurityGroups": 3,
    "ec2:DescribeVpcs": 1,
    "ec2:DescribeSubnets": 1,
    "ec2:DescribeVolumes": 1,
    "s3:ListBuckets": 5,
    "s3:GetBucketLocation": 3,
    "s3:GetBucketPolicy": 1,
    "s3:GetBucketVersioning": 1,
    "lambda:ListFunctions20150331": 4,
    "lambda:GetFunction20150331v2": 5,
    "logs:DescribeLogGroups": 4,
    "logs:DescribeLogStreams": 5,
    "monitoring:GetMetricData": 5,
    "monitoring:DescribeAlarms": 2,
    "sts:GetCallerIdentity": 3,
    "ssm:GetParameter": 3,
    "ssm:GetParametersByPath": 2,
    "secretsmanager:GetSecretValue": 2,
    "kms:Decrypt": 3,
    "dynamodb:DescribeTable": 2,
    "ecr:DescribeImages": 2,
    "ecs:DescribeServices": 3,
    "iam:ListRoles": 1,
    "iam:GetRole": 1,
    "rds:DescribeDBInstances": 1,
    "cloudtrail:LookupEvents": 1,
    "lambda:UpdateFunctionCode20150331v2": 2.5,
    "lambda:UpdateFunctionConfiguration20150331v2": 1.5,
    "ec2:CreateTags": 2,
    "ssm:PutParameter": 1.5,
}
MENUS: dict[str, dict[str, float]] = {
    "developer": _DEV,
    "admin": {
        **{k: v for k, v in _DEV.items() if not k.startswith("lambda:Update")},
        "iam:ListUsers": 4,
        "iam:ListRoles": 3,
        "iam:GetRole": 3,
        "iam:ListAttachedRolePolicies": 3,
        "iam:GetPolicy": 2,
        "iam:GetPolicyVersion": 2,
        "iam:GetAccountSummary": 1,
        "iam:ListAccessKeys": 2,
        "cloudtrail:DescribeTrails": 1,
        "health:DescribeEventAggregates": 2,
        "ce:GetCostAndUsage": 1,
        "s3:GetBucketAcl": 2,
        "ec2:StopInstances": 1.5,
        "ec2:StartInstances": 1.5,
    },
    "devops": {
        **_DEV,
        "ec2:DescribeInstances": 14,
        "ec2:DescribeInstanceStatus": 4,
        "ec2:DescribeSnapshots": 2,
        "ecs:UpdateService": 2,
        "ec2:CreateSnapshot": 2,
        "ec2:StopInstances": 1.5,
        "ec2:StartInstances": 1.5,
        "ec2:CreateTags": 2,
    },
    "sre": {
        "monitoring:GetMetricData": 10,
        "monitoring:DescribeAlarms": 5,
        "logs:DescribeLogGroups": 4,
        "logs:DescribeLogStreams": 8,
        "ecs:DescribeServices": 6,
        "ec2:DescribeInstances": 6,
        "ec2:DescribeInstanceStatus": 3,
        "elasticloadbalancing:DescribeLoadBalancers": 3,
        "rds:DescribeDBInstances": 2,
        "sts:GetCallerIdentity": 2,
        "s3:ListBuckets": 2,
        "ssm:GetParameter": 2,
        "ecs:UpdateService": 2,
        "ssm:PutParameter": 1.5,
        "iam:ListRoles": 0.5,
    },
    "security": {
        "guardduty:ListDetectors": 2,
        "guardduty:ListFindings": 6,
        "securityhub:GetFindings": 6,
        "cloudtrail:LookupEvents": 8,
        "cloudtrail:DescribeTrails": 2,
        "cloudtrail:GetTrailStatus": 2,
        "cloudtrail:GetEventSelectors": 1,
        "iam:ListUsers": 3,
        "iam:ListAccessKeys": 3,
        "iam:GetCredentialReport": 1,
        "iam:GenerateCredentialReport": 1.5,
        "iam:ListRoles": 2,
        "iam:GetAccountPasswordPolicy": 1,
        "s3:ListBuckets": 2,
        "s3:GetBucketAcl": 3,
        "s3:GetBucketPolicyStatus": 2,
        "s3:GetBucketPublicAccessBlock": 2,
        "s3:GetBucketPolicy": 2,
        "ec2:DescribeSecurityGroups": 3,
        "kms:ListAliases": 1,
    },
    "analyst": {
        "athena:StartQueryExecution": 5,
        "athena:GetQueryExecution": 10,
        "athena:GetQueryResults": 6,
        "glue:GetTables": 4,
        "glue:GetDatabases": 2,
        "s3:ListBuckets": 3,
        "s3:GetBucketLocation": 3,
        "sts:GetCallerIdentity": 1,
        "kms:Decrypt": 2,
    },
    "finance": {
        "ce:GetCostAndUsage": 8,
        "health:DescribeEventAggregates": 2,
        "ec2:DescribeInstances": 2,
        "s3:ListBuckets": 1,
    },
    "network": {
        "ec2:DescribeVpcs": 6,
        "ec2:DescribeSubnets": 6,
        "ec2:DescribeRouteTables": 5,
        "ec2:DescribeNetworkAcls": 4,
        "ec2:DescribeSecurityGroups": 5,
        "ec2:DescribeInternetGateways": 2,
        "ec2:DescribeNatGateways": 2,
        "ec2:DescribeVpnConnections": 3,
        "ec2:DescribeAddresses": 2,
        "ec2:DescribeInstances": 4,
        "monitoring:GetMetricData": 2,
        "ec2:CreateTags": 2,
    },
    "build": {
        "ecr:GetAuthorizationToken": 4,
        "ecr:PutImage": 2,
        "ecr:DescribeImages": 2,
        "sts:GetCallerIdentity": 2,
        "s3:ListBuckets": 1,
        "lambda:GetFunction20150331v2": 1,
        "lambda:UpdateFunctionCode20150331v2": 1,
    },
    "backup": {
        "rds:CreateDBSnapshot": 1,
        "ec2:CreateSnapshot": 3,
        "ec2:DescribeSnapshots": 2,
        "rds:DescribeDBSnapshots": 1,
        "ec2:DeleteSnapshot": 3,
    },
    "terraform": {
        "sts:GetCallerIdentity": 2,
        "ec2:DescribeInstances": 6,
        "ec2:DescribeSecurityGroups": 6,
        "ec2:DescribeVpcs": 3,
        "ec2:DescribeSubnets": 4,
        "ec2:DescribeRouteTables": 2,
        "ec2:DescribeNetworkAcls": 1,
        "ec2:DescribeNatGateways": 1,
        "ec2:DescribeInternetGateways": 1,
        "iam:GetRole": 4,
        "iam:ListAttachedRolePolicies": 3,
        "iam:ListRolePolicies": 3,
        "iam:GetPolicy": 2,
        "iam:GetPolicyVersion": 2,
        "s3:GetBucketPolicy": 2,
        "s3:GetBucketAcl": 2,
        "s3:GetBucketVersioning": 2,
        "s3:GetBucketEncryption": 2,
        "s3:GetBucketTagging": 2,
        "lambda:GetFunction20150331v2": 3,
        "dynamodb:DescribeTable": 2,
        "logs:DescribeLogGroups": 1,
        "kms:ListAliases": 1,
        "ec2:CreateTags": 0.4,
        "lambda:UpdateFunctionConfiguration20150331v2": 0.3,
        "ssm:PutParameter": 0.3,
    },
    "ci": {
        "sts:GetCallerIdentity": 2,
        "ecr:GetAuthorizationToken": 3,
        "ecr:PutImage": 2,
        "ecr:DescribeImages": 1,
        "ecs:DescribeServices": 2,
        "ecs:UpdateService": 2,
        "lambda:UpdateFunctionCode20150331v2": 1,
    },
    "monitoring": {
        "ec2:DescribeInstances": 3,
        "ec2:DescribeInstanceStatus": 3,
        "ec2:DescribeVolumes": 1,
        "monitoring:GetMetricData": 8,
        "monitoring:ListMetrics": 2,
        "elasticloadbalancing:DescribeLoadBalancers": 1,
        "rds:DescribeDBInstances": 1,
        "lambda:ListFunctions20150331": 1,
        "tagging:GetResources": 1,
        "s3:ListBuckets": 1,
    },
    "svc-ec2": {"sts:AssumeRole#ec2": 1},
    "svc-lambda": {"sts:AssumeRole#lambda": 1},
    "svc-cloudtrail": {"s3:GetBucketAcl#cloudtrail": 1},
}
_CUMULATIVE = {
    persona: (list(menu), list(itertools.accumulate(menu.values()))) for persona, menu in MENUS.items()
}
CONSOLE_SHARE = {"admin": 0.6, "finance": 1.0, "analyst": 0.6, "security": 0.6, "network": 0.6}


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    expected: float
    ip: str
    login: int = 0  # when the console session began (0: no console today)
    tick: int = 0  # >0: calls land on a poll schedule of this period
    run: int = 0  # a burst's number within the day (terraform, CI)


@dataclass(frozen=True)
class Fixed:
    t: int
    kind: str
    ip: str = ""
    tag: str = ""
    arg: object = None


@dataclass
class Plan:
    segments: list[Segment] = field(default_factory=list)
    fixed: list[Fixed] = field(default_factory=list)


def regions_for(p: Principal) -> tuple[tuple[str, ...], tuple[float, ...]]:
    if p.persona in {"monitoring"}:
        return ("us-east-1", "eu-west-1"), (0.5, 1.0)
    if p.persona in {"svc-ec2"}:
        return ("us-east-1", "eu-west-1"), (8, 12)
    if p.persona in {"svc-lambda"}:
        return ("us-east-1", "eu-west-1"), (4, 6)
    if p.eu:
        return ("eu-west-1", "us-east-1"), (0.8, 1.0)
    return ("us-east-1", "eu-west-1"), (0.85, 1.0)


class Activity:
    """Plans and hourly events of the normal principals of one scenario."""

    def __init__(
        self,
        *,
        salt: str,
        seed: int,
        cast: list[Principal],
        spec: ResourceSpec,
        start: int,
        end: int,
        days: int,
        terminated: dict[str, int],
    ) -> None:
        self.salt, self.seed, self.cast, self.spec = salt, seed, cast, spec
        self.start, self.end, self.days = start, end, days
        self.terminated = terminated
        self._plans: dict[tuple[int, int], Plan] = {}
        self._actors: dict[tuple, Actor] = {}
        self._first_midnight = {p.name: self._first_local_midnight(p) for p in cast}

    # --- days ----------------------------------------------------------------------------------
    def _first_local_midnight(self, p: Principal) -> int:
        offset = int(p.offset * HOUR)
        return (self.start + offset) // DAY * DAY - offset

    def local_midnight(self, p: Principal, day: int) -> int:
        """Epoch second of local midnight of the principal's day ``day`` (0: the window's first)."""
        return self._first_midnight[p.name] + day * DAY

    def day_range(self, p: Principal) -> range:
        last = (self.end - 1 - self.local_midnight(p, 0)) // DAY
        return range(0, last + 1)

    def plan(self, p_index: int, day: int) -> Plan:
        key = (p_index, day)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > 8 * len(self.cast) + 64:
                self._plans.clear()
            plan = self._plans[key] = self._make_plan(self.cast[p_index], day)
        return plan

    def _make_plan(self, p: Principal, day: int) -> Plan:
        rng = rng_for(self.salt, self.seed, "plan", p.name, day)
        midnight = self.local_midnight(p, day)
        weekday = calendar.weekday(*_ymd(midnight + int(p.offset * HOUR)))
        plan = Plan()
        maker = getattr(self, f"_plan_{p.persona.replace('-', '_')}", self._plan_human)
        maker(p, day, midnight, weekday < 5, rng, plan)
        cutoff = self.terminated.get(p.name)
        if cutoff is not None:
            plan.segments = [
                Segment(
                    s.start,
                    min(s.end, cutoff),
                    s.expected * (min(s.end, cutoff) - s.start) / (s.end - s.start),
                    s.ip,
                    s.login,
                    s.tick,
                    s.run,
                )
                for s in plan.segments
                if s.start < cutoff
            ]
            plan.fixed = [f for f in plan.fixed if f.t < cutoff]
        return plan

    # Working people: a morning and an afternoon around lunch, signing in to the console first.
    def _plan_human(
        self, p: Principal, day: int, midnight: int, workday: bool, rng: random.Random, plan: Plan
    ) -> None:
        trip = self.trip_day(p, day)
        if not workday and trip is None:
            if rng.random() < 0.08:
                begin = midnight + int((19 + rng.random()) * HOUR)
                self._work(
                    p, plan, rng, begin, begin + int(rng.uniform(0.5, 1.5) * HOUR), p.ip, 0.6, login=True
                )
            return
        if workday and trip is None and rng.random() < 0.05:
            return  # a day off
        begin = midnight + int(min(10.5, max(7.0, rng.gauss(9.0, 0.5))) * HOUR)
        lunch = midnight + int((12 + rng.uniform(-0.2, 0.4)) * HOUR)
        back = lunch + int(rng.uniform(0.75, 1.1) * HOUR)
        finish = begin + int((8.5 + rng.uniform(-1.0, 1.2)) * HOUR)
        intensity = rng.uniform(0.6, 1.4)
        morning_ip, afternoon_ip = p.ip, p.ip
        afternoon_tag = ""
        if p.location == "hop" and workday and rng.random() < 0.7:
            afternoon_ip, afternoon_tag = geo.VPN.ips[day % len(geo.VPN.ips)], "hop_vpn"
        if trip is not None:
            kind, number = trip
            away = traveller_ip(p)
            if kind == "depart":
                lunch, back = midnight + 11 * HOUR, midnight + int(16.5 * HOUR)
                afternoon_ip, afternoon_tag = away, f"travel_arrival_{number}"
            elif kind == "return":
                lunch, back = midnight + 11 * HOUR, midnight + int(17.5 * HOUR)
                morning_ip, afternoon_tag = away, f"travel_return_{number}"
            else:
                morning_ip = afternoon_ip = away
            finish = max(finish, back + 2 * HOUR)
        self._work(p, plan, rng, begin, lunch, morning_ip, intensity, login=True)
        self._work(
            p,
            plan,
            rng,
            back,
            finish,
            afternoon_ip,
            intensity,
            login=afternoon_ip != morning_ip,
            tag=afternoon_tag,
        )

    def _work(
        self,
        p: Principal,
        plan: Plan,
        rng: random.Random,
        begin: int,
        finish: int,
        ip: str,
        intensity: float,
        *,
        login: bool,
        tag: str = "",
    ) -> None:
        if finish <= begin:
            return
        login_at = 0
        if p.console and login:
            login_at = begin - rng.randint(15, 90)
            if p.type == "IAMUser" and rng.random() < 0.03:
                plan.fixed.append(Fixed(login_at - rng.randint(10, 45), "login_failure", ip, "typo"))
            if p.federation in {"sso", "saml"}:
                # The identity provider's assertion is exchanged first; the session it creates signs in.
                plan.fixed.append(Fixed(login_at - rng.randint(2, 6), "saml", ip, arg=login_at))
            plan.fixed.append(Fixed(login_at, "login", ip, tag))
        elif p.console and plan.segments:
            login_at = plan.segments[-1].login
        plan.segments.append(
            Segment(begin, finish, p.rate * intensity * (finish - begin) / HOUR, ip, login_at)
        )

    def trip_day(self, p: Principal, day: int) -> tuple[str, int] | None:
        """The frequent traveller's trips to Japan: ('depart' | 'away' | 'return', trip number)."""
        if p.location != "traveller" or self.days < 4:
            return None
        trips = [(max(1, self.days // 5), 1)]
        second = self.days - 5
        if second > trips[0][0] + 3:
            trips.append((second, 2))
        for depart, number in trips:
            if day == depart:
                return ("depart", number)
            if day == depart + 2:
                return ("return", number)
            if depart < day < depart + 2:
                return ("away", number)
        return None

    # Automation and services.
    def _plan_terraform(self, p, day, midnight, workday, rng, plan) -> None:
        runs = rng.randint(3, 8) if workday else int(rng.random() < 0.25)
        for run in range(runs):
            begin = midnight + int(rng.uniform(9.5, 19.0) * HOUR)
            plan.segments.append(
                Segment(begin, begin + rng.randint(60, 150), rng.uniform(25, 60), p.ip, run=run + 1)
            )

    def _plan_ci(self, p, day, midnight, workday, rng, plan) -> None:
        jobs = rng.randint(5, 14) if workday else rng.randint(0, 2)
        for job in range(jobs):
            begin = midnight + int(rng.uniform(9.0, 20.0) * HOUR)
            plan.segments.append(
                Segment(begin, begin + rng.randint(60, 240), rng.uniform(6, 12), p.ip, run=job + 1)
            )

    def _plan_build(self, p, day, midnight, workday, rng, plan) -> None:
        begin, finish = (9, 19) if workday else (10, 16)
        rate = p.rate if workday else p.rate * 0.3
        plan.segments.append(
            Segment(midnight + begin * HOUR, midnight + finish * HOUR, rate * (finish - begin), p.ip)
        )

    def _plan_backup(self, p, day, midnight, workday, rng, plan) -> None:
        begin = midnight + 2 * HOUR + rng.randint(0, 120)
        plan.segments.append(Segment(begin, begin + 25 * 60, rng.uniform(10, 14), p.ip))

    def _plan_monitoring(self, p, day, midnight, workday, rng, plan) -> None:
        plan.segments.append(Segment(midnight, midnight + DAY, p.rate * 24, p.ip, tick=600))

    def _plan_service(self, p, day, midnight, workday, rng, plan) -> None:
        plan.segments.append(Segment(midnight, midnight + DAY, p.rate * 24, p.name))

    _plan_svc_ec2 = _plan_svc_lambda = _plan_svc_cloudtrail = _plan_service

    def _plan_svc_kms(self, p, day, midnight, workday, rng, plan) -> None:
        if day == self.days // 2:
            plan.fixed.append(Fixed(midnight + 3 * HOUR + 12 * 60 + rng.randint(0, 59), "kms_rotate"))

    def _plan_root(self, p, day, midnight, workday, rng, plan) -> None:
        if day == max(0, self.days // 3):
            login = midnight + 10 * HOUR + rng.randint(0, 600)
            plan.fixed.append(Fixed(login, "root_login", p.ip))
            for step, key in enumerate(
                ("iam:GetAccountSummary", "ce:GetCostAndUsage", "iam:GetAccountPasswordPolicy")
            ):
                plan.fixed.append(
                    Fixed(login + 40 + 70 * step + rng.randint(0, 30), "root_call", p.ip, arg=(key, login))
                )

    def _plan_autoscaling(self, p, day, midnight, workday, rng, plan) -> None:
        # Scale out in the morning, in at night: three instances, one call each, the same ones each day.
        ids = [f"i-{rng.getrandbits(68):017x}" for _ in range(3)]
        out = midnight + int(8.6 * HOUR) + rng.randint(0, 300)
        back = midnight + int(21.1 * HOUR) + rng.randint(0, 300)
        for i, instance_id in enumerate(ids):
            plan.fixed.append(
                Fixed(
                    out + 35 * i + rng.randint(0, 20), "autoscale_launch", tag="autoscaling", arg=instance_id
                )
            )
            plan.fixed.append(
                Fixed(
                    back + 35 * i + rng.randint(0, 20),
                    "autoscale_terminate",
                    tag="autoscaling",
                    arg=instance_id,
                )
            )

    def _plan_cleanup(self, p, day, midnight, workday, rng, plan) -> None:
        weekday = calendar.weekday(*_ymd(midnight + int(p.offset * HOUR)))
        if weekday == 6:
            begin = midnight + 3 * HOUR + rng.randint(0, 300)
            for i in range(rng.randint(5, 8)):
                key = f"exports/{rng.randint(2024, 2025)}/{token(rng, 12).lower()}.csv.gz"
                plan.fixed.append(
                    Fixed(begin + 2 * i + rng.randint(0, 2), "cleanup_delete", tag="cleanup", arg=key)
                )

    # --- hours ---------------------------------------------------------------------------------
    def expected_by_hour(self, p_index: int, hours: int):
        """Yield (hour index, expected calls) for the principal's segments inside the window."""
        p = self.cast[p_index]
        for day in self.day_range(p):
            for seg in self.plan(p_index, day).segments:
                lo, hi = max(seg.start, self.start), min(seg.end, self.end)
                if hi <= lo:
                    continue
                length = seg.end - seg.start
                h = (lo - self.start) // HOUR
                while h < hours:
                    hs = self.start + h * HOUR
                    overlap = min(hi, hs + HOUR) - max(lo, hs)
                    if overlap <= 0:
                        break
                    yield h, seg.expected * overlap / length
                    h += 1

    def fixed_in_window(self, p_index: int):
        p = self.cast[p_index]
        for day in self.day_range(p):
            for index, fixed in enumerate(self.plan(p_index, day).fixed):
                if self.start <= fixed.t < self.end:
                    yield day, index, fixed

    def hour_skeletons(self, p_index: int, h: int, n: int) -> list[tuple[int, int, int, int, int]]:
        """What the principal does in hour ``h``, cheaply: (time, principal, sequence, day, slot) with
        slot >= 0 a fixed event of the day's plan and slot < 0 a call drawn in segment -slot-1. The
        records are built from these one at a time (``build``): an hour costs a few bytes per event."""
        p = self.cast[p_index]
        hs = self.start + h * HOUR
        he = min(hs + HOUR, self.end)
        lo_day = (hs - self.local_midnight(p, 0)) // DAY
        out: list[tuple[int, int, int, int, int]] = []
        segments: list[tuple[int, int, Segment]] = []
        days = self.day_range(p)
        for day in (lo_day - 1, lo_day, lo_day + 1):
            if day not in days:
                continue
            plan = self.plan(p_index, day)
            for index, fixed in enumerate(plan.fixed):
                if hs <= fixed.t < he:
                    out.append((fixed.t, p_index, len(out), day, index))
            segments.extend(
                (day, position, seg)
                for position, seg in enumerate(plan.segments)
                if seg.start < he and seg.end > hs
            )
        if n and segments:
            rng = rng_for(self.salt, self.seed, "hour", p.name, h)
            weights = []
            for _, _, seg in segments:
                overlap = min(seg.end, he) - max(seg.start, hs)
                weights.append(max(overlap, 1) * seg.expected / max(seg.end - seg.start, 1))
            for pick in rng.choices(range(len(segments)), weights=weights, k=n):
                day, position, seg = segments[pick]
                lo, hi = max(seg.start, hs), min(seg.end, he)
                if seg.tick:
                    first = -(-(lo - seg.start) // seg.tick)
                    last = max(first, (hi - 1 - seg.start) // seg.tick)
                    t = min(hi - 1, seg.start + rng.randint(first, last) * seg.tick + rng.randint(0, 25))
                else:
                    t = lo + int(rng.random() * max(hi - lo, 1))
                out.append((t, p_index, len(out), day, -position - 1))
        return out

    def build(self, h: int, skeleton: tuple[int, int, int, int, int], rngs: dict[int, random.Random]) -> dict:
        """The record of a skeleton. Drawn calls share one generator per principal and hour, used in
        the skeletons' (deterministic) time order: ``rngs`` holds them for the hour being built."""
        t, p_index, _, day, slot = skeleton
        if slot >= 0:
            return self.fixed_record(p_index, day, slot)
        p = self.cast[p_index]
        rng = rngs.get(p_index)
        if rng is None:
            rng = rngs[p_index] = rng_for(self.salt, self.seed, "calls", p.name, h)
        return self.drawn_record(p, day, self.plan(p_index, day).segments[-slot - 1], t, rng)

    # --- records -------------------------------------------------------------------------------
    def actor(self, p: Principal, day: int, channel: str, ip: str, created: int) -> Actor:
        """The principal calling through ``channel`` on ``day``: session keys are per day (per run)."""
        key = (p.name, day, channel, ip, created)
        actor = self._actors.get(key)
        if actor is None:
            if len(self._actors) > 16 * len(self.cast) + 256:
                self._actors.clear()
            actor = self._actors[key] = self._make_actor(p, day, channel, ip, created)
        return actor

    def _make_actor(self, p: Principal, day: int, channel: str, ip: str, created: int) -> Actor:
        key_rng = rng_for(self.salt, self.seed, "session", p.name, day, channel, created)
        temporary = "ASIA" + token(key_rng, 16)
        if p.type == "AWSService":
            return Actor(service_identity(p.name), p.name, "service", p.name, tls=None)
        if p.type == "Root":
            context = session_context(created=created, mfa=True)
            return Actor(root_identity(temporary, context), ip, "console", CONSOLE, console=True)
        if p.type == "IAMUser":
            if channel == "console":
                context = session_context(created=created, mfa=p.mfa)
                return Actor(
                    iam_user_identity(p.name, p.principal_id, temporary, context),
                    ip,
                    "console",
                    CONSOLE,
                    console=True,
                )
            identity = iam_user_identity(p.name, p.principal_id, p.access_key)
            if p.persona == "build":
                return Actor(identity, ip, "sdk", BOTO3)
            return Actor(identity, ip, "cli", cli_platform=1 if p.persona == "backup" else p.cli_platform)
        web_identity = (
            {"federatedProvider": OIDC_PROVIDER, "attributes": {}} if p.federation == "oidc" else None
        )
        identity = assumed_role_identity(
            role=p.role,
            path=p.role_path,
            role_id=p.principal_id,
            session=p.name,
            access_key=temporary,
            created=created,
            invoked_by="autoscaling.amazonaws.com" if p.persona == "autoscaling" else None,
            web_identity=web_identity,
        )
        if p.persona == "autoscaling":
            return Actor(
                identity, "autoscaling.amazonaws.com", "service", "autoscaling.amazonaws.com", tls=None
            )
        if p.persona == "terraform":
            return Actor(identity, ip, "terraform", TERRAFORM)
        if p.persona == "monitoring":
            return Actor(identity, ip, "poll", GO_SDK)
        if p.persona == "cleanup":
            return Actor(identity, ip, "sdk", BOTO3_LAMBDA)
        if p.persona == "ci":
            return Actor(identity, ip, "cli", cli_platform=1)
        if channel == "console":
            return Actor(identity, ip, "console", CONSOLE, console=True)
        return Actor(identity, ip, "cli", cli_platform=p.cli_platform)

    def login_actor(self, p: Principal, ip: str, created: int, day: int) -> Actor:
        """The sign-in's own identity: no access key, and for federation the session being created."""
        browser = BROWSERS[p.cli_platform % len(BROWSERS)]
        if p.type == "Root":
            return Actor(root_identity(), ip, "signin", browser)
        if p.type == "IAMUser":
            return Actor(iam_user_identity(p.name, p.principal_id, None), ip, "signin", browser)
        identity = dict(self.actor(p, day, "console", ip, created).identity)
        identity.pop("accessKeyId", None)
        return Actor(identity, ip, "signin", browser)

    def _channel(self, p: Principal, rng: random.Random, seg: Segment) -> str:
        if p.console and seg.login and (not p.cli or rng.random() < CONSOLE_SHARE.get(p.persona, 0.5)):
            return "console"
        return "cli"

    def drawn_record(self, p: Principal, day: int, seg: Segment, t: int, rng: random.Random) -> dict:
        channel = self._channel(p, rng, seg)
        if channel == "console":
            created = seg.login
        elif seg.run or (p.type == "AssumedRole" and p.persona not in {"monitoring"}):
            created = seg.start
        else:
            created = self.local_midnight(p, day)
        actor = self.actor(p, day, channel, seg.ip, created)
        names, cumulative = _CUMULATIVE[p.persona if p.persona in _CUMULATIVE else "developer"]
        key = names[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
        regions, cum_weights = regions_for(p)
        region = regions[bisect.bisect(cum_weights, rng.random() * cum_weights[-1])]
        return api_event(key, actor=actor, actor_arn=p.key, rng=rng, spec=self.spec, region=region, t=t)

    def fixed_record(self, p_index: int, day: int, index: int) -> dict:
        p = self.cast[p_index]
        fixed = self.plan(p_index, day).fixed[index]
        rng = rng_for(self.salt, self.seed, "fixed", p.name, day, index)
        t = fixed.t
        if fixed.kind in {"login", "login_failure", "root_login"}:
            actor = self.login_actor(p, fixed.ip, t, day)
            if fixed.kind == "login" and p.federation in {"sso", "saml"}:
                return calls.console_login(
                    t=t,
                    actor=actor,
                    rng=rng,
                    success=True,
                    mfa=False,
                    saml_provider=SSO_PROVIDER if p.federation == "sso" else ADFS_PROVIDER,
                )
            return calls.console_login(
                t=t, actor=actor, rng=rng, success=fixed.kind != "login_failure", mfa=p.mfa
            )
        if fixed.kind == "saml":
            sso = p.federation == "sso"
            provider = SSO_PROVIDER if sso else ADFS_PROVIDER
            qualifier = stable_token(27, "saml", provider, alphabet=BASE64) + "="
            identity = {
                "type": "SAMLUser",
                "principalId": f"{qualifier}:{p.name}",
                "userName": p.name,
                "identityProvider": qualifier,
            }
            actor = Actor(identity, fixed.ip, "signin", BROWSERS[p.cli_platform % len(BROWSERS)])
            return calls.assume_role_with_saml(
                t=t,
                actor=actor,
                rng=rng,
                role=p.role,
                role_path=p.role_path,
                role_id=p.principal_id,
                session=p.name,
                provider=provider,
                sso=sso,
            )
        if fixed.kind == "root_call":
            key, login = fixed.arg
            actor = self.actor(p, day, "console", fixed.ip, login)
            return api_event(
                key,
                actor=actor,
                actor_arn=p.key,
                rng=rng,
                spec=self.spec,
                region="us-east-1",
                t=t,
                denied=False,
            )
        if fixed.kind in {"autoscale_launch", "autoscale_terminate"}:
            actor = self.actor(p, day, "service", "", self.local_midnight(p, day) + 8 * HOUR)
            network = self.spec.networks["us-east-1"]
            if fixed.kind == "autoscale_terminate":
                return calls.terminate_instances(
                    t=t, actor=actor, rng=rng, region="us-east-1", instance_ids=[fixed.arg]
                )
            return calls.run_instances(
                t=t,
                actor=actor,
                rng=rng,
                region="us-east-1",
                image="ami-0c101f26f147fa7fd",
                instance_type="m6i.large",
                instance_ids=[fixed.arg],
                subnet=network.subnet_ids[index % 2],
                vpc=network.vpc_id,
                security_group=network.security_groups["app-sg"],
                name_tag="orders-api-asg",
            )
        if fixed.kind == "cleanup_delete":
            actor = self.actor(p, day, "sdk", p.ip, self.local_midnight(p, day) + 3 * HOUR)
            return calls.delete_object(
                t=t, actor=actor, rng=rng, spec=self.spec, bucket="hanbit-tmp-exports", key=fixed.arg
            )
        if fixed.kind == "kms_rotate":
            return calls.kms_rotate_key(
                t=t, rng=rng, region="us-east-1", key_id=self.spec.kms_keys["us-east-1"]
            )
        raise ValueError(f"unknown fixed event {fixed.kind}")


def _ymd(t: int) -> tuple[int, int, int]:
    parts = time.gmtime(t)
    return parts.tm_year, parts.tm_mon, parts.tm_mday
