"""estimate.cost: the monthly bill from the settings, item by item, against hand-worked list prices."""

from dataclasses import replace

import pytest

from components.options import Capacity
from estimate import cost as cost_module
from estimate.cost import addressing_alternatives, markdown_table, monthly_cost
from settings import from_stack_file

DEV = from_stack_file("dev")
PROD = from_stack_file("prod")
IPV4_MONTH = 0.005 * 730  # $3.65


def items(settings, region="us-east-1"):
    return monthly_cost(settings, region=region)["items"]


def test_with_ipv6_only_replicas_dev_costs_at_most_37_and_prod_at_most_90_dollars_a_month():
    cost = monthly_cost(DEV, region="us-east-1")
    assert cost["total_usd"] <= 37, cost
    assert monthly_cost(PROD, region="us-east-1")["total_usd"] <= 90
    assert (cost["region"], cost["prices_as_of"], cost["approximate"]) == ("us-east-1", "2025", False)


def test_total_is_the_sum_of_the_items():
    for settings in (DEV, PROD):
        cost = monthly_cost(settings, region="us-east-1")
        assert cost["total_usd"] == pytest.approx(sum(cost["items"].values()), abs=0.005)


def test_every_public_address_is_counted_alb_nodes_per_zone_tasks_and_nat_gateways():
    dev = items(replace(DEV, replica_addressing="ipv4"))
    assert dev["public_ipv4_alb_nodes"] == round(2 * IPV4_MONTH, 2), "one ALB node per zone"
    assert dev["public_ipv4_tasks"] == round(3 * IPV4_MONTH, 2), "dev tasks have public IPs"
    assert "nat_gateway_hours" not in dev and "public_ipv4_nat_gateways" not in dev
    prod = items(replace(PROD, replica_addressing="ipv4", nat_gateways="onePerAz"))
    assert prod["public_ipv4_alb_nodes"] == prod["public_ipv4_nat_gateways"] == round(3 * IPV4_MONTH, 2)
    assert "public_ipv4_tasks" not in prod, "prod tasks sit in private subnets"
    assert prod["nat_gateway_hours"] == round(3 * 0.045 * 730, 2) == 98.55


def test_one_nat_gateway_with_single():
    single = items(replace(PROD, replica_addressing="ipv4", nat_gateways="single"))
    assert single["nat_gateway_hours"] == round(0.045 * 730, 2)
    assert single["public_ipv4_nat_gateways"] == round(IPV4_MONTH, 2)


def test_fargate_is_priced_by_size_architecture_and_capacity():
    x86 = items(replace(DEV, capacity=Capacity(), cpu_architecture="X86_64"))
    assert x86["fargate_vcpu_on_demand_x86_64"] == round(3 * 0.25 * 0.04048 * 730, 2) == 22.16
    assert x86["fargate_memory_on_demand_x86_64"] == round(3 * 0.5 * 0.004445 * 730, 2)
    arm = items(replace(DEV, capacity=Capacity()))
    assert arm["fargate_vcpu_on_demand_arm64"] == round(3 * 0.25 * 0.03238 * 730, 2)
    assert arm["fargate_vcpu_on_demand_arm64"] < 0.81 * x86["fargate_vcpu_on_demand_x86_64"], "Graviton ~20 % less"
    spot = items(DEV)
    assert spot["fargate_vcpu_spot_arm64"] == round(0.3 * 3 * 0.25 * 0.03238 * 730, 2), "Spot 70 % below"
    assert not any(name.startswith("fargate_") and "on_demand" in name for name in spot)


def test_a_mix_prices_its_base_on_demand_and_the_rest_on_spot():
    mixed = items(replace(DEV, capacity=Capacity(spot=True, on_demand_base=1)))
    assert mixed["fargate_vcpu_on_demand_arm64"] == round(1 * 0.25 * 0.03238 * 730, 2)
    assert mixed["fargate_vcpu_spot_arm64"] == round(2 * 0.25 * 0.03238 * 730 * 0.3, 2)


