"""Each resource rule on a resource that violates it and on one that meets it (pure functions, no engine)."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from policy.rules import ALL_RULES, RECOMMENDED_TLS_POLICY, UNKNOWN, ResourceRule

RULES = {rule.id: rule for rule in ALL_RULES if isinstance(rule, ResourceRule)}

LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
CLUSTER = "aws:ecs/cluster:Cluster"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"

GOOD_LB = {
    "loadBalancerType": "application",
    "dropInvalidHeaderFields": True,
    "accessLogs": {"bucket": "logs-bucket", "enabled": True, "prefix": "alb"},
    "enableDeletionProtection": True,
    "desyncMitigationMode": "defensive",
    "subnets": ["subnet-a", "subnet-b"],
}
HTTP_REDIRECT = {
    "port": 80,
    "protocol": "HTTP",
    "defaultActions": [
        {"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}}
    ],
}
HTTPS_LISTENER = {"port": 443, "protocol": "HTTPS", "sslPolicy": RECOMMENDED_TLS_POLICY, "certificateArn": "arn:cert"}
GOOD_SERVICE = {
    "networkConfiguration": {"assignPublicIp": False, "subnets": ["subnet-a"], "securityGroups": ["sg-1"]},
    "platformVersion": "LATEST",
}
GOOD_CONTAINER = {
    "name": "replica",
    "image": "public.ecr.aws/docker/library/nginx:1.30.8-alpine",
    "user": "101:101",
    "readonlyRootFilesystem": True,
    "privileged": False,
    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "replicas"}},
    "environment": [{"name": "PORT", "value": "8080"}],
}
GOOD_SG = {
    "description": "ALB: HTTP and HTTPS from the internet",
    "ingress": [
        {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"], "description": "HTTPS"},
        {"protocol": "tcp", "fromPort": 80, "toPort": 80, "ipv6CidrBlocks": ["::/0"], "description": "HTTP"},
        {"protocol": "tcp", "fromPort": 8080, "toPort": 8080, "securityGroups": ["sg-alb"], "description": "ALB"},
    ],
    "egress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"], "description": "x"}],
}


def task(container_changes: Mapping[str, Any] | None = None, **task_changes: Any) -> dict[str, Any]:
    """A compliant task definition, with changes to its one container or to the task itself."""
    container = {**GOOD_CONTAINER, **(container_changes or {})}
    container = {k: v for k, v in container.items() if v is not None}  # None: drop the key
    return {
        "family": "replica",
        "networkMode": "awsvpc",
        "executionRoleArn": "arn:aws:iam::1:role/execution",
        "taskRoleArn": "arn:aws:iam::1:role/task",
        "containerDefinitions": json.dumps([container]),
        **task_changes,
    }


def changed(props: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    return {k: v for k, v in {**props, **changes}.items() if v is not None}


@dataclass(frozen=True)
class Case:
    rule_id: str
    resource_type: str
    bad: Mapping[str, Any]
    bad_value: str  # what the message must show
    good: Mapping[str, Any]


CASES = [
    Case("elb-1-http-redirects-to-https", LISTENER, changed(HTTP_REDIRECT, defaultActions=[
        {"type": "forward", "targetGroupArn": "arn:tg"}]), "'forward'", HTTP_REDIRECT),
    Case("elb-1-http-redirects-to-https", LISTENER, changed(HTTP_REDIRECT, defaultActions=[
        {"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_302"}}]),
        "HTTP_302", HTTPS_LISTENER),
    Case("elb-4-drop-invalid-headers", LB, changed(GOOD_LB, dropInvalidHeaderFields=False), "False", GOOD_LB),
    Case("elb-4-drop-invalid-headers", LB, changed(GOOD_LB, dropInvalidHeaderFields=None), "absent",
         changed(GOOD_LB, loadBalancerType="network", dropInvalidHeaderFields=None)),
    Case("elb-5-access-logs", LB, changed(GOOD_LB, accessLogs={"bucket": "logs-bucket", "enabled": False}),
         "'enabled': False", GOOD_LB),
    Case("elb-5-access-logs", LB, changed(GOOD_LB, accessLogs=None), "absent", GOOD_LB),
    Case("elb-6-deletion-protection", LB, changed(GOOD_LB, enableDeletionProtection=False), "False", GOOD_LB),
    Case("elb-12-desync-mitigation", LB, changed(GOOD_LB, desyncMitigationMode="monitor"), "'monitor'",
         changed(GOOD_LB, desyncMitigationMode=None)),
    Case("elb-13-multi-az", LB, changed(GOOD_LB, subnets=["subnet-a", "subnet-a"]), "['subnet-a', 'subnet-a']",
         changed(GOOD_LB, subnets=None, subnetMappings=[{"subnetId": "subnet-a"}, {"subnetId": "subnet-b"}])),
    Case("elb-17-tls-policy", LISTENER, changed(HTTPS_LISTENER, sslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06"),
         "'ELBSecurityPolicy-TLS13-1-2-2021-06'", HTTPS_LISTENER),
    Case("elb-17-tls-policy", LISTENER, changed(HTTPS_LISTENER, sslPolicy=None), "absent", HTTP_REDIRECT),
    Case("ecs-2-no-public-ip", SERVICE, changed(GOOD_SERVICE, networkConfiguration={"assignPublicIp": True}),
         "True", GOOD_SERVICE),
    Case("ecs-3-no-host-pid", TASK, task(pidMode="host"), "'host'", task(pidMode="task")),
    Case("ecs-4-not-privileged", TASK, task({"privileged": True}), '"privileged": true', task()),
    Case("ecs-5-read-only-root", TASK, task({"readonlyRootFilesystem": None}), '"readonlyRootFilesystem": absent',
         task()),
    Case("ecs-5-read-only-root", TASK, task({"readonlyRootFilesystem": False}), '"readonlyRootFilesystem": False',
         task()),
    Case("ecs-8-no-credentials-in-environment", TASK,
         task({"environment": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "wJalrXUtnFEMI"}]}),
         "AWS_SECRET_ACCESS_KEY", task({"secrets": [{"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": "arn:secret"}]})),
    Case("ecs-9-log-configuration", TASK, task({"logConfiguration": None}), '"logConfiguration": absent', task()),
    Case("ecs-10-latest-platform", SERVICE, changed(GOOD_SERVICE, platformVersion="1.3.0"), "'1.3.0'",
         changed(GOOD_SERVICE, platformVersion=None)),
    Case("ecs-12-container-insights", CLUSTER, {"settings": [{"name": "containerInsights", "value": "disabled"}]},
         "'disabled'", {"settings": [{"name": "containerInsights", "value": "enhanced"}]}),
    Case("ecs-12-container-insights", CLUSTER, {}, "absent",
         {"settings": [{"name": "containerInsights", "value": "enabled"}]}),
    Case("ecs-17-no-host-network", TASK, task(networkMode="host"), "'host'", task()),
    Case("ecs-20-non-root-user", TASK, task({"user": "0:0"}), "'0:0'", task({"user": "nginx"})),
    Case("ecs-20-non-root-user", TASK, task({"user": None}), "absent", task()),
    Case("ecs-separate-task-role", TASK, task(taskRoleArn="arn:aws:iam::1:role/execution"),
         "'arn:aws:iam::1:role/execution'", task(taskRoleArn=None)),
    Case("ec2-2-default-sg-no-rules", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
         {"vpcId": "vpc-1", "egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]},
         "0.0.0.0/0", {"vpcId": "vpc-1"}),
    Case("ec2-15-no-auto-public-ip", "aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True}, "True",
         {"mapPublicIpOnLaunch": False}),
    Case("flow-log-records-addresses", "aws:ec2/flowLog:FlowLog",
         {"logFormat": "${version} ${action} ${srcport} ${dstport}"}, "${srcaddr}, ${dstaddr}",
         {"logFormat": "${version} ${pkt-srcaddr} ${dstaddr} ${action}"}),
    Case("ec2-18-19-world-ingress-80-443-only", SG, changed(GOOD_SG, ingress=[
        {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"], "description": "ssh"}]),
        "ports 22-22", GOOD_SG),
    Case("ec2-18-19-world-ingress-80-443-only", SG_RULE,
         {"type": "ingress", "protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}, "all ports",
         {"type": "egress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}),
    # Numbers come from the engine as floats.
    Case("ec2-18-19-world-ingress-80-443-only", INGRESS,
         {"ipProtocol": "tcp", "fromPort": 80.0, "toPort": 443.0, "cidrIpv4": "0.0.0.0/0"}, "ports 80-443",
         {"ipProtocol": "tcp", "fromPort": 8080.0, "toPort": 8080.0, "referencedSecurityGroupId": "sg-alb"}),
    Case("sg-egress-not-all-traffic", SG, changed(GOOD_SG, egress=[
        {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"], "description": "all"}]),
        "all traffic ('-1') out to 0.0.0.0/0", GOOD_SG),
    Case("sg-egress-not-all-traffic", EGRESS, {"ipProtocol": "-1", "cidrIpv6": "::/0", "description": "all"},
         "all traffic ('-1') out to ::/0",
         {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0", "description": "HTTPS"}),
    Case("sg-descriptions", SG, changed(GOOD_SG, description="Managed by Pulumi"), "'Managed by Pulumi'", GOOD_SG),
    Case("sg-descriptions", SG, changed(GOOD_SG, ingress=[{"protocol": "tcp", "fromPort": 443, "toPort": 443}]),
         "ingress[0] has description absent", GOOD_SG),
    Case("sg-descriptions", EGRESS, {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "description": " "},
         "' '", {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "description": "image pulls and logs"}),
    Case("log-group-retention", "aws:cloudwatch/logGroup:LogGroup", {"name": "replicas"}, "absent",
         {"retentionInDays": 7}),
    Case("log-group-retention", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 0}, "is 0",
         {"retentionInDays": 30.0}),
    Case("elb-target-group-drains", "aws:lb/targetGroup:TargetGroup", {"deregistrationDelay": 0.0}, "is 0",
         {"deregistrationDelay": 5.0}),
    Case("elb-target-group-drains", "aws:alb/targetGroup:TargetGroup", {"deregistrationDelay": 0}, "is 0",
         {"port": 8080}),
    Case("acm-1-dns-validation", "aws:acm/certificate:Certificate",
         {"domainName": "app.example.com", "validationMethod": "EMAIL"}, "'EMAIL'",
         {"domainName": "app.example.com", "validationMethod": "DNS"}),
    Case("acm-2-rsa-2048", "aws:acm/certificate:Certificate",
         {"domainName": "app.example.com", "validationMethod": "DNS", "keyAlgorithm": "RSA_1024"}, "'RSA_1024'",
         {"domainName": "app.example.com", "validationMethod": "DNS"}),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.rule_id}:{case.bad_value}")
def test_a_violating_resource_is_reported_with_control_and_value(case: Case) -> None:
    rule = RULES[case.rule_id]
    messages = rule(case.resource_type, case.bad)
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"{rule.control}: ")
    assert case.bad_value in messages[0]
    assert "; set " in messages[0] or "; remove " in messages[0]  # says what to do


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.rule_id}:{case.bad_value}")
def test_a_compliant_resource_passes(case: Case) -> None:
    assert RULES[case.rule_id](case.resource_type, case.good) == []


def test_every_resource_rule_has_cases() -> None:
    assert {case.rule_id for case in CASES} == set(RULES)


def test_a_rule_ignores_other_resource_types() -> None:
    assert RULES["elb-4-drop-invalid-headers"](SERVICE, {"dropInvalidHeaderFields": False}) == []


def test_the_alias_tokens_are_checked_too() -> None:
    assert RULES["elb-6-deletion-protection"]("aws:alb/loadBalancer:LoadBalancer", {}) != []


def test_credential_values_never_appear_in_messages() -> None:
    props = task({"environment": [{"name": "MY_AWS_ACCESS_KEY_ID", "value": "AKIAEXAMPLE"}]})
    (message,) = RULES["ecs-8-no-credentials-in-environment"](TASK, props)
    assert "MY_AWS_ACCESS_KEY_ID" in message
    assert "AKIAEXAMPLE" not in message


def test_every_container_is_checked() -> None:
    sidecar = {**GOOD_CONTAINER, "name": "sidecar", "user": "root"}
    props = task(containerDefinitions=json.dumps([GOOD_CONTAINER, sidecar]))
    assert RULES["ecs-20-non-root-user"](TASK, props) == [
        'ECS.20: container \'sidecar\' runs as "user": \'root\' (root); set "user": "<uid>:<gid>" of an '
        'unprivileged user, e.g. "101:101"'
    ]


def test_container_definitions_that_are_not_a_list_fail_closed() -> None:
    messages = RULES["ecs-5-read-only-root"](TASK, task(containerDefinitions="{not json"))
    assert len(messages) == 1 and "not a JSON list" in messages[0]


# A preview cannot see values computed from other resources: rules pass them, but not an absence.
UNKNOWN_CASES = [
    ("elb-4-drop-invalid-headers", LB, changed(GOOD_LB, dropInvalidHeaderFields=UNKNOWN)),
    ("elb-5-access-logs", LB, changed(GOOD_LB, accessLogs={"bucket": UNKNOWN, "enabled": True})),
    ("elb-13-multi-az", LB, changed(GOOD_LB, subnets=UNKNOWN)),
    ("elb-13-multi-az", LB, changed(GOOD_LB, subnets=[UNKNOWN, UNKNOWN])),
    ("elb-1-http-redirects-to-https", LISTENER, changed(HTTP_REDIRECT, defaultActions=UNKNOWN)),
    ("ecs-2-no-public-ip", SERVICE, {"networkConfiguration": UNKNOWN}),
    ("ecs-5-read-only-root", TASK, task(containerDefinitions=UNKNOWN)),
    ("ecs-12-container-insights", CLUSTER, {"settings": [{"name": "containerInsights", "value": UNKNOWN}]}),
    ("ec2-18-19-world-ingress-80-443-only", INGRESS, {"ipProtocol": "tcp", "fromPort": UNKNOWN, "toPort": 22,
                                                      "cidrIpv4": "0.0.0.0/0"}),
    ("sg-descriptions", SG, changed(GOOD_SG, description=UNKNOWN, ingress=UNKNOWN)),
    ("ecs-separate-task-role", TASK, task(executionRoleArn=UNKNOWN, taskRoleArn=UNKNOWN)),
]  # fmt: skip


@pytest.mark.parametrize(("rule_id", "resource_type", "props"), UNKNOWN_CASES, ids=[c[0] for c in UNKNOWN_CASES])
def test_unknown_values_pass(rule_id: str, resource_type: str, props: Mapping[str, Any]) -> None:
    assert RULES[rule_id](resource_type, props) == []


def test_an_unknown_elsewhere_does_not_hide_an_absence() -> None:
    props = changed(GOOD_LB, subnets=UNKNOWN, dropInvalidHeaderFields=None)
    assert RULES["elb-4-drop-invalid-headers"](LB, props) != []
