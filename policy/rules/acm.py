"""ACM rules: certificates validated by DNS, with keys of at least RSA 2048 (ACM.1, ACM.2)."""

from __future__ import annotations

from typing import Final

from .core import ResourceRule, value_at, value_check

CERTIFICATE: Final = frozenset({"aws:acm/certificate:Certificate"})


ACM_1_DNS_VALIDATION = ResourceRule(
    id="acm-1-dns-validation",
    control="ACM.1",
    description="ACM certificates are validated by DNS, so they renew automatically",
    applies_to_dev=True,
    resource_types=CERTIFICATE,
    check=value_check(
        "validationMethod",
        lambda v: v == "DNS",
        'validation_method="DNS" with a validation record and aws.acm.CertificateValidation',
        lambda props: value_at(props, "domainName") is not None,  # imported certificates have no validation
    ),
)


ACM_2_RSA_2048 = ResourceRule(
    id="acm-2-rsa-2048",
    control="ACM.2",
    description="ACM certificates use RSA keys of at least 2048 bits (or ECDSA)",
    applies_to_dev=True,
    resource_types=CERTIFICATE,
    check=value_check(
        "keyAlgorithm",
        lambda v: v != "RSA_1024",
        'nothing: leave key_algorithm unset (RSA_2048) or "EC_prime256v1"',
    ),
)
