"""The built-in templates (PRODUCT.md 6.1-6.3) on real-shaped CloudTrail events. Pure: no database."""

import pytest

from policies.engine import evaluate_batch
from policies.engine.spec import TYPE_ACTIVITY, TYPE_ANOMALY, TYPE_FILE
from policies.templates.aws_activity import EventTemplate
from policies.templates.registry import (
    DuplicateTemplate,
    Template,
    all_templates,
    get_template,
    register_template,
)
from tests.policies.activities import RISKY_IP, activity, call, console_login

ACTIVITY_KEYS = [
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
]
ANOMALY_KEYS = [
    "anomaly_anonymous_ip",
    "anomaly_infrequent_country",
    "anomaly_suspicious_ip",
    "anomaly_impossible_travel",
    "anomaly_terminated_user",
    "anomaly_multiple_failed_logins",
    "anomaly_unusual_admin_activity",
    "anomaly_mass_storage_deletion",
    "anomaly_mass_vm_deletion",
    "anomaly_mass_vm_creation",
    "anomaly_unusual_region",
]
SEVERITIES = {
    "aws_console_failed_logins": "medium",
    "aws_cloudtrail_config_changes": "high",
    "aws_ec2_instance_config_changes": "low",
    "aws_iam_policy_changes": "medium",
    "aws_risky_ip_logon": "medium",
    "aws_network_acl_changes": "medium",
    "aws_network_gateway_changes": "medium",
    "aws_s3_config_changes": "medium",
    "aws_security_group_changes": "medium",
    "aws_vpn_changes": "medium",
}
EVENTS = {
    "aws_cloudtrail_config_changes": (
        "cloudtrail.amazonaws.com",
        "CreateTrail UpdateTrail DeleteTrail StartLogging StopLogging PutEventSelectors PutInsightSelectors",
    ),
    "aws_ec2_instance_config_changes": (
        "ec2.amazonaws.com",
        "RunInstances StartInstances StopInstances RebootInstances TerminateInstances "
        "ModifyInstanceAttribute ModifyInstanceMetadataOptions AssociateIamInstanceProfile "
        "ReplaceIamInstanceProfileAssociation",
    ),
    "aws_iam_policy_changes": (
        "iam.amazonaws.com",
        "PutUserPolicy PutGroupPolicy PutRolePolicy DeleteUserPolicy DeleteGroupPolicy DeleteRolePolicy "
        "CreatePolicy DeletePolicy CreatePolicyVersion DeletePolicyVersion SetDefaultPolicyVersion "
        "AttachUserPolicy AttachGroupPolicy AttachRolePolicy DetachUserPolicy DetachGroupPolicy "
        "DetachRolePolicy",
    ),
    "aws_network_acl_changes": (
        "ec2.amazonaws.com",
        "CreateNetworkAcl DeleteNetworkAcl CreateNetworkAclEntry DeleteNetworkAclEntry "
        "ReplaceNetworkAclEntry ReplaceNetworkAclAssociation",
    ),
    "aws_network_gateway_changes": (
        "ec2.amazonaws.com",
        "CreateCustomerGateway DeleteCustomerGateway CreateInternetGateway DeleteInternetGateway "
        "AttachInternetGateway DetachInternetGateway CreateNatGateway DeleteNatGateway CreateTransitGateway "
        "DeleteTransitGateway",
    ),
    "aws_s3_config_changes": (
        "s3.amazonaws.com",
        "PutBucketPolicy DeleteBucketPolicy PutBucketAcl PutBucketCors DeleteBucketCors PutBucketLifecycle "
        "DeleteBucketLifecycle PutBucketReplication DeleteBucketReplication PutBucketEncryption "
        "DeleteBucketEncryption PutBucketVersioning PutBucketLogging PutBucketPublicAccessBlock "
        "DeleteBucketPublicAccessBlock PutBucketOwnershipControls",
    ),
    "aws_security_group_changes": (
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress AuthorizeSecurityGroupEgress RevokeSecurityGroupIngress "
        "RevokeSecurityGroupEgress CreateSecurityGroup DeleteSecurityGroup ModifySecurityGroupRules",
    ),
    "aws_vpn_changes": (
        "ec2.amazonaws.com",
        "CreateVpc DeleteVpc ModifyVpcAttribute CreateVpcPeeringConnection AcceptVpcPeeringConnection "
        "RejectVpcPeeringConnection DeleteVpcPeeringConnection AttachClassicLinkVpc DetachClassicLinkVpc "
        "EnableVpcClassicLink DisableVpcClassicLink CreateVpnConnection DeleteVpnConnection "
        "CreateVpnConnectionRoute DeleteVpnConnectionRoute CreateVpnGateway DeleteVpnGateway "
        "AttachVpnGateway DetachVpnGateway",
    ),
}
# Services with calls of the same names: Organizations and IoT have CreatePolicy & co, S3 on Outposts
# (s3control) bucket policies, and so on. None of them is the template's service.
LOOK_ALIKES = {
    "cloudtrail.amazonaws.com": "cloudtrail-data.amazonaws.com",
    "ec2.amazonaws.com": "lightsail.amazonaws.com",
    "iam.amazonaws.com": "organizations.amazonaws.com",
    "s3.amazonaws.com": "s3control.amazonaws.com",
}
CASES = [(key, name) for key, (_, names) in EVENTS.items() for name in names.split()]