def test_logging_items_follow_their_settings():
    prod = items(PROD)
    assert prod["container_insights_metrics"] > 5 and "container_insights_metrics" not in items(DEV)
    assert "flow_logs_estimate" in prod and "access_logs_storage_estimate" in prod
    assert "flow_logs_estimate" not in items(DEV) and "access_logs_storage_estimate" not in items(DEV)
    assert items(DEV)["container_logs_estimate"] > 0


def test_other_regions_are_marked_approximate():
    assert monthly_cost(DEV, region="eu-west-1")["approximate"] is True
    assert monthly_cost(DEV, region=None)["approximate"] is True, "an unknown region is not us-east-1"


def test_each_extra_replica_costs_one_more_task_and_its_public_address():
    extra = monthly_cost(replace(DEV, replica_addressing="ipv4"), region="us-east-1")["per_extra_replica_usd"]
    task = (0.25 * 0.03238 + 0.5 * 0.00356) * 0.3 * 730
    assert extra == round(task + IPV4_MONTH, 2)
    assert monthly_cost(DEV, region="us-east-1")["per_extra_replica_usd"] == round(task, 2), "IPv6 is free"
    assert monthly_cost(PROD, region="us-east-1")["per_extra_replica_usd"] == round(
        (0.5 * 0.03238 + 1 * 0.00356) * 730, 2
    ), "private tasks have no public address"


def test_markdown_table_has_a_column_per_stack_and_a_dash_where_a_stack_has_no_such_item():
    table = markdown_table({"dev": monthly_cost(DEV, "us-east-1"), "prod": monthly_cost(PROD, "us-east-1")})
    lines = table.splitlines()
    assert lines[0] == "| item | dev | prod |"
    assert "| `public_ipv4_alb_nodes` | $7.30 | $10.95 |" in lines
    assert lines[-5].startswith("| **total a month** | **$")
    assert lines[-3:] == [
        "| total with replicas `ipv6-only` | $36.21 | $87.70 |",
        "| total with replicas `ipv4-public-tasks` | $47.16 | $98.65 |",
        "| total with replicas `ipv4-nat-per-zone` | $109.43 | $197.42 |",
    ]


def test_ipv6_only_replicas_drop_every_nat_gateway_and_task_address_and_nothing_else():
    """The side-by-side totals are the same stack under each addressing: prod's IPv4 network of before (one NAT
    gateway per zone) cost $109.50 of NAT hours and their addresses, and its data, more than prod does now."""
    for settings in (DEV, PROD):
        ipv6 = items(settings)
        for label, alternative in addressing_alternatives(settings).items():
            other = items(alternative)
            gone = {name for name in set(other) - set(ipv6)}
            assert gone <= {"public_ipv4_tasks", "public_ipv4_nat_gateways", "nat_gateway_hours", "nat_data_estimate"}
            assert {name: ipv6[name] for name in ipv6} == {name: other[name] for name in ipv6}, label
            side_by_side = monthly_cost(settings, "us-east-1")["by_addressing"][label]
            assert side_by_side == monthly_cost(alternative, "us-east-1")["total_usd"]
    prod = monthly_cost(PROD, "us-east-1")["by_addressing"]
    # Each item is rounded to cents before the sum: a cent either way.
    assert prod["ipv4-nat-per-zone"] - prod["ipv6-only"] == pytest.approx(98.55 + 10.95 + 0.225, abs=0.011)


@pytest.mark.parametrize(("discount", "total"), [(0.6, 38.37), (0.5, 40.53)])
def test_dev_total_at_a_smaller_spot_discount_is_what_the_readme_says(monkeypatch, discount, total):
    monkeypatch.setattr(cost_module, "SPOT_DISCOUNT", discount)
    assert monthly_cost(DEV, region="us-east-1")["total_usd"] == total
