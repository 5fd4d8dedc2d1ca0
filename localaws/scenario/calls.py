"""Calls made on purpose rather than drawn from a menu: sign-ins, federation, and the configuration
changes that the episodes, the templates of PRODUCT.md 6.1 and the scheduled jobs consist of."""

from __future__ import annotations

import base64
import json
import random

from localaws.scenario.api import ALL_USERS, OWNER_ID, Call, credentials, resource_element, s3_extra
from localaws.scenario.records import (
    ACCOUNT_ID,
    Actor,
    event_uuid,
    hex_id,
    record,
    token,
)
from localaws.scenario.spec import TRAIL_ARN, ResourceSpec

LOWER_DIGITS = "abcdefghijklmnopqrstuvwxyz0123456789"
LOGIN_TO = "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_{region}_{state}"


def _ids(rng: random.Random) -> dict:
    return {"event_id": event_uuid(rng), "request_id": event_uuid(rng)}


def console_login(
    *,
    t: int,
    actor: Actor,
    rng: random.Random,
    success: bool,
    mfa: bool,
    saml_provider: str | None = None,
    region: str = "us-east-1",
) -> dict:
    """ConsoleLogin as signin.amazonaws.com records it; a failure carries errorMessage, no errorCode."""
    additional = {
        "LoginTo": LOGIN_TO.format(region=region, state=hex_id(rng, 16)),
        "MobileVersion": "No",
        "MFAUsed": "Yes" if mfa else "No",
    }
    if saml_provider:
        additional = {"SamlProviderArn": saml_provider, **additional}
        additional.pop("LoginTo")
    return record(
        t=t,
        actor=actor,
        source="signin.amazonaws.com",
        name="ConsoleLogin",
        region=region,
        read_only=False,
        event_id=event_uuid(rng),
        request_id="",
        request=None,
        response={"ConsoleLogin": "Success" if success else "Failure"},
        error=None if success else ("", "Failed authentication"),
        additional=additional,
        event_type="AwsConsoleSignIn",
    )


def assume_role_with_saml(
    *,
    t: int,
    actor: Actor,
    rng: random.Random,
    role: str,
    role_path: str,
    role_id: str,
    session: str,
    provider: str,
    sso: bool,
) -> dict:
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role{role_path}{role}"
    duration = 43200 if sso else 3600
    call = Call(rng=rng, spec=None, region="us-east-1", t=t, actor=actor)  # type: ignore[arg-type]
    response = credentials(call, role, session, duration, role_id=role_id)
    response.update(
        {
            "subject": session,
            "subjectType": "persistent",
            "issuer": (
                "https://portal.sso.ap-northeast-2.amazonaws.com/saml/assertion/"
                + token(rng, 24, "abcdef0123456789")
                if sso
                else "http://adfs.hanbit.example/adfs/services/trust"
            ),
            "audience": "https://signin.aws.amazon.com/saml",
            "nameQualifier": base64.b64encode(rng.randbytes(21)).decode(),
        }
    )
    return record(
        t=t,
        actor=actor,
        source="sts.amazonaws.com",
        name="AssumeRoleWithSAML",
        region="us-east-1",
        read_only=True,
        **_ids(rng),
        request={
            "sAMLAssertionID": "_" + event_uuid(rng),
            "roleArn": role_arn,
            "principalArn": provider,
            "durationSeconds": duration,
        },
        response=response,
        resources=[
            resource_element(role_arn, "AWS::IAM::Role"),
            resource_element(provider, "AWS::IAM::SAMLProvider"),
        ],
    )


def _ec2_response(rng: random.Random, **fields) -> dict:
    return {"requestId": event_uuid(rng), **fields}


