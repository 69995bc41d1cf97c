"""The stack rules: a bucket and its companions, a VPC and its flow log, matched as in a preview
(by dependency, ids unknown) and as under the program's mocks (by id, no dependencies)."""

import json
from typing import Any

import pytest

from policy.rules import ALL_RULES, UNKNOWN, PlannedResource, StackRule, evaluate

RULES = {rule.id: rule for rule in ALL_RULES if isinstance(rule, StackRule)}
STACK = "urn:pulumi:prod::alb-replicas::"


def resource(type_: str, name: str, props: dict[str, Any], **extra: Any) -> PlannedResource:
    parent_type = extra.pop("parent_type", "")
    urn = f"{STACK}{parent_type + '$' if parent_type else ''}{type_}::{name}"
    return PlannedResource(type=type_, name=name, urn=urn, props=props, **extra)


BUCKET = resource("aws:s3/bucket:Bucket", "logs", {"bucket": "logs-1a2b3c"}, id="logs_id")
DENY_INSECURE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}},
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ],
}
COMPANIONS = {
    "s3-2-3-8-block-public-access": (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True},
        {"blockPublicAcls": True, "blockPublicPolicy": False, "ignorePublicAcls": True},
        "blockPublicPolicy=False, restrictPublicBuckets=absent",
    ),
    "s3-5-deny-insecure-transport": (
        "aws:s3/bucketPolicy:BucketPolicy",
        {"policy": json.dumps(DENY_INSECURE)},
        {"policy": json.dumps({"Statement": DENY_INSECURE["Statement"][:1]})},
        '"aws:SecureTransport" is "false"',
    ),
    "s3-12-acls-disabled": (
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        {"rule": {"objectOwnership": "BucketOwnerEnforced"}},
        {"rule": {"objectOwnership": "ObjectWriter"}},
        "'ObjectWriter'",
    ),
    "s3-13-lifecycle": (
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        {
            "rules": [
                {
                    "id": "expire",
                    "status": "Enabled",
                    "expiration": {"days": 90},
                    "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
                }
            ]
        },
        {"rules": [{"id": "expire", "status": "Enabled", "expiration": {"days": 90}}]},
        "abortIncompleteMultipartUpload: False",
    ),
    "s3-sse-s3-encryption": (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "k"}}]},
        "'aws:kms'",
    ),
}


def companion(rule_id: str, props: dict[str, Any], **link: Any) -> PlannedResource:
    type_ = COMPANIONS[rule_id][0]
    return resource(type_, f"logs-{rule_id}", {"bucket": "logs_id", **props}, **link)


def compliant_bucket_stack() -> list[PlannedResource]:
    return [BUCKET, *(companion(rule_id, good) for rule_id, (_, good, _, _) in COMPANIONS.items())]


def test_every_s3_stack_rule_has_a_case() -> None:
    assert set(COMPANIONS) == {rule_id for rule_id in RULES if rule_id.startswith("s3-")}


@pytest.mark.parametrize("rule_id", COMPANIONS)
def test_a_compliant_companion_matched_by_id_passes(rule_id: str) -> None:
    assert RULES[rule_id](compliant_bucket_stack()) == []


@pytest.mark.parametrize("rule_id", COMPANIONS)
def test_a_companion_matched_by_dependency_passes_in_a_preview(rule_id: str) -> None:
    # In a preview the bucket's id is unknown: only the dependency links the two.
    bucket = PlannedResource(BUCKET.type, BUCKET.name, BUCKET.urn, {"bucket": UNKNOWN, "id": UNKNOWN})
    good = COMPANIONS[rule_id][1]
    linked = companion(rule_id, {**good, "bucket": UNKNOWN}, property_dependencies={"bucket": frozenset({bucket.urn})})
    assert RULES[rule_id]([bucket, linked]) == []


@pytest.mark.parametrize("rule_id", COMPANIONS)
def test_a_missing_companion_is_reported(rule_id: str) -> None:
    stack = [r for r in compliant_bucket_stack() if r.type != COMPANIONS[rule_id][0]]
    (message,) = RULES[rule_id](stack)
    assert message.startswith(f"{RULES[rule_id].control}: bucket 'logs'")
    assert "has no aws.s3." in message


@pytest.mark.parametrize("rule_id", COMPANIONS)
def test_a_companion_of_another_bucket_does_not_count(rule_id: str) -> None:
    other = resource("aws:s3/bucket:Bucket", "other", {"bucket": "other-9z"}, id="other_id")
    good = COMPANIONS[rule_id][1]
    assert len(RULES[rule_id]([BUCKET, other, companion(rule_id, good)])) == 1


