"""The whole program (__main__.py) under Pulumi's mocks, with the real dev and prod stack files.

Each assertion reads the inputs a resource was declared with: what `pulumi up` would send to AWS.
"""

import json

import pulumi
import pytest

from components.aws_tables import FARGATE_REGIONS_PAGE, FARGATE_ZONE_IDS, TLS_POLICY
from components.options import ACCESS_LOG_PREFIX
from estimate.cli import estimates
from replica.nginx import CONFIG_ENV_VAR, STOP_DELAY_ENV_VAR
from tests.stack.harness import HOSTED_ZONE_ID, OWN_DOMAIN, Deployment, StackMocks, declare_stack

ALB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
VPC = "awsx:ec2:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"


def container(deployment: Deployment) -> dict:
    (definition,) = json.loads(deployment.one(TASK_DEFINITION).inputs["containerDefinitions"])
    return definition


def group_id(deployment: Deployment, name: str) -> str:
    return f"{deployment.one(SECURITY_GROUP, name).name}_id"


# --- the network -------------------------------------------------------------------------------


def test_ipv4_dev_vpc_spans_two_zones_with_public_subnets_only_and_no_nat(dev_ipv4):
    vpc = dev_ipv4.one(VPC).inputs
    assert vpc["availabilityZoneNames"] == ["us-east-1a", "us-east-1b"]
    assert [spec["type"] for spec in vpc["subnetSpecs"]] == ["Public"]
    assert vpc["natGateways"] == {"strategy": "None"}, (
        "private subnets without NAT have no route out: replicas there could not pull their image"
    )
    assert vpc["enableDnsHostnames"] is True and vpc["enableDnsSupport"] is True


def test_ipv4_prod_vpc_has_private_subnets_behind_one_nat_per_zone(prod_ipv4):
    vpc = prod_ipv4.one(VPC).inputs
    assert len(vpc["availabilityZoneNames"]) == 3
    assert [spec["type"] for spec in vpc["subnetSpecs"]] == ["Public", "Private"]
    assert vpc["natGateways"] == {"strategy": "OnePerAz"}
    public, private = (spec["cidrBlocks"] for spec in vpc["subnetSpecs"])
    assert not set(public) & set(private)


def test_default_security_group_is_emptied(dev):
    default_group = dev.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert not default_group.get("ingress") and not default_group.get("egress")


def test_flow_logs_only_where_asked(dev, prod):
    assert not dev.all("aws:ec2/flowLog:FlowLog")
    flow_log = prod.one("aws:ec2/flowLog:FlowLog").inputs
    assert flow_log["trafficType"] == "REJECT" and flow_log["vpcId"] == "alb-replicas-prod-vpc_id"


def test_flow_log_role_may_list_log_groups_as_aws_sample_policy_grants(prod):
    # DescribeLogGroups lists the account's groups: AWS's sample policy for flow logs to CloudWatch Logs grants it
    # on "*"; limited to the one group, it is never allowed. Writing stays limited to the flow logs' own group.
    (role_policy,) = [p for p in prod.all("aws:iam/rolePolicy:RolePolicy") if "flow-logs" in p.name]
    statements = json.loads(role_policy.inputs["policy"])["Statement"]
    grants = {action: statement["Resource"] for statement in statements for action in statement["Action"]}
    assert grants["logs:DescribeLogGroups"] == "*"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"):
        assert grants[action] != "*" and all("prod-flow-logs" in arn for arn in grants[action]), action


# --- the load balancer -------------------------------------------------------------------------


def test_alb_is_internet_facing_in_the_public_subnets_of_every_zone(dev):
    alb = dev.one(ALB).inputs
    assert alb["loadBalancerType"] == "application" and alb["internal"] is False
    assert alb["subnets"] == ["alb-replicas-dev-public-1_id", "alb-replicas-dev-public-2_id"]
    assert alb["dropInvalidHeaderFields"] is True
    assert alb["desyncMitigationMode"] == "defensive"
    assert alb["securityGroups"] == [group_id(dev, "alb-replicas-dev-alb")]