def run_instances(
    *,
    t: int,
    actor: Actor,
    rng: random.Random,
    region: str,
    image: str,
    instance_type: str,
    instance_ids: list[str],
    subnet: str,
    vpc: str,
    security_group: str,
    name_tag: str,
    cidr_prefix: str = "10.10",
    key_name: str | None = None,
    count: int | None = None,
    error: tuple[str, str] | None = None,
) -> dict:
    """RunInstances; with ``error`` (e.g. a vCPU limit) nothing is launched and ``count`` was asked."""
    count = count or len(instance_ids)
    request: dict = {
        "instancesSet": {"items": [{"imageId": image, "minCount": count, "maxCount": count}]},
        "groupSet": {"items": [{"groupId": security_group}]},
        "instanceType": instance_type,
        "blockDeviceMapping": {},
        "monitoring": {"enabled": False},
        "disableApiTermination": False,
        "disableApiStop": False,
        "clientToken": event_uuid(rng),
        "subnetId": subnet,
        "tagSpecificationSet": {
            "items": [{"resourceType": "instance", "tags": [{"key": "Name", "value": name_tag}]}]
        },
    }
    if key_name:
        request["instancesSet"]["items"][0]["keyName"] = key_name
    zone = f"{region}{'abc'[rng.randrange(3)]}"
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    items = []
    for index, instance_id in enumerate(instance_ids):
        private_ip = f"{cidr_prefix}.{rng.randint(1, 2)}.{rng.randint(10, 250)}"
        item = {
            "instanceId": instance_id,
            "imageId": image,
            "instanceState": {"code": 0, "name": "pending"},
            "privateDnsName": f"ip-{private_ip.replace('.', '-')}.{domain}",
            "amiLaunchIndex": index,
            "productCodes": {},
            "instanceType": instance_type,
            "launchTime": t * 1000,
            "placement": {"availabilityZone": zone, "tenancy": "default"},
            "monitoring": {"state": "disabled"},
            "subnetId": subnet,
            "vpcId": vpc,
            "privateIpAddress": private_ip,
            "stateReason": {"code": "pending", "message": "pending"},
            "architecture": "x86_64",
            "rootDeviceType": "ebs",
            "rootDeviceName": "/dev/xvda",
            "blockDeviceMapping": {},
            "virtualizationType": "hvm",
            "hypervisor": "xen",
            "tagSet": {"items": [{"key": "Name", "value": name_tag}]},
            "groupSet": {"items": [{"groupId": security_group, "groupName": "default"}]},
            "sourceDestCheck": True,
            "ebsOptimized": False,
            "enaSupport": True,
            "metadataOptions": {
                "state": "pending",
                "httpTokens": "required",
                "httpPutResponseHopLimit": 2,
                "httpEndpoint": "enabled",
            },
        }
        if key_name:
            item["keyName"] = key_name
        items.append(item)
    response = _ec2_response(
        rng,
        reservationId=f"r-{hex_id(rng, 17)}",
        ownerId=ACCOUNT_ID,
        groupSet={},
        instancesSet={"items": items},
    )
    return record(
        t=t,
        actor=actor,
        source="ec2.amazonaws.com",
        name="RunInstances",
        region=region,
        read_only=False,
        **_ids(rng),
        request=request,
        response=response,
        error=error,
    )


def terminate_instances(
    *, t: int, actor: Actor, rng: random.Random, region: str, instance_ids: list[str]
) -> dict:
    return record(
        t=t,
        actor=actor,
        source="ec2.amazonaws.com",
        name="TerminateInstances",
        region=region,
        read_only=False,
        **_ids(rng),
        request={"instancesSet": {"items": [{"instanceId": i} for i in instance_ids]}},
        response=_ec2_response(
            rng,
            instancesSet={
                "items": [
                    {
                        "instanceId": i,
                        "currentState": {"code": 32, "name": "shutting-down"},
                        "previousState": {"code": 16, "name": "running"},
                    }
                    for i in instance_ids
                ]
            },
        ),
    )


def _permission(port: int, cidr: str, protocol: str = "tcp") -> dict:
    return {
        "ipProtocol": protocol,
        "fromPort": port,
        "toPort": port,
        "groups": {},
        "ipRanges": {"items": [{"cidrIp": cidr}]},
        "ipv6Ranges": {},
        "prefixListIds": {},
    }