def specs():
    return [t.spec() for t in all_templates(TYPE_ACTIVITY)]


def matched(*events) -> list[tuple[str, str]]:
    """(policy key, title) of every finding of the ten templates over ``events``."""
    return [(f.policy_key, f.title) for f in evaluate_batch(specs(), [activity(e) for e in events])]


def keys(*events) -> set[str]:
    return {key for key, _ in matched(*events)}


def test_exactly_the_specified_templates_are_registered():
    assert [t.key for t in all_templates(TYPE_ACTIVITY)] == ACTIVITY_KEYS
    assert [t.key for t in all_templates(TYPE_ANOMALY)] == ANOMALY_KEYS
    assert [t.key for t in all_templates(TYPE_FILE)] == ["file_s3_bucket_public"]
    for key, severity in SEVERITIES.items():
        template = get_template(key)
        assert template.severity == severity
        assert template.name and template.description and template.category
        assert template.mitre_tactic and template.mitre_technique
        assert template.match_mode == "single"


def test_each_event_template_lists_exactly_its_events():
    for key, (source, names) in EVENTS.items():
        template = get_template(key)
        assert isinstance(template, EventTemplate)
        assert template.event_source == source
        assert sorted(template.event_names) == sorted(names.split())


def test_a_duplicate_template_key_is_refused():
    with pytest.raises(DuplicateTemplate, match="aws_vpn_changes"):

        @register_template
        class Again(Template):
            key = "aws_vpn_changes"


@pytest.mark.parametrize(("key", "event_name"), CASES)
def test_event_templates_match_their_calls_failed_or_not_never_read_only_or_look_alikes(key, event_name):
    source = EVENTS[key][0]
    assert matched(call(event_name, source)) == [(key, f"{get_template(key).name}: {event_name} by alice")]

    failed = matched(call(event_name, source, error="AccessDenied"))
    assert failed == [(key, f"{get_template(key).name}: {event_name} by alice (failed)")]

    assert keys(call(event_name, source, read_only=True)) == set()
    assert keys(call(event_name, LOOK_ALIKES[source])) == set()


def test_organizations_create_policy_is_not_an_iam_policy_change():
    assert keys(call("CreatePolicy", "organizations.amazonaws.com")) == set()
    assert keys(call("AttachPolicy", "organizations.amazonaws.com")) == set()
    assert keys(call("CreatePolicy", "iam.amazonaws.com")) == {"aws_iam_policy_changes"}


