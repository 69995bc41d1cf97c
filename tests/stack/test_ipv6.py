"""IPv6-only replicas (replicaAddressing ipv6-only, both stacks' setting): the network, the dual-stack load
balancer, the replicas' security group, and what settings and the mocks refuse, as AWS documents it
(docs/ipv6.md)."""

import ipaddress
import json

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st

import settings
from components.aws_tables import IPV6_ONLY_REGIONS, ipv6_image_problem, ipv6_only_region_problem
from components.errors import SettingsError
from components.network import REPLICA_IPV6_SUBNET_FIRST, ipv6_subnet
from components.service import ReplicaService
from replica.nginx import CONFIG_ENV_VAR
from tests.stack.harness import AMAZON_IPV6_BLOCK, OWN_DOMAIN, StackMocks, declare, declare_stack
from tests.stack.test_components import service_args

SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


def subnets(deployment, ipv6_only: bool) -> list[dict]:
    return [s.inputs for s in deployment.all(SUBNET) if bool(s.inputs.get("ipv6Native")) == ipv6_only]


# --- the network -------------------------------------------------------------------------------------------


def test_the_vpc_asks_for_an_amazon_ipv6_block_and_keeps_ipv4_for_the_load_balancer(prod):
    vpc = prod.one("aws:ec2/vpc:Vpc").inputs
    assert vpc["assignGeneratedIpv6CidrBlock"] is True and vpc["cidrBlock"] == "10.0.0.0/16"
    assert vpc["enableDnsHostnames"] is True and vpc["enableDnsSupport"] is True
    assert not prod.all("awsx:ec2:Vpc"), "awsx's Vpc gives every subnet an IPv4 block"


def test_each_zone_has_a_dual_stack_public_64_and_an_ipv6_only_64_for_the_replicas(prod):
    public, replicas = subnets(prod, False), subnets(prod, True)
    zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert sorted(s["availabilityZone"] for s in public) == sorted(s["availabilityZone"] for s in replicas) == zones
    vpc = ipaddress.ip_network(AMAZON_IPV6_BLOCK)
    blocks = [ipaddress.ip_network(s["ipv6CidrBlock"]) for s in public + replicas]
    assert all(block.prefixlen == 64 and block.subnet_of(vpc) for block in blocks)
    assert len(set(blocks)) == 6, "no two subnets share a /64"
    for subnet in public:
        assert subnet["cidrBlock"].startswith("10.0.") and subnet["mapPublicIpOnLaunch"] is False  # EC2.15
    for subnet in replicas:
        assert "cidrBlock" not in subnet, "an IPv6-only subnet has no IPv4 block"
        assert subnet["assignIpv6AddressOnCreation"] is True
        assert subnet["enableResourceNameDnsAaaaRecordOnLaunch"] is True
        assert subnet["privateDnsHostnameTypeOnLaunch"] == "resource-name"
        assert subnet["enableDns64"] is False, "every endpoint a replica needs has an IPv6 name: no NAT64"


def test_replicas_route_ipv6_out_through_the_egress_only_gateway_and_nothing_else(prod):
    routes = [r.inputs for r in prod.all(ROUTE)]
    eigw = prod.one("aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway")
    igw = prod.one("aws:ec2/internetGateway:InternetGateway")
    replica_table = prod.one("aws:ec2/routeTable:RouteTable", "alb-replicas-prod-replicas")
    replica_routes = [r for r in routes if r["routeTableId"] == f"{replica_table.name}_id"]
    assert replica_routes == [
        {
            "routeTableId": f"{replica_table.name}_id",
            "destinationIpv6CidrBlock": "::/0",
            "egressOnlyGatewayId": f"{eigw.name}_id",
        }
    ]
    public_routes = [r for r in routes if r not in replica_routes]
    assert {r.get("destinationCidrBlock") or r.get("destinationIpv6CidrBlock") for r in public_routes} == {
        "0.0.0.0/0",
        "::/0",
    }
    assert all(r["gatewayId"] == f"{igw.name}_id" for r in public_routes)
    assert not prod.all("aws:ec2/natGateway:NatGateway") and not prod.all("aws:ec2/eip:Eip")