@pytest.mark.parametrize("rule_id", COMPANIONS)
def test_a_bad_companion_is_reported_with_its_value(rule_id: str) -> None:
    _, _, bad, bad_value = COMPANIONS[rule_id]
    stack = [r for r in compliant_bucket_stack() if r.type != COMPANIONS[rule_id][0]]
    (message,) = RULES[rule_id]([*stack, companion(rule_id, bad)])
    assert message.startswith(f"{RULES[rule_id].control}: bucket 'logs'")
    assert bad_value in message


def test_no_bucket_no_violation() -> None:
    assert all(RULES[rule_id]([]) == [] for rule_id in COMPANIONS)


def test_sse_s3_on_the_bucket_itself_counts_and_is_unknown_in_a_preview() -> None:
    rule = RULES["s3-sse-s3-encryption"]
    inline = {"rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}}
    assert rule([resource(BUCKET.type, "logs", {"serverSideEncryptionConfiguration": inline})]) == []
    assert rule([resource(BUCKET.type, "logs", {"serverSideEncryptionConfiguration": UNKNOWN})]) == []
    kms = {"rule": {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}}
    (message,) = rule([resource(BUCKET.type, "logs", {"serverSideEncryptionConfiguration": kms})])
    assert "'aws:kms'" in message


# --- EC2.6 ---------------------------------------------------------------------------------------------

AWSX_VPC = resource("awsx:ec2:Vpc", "net", {"vpcId": "net_vpc_id", "publicSubnetIds": ["a", "b"]})
REJECT_FLOW_LOG = {"trafficType": "REJECT", "logDestinationType": "cloud-watch-logs"}


def flow_log(props: dict[str, Any], **link: Any) -> PlannedResource:
    return resource("aws:ec2/flowLog:FlowLog", "net-flow-log", {**REJECT_FLOW_LOG, **props}, **link)


def test_flow_log_on_the_awsx_vpc_under_mocks_passes() -> None:
    assert RULES["ec2-6-vpc-flow-logs"]([AWSX_VPC, flow_log({"vpcId": "net_vpc_id"})]) == []


@pytest.mark.parametrize(
    ("flow_log_props", "reason"),
    [({"vpcId": "another_vpc"}, "another VPC"), ({"vpcId": "net_vpc_id", "trafficType": "ACCEPT"}, "ACCEPT only")],
)
def test_awsx_vpc_without_a_matching_flow_log_is_reported(flow_log_props: dict[str, Any], reason: str) -> None:
    (message,) = RULES["ec2-6-vpc-flow-logs"]([AWSX_VPC, flow_log(flow_log_props)])
    assert message.startswith("EC2.6: VPC 'net'"), reason
    assert 'traffic_type="REJECT"' in message


def preview_vpc() -> tuple[PlannedResource, PlannedResource]:
    """awsx's component and the aws:ec2/vpc:Vpc its plugin creates, ids unknown as in a preview."""
    component = PlannedResource(AWSX_VPC.type, "net", AWSX_VPC.urn, {"vpcId": UNKNOWN})
    vpc = resource(
        "aws:ec2/vpc:Vpc", "net", {"cidrBlock": "10.0.0.0/16"}, parent=component.urn, parent_type="awsx:ec2:Vpc"
    )
    return component, vpc


@pytest.mark.parametrize("depends_on", ["component", "vpc"])
def test_flow_log_depending_on_either_shape_of_the_vpc_covers_both(depends_on: str) -> None:
    component, vpc = preview_vpc()
    target = component if depends_on == "component" else vpc
    log = flow_log({"vpcId": UNKNOWN}, property_dependencies={"vpcId": frozenset({target.urn})})
    assert RULES["ec2-6-vpc-flow-logs"]([component, vpc, log]) == []


def test_a_vpc_without_flow_log_is_reported_once() -> None:
    component, vpc = preview_vpc()
    plain_vpc = resource("aws:ec2/vpc:Vpc", "other", {"cidrBlock": "10.1.0.0/16"}, id="vpc-other")
    messages = RULES["ec2-6-vpc-flow-logs"]([component, vpc, plain_vpc, flow_log({"vpcId": "vpc-other"})])
    assert len(messages) == 1 and "VPC 'net'" in messages[0]


def test_a_vpc_needs_its_default_security_group_declared() -> None:
    rule = RULES["ec2-2-default-sg-declared"]
    default_sg = resource("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "net-default", {"vpcId": "net_vpc_id"})
    assert rule([AWSX_VPC, default_sg]) == []
    (message,) = rule([AWSX_VPC])
    assert message.startswith("EC2.2: VPC 'net'") and "aws.ec2.DefaultSecurityGroup(vpc_id=...)" in message


# --- evaluate ------------------------------------------------------------------------------------------


def test_evaluate_runs_resource_and_stack_rules_and_dev_skips_what_dev_json_disables() -> None:
    service = resource("aws:ecs/service:Service", "svc", {"networkConfiguration": {"assignPublicIp": True}})
    default_sg = resource("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "net-default", {"vpcId": "net_vpc_id"})
    stack = [*compliant_bucket_stack(), AWSX_VPC, default_sg, service]
    prod = {v.rule_id for v in evaluate(stack)}
    assert prod == {"ecs-2-no-public-ip", "ec2-6-vpc-flow-logs"}
    # dev's replicas are IPv6-only too: it runs ECS.2 (and skips the flow log dev.json turns off).
    assert {v.rule_id for v in evaluate(stack, dev=True)} == {"ecs-2-no-public-ip"}
    (public_ip,) = [v for v in evaluate(stack) if v.rule_id == "ecs-2-no-public-ip"]
    assert public_ip.urn == service.urn and str(public_ip).startswith(f"[ecs-2-no-public-ip] {service.urn}: ECS.2")


# --- IPv6: the replicas' subnets and security group -----------------------------------------------------------


def replica_network(route: dict[str, Any], ingress: dict[str, Any] | None = None) -> list[PlannedResource]:
    """A service in one subnet whose route table holds `route`, and its security group with `ingress`."""
    subnet = resource("aws:ec2/subnet:Subnet", "replicas-1", {"ipv6Native": True}, id="subnet-r1")
    group = resource("aws:ec2/securityGroup:SecurityGroup", "replicas", {"description": "replicas"}, id="sg-r")
    service = resource(
        "aws:ecs/service:Service",
        "svc",
        {"networkConfiguration": {"subnets": ["subnet-r1"], "securityGroups": ["sg-r"], "assignPublicIp": False}},
    )
    table = resource("aws:ec2/routeTable:RouteTable", "replicas", {"vpcId": "vpc-1"}, id="rtb-r")
    association = resource(
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "replicas-1",
        {"subnetId": "subnet-r1", "routeTableId": "rtb-r"},
    )
    gateways = [
        resource("aws:ec2/internetGateway:InternetGateway", "igw", {"vpcId": "vpc-1"}, id="igw-1"),
        resource(
            "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway", "eigw", {"vpcId": "vpc-1"}, id="eigw-1"
        ),
    ]
    rules = [
        resource(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "from-alb",
            {
                "securityGroupId": "sg-r",
                "ipProtocol": "tcp",
                "fromPort": 8080,
                "toPort": 8080,
                "referencedSecurityGroupId": "sg-alb",
                "description": "alb",
                **(ingress or {}),
            },
        )
    ]
    route_resource = resource("aws:ec2/route:Route", "replicas-ipv6", {"routeTableId": "rtb-r", **route})
    return [subnet, group, service, table, association, *gateways, *rules, route_resource]


EGRESS_ONLY = {"destinationIpv6CidrBlock": "::/0", "egressOnlyGatewayId": "eigw-1"}


def test_replica_subnets_routing_ipv6_to_the_egress_only_gateway_pass_and_to_the_internet_gateway_fail() -> None:
    assert RULES["replica-subnets-egress-only-ipv6"](replica_network(EGRESS_ONLY)) == []
    (message,) = RULES["replica-subnets-egress-only-ipv6"](
        replica_network({"destinationIpv6CidrBlock": "::/0", "gatewayId": "igw-1"})
    )
    assert "'replicas-1'" in message and "routes ::/0 to an internet gateway" in message
    assert "EgressOnlyInternetGateway" in message


def test_the_load_balancers_subnets_may_route_ipv6_to_the_internet_gateway() -> None:
    stack = replica_network(EGRESS_ONLY)
    public = resource("aws:ec2/subnet:Subnet", "public-1", {"cidrBlock": "10.0.0.0/24"}, id="subnet-p1")
    table = resource("aws:ec2/routeTable:RouteTable", "public", {"vpcId": "vpc-1"}, id="rtb-p")
    association = resource(
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "public-1",
        {"subnetId": "subnet-p1", "routeTableId": "rtb-p"},
    )
    route = resource(
        "aws:ec2/route:Route",
        "public-ipv6",
        {"routeTableId": "rtb-p", "destinationIpv6CidrBlock": "::/0", "gatewayId": "igw-1"},
    )
    assert RULES["replica-subnets-egress-only-ipv6"]([*stack, public, table, association, route]) == []


@pytest.mark.parametrize(
    "world",
    [
        {"cidrIpv6": "::/0", "referencedSecurityGroupId": None},
        {"cidrIpv4": "0.0.0.0/0", "referencedSecurityGroupId": None},
    ],
)
def test_nothing_from_the_world_reaches_the_replicas_even_on_443_and_in_either_family(world) -> None:
    assert RULES["replicas-no-world-ingress"](replica_network(EGRESS_ONLY)) == []
    (message,) = RULES["replicas-no-world-ingress"](
        replica_network(EGRESS_ONLY, {"fromPort": 443, "toPort": 443, **world})
    )
    assert "reach the replicas' security group 'replicas'" in message