def security_group_ingress(
    *,
    t: int,
    actor: Actor,
    rng: random.Random,
    region: str,
    group_id: str,
    port: int,
    cidr: str,
    revoke: bool = False,
) -> dict:
    name = "RevokeSecurityGroupIngress" if revoke else "AuthorizeSecurityGroupIngress"
    response = _ec2_response(rng, _return=True)
    if not revoke:
        response["securityGroupRuleSet"] = {
            "items": [
                {
                    "groupOwnerId": ACCOUNT_ID,
                    "groupId": group_id,
                    "securityGroupRuleId": f"sgr-{hex_id(rng, 17)}",
                    "isEgress": False,
                    "ipProtocol": "tcp",
                    "fromPort": port,
                    "toPort": port,
                    "cidrIpv4": cidr,
                }
            ]
        }
    return record(
        t=t,
        actor=actor,
        source="ec2.amazonaws.com",
        name=name,
        region=region,
        read_only=False,
        **_ids(rng),
        request={"groupId": group_id, "ipPermissions": {"items": [_permission(port, cidr)]}},
        response=response,
    )


def create_security_group(
    *, t: int, actor: Actor, rng: random.Random, region: str, vpc: str, name: str, description: str
) -> dict:
    return record(
        t=t,
        actor=actor,
        source="ec2.amazonaws.com",
        name="CreateSecurityGroup",
        region=region,
        read_only=False,
        **_ids(rng),
        request={"groupName": name, "groupDescription": description, "vpcId": vpc},
        response=_ec2_response(rng, _return=True, groupId=f"sg-{hex_id(rng, 17)}"),
    )


def create_key_pair(*, t: int, actor: Actor, rng: random.Random, region: str, name: str) -> dict:
    return record(
        t=t,
        actor=actor,
        source="ec2.amazonaws.com",
        name="CreateKeyPair",
        region=region,
        read_only=False,
        **_ids(rng),
        request={"keyName": name, "keyType": "rsa", "keyFormat": "pem"},
        response=_ec2_response(
            rng,
            keyName=name,
            keyFingerprint=":".join(hex_id(rng, 2) for _ in range(20)),
            keyPairId=f"key-{hex_id(rng, 17)}",
            keyMaterial="<sensitiveDataRemoved>",
        ),
    )


def modify_metadata_options(
    *, t: int, actor: Actor, rng: random.Random, region: str, instance_id: str
) -> dict:
    return record(
        t=t,
        actor=actor,
        source="ec2.amazonaws.com",
        name="ModifyInstanceMetadataOptions",
        region=region,
        read_only=False,
        **_ids(rng),
        request={
            "ModifyInstanceMetadataOptionsRequest": {"InstanceId": instance_id, "HttpTokens": "required"}
        },
        response={
            "ModifyInstanceMetadataOptionsResponse": {
                "requestId": event_uuid(rng),
                "instanceId": instance_id,
                "instanceMetadataOptions": {
                    "state": "pending",
                    "httpTokens": "required",
                    "httpPutResponseHopLimit": 2,
                    "httpEndpoint": "enabled",
                    "httpProtocolIpv6": "disabled",
                    "instanceMetadataTags": "disabled",
                },
            }
        },
    )


def create_network_acl_entry(*, t: int, actor: Actor, rng: random.Random, region: str, acl_id: str) -> dict:
    return record(
        t=t,
        actor=actor,
        source="ec2.amazonaws.com",
        name="CreateNetworkAclEntry",
        region=region,
        read_only=False,
        **_ids(rng),
        request={
            "networkAclId": acl_id,
            "ruleNumber": 90,
            "egress": False,
            "ruleAction": "deny",
            "icmpTypeCode": {},
            "portRange": {"from": 3389, "to": 3389},
            "aclProtocol": "6",
            "cidrBlock": "0.0.0.0/0",
        },
        response=_ec2_response(rng, _return=True),
    )


def create_nat_gateway(
    *, t: int, actor: Actor, rng: random.Random, region: str, subnet: str, vpc: str
) -> dict:
    nat = f"nat-{hex_id(rng, 17)}"
    allocation = f"eipalloc-{hex_id(rng, 17)}"
    return record(
        t=t,
        actor=actor,
        source="ec2.amazonaws.com",
        name="CreateNatGateway",
        region=region,
        read_only=False,
        **_ids(rng),
        request={
            "CreateNatGatewayRequest": {
                "SubnetId": subnet,
                "AllocationId": allocation,
                "ClientToken": event_uuid(rng),
            }
        },
        response={
            "CreateNatGatewayResponse": {
                "requestId": event_uuid(rng),
                "natGateway": {
                    "natGatewayId": nat,
                    "subnetId": subnet,
                    "vpcId": vpc,
                    "state": "pending",
                    "connectivityType": "public",
                    "natGatewayAddressSet": {
                        "item": {"allocationId": allocation, "isPrimary": True, "status": "associating"}
                    },
                },
            }
        },
    )