def test_dev_alb_can_be_destroyed_and_keeps_no_access_logs(dev):
    alb = dev.one(ALB).inputs
    assert alb["enableDeletionProtection"] is False
    assert "accessLogs" not in alb


def test_target_group_holds_replicas_by_ip_round_robin_with_fast_honest_timings(dev):
    group = dev.one(TARGET_GROUP, "alb-replicas-dev-tg").inputs
    assert (group["targetType"], group["protocol"], group["port"]) == ("ip", "HTTP", 8080)
    assert group["loadBalancingAlgorithmType"] == "round_robin"
    assert group["stickiness"]["enabled"] is False and group["slowStart"] == 0
    assert group["deregistrationDelay"] == 5
    check = group["healthCheck"]
    assert (check["path"], check["matcher"], check["port"]) == ("/health", "200", "traffic-port")
    assert check["interval"] * check["healthyThreshold"] <= 10, "a new replica must get traffic in about 10 s"
    assert check["timeout"] < check["interval"]
    assert "name" not in group, "a fixed name breaks replacement while the listener uses the group"
    assert group["loadBalancingCrossZoneEnabled"] == "true"  # said, not left to the load balancer's setting


def test_cross_zone_off_reaches_the_target_group_as_false():
    group = declare_stack("dev", crossZone=False).one(TARGET_GROUP, "alb-replicas-dev-tg").inputs
    assert group["loadBalancingCrossZoneEnabled"] == "false"


def test_http_listener_forwards_to_the_target_group(dev):
    (listener,) = dev.all(LISTENER)
    assert (listener.inputs["port"], listener.inputs["protocol"]) == (80, "HTTP")
    (action,) = listener.inputs["defaultActions"]
    assert action == {"type": "forward", "targetGroupArn": dev.exports["target_group_arn"]}


def test_only_the_listener_port_is_open_to_the_world(dev):
    (open_rule,) = [r.inputs for r in dev.all(INGRESS) if r.inputs.get("cidrIpv4")]
    assert (open_rule["fromPort"], open_rule["toPort"], open_rule["cidrIpv4"]) == (80, 80, "0.0.0.0/0")
    assert open_rule["securityGroupId"] == group_id(dev, "alb-replicas-dev-alb")


# --- the replicas ------------------------------------------------------------------------------


def test_service_runs_the_configured_replicas_behind_the_target_group(dev):
    service = dev.one(SERVICE).inputs
    assert service["desiredCount"] == 3
    assert service["platformVersion"] == "LATEST"
    # Rolling: each task in both groups (whichever a shifting deploy left production on: test_strategy_change.py).
    primary, alternate = service["loadBalancers"]
    assert primary == {
        "targetGroupArn": dev.exports["target_group_arn"],
        "containerName": "replica",
        "containerPort": 8080,
    }
    assert alternate == {**primary, "targetGroupArn": alternate["targetGroupArn"]}
    assert alternate["targetGroupArn"].rsplit("/", 1)[-1] == "alb-replicas-dev-alt"
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert (service["deploymentMinimumHealthyPercent"], service["deploymentMaximumPercent"]) == (100, 200)
    assert service["waitForSteadyState"] is True
    assert service["healthCheckGracePeriodSeconds"] == 30


def test_service_waits_for_the_listener(dev):
    service = dev.one(SERVICE)
    listener = dev.one(LISTENER)
    assert listener.urn in service.dependencies, "ECS rejects a target group no listener uses yet"


def test_service_waits_for_the_execution_role_policy(dev):
    attachment = dev.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.urn in dev.one(SERVICE).dependencies, "tasks started before it cannot pull their image"


def test_ipv4_dev_replicas_run_in_public_subnets_with_a_public_ip(dev_ipv4):
    network = dev_ipv4.one(SERVICE).inputs["networkConfiguration"]
    assert network["subnets"] == dev_ipv4.one(ALB).inputs["subnets"]
    assert network["assignPublicIp"] is True, "without NAT it is the only way to pull the image"
    assert network["securityGroups"] == [group_id(dev_ipv4, "alb-replicas-dev-replicas")]


