"""Anomaly detection policy templates (PRODUCT.md 6.2).

The template only describes the policy; the behaviour is the detector registered under the same key
in ``policies.engine.detectors``. Until one is registered the engine skips the policy. Default
settings hold the sensitivity and the thresholds the specification names, which detectors read
from ``Detector.settings`` (the policy's settings over these).
"""

from __future__ import annotations

from typing import Any, ClassVar

from policies.engine.spec import TYPE_ANOMALY
from policies.templates.registry import Template, register_template

LEARNING_DAYS = 7


class AnomalyTemplate(Template):
    type = TYPE_ANOMALY
    category = "Threat detection"
    default_settings: ClassVar[dict[str, Any]] = {"sensitivity": "medium", "learning_days": LEARNING_DAYS}


def _settings(**extra: Any) -> dict[str, Any]:
    return {"sensitivity": "medium", "learning_days": LEARNING_DAYS, **extra}


@register_template
class AnonymousIp(AnomalyTemplate):
    key = "anomaly_anonymous_ip"
    name = "Activity from anonymous IP addresses"
    description = (
        "Activity from an IP address tagged as an anonymous proxy, a Tor exit node or an anonymizing "
        "VPN. Addresses in Corporate or VPN ranges are ignored, and at low or medium sensitivity so "
        "is an address many principals of the organization use routinely."
    )
    mitre_tactic = "Command and Control"
    mitre_technique = "T1090.003 Proxy: Multi-hop Proxy"


@register_template
class InfrequentCountry(AnomalyTemplate):
    key = "anomaly_infrequent_country"
    name = "Activity from infrequent country"
    description = (
        "Activity from a country the principal has not used in the last 30 days and that is rare in "
        "the organization."
    )
    mitre_tactic = "Initial Access"
    mitre_technique = "T1078.004 Valid Accounts: Cloud Accounts"
    default_settings = _settings(baseline_days=30)


@register_template
class SuspiciousIp(AnomalyTemplate):
    key = "anomaly_suspicious_ip"
    name = "Activity from suspicious IP addresses"
    description = (
        "Activity from an IP address listed by a threat-intelligence feed: botnet, command and control, "
        "password spray or scanner."
    )
    mitre_tactic = "Initial Access"
    mitre_technique = "T1078.004 Valid Accounts: Cloud Accounts"


@register_template
class ImpossibleTravel(AnomalyTemplate):
    key = "anomaly_impossible_travel"
    name = "Impossible travel"
    description = (
        "Two activities of the same principal from places too far apart for the time between them. "
        "Failed sign-ins, calls made by AWS services and pairs of Corporate/VPN addresses (except at "
        "high sensitivity) are ignored."
    )
    mitre_tactic = "Initial Access"
    mitre_technique = "T1078.004 Valid Accounts: Cloud Accounts"
    default_settings = _settings(max_speed_kmh=900, min_distance_km=500)


@register_template
class TerminatedUser(AnomalyTemplate):
    key = "anomaly_terminated_user"
    name = "Activity performed by terminated user"
    description = (
        "Activity by a principal mapped to an identity-provider user who has been disabled or deleted, "
        "after the termination time."
    )
    severity = "high"
    mitre_tactic = "Persistence"
    mitre_technique = "T1078.004 Valid Accounts: Cloud Accounts"


@register_template
class MultipleFailedLogins(AnomalyTemplate):
    key = "anomaly_multiple_failed_logins"
    name = "Multiple failed login attempts"
    description = (
        "Failed console sign-ins of one principal, or against one user name from one IP address, above "
        "the principal's usual rate (medium sensitivity: 5 within 10 minutes). Alerts once while the "
        "behaviour continues."
    )
    mitre_tactic = "Credential Access"
    mitre_technique = "T1110 Brute Force"
    default_settings = _settings(count=5, window_minutes=10)


@register_template
class UnusualAdminActivity(AnomalyTemplate):
    key = "anomaly_unusual_admin_activity"
    name = "Unusual administrative activity"
    description = (
        "Administrative activities by a principal within one hour far above its baseline (and above a "
        "floor), or administrative event types the principal never used."
    )
    mitre_tactic = "Privilege Escalation"
    mitre_technique = "T1098 Account Manipulation"


@register_template
class MassStorageDeletion(AnomalyTemplate):
    key = "anomaly_mass_storage_deletion"
    name = "Unusual storage deletion activity"
    description = (
        "S3 deletions (DeleteBucket, DeleteObject(s), DeleteBucketPolicy...) by a principal within one "
        "hour above its baseline and a floor."
    )
    mitre_tactic = "Impact"
    mitre_technique = "T1485 Data Destruction"


@register_template
class MassVmDeletion(AnomalyTemplate):
    key = "anomaly_mass_vm_deletion"
    name = "Multiple delete VM activities"
    description = (
        "Instances terminated by a principal within one hour above the environment's baseline and a "
        "floor (medium sensitivity: 5 instances)."
    )
    mitre_tactic = "Impact"
    mitre_technique = "T1485 Data Destruction"
    default_settings = _settings(floor=5)


@register_template
class MassVmCreation(AnomalyTemplate):
    key = "anomaly_mass_vm_creation"
    name = "Multiple VM creation activities"
    description = (
        "Instances launched by a principal within one hour above its baseline and a floor (medium "
        "sensitivity: 10 instances): the crypto-mining pattern."
    )
    mitre_tactic = "Impact"
    mitre_technique = "T1496 Resource Hijacking"
    default_settings = _settings(floor=10)


@register_template
class UnusualRegion(AnomalyTemplate):
    key = "anomaly_unusual_region"
    name = "Suspicious creation activity for cloud region"
    description = (
        "Creation of a resource (RunInstances, Create* calls) in a region the organization has not "
        "used in its baseline."
    )
    mitre_tactic = "Defense Evasion"
    mitre_technique = "T1535 Unused/Unsupported Cloud Regions"
