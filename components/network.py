"""Network: a VPC over two or more availability zones, public subnets for the load balancer, and the
replicas' subnets: IPv6-only ones behind an egress-only internet gateway, or (IPv4 replicas) the public
subnets or, with NAT, private ones."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.aws_tables import FARGATE_REGIONS_PAGE, FARGATE_ZONE_IDS, ipv6_only_region_problem
from components.errors import SettingsError
from components.options import NatGateways, ReplicaAddressing, subnet_prefix_length

_NAT_STRATEGY = {
    "none": awsx.ec2.NatGatewayStrategy.NONE,
    "single": awsx.ec2.NatGatewayStrategy.SINGLE,
    "onePerAz": awsx.ec2.NatGatewayStrategy.ONE_PER_AZ,
}


def choose_zones(region: str, names: list[str], zone_ids: list[str], az_count: int) -> list[str]:
    """The first `az_count` zone names, by name, among the region's zones Fargate runs in.

    Raises SettingsError naming the region and the zones it offers when there are too few.
    """
    fargate_ids = FARGATE_ZONE_IDS.get(region)
    usable = sorted(
        name for name, zone_id in zip(names, zone_ids, strict=True) if fargate_ids is None or zone_id in fargate_ids
    )
    if len(usable) >= az_count:
        return usable[:az_count]
    if fargate_ids is None:
        where = f"the region has {len(usable)} ({', '.join(usable)})"
    else:
        where = (
            f"Fargate runs in only {len(usable)} zones of {region} ({', '.join(usable) or 'none'}; "
            f"it runs in zone IDs {', '.join(fargate_ids)} there, as of AWS's page {FARGATE_REGIONS_PAGE})"
        )
    raise SettingsError(f"{az_count} zones asked for, but {where}; allowed: 2 to {len(usable)}", argument="az_count")


@dataclass(frozen=True)
class NetworkArgs:
    az_count: int = 2
    """Availability zones to span. @default 2: the fewest an ALB accepts (ELB.13)."""
    cidr_block: str = "10.0.0.0/16"
    """IPv4 range of the VPC. @default 10.0.0.0/16: room for every subnet layout used here."""
    replica_addressing: ReplicaAddressing = "ipv6-only"
    """The replicas' subnets. @default "ipv6-only": one IPv6-only /64 per zone, out through an egress-only
    internet gateway (no NAT, no public IPv4), beside dual-stack public subnets for the load balancer;
    "ipv4": awsx's VPC, with `nat_gateways` deciding where the replicas go."""
    nat_gateways: NatGateways = "none"
    """NAT gateways of IPv4 replicas. @default "none": replicas go in public subnets with a public IP, since a
    NAT gateway costs more than the rest of a small stack; "single" or "onePerAz" adds private subnets.
    IPv6-only replicas take "none" (they could not use one)."""
    flow_logs: bool = False
    """Log rejected traffic of the VPC to CloudWatch Logs (EC2.6). @default False: costs per GB."""
    log_retention_days: int = 7
    """Days flow logs are kept. @default 7."""


@dataclass(frozen=True)
class SubnetPlan:
    tier: Literal["public", "private"]
    zone: str
    cidr: str


# An IPv6-only network's /64s, numbered within the VPC's Amazon-provided /56 (VPC user guide, "IPv6 VPC CIDR
# blocks": a /56 for the VPC, a /64 for each subnet): the load balancer's subnets from 0, the replicas' from 16,
# so that neither moves when azCount changes (up to 6 zones).
PUBLIC_IPV6_SUBNET_FIRST = 0
REPLICA_IPV6_SUBNET_FIRST = 16
VPC_IPV6_PREFIX = 56
SUBNET_IPV6_PREFIX = 64


def ipv6_subnet(vpc_block: str, number: int) -> str:
    """The `number`th /64 of the VPC's /56, e.g. ("2600:1f18:a:b00::/56", 16) -> "2600:1f18:a:b10::/64"."""
    vpc = ipaddress.IPv6Network(vpc_block)
    if vpc.prefixlen != VPC_IPV6_PREFIX:
        raise ValueError(f"{vpc_block}: AWS gives a VPC a /{VPC_IPV6_PREFIX}, not a /{vpc.prefixlen}")
    if not 0 <= number < 2 ** (SUBNET_IPV6_PREFIX - VPC_IPV6_PREFIX):
        raise ValueError(f"{number}: a /{VPC_IPV6_PREFIX} holds 256 /{SUBNET_IPV6_PREFIX}s, 0 to 255")
    first = int(vpc.network_address) + (number << (128 - SUBNET_IPV6_PREFIX))
    return str(ipaddress.IPv6Network((first, SUBNET_IPV6_PREFIX)))