def create_vpn_connection(*, t: int, actor: Actor, rng: random.Random, region: str) -> dict:
    customer_gateway = f"cgw-{hex_id(rng, 17)}"
    vpn_gateway = f"vgw-{hex_id(rng, 17)}"
    return record(
        t=t,
        actor=actor,
        source="ec2.amazonaws.com",
        name="CreateVpnConnection",
        region=region,
        read_only=False,
        **_ids(rng),
        request={
            "type": "ipsec.1",
            "customerGatewayId": customer_gateway,
            "vpnGatewayId": vpn_gateway,
            "options": {"staticRoutesOnly": True},
        },
        response=_ec2_response(
            rng,
            vpnConnection={
                "vpnConnectionId": f"vpn-{hex_id(rng, 17)}",
                "state": "pending",
                "customerGatewayConfiguration": "<sensitiveDataRemoved>",
                "type": "ipsec.1",
                "customerGatewayId": customer_gateway,
                "vpnGatewayId": vpn_gateway,
                "options": {"staticRoutesOnly": True},
            },
        ),
    )


def _bucket_record(
    *,
    t: int,
    actor: Actor,
    rng: random.Random,
    spec: ResourceSpec,
    bucket: str,
    name: str,
    request: dict,
    read_only: bool = False,
) -> dict:
    target = spec.bucket(bucket)
    call = Call(rng=rng, spec=spec, region=target.region, t=t, actor=actor)
    s3_extra(call, 0)
    return record(
        t=t,
        actor=actor,
        source="s3.amazonaws.com",
        name=name,
        region=target.region,
        read_only=read_only,
        event_id=event_uuid(rng),
        request_id=hex_id(rng, 16).upper(),
        request={"bucketName": bucket, "Host": f"{bucket}.s3.{target.region}.amazonaws.com", **request},
        response=None,
        resources=[resource_element(target.arn, "AWS::S3::Bucket")],
        additional=call.additional,
        bucket=bucket,
    )


def put_bucket_acl_public(
    *, t: int, actor: Actor, rng: random.Random, spec: ResourceSpec, bucket: str
) -> dict:
    acl = {
        "AccessControlPolicy": {
            "AccessControlList": {
                "Grant": [
                    {
                        "Grantee": {
                            "xsi:type": "CanonicalUser",
                            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                            "ID": OWNER_ID,
                        },
                        "Permission": "FULL_CONTROL",
                    },
                    {
                        "Grantee": {
                            "xsi:type": "Group",
                            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                            "URI": ALL_USERS,
                        },
                        "Permission": "READ",
                    },
                ]
            },
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            "Owner": {"ID": OWNER_ID},
        },
        "acl": "",
    }
    return _bucket_record(
        t=t, actor=actor, rng=rng, spec=spec, bucket=bucket, name="PutBucketAcl", request=acl
    )


