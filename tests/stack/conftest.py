"""The dev and prod stacks declared once under the mocks, for every test module that reads them."""

import pytest

from tests.stack.harness import OWN_DOMAIN, Deployment, declare_stack


@pytest.fixture(scope="session")
def dev() -> Deployment:
    deployment = declare_stack("dev")
    assert deployment.error is None, deployment.error
    return deployment


@pytest.fixture(scope="session")
def prod() -> Deployment:
    deployment = declare_stack("prod", **OWN_DOMAIN)
    assert deployment.error is None, deployment.error
    return deployment


# The stacks as they were before IPv6-only replicas became the default: IPv4 replicas in awsx's VPC, dev's in
# public subnets with a public IP, prod's in private subnets behind one NAT gateway per zone.
IPV4_DEV = {"replicaAddressing": "ipv4"}
IPV4_PROD = {"replicaAddressing": "ipv4", "natGateways": "onePerAz"}


@pytest.fixture(scope="session")
def dev_ipv4() -> Deployment:
    deployment = declare_stack("dev", **IPV4_DEV)
    assert deployment.error is None, deployment.error
    return deployment


@pytest.fixture(scope="session")
def prod_ipv4() -> Deployment:
    deployment = declare_stack("prod", **IPV4_PROD, **OWN_DOMAIN)
    assert deployment.error is None, deployment.error
    return deployment