def subnet_plan(cidr_block: str, zones: list[str], private: bool) -> list[SubnetPlan]:
    """One public subnet per zone, then (with NAT) one private subnet per zone, equal in size.

    Room for the private tier is kept even without NAT, so that turning NAT on later adds subnets
    instead of renumbering, and so replacing, the public ones (and everything in them).
    """
    vpc = ipaddress.ip_network(cidr_block)
    blocks = list(vpc.subnets(new_prefix=subnet_prefix_length(vpc.prefixlen, len(zones))))
    public = [SubnetPlan("public", zone, str(block)) for zone, block in zip(zones, blocks[: len(zones)], strict=True)]
    if not private:
        return public
    private_blocks = blocks[len(zones) : 2 * len(zones)]
    return public + [SubnetPlan("private", zone, str(block)) for zone, block in zip(zones, private_blocks, strict=True)]


def no_public_ip_on_launch(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Turn off mapPublicIpOnLaunch on the subnets awsx creates (EC2.15).

    Nothing here needs it: the ALB's nodes and NAT gateways get their addresses anyway, and dev
    replicas ask for a public IP through the ECS service. awsx has no argument for it, so this
    transform edits the subnets awsx's plugin registers (their properties use Pulumi's names).
    """
    if args.type_ != "aws:ec2/subnet:Subnet":
        return None
    return pulumi.ResourceTransformResult(props={**args.props, "mapPublicIpOnLaunch": False}, opts=args.opts)


class Network(pulumi.ComponentResource):
    """A VPC across `az_count` zones: public subnets for the load balancer, and the replicas' subnets:
    IPv6-only ones (`replica_addressing` "ipv6-only"), or for IPv4 replicas the public subnets or, with NAT,
    private ones. The VPC's default security group is emptied (EC2.2).

    Changing `replica_addressing`, `az_count`, `nat_gateways` from or to "none", or `cidr_block` replaces
    subnets and everything in them; so does a new major version of awsx (IPv4 replicas).
    """

    vpc: awsx.ec2.Vpc | aws.ec2.Vpc
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    replica_subnet_ids: pulumi.Output[list[str]]
    """Where the replicas run: IPv6-only subnets; for IPv4 replicas private subnets with NAT, else public ones."""
    replicas_in_private_subnets: bool
    """No replica is reachable from the internet but through the load balancer: IPv6-only or behind NAT."""
    task_public_ipv4: bool
    """Each task needs a public IPv4 address to pull its image: IPv4 replicas in public subnets."""
    ipv6: bool
    """Dual-stack public subnets and IPv6-only replica subnets: the load balancer serves both families."""
    zones: list[str]
    subnets: list[SubnetPlan]
    replica_subnet_zones: pulumi.Output[dict[str, str]]
    """CIDR -> zone of the replicas' subnets (IPv6 /64s for IPv6-only replicas), for `verify`'s per-zone counts."""
    default_security_group: aws.ec2.DefaultSecurityGroup
    flow_log: aws.ec2.FlowLog | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if args.az_count < 2:
            raise SettingsError(
                f"{args.az_count} is too few; an ALB needs subnets in at least 2 zones", argument="az_count"
            )
        super().__init__("alb-replicas:network:Network", name, None, opts)
        child_opts = pulumi.ResourceOptions(parent=self)

        invoke_opts = pulumi.InvokeOptions(parent=self)
        available = aws.get_availability_zones(
            state="available",
            # Local Zones and Wavelength Zones cannot hold an ALB's subnets.
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=invoke_opts,
        )
        region = aws.get_region(opts=invoke_opts).region
        self.ipv6 = args.replica_addressing == "ipv6-only"
        if self.ipv6:
            # Settings check aws:region; the provider may take AWS_REGION instead, which only this answer shows.
            problem = ipv6_only_region_problem(region)
            if problem:
                raise SettingsError(problem, argument="replica_addressing")
            if args.nat_gateways != "none":
                raise SettingsError(
                    f"{args.nat_gateways!r} with IPv6-only replicas, which cannot use a NAT gateway; allowed: none",
                    argument="nat_gateways",
                )
        self.zones = choose_zones(region, list(available.names), list(available.zone_ids), args.az_count)
        self.replicas_in_private_subnets = self.ipv6 or args.nat_gateways != "none"
        self.task_public_ipv4 = not self.replicas_in_private_subnets
        private_ipv4 = not self.ipv6 and self.replicas_in_private_subnets
        self.subnets = subnet_plan(args.cidr_block, self.zones, private=private_ipv4)

        if self.ipv6:
            self._ipv6_only_network(name, args)
        else:
            self._awsx_network(name, args)

        # Adopting the default security group with no rules empties it (EC2.2): nothing can use it.
        self.default_security_group = aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc_id, opts=child_opts
        )

        self.flow_log = self._flow_log(name, args, child_opts) if args.flow_logs else None

        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    def _awsx_network(self, name: str, args: NetworkArgs) -> None:
        """IPv4 replicas: awsx's VPC, public subnets and with NAT private ones."""

        def spec(tier: Literal["public", "private"], kind: awsx.ec2.SubnetType) -> awsx.ec2.SubnetSpecArgs:
            return awsx.ec2.SubnetSpecArgs(
                type=kind, name=tier, cidr_blocks=[s.cidr for s in self.subnets if s.tier == tier]
            )

        specs = [spec("public", awsx.ec2.SubnetType.PUBLIC)]
        if self.replicas_in_private_subnets:
            specs.append(spec("private", awsx.ec2.SubnetType.PRIVATE))

        self.vpc = awsx.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            availability_zone_names=self.zones,
            subnet_strategy=awsx.ec2.SubnetAllocationStrategy.AUTO,
            subnet_specs=specs,
            nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(strategy=_NAT_STRATEGY[args.nat_gateways]),
            # Fargate tasks get host names from the VPC's DNS (the replica reports its own).
            enable_dns_hostnames=True,
            enable_dns_support=True,
            opts=pulumi.ResourceOptions(parent=self, transforms=[no_public_ip_on_launch]),
        )
        self.vpc_id = self.vpc.vpc_id
        self.public_subnet_ids = self.vpc.public_subnet_ids
        self.private_subnet_ids = self.vpc.private_subnet_ids
        self.replica_subnet_ids = (
            self.private_subnet_ids if self.replicas_in_private_subnets else self.public_subnet_ids
        )
        replica_tier = "private" if self.replicas_in_private_subnets else "public"
        self.replica_subnet_zones = pulumi.Output.from_input(
            {s.cidr: s.zone for s in self.subnets if s.tier == replica_tier}
        )

    def _ipv6_only_network(self, name: str, args: NetworkArgs) -> None:
        """IPv6-only replicas, from aws.ec2 resources: awsx's Vpc gives every subnet an IPv4 block and has no
        IPv6-only subnet, egress-only gateway or ::/0 route (docs/ipv6.md).

        The VPC keeps an IPv4 block (AWS requires one) for the load balancer's dual-stack public subnets; an
        Amazon-provided IPv6 /56 gives each zone a /64 for the load balancer and one for the replicas.
        """
        opts = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            assign_generated_ipv6_cidr_block=True,
            # Fargate tasks get host names from the VPC's DNS (the replica reports its own).
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=opts,
        )
        self.vpc = vpc
        self.vpc_id = vpc.id

        def block(number: int) -> pulumi.Output[str]:
            return vpc.ipv6_cidr_block.apply(lambda vpc_block: ipv6_subnet(vpc_block, number))

        # Public: both families in from the internet, to the load balancer's nodes only.
        internet_gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=opts)
        public_routes = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, tags={"Name": f"{name}-public"}, opts=opts)
        for destination in ({"destination_cidr_block": "0.0.0.0/0"}, {"destination_ipv6_cidr_block": "::/0"}):
            family = "ipv4" if "destination_cidr_block" in destination else "ipv6"
            aws.ec2.Route(
                f"{name}-public-{family}",
                route_table_id=public_routes.id,
                gateway_id=internet_gateway.id,
                **destination,
                opts=opts,
            )
        # Replicas: IPv6 out only; the egress-only gateway refuses connections from outside (VPC user guide,
        # "Enable outbound IPv6 traffic using an egress-only internet gateway"). No IPv4 route: they have none.
        egress_only = aws.ec2.EgressOnlyInternetGateway(f"{name}-eigw", vpc_id=vpc.id, opts=opts)
        replica_routes = aws.ec2.RouteTable(
            f"{name}-replicas", vpc_id=vpc.id, tags={"Name": f"{name}-replicas"}, opts=opts
        )
        aws.ec2.Route(
            f"{name}-replicas-ipv6",
            route_table_id=replica_routes.id,
            destination_ipv6_cidr_block="::/0",
            egress_only_gateway_id=egress_only.id,
            opts=opts,
        )

        public_ids: list[pulumi.Output[str]] = []
        replica_ids: list[pulumi.Output[str]] = []
        replica_zones: dict[str, pulumi.Output[str]] = {}
        for index, plan in enumerate(s for s in self.subnets if s.tier == "public"):
            public = aws.ec2.Subnet(
                f"{name}-public-{index + 1}",
                vpc_id=vpc.id,
                availability_zone=plan.zone,
                cidr_block=plan.cidr,
                ipv6_cidr_block=block(PUBLIC_IPV6_SUBNET_FIRST + index),
                map_public_ip_on_launch=False,  # EC2.15: the load balancer's nodes get their addresses anyway
                tags={"Name": f"{name}-public-{plan.zone}"},
                opts=opts,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index + 1}", subnet_id=public.id, route_table_id=public_routes.id, opts=opts
            )
            replica_block = block(REPLICA_IPV6_SUBNET_FIRST + index)
            replica = aws.ec2.Subnet(
                f"{name}-replicas-{index + 1}",
                vpc_id=vpc.id,
                availability_zone=plan.zone,
                ipv6_native=True,
                ipv6_cidr_block=replica_block,
                assign_ipv6_address_on_creation=True,
                # An IPv6-only subnet names its interfaces by resource (EC2 refuses ip-name there, which
                # embeds an IPv4 address); the AAAA record makes a task's host name resolve.
                private_dns_hostname_type_on_launch="resource-name",
                enable_resource_name_dns_aaaa_record_on_launch=True,
                # No DNS64: every endpoint a replica needs has an IPv6 name (docs/ipv6.md), so nothing
                # needs NAT64, and an IPv4-only name fails visibly instead of leaking through a NAT.
                enable_dns64=False,
                tags={"Name": f"{name}-replicas-{plan.zone}"},
                opts=opts,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-replicas-{index + 1}", subnet_id=replica.id, route_table_id=replica_routes.id, opts=opts
            )
            public_ids.append(public.id)
            replica_ids.append(replica.id)
            replica_zones[plan.zone] = replica_block
        self.public_subnet_ids = pulumi.Output.all(*public_ids)
        self.private_subnet_ids = pulumi.Output.from_input([])
        self.replica_subnet_ids = pulumi.Output.all(*replica_ids)
        self.replica_subnet_zones = pulumi.Output.all(**replica_zones).apply(
            lambda blocks: {cidr: zone for zone, cidr in blocks.items()}
        )

    def _flow_log(self, name: str, args: NetworkArgs, child_opts: pulumi.ResourceOptions) -> aws.ec2.FlowLog:
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", retention_in_days=args.log_retention_days, opts=child_opts
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            description="Lets VPC Flow Logs write the VPC's rejected traffic to CloudWatch Logs",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=child_opts,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        # AWS's sample policy (VPC user guide, "IAM role for publishing flow logs to CloudWatch
                        # Logs") grants all of these on "*". Writing is kept to this group; listing the log
                        # groups works only on "*", since DescribeLogGroups lists the account's groups.
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                "Resource": [arn, f"{arn}:*"],
                            },
                            {"Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": "*"},
                        ],
                    }
                )
            ),
            opts=child_opts,
        )
        return aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc_id,
            traffic_type="REJECT",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=600,
            opts=child_opts,
        )