def test_the_replica_subnets_are_the_services_and_no_task_gets_a_public_ipv4(dev, prod):
    for deployment in (dev, prod):
        network = deployment.one("aws:ecs/service:Service").inputs["networkConfiguration"]
        # In any order: the mocks register the subnets as their inputs resolve, which a busy machine reorders.
        replica_ids = sorted(f"{s.name}_id" for s in deployment.all(SUBNET) if s.inputs.get("ipv6Native"))
        assert sorted(network["subnets"]) == replica_ids and network["assignPublicIp"] is False


@given(number=st.integers(0, 255), prefix=st.integers(0, 2**56 - 1))
def test_the_nth_64_lies_inside_the_vpcs_56_and_no_two_numbers_share_one(number, prefix):
    vpc = ipaddress.IPv6Network((prefix << 72, 56))
    block = ipaddress.IPv6Network(ipv6_subnet(str(vpc), number))
    assert block.prefixlen == 64 and block.subnet_of(vpc)
    assert int(block.network_address) - int(vpc.network_address) == number << 64


@pytest.mark.parametrize(("block", "number"), [("2600:1f18::/48", 0), ("2600:1f18:4c2:a600::/56", 256)])
def test_a_block_aws_never_gives_or_a_64_past_the_56_is_refused(block, number):
    with pytest.raises(ValueError):
        ipv6_subnet(block, number)


def test_the_replicas_64s_are_numbered_from_16_so_the_load_balancers_never_meet_them():
    assert ipv6_subnet(AMAZON_IPV6_BLOCK, REPLICA_IPV6_SUBNET_FIRST) == "2600:1f18:4c2:a610::/64"


# --- the load balancer ------------------------------------------------------------------------------------


def test_the_load_balancer_is_dual_stack_and_its_target_groups_ipv6_the_alternate_group_too():
    deployment = declare_stack("dev", deploymentStrategy="canary:10")
    assert deployment.one("aws:lb/loadBalancer:LoadBalancer").inputs["ipAddressType"] == "dualstack"
    groups = deployment.all(TARGET_GROUP)
    assert len(groups) == 2 and all(g.inputs["ipAddressType"] == "ipv6" for g in groups)
    assert all(g.inputs["targetType"] == "ip" for g in groups)


def test_every_listener_port_is_open_to_both_families_and_nothing_else_to_the_world(prod):
    world = sorted(
        (r.inputs["fromPort"], r.inputs.get("cidrIpv4") or r.inputs.get("cidrIpv6"))
        for r in prod.all(INGRESS)
        if r.inputs.get("cidrIpv4") or r.inputs.get("cidrIpv6")
    )
    assert world == [(80, "0.0.0.0/0"), (80, "::/0"), (443, "0.0.0.0/0"), (443, "::/0")]


def test_the_replicas_go_out_on_443_over_ipv6_only_and_take_nothing_but_the_load_balancer(prod):
    replicas = f"{prod.one('aws:ec2/securityGroup:SecurityGroup', 'alb-replicas-prod-replicas').name}_id"
    out = [r.inputs for r in prod.all(EGRESS) if r.inputs["securityGroupId"] == replicas]
    assert [(r["ipProtocol"], r["fromPort"], r["toPort"], r.get("cidrIpv6"), r.get("cidrIpv4")) for r in out] == [
        ("tcp", 443, 443, "::/0", None)
    ]
    into = [r.inputs for r in prod.all(INGRESS) if r.inputs["securityGroupId"] == replicas]
    assert len(into) == 1 and "referencedSecurityGroupId" in into[0], "no CIDR reaches a replica, ::/0 least"