def test_ipv4_prod_replicas_run_in_private_subnets_without_public_ip(prod_ipv4):
    network = prod_ipv4.one(SERVICE).inputs["networkConfiguration"]
    assert all("-private-" in subnet for subnet in network["subnets"]) and len(network["subnets"]) == 3
    assert network["assignPublicIp"] is False


def test_only_the_alb_reaches_the_replicas_on_the_container_port(dev):
    replicas = group_id(dev, "alb-replicas-dev-replicas")
    alb = group_id(dev, "alb-replicas-dev-alb")
    (into_replicas,) = [r.inputs for r in dev.all(INGRESS) if r.inputs["securityGroupId"] == replicas]
    assert into_replicas["referencedSecurityGroupId"] == alb
    assert (into_replicas["fromPort"], into_replicas["toPort"], into_replicas["ipProtocol"]) == (8080, 8080, "tcp")
    assert "cidrIpv4" not in into_replicas
    (alb_out,) = [r.inputs for r in dev.all(EGRESS) if r.inputs["securityGroupId"] == alb]
    assert (alb_out["referencedSecurityGroupId"], alb_out["fromPort"]) == (replicas, 8080)
    (replicas_out,) = [r.inputs for r in dev.all(EGRESS) if r.inputs["securityGroupId"] == replicas]
    assert (replicas_out["fromPort"], replicas_out["toPort"]) == (443, 443)
    assert replicas_out["cidrIpv6"] == "::/0" and "cidrIpv4" not in replicas_out, "IPv6-only replicas go out over IPv6"


def test_every_security_group_and_rule_says_what_it_is_for(prod):
    for resource in prod.all(SECURITY_GROUP) + prod.all(INGRESS) + prod.all(EGRESS):
        assert len(resource.inputs.get("description", "")) > 10, resource.urn


