"""A valid CrossGuard pack with one no-op policy: what the gRPC path costs without any rule."""
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

PolicyPack(
    name="noop",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[ResourceValidationPolicy(name="noop", description="Does nothing.",
                                       validate=lambda args, report_violation: None)],
)