def test_the_nginx_replica_listens_on_the_tasks_ipv6_addresses_too_and_an_ipv4_one_on_ipv4_only(dev, dev_ipv4):
    def config(deployment) -> str:
        (definition,) = json.loads(
            deployment.one("aws:ecs/taskDefinition:TaskDefinition").inputs["containerDefinitions"]
        )
        return {entry["name"]: entry["value"] for entry in definition["environment"]}[CONFIG_ENV_VAR]

    assert "listen 8080;" in config(dev) and "listen [::]:8080;" in config(dev), "the ALB reaches it over IPv6"
    assert "listen 8080;" in config(dev_ipv4) and "[::]" not in config(dev_ipv4)


def test_the_domain_answers_a_and_aaaa_with_the_load_balancer(prod):
    records = prod.all("aws:route53/record:Record")
    aliases = sorted(r.inputs["type"] for r in records if r.inputs.get("aliases"))
    assert aliases == ["A", "AAAA"]
    assert all(r.inputs["name"] == OWN_DOMAIN["domain"] for r in records if r.inputs.get("aliases"))


def test_ipv4_replicas_keep_an_ipv4_load_balancer_and_one_record(prod_ipv4):
    assert prod_ipv4.one("aws:lb/loadBalancer:LoadBalancer").inputs["ipAddressType"] == "ipv4"
    assert {g.inputs["ipAddressType"] for g in prod_ipv4.all(TARGET_GROUP)} == {"ipv4"}
    assert [r.inputs["type"] for r in prod_ipv4.all("aws:route53/record:Record") if r.inputs.get("aliases")] == ["A"]


def test_a_first_preview_of_ipv6_only_prod_declares_its_subnets_before_their_blocks_are_known():
    deployment = declare_stack("prod", preview=True, **OWN_DOMAIN)
    assert deployment.error is None, deployment.error
    assert len([s for s in deployment.all(SUBNET) if s.inputs.get("ipv6Native")]) == 3


# --- what settings refuse, in one line ---------------------------------------------------------------------


def parse(region: str | None = "us-east-1", **raw: object) -> settings.StackSettings:
    return settings.parse_settings(raw, project="alb-replicas", stack="test", region=region)


def test_a_region_ecs_runs_no_ipv6_only_tasks_in_is_refused_naming_aws_page():
    with pytest.raises(SettingsError) as caught:
        parse(region="eu-west-1")
    line = caught.value.one_line()
    assert "replicaAddressing: ipv6-only in eu-west-1: ECS runs no IPv6-only tasks in eu-west-1" in line
    assert "fargate-task-networking.html" in line and "read 2026-12-05" in line and "\n" not in line
    assert parse(region="eu-west-1", replicaAddressing="ipv4").replica_addressing == "ipv4"


def test_where_the_stack_names_no_region_the_network_checks_the_one_the_provider_found():
    deployment = declare_stack("dev", mocks=StackMocks(region="eu-north-1", zones={"eu-north-1a": "eun1-az1"}))
    assert isinstance(deployment.error, pulumi.RunError)
    assert str(deployment.error).startswith("replicaAddressing: ECS runs no IPv6-only tasks in eu-north-1")


def test_the_regions_are_aws_list_as_read():
    assert len(IPV6_ONLY_REGIONS) == 30
    assert {"us-east-1", "eu-central-1", "ap-northeast-1", "cn-north-1", "us-gov-west-1"} <= IPV6_ONLY_REGIONS
    assert not {"eu-west-1", "eu-north-1", "eu-central-2", "mx-central-1"} & IPV6_ONLY_REGIONS
    assert all(ipv6_only_region_problem(region) is None for region in IPV6_ONLY_REGIONS)