def test_execution_role_has_only_the_managed_policy_and_task_role_nothing(dev):
    roles = {r.name: r for r in dev.all("aws:iam/role:Role") if r.name.endswith(("-execution", "-task"))}
    (attachment,) = dev.all("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    assert attachment.inputs["role"] == "alb-replicas-dev-execution"
    inline = sorted(policy.name for policy in dev.all("aws:iam/rolePolicy:RolePolicy"))
    assert inline == [f"alb-replicas-dev-hook-{kind}" for kind in ("invoke", "logs", "reads")], "the deploy hook's only"
    assert sorted(roles) == ["alb-replicas-dev-execution", "alb-replicas-dev-task"]
    for role in roles.values():
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    task = dev.one(TASK_DEFINITION).inputs
    assert task["executionRoleArn"] != task["taskRoleArn"]
    assert task["taskRoleArn"].endswith("role/alb-replicas-dev-task")


def test_task_definition_is_a_fargate_task_of_the_configured_size(dev, prod):
    task = dev.one(TASK_DEFINITION).inputs
    assert (task["cpu"], task["memory"], task["networkMode"]) == ("256", "512", "awsvpc")
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"}
    assert "pidMode" not in task
    assert (prod.one(TASK_DEFINITION).inputs["cpu"], prod.one(TASK_DEFINITION).inputs["memory"]) == ("512", "1024")


def test_container_is_locked_down_and_logs_to_cloudwatch(dev):
    replica = container(dev)
    assert replica["image"] == "ecr-public.aws.com/docker/library/nginx:1.30.8-alpine"
    assert (replica["user"], replica["readonlyRootFilesystem"], replica["privileged"]) == ("101:101", True, False)
    assert replica["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]
    log = replica["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert log["options"]["awslogs-region"] == "us-east-1"
    log_group = dev.one("aws:cloudwatch/logGroup:LogGroup", "alb-replicas-dev-logs")
    assert log["options"]["awslogs-group"] == log_group.inputs["name"] == "/ecs/alb-replicas-dev-replica"
    assert log_group.inputs["retentionInDays"] == 7
    assert log_group.urn in dev.one(TASK_DEFINITION).dependencies, "the JSON names the group only as text"


def test_nginx_replica_gets_the_contract_config_for_its_port_and_health_path():
    deployment = declare_stack("dev", containerPort=9000, healthCheckPath="/ready")
    replica = container(deployment)
    variable = {entry["name"]: entry["value"] for entry in replica["environment"]}
    assert "listen 9000;" in variable[CONFIG_ENV_VAR] and "location = /ready" in variable[CONFIG_ENV_VAR]
    assert replica["command"][:2] == ["/bin/sh", "-c"] and "nginx" in replica["command"][2]
    # ECS's stop signal (SIGTERM by users' reports, SIGQUIT by the image) first fails the health check.
    assert "trap 'stop=1' TERM QUIT" in replica["command"][2]
    assert "if (-f /dev/shm/stopping)" in variable[CONFIG_ENV_VAR]
    assert {g.inputs["healthCheck"]["path"] for g in deployment.all(TARGET_GROUP)} == {"/ready"}


def test_a_stopping_replica_fails_its_checks_until_every_node_has_stopped_sending_within_the_stop_timeout():
    """A Fargate Spot interruption signals a task that is still registered: the replica fails its checks
    for unhealthy threshold x interval plus the nodes' lag, and the stop timeout leaves room for that."""
    replica = container(declare_stack("dev", healthCheckIntervalSeconds=10, unhealthyThreshold=3))
    variable = {entry["name"]: entry["value"] for entry in replica["environment"]}
    assert variable[STOP_DELAY_ENV_VAR] == "33"  # 3 x 10 s + 3 s
    assert replica["stopTimeout"] == 63  # and 30 s for a graceful stop
    assert container(declare_stack("dev"))["stopTimeout"] == 43


def test_another_image_keeps_its_own_command():
    replica = container(declare_stack("dev", image="123456789012.dkr-ecr.us-east-1.on.aws/api:2.1.0"))
    assert "command" not in replica and "environment" not in replica
    assert replica["stopTimeout"] == 43  # the same time to stop, should it fail its checks first too


def strategy(deployment: Deployment) -> list[dict]:
    return deployment.one(SERVICE).inputs["capacityProviderStrategies"]


def test_dev_runs_every_replica_on_fargate_spot_and_prod_on_demand(dev, prod):
    assert strategy(dev) == [{"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 1}]
    assert strategy(prod) == [{"capacityProvider": "FARGATE", "base": 0, "weight": 1}]
    for deployment in (dev, prod):
        service = deployment.one(SERVICE).inputs
        assert "launchType" not in service, "a launch type conflicts with a capacity provider strategy"
        assert service["forceNewDeployment"] is True, "else a changed strategy replaces the service"


def test_mixed_capacity_keeps_its_base_on_demand_and_the_rest_on_spot():
    assert strategy(declare_stack("dev", capacity="mixed:1")) == [
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "base": 0, "weight": 1000},
    ]


def test_a_spot_shortage_cannot_hold_pulumi_up_longer_than_the_stated_bound(dev, prod):
    # ECS never falls back from FARGATE_SPOT to FARGATE (aws/containers-roadmap #852): without Spot capacity the
    # service never gets steady, and the provider waits its default 20 minutes, saying nothing.
    for deployment in (dev, prod):
        bound = deployment.exports["deploy_timing"]["steady_state_timeout_seconds"]
        assert bound < 20 * 60
        assert deployment.one(SERVICE).inputs["waitForSteadyState"] is True
        assert deployment.one(SERVICE).custom_timeouts == {"create": f"{bound}s", "update": f"{bound}s"}


def test_cluster_offers_both_fargate_providers_before_the_service_uses_one(dev):
    providers = dev.one("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
    assert providers.inputs["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert providers.inputs["clusterName"] == dev.one("aws:ecs/cluster:Cluster").name
    assert providers.inputs["defaultCapacityProviderStrategies"] == strategy(dev)
    assert providers.urn in dev.one(SERVICE).dependencies, "ECS refuses a provider the cluster does not have"


def test_x86_is_one_setting_away_on_spot_too():
    deployment = declare_stack("dev", cpuArchitecture="X86_64")
    assert deployment.one(TASK_DEFINITION).inputs["runtimePlatform"]["cpuArchitecture"] == "X86_64"
    assert strategy(deployment)[0]["capacityProvider"] == "FARGATE_SPOT"


def test_container_insights_on_in_prod_and_off_in_dev_for_its_cost(dev, prod):
    def insights(deployment: Deployment) -> list[dict]:
        return deployment.one("aws:ecs/cluster:Cluster").inputs["settings"]

    assert insights(prod) == [{"name": "containerInsights", "value": "enabled"}]
    assert insights(dev) == [{"name": "containerInsights", "value": "disabled"}]


def test_every_child_is_parented_to_its_component(prod):
    components = {r.urn for r in prod.resources if r.type.startswith("alb-replicas:")}
    for resource in prod.resources:
        if resource.type.startswith("alb-replicas:"):
            assert resource.parent.endswith("pulumi:pulumi:Stack::alb-replicas-prod")
        else:
            assert resource.parent in components, f"{resource.urn} is not inside a component"


# --- the exports -------------------------------------------------------------------------------


def test_dev_exports_what_verify_and_a_person_need(dev):
    exports = dev.exports
    assert exports["url"] == f"http://{exports['dns_name']}"
    assert exports["dns_name"].endswith(".elb.amazonaws.com")
    assert (exports["replicas"], exports["max_replicas"], exports["algorithm"]) == (3, 3, "round_robin")
    assert exports["replica_subnets"] == {
        "2600:1f18:4c2:a610::/64": "us-east-1a",
        "2600:1f18:4c2:a611::/64": "us-east-1b",
    }
    assert exports["cluster_name"] == "alb-replicas-dev-cluster"
    assert exports["service_name"] == "alb-replicas-dev-service"
    assert exports["target_group_arn"].startswith("arn:")
    assert exports["url"] in exports["next_steps"]
    assert all(" " not in key for key in exports)


def test_cost_and_deploy_timing_are_exported_as_the_estimate_command_prints_them(dev, prod):
    for stack, deployment in (("dev", dev), ("prod", prod)):
        printed = estimates(stack)
        assert deployment.exports["estimated_monthly_cost"] == printed["estimated_monthly_cost"]
        assert deployment.exports["deploy_timing"] == printed["deploy_timing"]
    assert dev.exports["estimated_monthly_cost"]["region"] == "us-east-1"
    assert dev.exports["estimated_monthly_cost"]["total_usd"] <= 37


def test_prod_exports_the_replicas_ipv6_subnets_for_per_zone_counts(prod):
    assert sorted(prod.exports["replica_subnets"].values()) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    blocks = {r.inputs["ipv6CidrBlock"] for r in prod.all(SUBNET) if r.inputs.get("ipv6Native")}
    assert set(prod.exports["replica_subnets"]) == blocks


def test_ipv4_prod_exports_the_private_subnets_for_per_zone_counts(prod_ipv4):
    assert sorted(prod_ipv4.exports["replica_subnets"].values()) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    vpc_specs = prod_ipv4.one(VPC).inputs["subnetSpecs"]
    assert sorted(prod_ipv4.exports["replica_subnets"]) == sorted(vpc_specs[1]["cidrBlocks"])


# --- HTTPS on a domain -------------------------------------------------------------------------


def test_https_listener_uses_a_validated_certificate_and_current_tls(prod):
    https = prod.one(LISTENER, "alb-replicas-prod-https").inputs
    assert (https["port"], https["protocol"], https["sslPolicy"]) == (443, "HTTPS", TLS_POLICY)
    validation = prod.one("aws:acm/certificateValidation:CertificateValidation").inputs
    assert https["certificateArn"] == validation["certificateArn"]
    (action,) = https["defaultActions"]
    assert action["type"] == "forward"
    certificate = prod.one("aws:acm/certificate:Certificate").inputs
    assert (certificate["domainName"], certificate["validationMethod"]) == ("app.mycompany.com", "DNS")


def test_http_redirects_to_https_with_301(prod):
    http = prod.one(LISTENER, "alb-replicas-prod-http").inputs
    (action,) = http["defaultActions"]
    assert action == {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    assert sorted(r.inputs["fromPort"] for r in prod.all(INGRESS) if r.inputs.get("cidrIpv4")) == [80, 443]


def test_domain_points_at_the_alb_and_becomes_the_url(prod):
    records = {r.name: r.inputs for r in prod.all("aws:route53/record:Record")}
    alias = records["alb-replicas-prod-alias"]
    assert (alias["name"], alias["type"], alias["zoneId"]) == ("app.mycompany.com", "A", HOSTED_ZONE_ID)
    assert alias["aliases"][0]["name"] == prod.exports["dns_name"]
    validation = records["alb-replicas-prod-cert-validation"]
    assert validation["type"] == "CNAME" and validation["zoneId"] == HOSTED_ZONE_ID
    assert prod.exports["url"] == "https://app.mycompany.com"


def test_service_waits_for_both_listeners_with_https(prod):
    service = prod.one(SERVICE)
    assert {listener.urn for listener in prod.all(LISTENER)} <= set(service.dependencies)


def test_without_domain_dev_serves_http_on_the_alb_name(dev):
    assert dev.exports["url"] == f"http://{dev.exports['dns_name']}"
    assert not dev.all("aws:acm/certificate:Certificate")
    assert [r.inputs["port"] for r in dev.all(LISTENER)] == [80]


def test_prod_as_a_fresh_fork_has_it_stops_in_one_line_naming_the_keys_to_set_before_any_resource():
    # Pulumi.prod.yaml names no domain; with a placeholder (example.com) the zone's look-up failed mid-preview.
    for overrides in ({}, {"domain": "app.example.com", "zone": "example.com"}):
        deployment = declare_stack("prod", preview=True, **overrides)
        assert isinstance(deployment.error, pulumi.RunError)
        assert "\n" not in str(deployment.error)
        assert "pulumi config set" in str(deployment.error) and "domain" in str(deployment.error)
        assert deployment.resources == [], "nothing may be declared"


# --- autoscaling -------------------------------------------------------------------------------


def test_prod_scales_on_requests_per_target_over_both_groups_and_cpu(prod):
    target = prod.one("aws:appautoscaling/target:Target").inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (3, 9)
    assert target["resourceId"] == "service/alb-replicas-prod-cluster/alb-replicas-prod-service"
    policies = {
        p.name: p.inputs["targetTrackingScalingPolicyConfiguration"]
        for p in prod.all("aws:appautoscaling/policy:Policy")
    }
    requests, cpu = policies["alb-replicas-prod-requests"], policies["alb-replicas-prod-cpu"]
    assert requests["targetValue"] == 1000 and "predefinedMetricSpecification" not in requests
    # AWS's blue/green autoscaling sample: RequestCountPerTarget summed over both groups, which follows production
    # wherever ECS moved it (the group it is not on adds 0).
    *groups, total = requests["customizedMetricSpecification"]["metrics"]
    assert total == {
        "id": "requests_per_target",
        "expression": "group0 + group1",
        "label": "Requests per target, every group",
        "returnData": True,
    }
    alb = "app/alb-replicas-prod-alb/50dc6c495c0c9188"
    assert [(g["id"], g["returnData"], g["metricStat"]["stat"]) for g in groups] == [
        ("group0", False, "Sum"),
        ("group1", False, "Sum"),
    ]
    assert [
        (
            g["metricStat"]["metric"]["namespace"],
            g["metricStat"]["metric"]["metricName"],
            g["metricStat"]["metric"]["dimensions"],
        )
        for g in groups
    ] == [
        (
            "AWS/ApplicationELB",
            "RequestCountPerTarget",
            [
                {"name": "TargetGroup", "value": f"targetgroup/{group}/73e2d6bc24d8a067"},
                {"name": "LoadBalancer", "value": alb},
            ],
        )
        for group in ("alb-replicas-prod-tg", "alb-replicas-prod-alt")
    ]
    assert cpu["targetValue"] == 60
    assert cpu["predefinedMetricSpecification"]["predefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    for policy in policies.values():
        assert policy["scaleInCooldown"] > policy["scaleOutCooldown"], "scale in slower than out"


def test_autoscaled_service_count_is_left_to_autoscaling(prod, dev):
    assert prod.one(SERVICE).ignore_changes == ["desiredCount"]
    assert dev.one(SERVICE).ignore_changes == []
    assert not dev.all("aws:appautoscaling/target:Target"), "maxReplicas unset means no autoscaling"


# --- guardrails --------------------------------------------------------------------------------


LOG_BUCKET = "alb-replicas-prod-access-logs"  # its resources' name (the Athena results bucket has its own)
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def test_prod_alb_is_protected_and_logs_to_a_private_encrypted_bucket(prod):
    alb = prod.one(ALB).inputs
    assert alb["enableDeletionProtection"] is True
    assert alb["accessLogs"] == {"enabled": True, "bucket": "alb-replicas-prod-access-logs-bucket", "prefix": "alb"}
    block = prod.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", LOG_BUCKET).inputs
    assert all(
        block[flag] for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    encryption = prod.one(ENCRYPTION, LOG_BUCKET)
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    ownership = prod.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls", LOG_BUCKET).inputs
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    (rule,) = prod.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", LOG_BUCKET).inputs["rules"]
    assert rule["expiration"]["days"] == 90 and rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7


def test_the_log_prefix_is_one_value_where_the_alb_writes_the_bucket_lets_it_and_athena_reads(prod):
    """ACCESS_LOG_PREFIX: the bucket component's prefix, handed to the load balancer and the Glue table (each
    had its own "alb" default before)."""
    prefix = ACCESS_LOG_PREFIX
    assert prod.one(ALB).inputs["accessLogs"]["prefix"] == prefix
    (allow, _) = json.loads(prod.one("aws:s3/bucketPolicy:BucketPolicy", LOG_BUCKET).inputs["policy"])["Statement"]
    assert allow["Resource"].endswith(f"/{prefix}/AWSLogs/123456789012/*")
    table = prod.one("aws:glue/catalogTable:CatalogTable").inputs
    assert f"/{prefix}/AWSLogs/123456789012/elasticloadbalancing/us-east-1/" in table["storageDescriptor"]["location"]
    assert prod.exports["access_logs_location"].split("/", 3)[3].startswith(f"{prefix}/AWSLogs/")


def test_log_bucket_policy_lets_elb_write_and_refuses_plain_http(prod):
    policy = json.loads(prod.one("aws:s3/bucketPolicy:BucketPolicy", LOG_BUCKET).inputs["policy"])
    allow, deny = policy["Statement"]
    assert allow["Principal"] == {"AWS": "arn:aws:iam::127311923021:root"}, "us-east-1's documented ELB account"
    assert allow["Resource"].endswith("/alb/AWSLogs/123456789012/*")
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_in_a_region_opened_after_august_2022_the_log_delivery_service_writes_the_logs():
    mexico = StackMocks(
        region="mx-central-1", zones={f"mx-central-1{z}": f"mxc1-az{i}" for i, z in enumerate("abc", 1)}
    )
    # Mexico (Central) is not among the regions ECS runs IPv6-only tasks in: IPv4 replicas there.
    deployment = declare_stack("prod", mocks=mexico, replicaAddressing="ipv4", **OWN_DOMAIN)
    assert deployment.error is None, deployment.error
    policy = json.loads(deployment.one("aws:s3/bucketPolicy:BucketPolicy", LOG_BUCKET).inputs["policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}


def test_alb_waits_for_the_log_bucket_policy(prod):
    alb = prod.one(ALB)
    policy = prod.one("aws:s3/bucketPolicy:BucketPolicy", LOG_BUCKET)
    assert policy.urn in alb.dependencies, "AWS checks write access when logging is turned on"


# --- bad config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"replicas": 0}, "replicas: 0 is out of range; allowed: 1 to 100"),
        ({"algorithm": "least_connections"}, "algorithm: 'least_connections' is not allowed"),
        ({"azCount": 1}, "azCount: 1 is out of range; allowed: 2 to 6"),
        ({"memory": 4096}, "memory: 4096 MiB is not a Fargate pair with cpu 256"),
        ({"maxReplicas": 2}, "maxReplicas: 2 is below replicas (3)"),
        ({"domain": "app.mycompany.org", "zone": "mycompany.com"}, "domain: 'app.mycompany.org' is outside zone"),
        ({"capacity": "spot-only"}, "capacity: 'spot-only' is not allowed; allowed: on-demand, spot, or mixed:N"),
        ({"capacity": "mixed:4"}, "mixed:N with N from 1 to replicas (3)"),
        ({"cpuArchitecture": "arm64"}, "cpuArchitecture: 'arm64' is not allowed; allowed: ARM64, X86_64"),
    ],
)
def test_bad_config_fails_before_any_resource_is_declared(overrides, message):
    deployment = declare_stack("dev", **overrides)
    assert isinstance(deployment.error, pulumi.RunError)
    assert message in str(deployment.error)
    assert "\n" not in str(deployment.error), "Pulumi prints the settings error on one line"
    assert deployment.resources == [], "nothing may be declared"


def test_more_zones_than_the_region_has_is_a_clear_error():
    deployment = declare_stack("dev", azCount=5)
    assert isinstance(deployment.error, pulumi.RunError), "a RunError prints one line, no traceback"
    assert "azCount: 5 zones asked for, but the region has 4" in str(deployment.error)


def test_where_fargate_runs_in_some_zones_only_they_are_chosen_by_zone_id():
    # In this account, us-west-1a is usw1-az2, where Fargate does not run: sorting names would pick it.
    zones = {"us-west-1a": "usw1-az2", "us-west-1b": "usw1-az3", "us-west-1c": "usw1-az1"}
    deployment = declare_stack("dev", mocks=StackMocks(region="us-west-1", zones=zones))
    zones_used = sorted({subnet.inputs["availabilityZone"] for subnet in deployment.all(SUBNET)})
    assert zones_used == ["us-west-1b", "us-west-1c"]


def test_too_few_fargate_zones_is_a_clear_error_naming_the_region():
    zones = {"us-west-1a": "usw1-az2", "us-west-1b": "usw1-az3", "us-west-1c": "usw1-az1"}
    deployment = declare_stack("prod", mocks=StackMocks(region="us-west-1", zones=zones), **OWN_DOMAIN)
    assert isinstance(deployment.error, pulumi.RunError)
    assert str(deployment.error) == (
        "azCount: 3 zones asked for, but Fargate runs in only 2 zones of us-west-1 (us-west-1b, us-west-1c; "
        "it runs in zone IDs usw1-az1, usw1-az3 there, as of AWS's page "
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/AWS_Fargate-Regions.html); allowed: 2 to 2"
    )


def test_fargate_zone_table_is_aws_page_as_read_in_2026_12():
    # "Supported Regions for Amazon ECS on AWS Fargate", Linux containers: ca-central-1 is listed without zone IDs
    # (an archived copy once said "cac1-az1 & cac1-az2 only"), so Fargate runs in all its zones.
    assert FARGATE_ZONE_IDS == {
        "us-west-1": ("usw1-az1", "usw1-az3"),
        "ap-northeast-1": ("apne1-az1", "apne1-az2", "apne1-az4"),
        "cn-north-1": ("cnn1-az1", "cnn1-az2"),
    }
    assert FARGATE_REGIONS_PAGE.startswith("https://docs.aws.amazon.com/AmazonECS/")


def test_long_stack_name_still_gives_names_aws_accepts():
    deployment = declare_stack("dev", namePrefix=None)
    assert deployment.one(ALB).name == "alb-replicas-dev-alb"
    long_stack = declare_stack("dev", namePrefix="x" * 20)
    assert len(long_stack.one(ALB).name) + len("-1234567") <= 32
    assert all(len(group.name) + len("-1234567") <= 32 for group in long_stack.all(TARGET_GROUP))


def test_in_govcloud_the_elb_account_is_named_in_the_partition_the_provider_reports():
    govcloud = StackMocks(
        region="us-gov-west-1",
        zones={f"us-gov-west-1{z}": f"usgw1-az{i}" for i, z in enumerate("abc", 1)},
        partition="aws-us-gov",
    )
    deployment = declare_stack("prod", mocks=govcloud, **OWN_DOMAIN)
    assert deployment.error is None, deployment.error
    policy = json.loads(deployment.one("aws:s3/bucketPolicy:BucketPolicy", LOG_BUCKET).inputs["policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws-us-gov:iam::048591011584:root"}
