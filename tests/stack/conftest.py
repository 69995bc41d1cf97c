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