@pytest.mark.parametrize(
    ("image", "told"),
    [
        ("public.ecr.aws/docker/library/nginx:1.30.8-alpine", "write its dual-stack name ecr-public.aws.com"),
        (
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com/api:2.1.0",
            "write its dual-stack name 123456789012.dkr-ecr.eu-central-1.on.aws",
        ),
        ("nginx:1.30.8-alpine", "AWS documents no IPv6 name for the registry 'docker.io'"),
        ("ghcr.io/acme/api:2.1.0", "AWS documents no IPv6 name for the registry 'ghcr.io'"),
        ("localhost:5000/api:1", "AWS documents no IPv6 name for the registry 'localhost:5000'"),
    ],
)
def test_an_image_without_a_documented_ipv6_name_is_refused_with_the_way_out(image, told):
    with pytest.raises(SettingsError) as caught:
        parse(image=image)
    assert told in caught.value.one_line()
    assert parse(image=image, replicaAddressing="ipv4").image == image, "IPv4 replicas pull from anywhere"


@pytest.mark.parametrize(
    "image", ["ecr-public.aws.com/docker/library/nginx:1.30.8-alpine", "123456789012.dkr-ecr.us-east-1.on.aws/a:1"]
)
def test_the_dual_stack_names_are_taken(image):
    assert parse(image=image).image == image


@given(st.text(min_size=1, max_size=80))
def test_any_registry_name_gets_an_answer_and_only_dual_stack_names_pass(registry):
    problem = ipv6_image_problem(registry)
    assert problem is None or ("\n" not in problem and len(problem) < 400)
    if problem is None:
        assert registry == "ecr-public.aws.com" or registry.endswith(".on.aws")


def test_a_nat_gateway_with_ipv6_only_replicas_is_refused():
    with pytest.raises(SettingsError, match="natGateways: 'onePerAz' with replicaAddressing ipv6-only"):
        parse(natGateways="onePerAz")


def test_an_unknown_addressing_is_refused_naming_both():
    with pytest.raises(SettingsError, match=r"replicaAddressing: 'dual' is not allowed; allowed: ipv4, ipv6-only"):
        parse(replicaAddressing="dual")


# --- what the mocks refuse, as AWS does -------------------------------------------------------------------


def test_a_public_ipv4_on_a_task_in_ipv6_only_subnets_is_refused_before_anything_is_declared():
    deployment = declare(lambda: ReplicaService("api", service_args(assign_public_ip=True)), {})
    assert isinstance(deployment.error, SettingsError) and deployment.resources == []
    assert "assign_public_ip" in str(deployment.error)


@pytest.mark.parametrize(
    ("inputs", "refusal"),
    [
        ({"ipv6Native": True, "cidrBlock": "10.0.0.0/24", "ipv6CidrBlock": "2600:1f18:4c2:a610::/64"}, "no IPv4 one"),
        ({"ipv6Native": True, "ipv6CidrBlock": "2600:1f18:4c2:a610::/64"}, "by resource name"),
        ({"cidrBlock": "10.0.0.0/24", "assignIpv6AddressOnCreation": True}, "need an IPv6 block"),
        ({"cidrBlock": "10.0.0.0/24", "ipv6CidrBlock": "2600:1f18:4c2:a610::/60"}, "is a /64"),
        ({"cidrBlock": "10.0.0.0/24", "ipv6CidrBlock": "2600:1f18:ffff:a610::/64"}, "not within the VPC's"),
    ],
)
def test_the_mocks_refuse_a_subnet_ec2_refuses(inputs, refusal):
    def program():
        import pulumi_aws as aws

        vpc = aws.ec2.Vpc("v", cidr_block="10.0.0.0/16", assign_generated_ipv6_cidr_block=True)
        aws.ec2.Subnet("s", vpc_id=vpc.id, **{_snake(key): value for key, value in inputs.items()})

    deployment = declare(program, {})
    assert refusal in str(deployment.error)


def test_the_mocks_refuse_an_ipv4_route_to_the_egress_only_gateway():
    def program():
        import pulumi_aws as aws

        aws.ec2.Route("r", route_table_id="rtb-1", destination_cidr_block="0.0.0.0/0", egress_only_gateway_id="eigw-1")

    assert "routes IPv6 only" in str(declare(program, {}).error)


def _snake(key: str) -> str:
    """A provider property's Python argument: ipv6CidrBlock -> ipv6_cidr_block."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
