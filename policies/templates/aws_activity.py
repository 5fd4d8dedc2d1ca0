"""AWS activity policy templates (PRODUCT.md 6.1).

Each one matches its event names only on its own service's event source (Organizations'
CreatePolicy is not an IAM policy change), never read-only calls, and failed calls too (an
AccessDenied StopLogging is as interesting as a successful one; the alert says it failed).
"""

from __future__ import annotations

from typing import Any, ClassVar

from policies.templates.registry import Template, register_template

THREAT_DETECTION = "Threat detection"
PRIVILEGED_ACCOUNTS = "Privileged accounts"
COMPLIANCE = "Compliance"
CONFIGURATION = "Configuration"

NOT_READ_ONLY: dict[str, Any] = {"field": "read_only", "operator": "equals", "values": [False]}


class EventTemplate(Template):
    """A template matching a list of API calls of one service."""

    event_source: ClassVar[str] = ""
    event_names: ClassVar[tuple[str, ...]] = ()

    def filters(self) -> list[dict[str, Any]]:
        return [
            {"field": "event_source", "operator": "equals", "values": [self.event_source]},
            {"field": "event_name", "operator": "in", "values": list(self.event_names)},
            dict(NOT_READ_ONLY),
        ]


@register_template
class ConsoleFailedLogins(Template):
    key = "aws_console_failed_logins"
    name = "Management console sign-in failures"
    description = (
        "Alerts when a sign-in to the AWS Management Console fails (ConsoleLogin with the outcome "
        'Failure, for example "Failed authentication"): a mistyped password, or someone guessing one.'
    )
    severity = "medium"
    category = THREAT_DETECTION
    mitre_tactic = "Credential Access"
    mitre_technique = "T1110 Brute Force"

    def filters(self) -> list[dict[str, Any]]:
        return [
            {"field": "event_source", "operator": "equals", "values": ["signin.amazonaws.com"]},
            {"field": "event_name", "operator": "equals", "values": ["ConsoleLogin"]},
            {"field": "console_login", "operator": "equals", "values": ["Failure"]},
            dict(NOT_READ_ONLY),
        ]


@register_template
class CloudTrailConfigChanges(EventTemplate):
    key = "aws_cloudtrail_config_changes"
    name = "CloudTrail configuration changes"
    description = (
        "Alerts when a trail is created, changed or deleted, or its logging stopped or its event "
        "selectors changed: attackers turn off CloudTrail to hide what they do next."
    )
    severity = "high"
    category = THREAT_DETECTION
    mitre_tactic = "Defense Evasion"
    mitre_technique = "T1562.008 Impair Defenses: Disable or Modify Cloud Logs"
    event_source = "cloudtrail.amazonaws.com"
    event_names = (
        "CreateTrail",
        "UpdateTrail",
        "DeleteTrail",
        "StartLogging",
        "StopLogging",
        "PutEventSelectors",
        "PutInsightSelectors",
    )


@register_template
class Ec2InstanceConfigChanges(EventTemplate):
    key = "aws_ec2_instance_config_changes"
    name = "EC2 instance configuration changes"
    description = (
        "Alerts when EC2 instances are launched, started, stopped, rebooted or terminated, or their "
        "attributes, metadata options or IAM instance profile change."
    )
    severity = "low"
    category = CONFIGURATION
    mitre_tactic = "Defense Evasion"
    mitre_technique = "T1578 Modify Cloud Compute Infrastructure"
    event_source = "ec2.amazonaws.com"
    event_names = (
        "RunInstances",
        "StartInstances",
        "StopInstances",
        "RebootInstances",
        "TerminateInstances",
        "ModifyInstanceAttribute",
        "ModifyInstanceMetadataOptions",
        "AssociateIamInstanceProfile",
        "ReplaceIamInstanceProfileAssociation",
    )


@register_template
class IamPolicyChanges(EventTemplate):
    key = "aws_iam_policy_changes"
    name = "IAM policy changes"
    description = (
        "Alerts when IAM permissions change: inline policies of users, groups and roles put or "
        "deleted, managed policies and their versions created, deleted or made default, policies "
        "attached or detached."
    )
    severity = "medium"
    category = PRIVILEGED_ACCOUNTS
    mitre_tactic = "Privilege Escalation"
    mitre_technique = "T1098.003 Account Manipulation: Additional Cloud Roles"
    event_source = "iam.amazonaws.com"
    event_names = (
        "PutUserPolicy",
        "PutGroupPolicy",
        "PutRolePolicy",
        "DeleteUserPolicy",
        "DeleteGroupPolicy",
        "DeleteRolePolicy",
        "CreatePolicy",
        "DeletePolicy",
        "CreatePolicyVersion",
        "DeletePolicyVersion",
        "SetDefaultPolicyVersion",
        "AttachUserPolicy",
        "AttachGroupPolicy",
        "AttachRolePolicy",
        "DetachUserPolicy",
        "DetachGroupPolicy",
        "DetachRolePolicy",
    )


