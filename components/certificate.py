"""Certificate: an ACM certificate for one domain, validated through a DNS record in its zone."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class DnsValidatedCertificateArgs:
    domain: str
    """The name the certificate covers, e.g. app.example.com."""
    zone_id: pulumi.Input[str]
    """Route 53 hosted zone that owns `domain`; the validation record goes there."""


class DnsValidatedCertificate(pulumi.ComponentResource):
    """An RSA-2048 certificate that ACM renews by itself while the validation record stays
    (ACM.1, ACM.2). `certificate_arn` resolves only once ACM has validated it, so a listener
    that uses it never sees a pending certificate.

    Exposes `certificate`, `validation_record`, `validation` and `certificate_arn`.
    """

    certificate: aws.acm.Certificate
    validation_record: aws.route53.Record
    validation: aws.acm.CertificateValidation
    certificate_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DnsValidatedCertificateArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("alb-replicas:certificate:DnsValidatedCertificate", name, None, opts)
        child_opts = pulumi.ResourceOptions(parent=self)

        self.certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=args.domain,
            validation_method="DNS",
            key_algorithm="RSA_2048",
            opts=child_opts,
        )
        # One domain, no alternative names: exactly one validation option.
        option = self.certificate.domain_validation_options[0]
        self.validation_record = aws.route53.Record(
            f"{name}-cert-validation",
            zone_id=args.zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            # The record is the same for every certificate of this domain and account.
            allow_overwrite=True,
            opts=child_opts,
        )
        self.validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=[self.validation_record.fqdn],
            opts=child_opts,
        )
        self.certificate_arn = self.validation.certificate_arn

        self.register_outputs({"certificate_arn": self.certificate_arn})