def public_read_policy(bucket: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicReadGetObject",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }


def put_bucket_policy_public(
    *, t: int, actor: Actor, rng: random.Random, spec: ResourceSpec, bucket: str
) -> dict:
    request = {"bucketPolicy": public_read_policy(bucket), "policy": ""}
    return _bucket_record(
        t=t, actor=actor, rng=rng, spec=spec, bucket=bucket, name="PutBucketPolicy", request=request
    )


def put_bucket_encryption(
    *, t: int, actor: Actor, rng: random.Random, spec: ResourceSpec, bucket: str, key_arn: str
) -> dict:
    request = {
        "ServerSideEncryptionConfiguration": {
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            "Rule": {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                "BucketKeyEnabled": True,
            },
        },
        "encryption": "",
    }
    return _bucket_record(
        t=t, actor=actor, rng=rng, spec=spec, bucket=bucket, name="PutBucketEncryption", request=request
    )


def delete_object(
    *, t: int, actor: Actor, rng: random.Random, spec: ResourceSpec, bucket: str, key: str
) -> dict:
    """A data event: only trails with S3 data event selectors record it; LookupEvents never returns it."""
    target = spec.bucket(bucket)
    call = Call(rng=rng, spec=spec, region=target.region, t=t, actor=actor)
    s3_extra(call, 0)
    return record(
        t=t,
        actor=actor,
        source="s3.amazonaws.com",
        name="DeleteObject",
        region=target.region,
        read_only=False,
        event_id=event_uuid(rng),
        request_id=hex_id(rng, 16).upper(),
        request={"bucketName": bucket, "Host": f"{bucket}.s3.{target.region}.amazonaws.com", "key": key},
        response=None,
        resources=[
            {"type": "AWS::S3::Object", "ARN": f"{target.arn}/{key}"},
            {"accountId": ACCOUNT_ID, "type": "AWS::S3::Bucket", "ARN": target.arn},
        ],
        additional=call.additional,
        management=False,
        bucket=bucket,
    )


def cloudtrail_change(
    *,
    t: int,
    actor: Actor,
    rng: random.Random,
    name: str,
    request: dict | None = None,
    response: dict | None = None,
) -> dict:
    return record(
        t=t,
        actor=actor,
        source="cloudtrail.amazonaws.com",
        name=name,
        region="us-east-1",
        read_only=False,
        **_ids(rng),
        request=request if request is not None else {"name": TRAIL_ARN},
        response=response,
        resources=[resource_element(TRAIL_ARN, "AWS::CloudTrail::Trail")],
    )


def put_role_policy(
    *, t: int, actor: Actor, rng: random.Random, role: str, policy_name: str, document: dict
) -> dict:
    return record(
        t=t,
        actor=actor,
        source="iam.amazonaws.com",
        name="PutRolePolicy",
        region="us-east-1",
        read_only=False,
        **_ids(rng),
        request={"roleName": role, "policyName": policy_name, "policyDocument": json.dumps(document)},
        response=None,
    )


def organizations_create_policy(*, t: int, actor: Actor, rng: random.Random) -> dict:
    policy_id = "p-" + token(rng, 8, LOWER_DIGITS)
    organization = "o-" + token(rng, 10, LOWER_DIGITS)
    content = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyLeavingOrganization",
                "Effect": "Deny",
                "Action": "organizations:LeaveOrganization",
                "Resource": "*",
            }
        ],
    }
    return record(
        t=t,
        actor=actor,
        source="organizations.amazonaws.com",
        name="CreatePolicy",
        region="us-east-1",
        read_only=False,
        **_ids(rng),
        request={
            "content": json.dumps(content),
            "description": "Accounts may not leave the organization",
            "name": "deny-leave-organization",
            "type": "SERVICE_CONTROL_POLICY",
        },
        response={
            "policy": {
                "policySummary": {
                    "id": policy_id,
                    "arn": f"arn:aws:organizations::{ACCOUNT_ID}:policy/{organization}/"
                    f"service_control_policy/{policy_id}",
                    "name": "deny-leave-organization",
                    "description": "Accounts may not leave the organization",
                    "type": "SERVICE_CONTROL_POLICY",
                    "awsManaged": False,
                },
                "content": json.dumps(content),
            }
        },
    )


def kms_rotate_key(*, t: int, rng: random.Random, region: str, key_id: str) -> dict:
    actor = Actor(
        identity={"accountId": ACCOUNT_ID, "invokedBy": "AWS Internal"},
        source_ip="AWS Internal",
        channel="service",
        user_agent="AWS Internal",
        tls=None,
    )
    rec = record(
        t=t,
        actor=actor,
        source="kms.amazonaws.com",
        name="RotateKey",
        region=region,
        read_only=False,
        event_id=event_uuid(rng),
        request_id="",
        request=None,
        response=None,
        resources=[resource_element(f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}", "AWS::KMS::Key")],
        event_type="AwsServiceEvent",
    )
    rec["serviceEventDetails"] = {"rotationType": "AUTOMATIC", "keyId": key_id}
    return rec