@register_template
class RiskyIpLogon(Template):
    """Any activity (a ConsoleLogin above all) from an address whose IP category is Risky: an IP range
    an administrator marked risky, or a botnet, scanner or password-spray feed. Like every template
    of this family it ignores read-only calls; activity of any kind from threat-intelligence
    addresses is what ``anomaly_suspicious_ip`` watches."""

    key = "aws_risky_ip_logon"
    name = "Logon from a risky IP address"
    description = (
        "Alerts when a principal signs in to the console, or calls AWS with its credentials, from an "
        "IP address whose category is Risky (an IP range marked risky, or a threat feed of botnets, "
        "scanners or password sprays)."
    )
    severity = "medium"
    category = THREAT_DETECTION
    mitre_tactic = "Initial Access"
    mitre_technique = "T1078.004 Valid Accounts: Cloud Accounts"

    def filters(self) -> list[dict[str, Any]]:
        return [
            {"field": "ip_category", "operator": "equals", "values": ["risky"]},
            dict(NOT_READ_ONLY),
        ]


@register_template
class NetworkAclChanges(EventTemplate):
    key = "aws_network_acl_changes"
    name = "Network ACL changes"
    description = "Alerts when VPC network ACLs, their entries or their subnet associations change."
    severity = "medium"
    category = CONFIGURATION
    mitre_tactic = "Defense Evasion"
    mitre_technique = "T1562.007 Impair Defenses: Disable or Modify Cloud Firewall"
    event_source = "ec2.amazonaws.com"
    event_names = (
        "CreateNetworkAcl",
        "DeleteNetworkAcl",
        "CreateNetworkAclEntry",
        "DeleteNetworkAclEntry",
        "ReplaceNetworkAclEntry",
        "ReplaceNetworkAclAssociation",
    )


@register_template
class NetworkGatewayChanges(EventTemplate):
    key = "aws_network_gateway_changes"
    name = "Network gateway changes"
    description = (
        "Alerts when customer, internet, NAT or transit gateways are created, deleted, attached or "
        "detached: the ways in and out of a network."
    )
    severity = "medium"
    category = CONFIGURATION
    mitre_tactic = "Defense Evasion"
    mitre_technique = "T1599 Network Boundary Bridging"
    event_source = "ec2.amazonaws.com"
    event_names = (
        "CreateCustomerGateway",
        "DeleteCustomerGateway",
        "CreateInternetGateway",
        "DeleteInternetGateway",
        "AttachInternetGateway",
        "DetachInternetGateway",
        "CreateNatGateway",
        "DeleteNatGateway",
        "CreateTransitGateway",
        "DeleteTransitGateway",
    )


@register_template
class S3ConfigChanges(EventTemplate):
    key = "aws_s3_config_changes"
    name = "S3 configuration changes"
    description = (
        "Alerts when the configuration of an S3 bucket changes: its policy, ACL, CORS, lifecycle, "
        "replication, encryption, versioning, logging, public access block or object ownership."
    )
    severity = "medium"
    category = COMPLIANCE
    mitre_tactic = "Exfiltration"
    mitre_technique = "T1537 Transfer Data to Cloud Account"
    event_source = "s3.amazonaws.com"
    event_names = (
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "PutBucketAcl",
        "PutBucketCors",
        "DeleteBucketCors",
        "PutBucketLifecycle",
        "DeleteBucketLifecycle",
        "PutBucketReplication",
        "DeleteBucketReplication",
        "PutBucketEncryption",
        "DeleteBucketEncryption",
        "PutBucketVersioning",
        "PutBucketLogging",
        "PutBucketPublicAccessBlock",
        "DeleteBucketPublicAccessBlock",
        "PutBucketOwnershipControls",
    )


@register_template
class SecurityGroupChanges(EventTemplate):
    key = "aws_security_group_changes"
    name = "Security group configuration changes"
    description = (
        "Alerts when security groups are created or deleted, or their inbound or outbound rules are "
        "authorized, revoked or modified: for example a port opened to 0.0.0.0/0."
    )
    severity = "medium"
    category = CONFIGURATION
    mitre_tactic = "Defense Evasion"
    mitre_technique = "T1562.007 Impair Defenses: Disable or Modify Cloud Firewall"
    event_source = "ec2.amazonaws.com"
    event_names = (
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "CreateSecurityGroup",
        "DeleteSecurityGroup",
        "ModifySecurityGroupRules",
    )


@register_template
class VpnChanges(EventTemplate):
    key = "aws_vpn_changes"
    name = "Virtual private network changes"
    description = (
        "Alerts on VPC and VPN changes: VPCs created, deleted or modified, VPC peering requested, "
        "accepted, rejected or deleted, ClassicLink, VPN connections, their routes and VPN gateways."
    )
    severity = "medium"
    category = CONFIGURATION
    mitre_tactic = "Defense Evasion"
    mitre_technique = "T1599 Network Boundary Bridging"
    event_source = "ec2.amazonaws.com"
    event_names = (
        "CreateVpc",
        "DeleteVpc",
        "ModifyVpcAttribute",
        "CreateVpcPeeringConnection",
        "AcceptVpcPeeringConnection",
        "RejectVpcPeeringConnection",
        "DeleteVpcPeeringConnection",
        "AttachClassicLinkVpc",
        "DetachClassicLinkVpc",
        "EnableVpcClassicLink",
        "DisableVpcClassicLink",
        "CreateVpnConnection",
        "DeleteVpnConnection",
        "CreateVpnConnectionRoute",
        "DeleteVpnConnectionRoute",
        "CreateVpnGateway",
        "DeleteVpnGateway",
        "AttachVpnGateway",
        "DetachVpnGateway",
    )
