"""EC2 rules: security groups, subnets, and each VPC's default security group and flow log
(EC2.2, .6, .15, .18, .19, and two good practices)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .core import (
    UNKNOWN,
    PlannedResource,
    ResourceRule,
    StackCheck,
    StackRule,
    as_list,
    identifiers,
    label,
    refers_to,
    show,
    value_at,
    value_check,
)

SECURITY_GROUP: Final = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE: Final = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE: Final = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE: Final = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECURITY_GROUP_INGRESS: Final = frozenset({SECURITY_GROUP, SECURITY_GROUP_RULE, INGRESS_RULE})
SECURITY_GROUP_EGRESS: Final = frozenset({SECURITY_GROUP, SECURITY_GROUP_RULE, EGRESS_RULE})
SECURITY_GROUP_ANY: Final = SECURITY_GROUP_INGRESS | SECURITY_GROUP_EGRESS
DEFAULT_SECURITY_GROUP: Final = frozenset({"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"})
SUBNET: Final = frozenset({"aws:ec2/subnet:Subnet"})
VPC: Final = "aws:ec2/vpc:Vpc"
AWSX_VPC: Final = "awsx:ec2:Vpc"
FLOW_LOG: Final = "aws:ec2/flowLog:FlowLog"
WORLD: Final = frozenset({"0.0.0.0/0", "::/0"})
WORLD_OPEN_PORTS: Final = frozenset({80, 443})
# What pulumi-aws puts in a security group's description when none is given: says nothing.
PROVIDER_DEFAULT_SG_DESCRIPTION: Final = "Managed by Pulumi"


@dataclass(frozen=True)
class _Permission:
    """One security group rule, whichever of the three ways it was declared."""

    label: str
    direction: str
    protocol: Any
    from_port: Any
    to_port: Any
    cidrs: tuple[Any, ...]
    description: Any


def _cidrs(*lists: Any) -> tuple[Any, ...]:
    """The known CIDRs of several list props (an unknown one cannot be the world's yet)."""
    return tuple(cidr for value in lists if (items := as_list(value)) is not UNKNOWN for cidr in items)


def _permissions(resource_type: str, props: Mapping[str, Any]) -> list[_Permission]:
    if resource_type in (INGRESS_RULE, EGRESS_RULE):
        direction = "ingress" if resource_type == INGRESS_RULE else "egress"
        return [
            _Permission(
                "the rule",
                direction,
                value_at(props, "ipProtocol"),
                value_at(props, "fromPort"),
                value_at(props, "toPort"),
                (value_at(props, "cidrIpv4"), value_at(props, "cidrIpv6")),
                value_at(props, "description"),
            )
        ]
    if resource_type == SECURITY_GROUP_RULE:
        return [
            _Permission(
                "the rule",
                value_at(props, "type"),
                value_at(props, "protocol"),
                value_at(props, "fromPort"),
                value_at(props, "toPort"),
                _cidrs(value_at(props, "cidrBlocks"), value_at(props, "ipv6CidrBlocks")),
                value_at(props, "description"),
            )
        ]
    permissions = []  # a security group's inline rules
    for direction in ("ingress", "egress"):
        rules = as_list(value_at(props, direction))
        for index, rule in enumerate(rules if rules is not UNKNOWN else []):
            permissions.append(
                _Permission(
                    f"{direction}[{index}]",
                    direction,
                    value_at(rule, "protocol"),
                    value_at(rule, "fromPort"),
                    value_at(rule, "toPort"),
                    _cidrs(value_at(rule, "cidrBlocks"), value_at(rule, "ipv6CidrBlocks")),
                    value_at(rule, "description"),
                )
            )
    return permissions


def _open_to_world(permission: _Permission) -> list[str]:
    return sorted(c for c in permission.cidrs if c in WORLD)


def _all_protocols(protocol: Any) -> bool:
    return str(protocol).lower() in ("-1", "all")


def _world_ingress(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    messages = []
    for p in _permissions(resource_type, props):
        open_to = _open_to_world(p)
        if p.direction != "ingress" or not open_to or UNKNOWN in (p.protocol, p.from_port, p.to_port):
            continue
        all_ports = _all_protocols(p.protocol)
        if not all_ports and p.from_port == p.to_port and p.from_port in WORLD_OPEN_PORTS:
            continue
        ports = "all ports" if all_ports else f"ports {show(p.from_port)}-{show(p.to_port)}"
        messages.append(
            f"{p.label} opens {ports} ({show(p.protocol)}) to {', '.join(open_to)}; set cidr_blocks/cidr_ipv4 to a "
            "narrower range, or referenced_security_group_id instead: only ports 80 and 443 may be open to the world"
        )
    return messages


EC2_18_19_WORLD_INGRESS_80_443_ONLY = ResourceRule(
    id="ec2-18-19-world-ingress-80-443-only",
    control="EC2.18/EC2.19",
    description="Only ports 80 and 443 accept traffic from 0.0.0.0/0 or ::/0",
    applies_to_dev=True,
    resource_types=SECURITY_GROUP_INGRESS,
    check=_world_ingress,
)


def _world_egress(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    return [
        f"{p.label} lets all traffic ({show(p.protocol)}) out to {', '.join(_open_to_world(p))}; set "
        'protocol="tcp" and only the ports needed (replicas: 443 for image pulls and logs; the load balancer: '
        "the container port to the replicas' security group)"
        for p in _permissions(resource_type, props)
        if p.direction == "egress" and _open_to_world(p) and _all_protocols(p.protocol)
    ]


SG_EGRESS_NOT_ALL_TRAFFIC = ResourceRule(
    id="sg-egress-not-all-traffic",
    control="Good practice",
    description="No security group lets all traffic out to 0.0.0.0/0 or ::/0",
    applies_to_dev=True,
    resource_types=SECURITY_GROUP_EGRESS,
    check=_world_egress,
)


def _missing_description(value: Any) -> bool:
    return value is not UNKNOWN and (not isinstance(value, str) or not value.strip())


def _descriptions(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    messages = []
    if resource_type == SECURITY_GROUP:
        description = value_at(props, "description")
        if _missing_description(description) or description == PROVIDER_DEFAULT_SG_DESCRIPTION:
            messages.append(f"the security group's description is {show(description)}; set description= its purpose")
    messages += [
        f"{p.label} has description {show(p.description)}; set description= what it allows and why"
        for p in _permissions(resource_type, props)
        if _missing_description(p.description)
    ]
    return messages


SG_DESCRIPTIONS = ResourceRule(
    id="sg-descriptions",
    control="Good practice",
    description="Every security group and security group rule has a description",
    applies_to_dev=True,
    resource_types=SECURITY_GROUP_ANY,
    check=_descriptions,
)


def _default_sg_rules(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    return [
        f"the default security group has {direction} rules {rules!r}; remove them: declare "
        f"aws.ec2.DefaultSecurityGroup(vpc_id=...) without {direction}"
        for direction in ("ingress", "egress")
        if (rules := as_list(value_at(props, direction))) is not UNKNOWN and rules
    ]


EC2_2_DEFAULT_SG_NO_RULES = ResourceRule(
    id="ec2-2-default-sg-no-rules",
    control="EC2.2",
    description="The VPC's default security group allows no traffic",
    applies_to_dev=True,
    resource_types=DEFAULT_SECURITY_GROUP,
    check=_default_sg_rules,
)


def _vpc_companion(types: frozenset[str], counts: Callable[[Mapping[str, Any]], bool], missing: str) -> StackCheck:
    """Every VPC has a companion resource (of `types`, whose props `counts`) naming it by `vpcId`.

    Both shapes of VPC: aws:ec2/vpc:Vpc (a real preview) and the awsx:ec2:Vpc component (the only one under
    the program's mocks, which give it a `vpcId` output). A VPC inside an awsx component is the same VPC
    as its component: a companion of either covers both.
    """

    def check(resources: Sequence[PlannedResource]) -> list[str]:
        vpcs = [r for r in resources if r.type in (VPC, AWSX_VPC)]
        components = {r.urn for r in vpcs if r.type == AWSX_VPC}
        groups: dict[str, list[PlannedResource]] = {}
        for vpc in vpcs:
            key = vpc.parent if vpc.type == VPC and vpc.parent in components else vpc.urn
            groups.setdefault(key, []).append(vpc)
        companions = [r for r in resources if r.type in types and counts(r.props)]
        messages = []
        for members in groups.values():
            ids = frozenset().union(*(identifiers(m, "id", "vpcId") for m in members))
            urns = frozenset(m.urn for m in members)
            if not any(refers_to(c, "vpcId", ids, urns) for c in companions):
                messages.append(f"VPC {label(members[0])} has no {missing}")
        return messages

    return check


EC2_6_VPC_FLOW_LOGS = StackRule(
    id="ec2-6-vpc-flow-logs",
    control="EC2.6",
    description="Every VPC has a flow log of rejected traffic",
    applies_to_dev=False,  # optional in dev
    check=_vpc_companion(
        frozenset({FLOW_LOG}),
        lambda props: value_at(props, "trafficType") in ("REJECT", "ALL", UNKNOWN),  # ACCEPT alone misses EC2.6
        'flow log of REJECT (or ALL) traffic; declare aws.ec2.FlowLog(vpc_id=..., traffic_type="REJECT", '
        "log_destination=..., iam_role_arn=...)",
    ),
)


EC2_2_DEFAULT_SG_DECLARED = StackRule(
    id="ec2-2-default-sg-declared",
    control="EC2.2",
    description="Every VPC's default security group is declared (and so emptied of AWS's default rules)",
    applies_to_dev=True,
    check=_vpc_companion(
        DEFAULT_SECURITY_GROUP,
        lambda props: True,
        "aws.ec2.DefaultSecurityGroup: AWS's default rules stay (all egress, ingress from itself); declare "
        "aws.ec2.DefaultSecurityGroup(vpc_id=...) without ingress or egress",
    ),
)


EC2_15_NO_AUTO_PUBLIC_IP = ResourceRule(
    id="ec2-15-no-auto-public-ip",
    control="EC2.15",
    description="Subnets do not assign public IPs on launch",
    applies_to_dev=False,  # optional in dev: awsx public subnets assign them by default
    resource_types=SUBNET,
    check=value_check(
        "mapPublicIpOnLaunch",
        lambda v: v is not True,
        "map_public_ip_on_launch=False (awsx public subnets default to True: change it with a transform)",
    ),
)


ECS_SERVICE: Final = "aws:ecs/service:Service"
ROUTE_TABLE_ASSOCIATION: Final = "aws:ec2/routeTableAssociation:RouteTableAssociation"
ROUTE: Final = "aws:ec2/route:Route"
INTERNET_GATEWAY: Final = "aws:ec2/internetGateway:InternetGateway"


def _named_by(resources: Sequence[PlannedResource], owner: PlannedResource, prop: str) -> list[PlannedResource]:
    """The resources `owner.props[prop]` (a list of ids) names: by id where known, by dependency in a preview."""
    names = as_list(value_at(owner.props, prop))
    known = frozenset(n for n in names if isinstance(n, str)) if names is not UNKNOWN else frozenset()
    root = prop.split(".")[0]
    dependencies = owner.property_dependencies.get(root, owner.dependencies)
    return [r for r in resources if (r.id is not None and r.id in known) or r.urn in dependencies]


def _replica_parts(resources: Sequence[PlannedResource], prop: str, types: frozenset[str]) -> list[PlannedResource]:
    """What the ECS services' network configurations name under `prop` (subnets, security groups)."""
    services = [r for r in resources if r.type == ECS_SERVICE]
    return [part for s in services for part in _named_by(resources, s, prop) if part.type in types]


def _ipv6_world_route_on_replica_subnets(resources: Sequence[PlannedResource]) -> list[str]:
    subnets = _replica_parts(resources, "networkConfiguration.subnets", SUBNET)
    gateways = [r for r in resources if r.type == INTERNET_GATEWAY]
    gateway_ids = frozenset().union(*(identifiers(g) for g in gateways))
    gateway_urns = frozenset(g.urn for g in gateways)
    messages = []
    for subnet in subnets:
        associations = [
            a
            for a in resources
            if a.type == ROUTE_TABLE_ASSOCIATION
            and refers_to(a, "subnetId", identifiers(subnet), frozenset({subnet.urn}))
        ]
        tables = [
            t
            for a in associations
            for t in resources
            if t.urn != a.urn and refers_to(a, "routeTableId", identifiers(t), frozenset({t.urn}))
        ]
        for table in tables:
            for route in resources:
                if (
                    route.type == ROUTE
                    and value_at(route.props, "destinationIpv6CidrBlock") == "::/0"
                    and refers_to(route, "routeTableId", identifiers(table), frozenset({table.urn}))
                    and value_at(route.props, "gatewayId") is not None
                    and refers_to(route, "gatewayId", gateway_ids, gateway_urns)
                ):
                    messages.append(
                        f"the replicas' subnet {label(subnet)} routes ::/0 to an internet gateway ({label(route)}): "
                        "anything on the internet may open connections to a replica's IPv6 address; route ::/0 to "
                        "aws.ec2.EgressOnlyInternetGateway (egress_only_gateway_id=) instead"
                    )
    return messages


REPLICA_SUBNETS_EGRESS_ONLY_IPV6 = StackRule(
    id="replica-subnets-egress-only-ipv6",
    control="Good practice",
    description="The replicas' subnets send IPv6 out through an egress-only gateway, never an internet gateway",
    applies_to_dev=True,
    check=_ipv6_world_route_on_replica_subnets,
)


def _world_ingress_to_replicas(resources: Sequence[PlannedResource]) -> list[str]:
    groups = _replica_parts(resources, "networkConfiguration.securityGroups", frozenset({SECURITY_GROUP}))
    messages = []
    for group in groups:
        ids, urns = identifiers(group), frozenset({group.urn})
        rules = [group] + [
            r
            for r in resources
            if r.type in SECURITY_GROUP_INGRESS - {SECURITY_GROUP} and refers_to(r, "securityGroupId", ids, urns)
        ]
        for rule in rules:
            for p in _permissions(rule.type, rule.props):
                open_to = _open_to_world(p)
                if p.direction == "ingress" and open_to:
                    messages.append(
                        f"{label(rule)} lets {', '.join(open_to)} reach the replicas' security group {label(group)}; "
                        "the replicas take requests only from the load balancer's security group "
                        "(referenced_security_group_id=), over either family"
                    )
    return messages


REPLICAS_NO_WORLD_INGRESS = StackRule(
    id="replicas-no-world-ingress",
    control="Good practice",
    description="Nothing from 0.0.0.0/0 or ::/0 reaches the replicas, on any port: only the load balancer does",
    applies_to_dev=True,
    check=_world_ingress_to_replicas,
)


# VPC user guide, "Flow log records": the default format's srcaddr and dstaddr carry IPv4 or IPv6 addresses alike;
# a custom format without them (or pkt-srcaddr/pkt-dstaddr) cannot say which replica a rejected packet was for.
_FLOW_LOG_ADDRESSES = (("${srcaddr}", "${pkt-srcaddr}"), ("${dstaddr}", "${pkt-dstaddr}"))


def _flow_log_addresses(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    log_format = value_at(props, "logFormat")
    if log_format is None or log_format is UNKNOWN:
        return []
    missing = [fields[0] for fields in _FLOW_LOG_ADDRESSES if not any(f in str(log_format) for f in fields)]
    if not missing:
        return []
    return [
        f"log_format {show(log_format)} lacks {', '.join(missing)}, the IPv4 or IPv6 address of each record; set "
        "log_format with them, or leave it unset (AWS's default format has both)"
    ]


FLOW_LOG_RECORDS_ADDRESSES = ResourceRule(
    id="flow-log-records-addresses",
    control="Good practice",
    description="Flow log records keep source and destination addresses, IPv4 and IPv6 alike",
    applies_to_dev=True,
    resource_types=frozenset({FLOW_LOG}),
    check=_flow_log_addresses,
)