def test_other_calls_of_the_same_services_do_not_match():
    assert keys(call("CreateUser", "iam.amazonaws.com")) == set()
    assert keys(call("DescribeInstances", "ec2.amazonaws.com", read_only=True)) == set()
    assert keys(call("PutObject", "s3.amazonaws.com")) == set()
    assert keys(call("LookupEvents", "cloudtrail.amazonaws.com", read_only=True)) == set()


def test_recorded_fixtures_match_their_template():
    assert keys(call("RunInstances", "ec2.amazonaws.com", fixture="ec2_run_instances")) == {
        "aws_ec2_instance_config_changes"
    }
    event = call("PutBucketAcl", "s3.amazonaws.com", fixture="s3_put_bucket_acl")
    (finding,) = evaluate_batch(specs(), [activity(event)])
    assert finding.policy_key == "aws_s3_config_changes"
    assert finding.evidence["resources"] == ["finance-reports"]
    assert "PutBucketAcl (s3.amazonaws.com) in us-east-1 from 203.0.113.10" in finding.description


def test_console_sign_in_failures():
    failure = console_login(failed=True)
    (finding,) = evaluate_batch(specs(), [activity(failure)])
    assert finding.policy_key == "aws_console_failed_logins"
    assert finding.severity == "medium"
    assert finding.title == "Management console sign-in failures: ConsoleLogin by dave (failed)"
    assert finding.principal == "arn:aws:iam::123456789012:user/dave"
    assert "failed to sign in to the AWS console" in finding.description
    assert "Failed authentication" in finding.description

    assert keys(console_login(failed=False)) == set()
    # An error message without responseElements is a failure too (normalize decides).
    bare = console_login(failed=True)
    bare.pop("responseElements")
    assert keys(bare) == {"aws_console_failed_logins"}
    # ConsoleLogin is a sign-in service event: the same name elsewhere is not.
    elsewhere = console_login(failed=True)
    elsewhere["eventSource"] = "sso.amazonaws.com"
    assert keys(elsewhere) == set()


def test_logon_from_a_risky_ip():
    assert keys(console_login(failed=False, ip=RISKY_IP)) == {"aws_risky_ip_logon"}
    assert keys(console_login(failed=True, ip=RISKY_IP)) == {
        "aws_risky_ip_logon",
        "aws_console_failed_logins",
    }
    assert keys(call("CreateUser", "iam.amazonaws.com", ip=RISKY_IP)) == {"aws_risky_ip_logon"}
    title = dict(matched(call("CreateUser", "iam.amazonaws.com", ip=RISKY_IP, error="AccessDenied")))
    assert title["aws_risky_ip_logon"].endswith("(failed)")
    # Read-only calls never match the activity templates; other addresses are not risky.
    assert keys(call("ListBuckets", "s3.amazonaws.com", ip=RISKY_IP, read_only=True)) == set()
    assert keys(console_login(failed=False)) == set()
    assert activity(console_login(failed=False, ip=RISKY_IP))["ip_category"] == "risky"


def test_calls_by_aws_services_have_no_ip_and_are_not_risky():
    event = call("StopLogging", "cloudtrail.amazonaws.com", ip="cloudtrail.amazonaws.com")
    (finding,) = evaluate_batch(specs(), [activity(event)])
    assert finding.policy_key == "aws_cloudtrail_config_changes"
    assert finding.evidence["source_ip"] == "cloudtrail.amazonaws.com"


def test_template_defaults_as_policy_fields():
    fields = get_template("aws_cloudtrail_config_changes").policy_fields()
    assert fields["type"] == "activity"
    assert fields["template_key"] == "aws_cloudtrail_config_changes"
    assert fields["filters"][0] == {
        "field": "event_source",
        "operator": "equals",
        "values": ["cloudtrail.amazonaws.com"],
    }
    anomaly = get_template("anomaly_mass_vm_creation").policy_fields()
    assert anomaly["type"] == "anomaly"
    assert anomaly["settings"]["sensitivity"] == "medium"
    assert anomaly["filters"] == []
    assert get_template("file_s3_bucket_public").policy_fields()["governance_actions"] == ["s3_make_private"]
