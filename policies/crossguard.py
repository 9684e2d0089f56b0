"""CrossGuard adapter: runs the engine-neutral rule catalog as Pulumi policies.

Every resource rule becomes one `ResourceValidationPolicy`, every stack rule one
`StackValidationPolicy` (same name, description, remediation, level and config schema as in the
catalog). A Pulumi resource is turned into the manifest a rule expects:

- type token `kubernetes:<group>/<version>:<Kind>` -> `apiVersion: <group>/<version>` (`core` -> `v1`),
  `kind: <Kind>` (the token wins over the inputs, as for the provider); for
  `kubernetes:apiextensions.k8s.io:CustomResource` the `apiVersion`/`kind` of the inputs are used. Non-Kubernetes types, Helm/YAML/Kustomize wrappers (their
  children are analyzed one by one), `*List` and `*Patch` resources are not manifests and are skipped.
- inputs are Pulumi's input shape, which is the manifest shape (camelCase); the Struct numbers the
  engine sends (doubles) are turned back into ints when integral, so `replicas: 2.0` reads as `2`.
- a missing `metadata.name` is filled with the Pulumi resource name (what auto-naming starts from).

Preview unknowns. pulumi-policy wraps inputs in a proxy that raises `UnknownValueError` on any unknown
value, which would abort a whole policy with a generic message. The adapter unwraps the proxy (its
`"__target"` key) and turns Pulumi's unknown sentinels into `policies.manifest.UNKNOWN`, so rules
decide what an unknown means. A `Violation(unknown=True)` is reported as an ADVISORY diagnostic:
"cannot be verified during preview; it will be checked at `pulumi up`", when the engine analyzes
again with known values. Known violations are reported at the policy's configured level. If a
value is still unknown outside a preview (PULUMI_DRY_RUN != "true"), the unknown violation is
reported at the configured level: an unverifiable resource never passes silently at update.

pulumi-policy's Python SDK gives a validation one callback bound to the policy's level, so the only
way to emit an advisory diagnostic from a mandatory policy is to raise `UnknownValueError` (which the
SDK reports as ADVISORY). The adapter therefore reports known violations first and then raises ONE
`UnknownValueError` whose message lists every unknown violation of that rule on that resource/stack.

Secrets. The SDK deserializes secrets to plain values before validation and drops the secret marker,
so the pack cannot tell which values were secret. Messages therefore never carry values found at
credential-bearing positions: Secret `data`/`stringData`, values under credential-like keys or env
vars (password, token, key, secret, credential, DSN, URL...) and the userinfo part of URLs are
replaced by `<redacted>` in every message.

Every violation goes through `report()` (resource and stack rules alike): the single place where
waiver handling will be added.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Callable, Iterable

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

from policies import catalog, request_memo
from policies.catalog import Rule, Violation
from policies.manifest import (
    UNKNOWN,
    annotations_of,
    get,
    kind_of,
    name_of,
    namespace_of,
)

UNKNOWN_SENTINELS = frozenset({
    UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE,
})

CUSTOM_RESOURCE_TOKEN = "kubernetes:apiextensions.k8s.io:CustomResource"
# Pulumi resources in the kubernetes package that are not Kubernetes objects themselves.
_NOT_MANIFEST_GROUPS = ("helm.sh", "yaml", "kustomize")
_TOKEN = re.compile(r"^kubernetes:(?P<group>[^:/]+)/(?P<version>[^:/]+):(?P<kind>[A-Za-z0-9]+)$")

_LEVELS = {catalog.MANDATORY: EnforcementLevel.MANDATORY, catalog.ADVISORY: EnforcementLevel.ADVISORY}
_SEVERITY = {"sessions": Severity.HIGH, "storage": Severity.HIGH,
             "resilience": Severity.MEDIUM, "data-store": Severity.CRITICAL}


# ---- Pulumi resource -> manifest -----------------------------------------------------------

def unwrap(value: Any) -> Any:
    """Plain dicts/lists from pulumi-policy's unknown-checking proxy; sentinels -> UNKNOWN.

    Integral floats become ints: the engine sends numbers as Struct doubles.
    """
    if isinstance(value, Secret):  # only in Remediate's secrets-preserving deserialization
        return unwrap(value.value)
    if isinstance(value, Mapping):
        target = value["__target"] if _is_proxy(value) else value
        return {k: unwrap(v) for k, v in target.items()}
    if isinstance(value, (list, tuple)) or _is_proxy(value):
        target = value["__target"] if _is_proxy(value) else value
        return [unwrap(v) for v in target]
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_proxy(value: Any) -> bool:
    # _DictProxy/_ListProxy (and the secrets proxies) hand out their raw target under "__target".
    return type(value).__module__.startswith("pulumi_policy.")


def manifest_from(resource_type: str, props: Any, resource_name: str = "") -> dict | None:
    """The Kubernetes manifest of a Pulumi resource, or None if it is not a Kubernetes object."""
    if resource_type == CUSTOM_RESOURCE_TOKEN:
        manifest = unwrap(props)
        if not isinstance(manifest, dict):
            return None
    else:
        match = _TOKEN.match(resource_type)
        if match is None or match["group"].startswith(_NOT_MANIFEST_GROUPS):
            return None
        kind = match["kind"]
        if kind.endswith(("List", "Patch")):
            return None  # List: a bag of objects; Patch: a partial object (would read as "missing X")
        group, version = match["group"], match["version"]
        manifest = unwrap(props)
        if not isinstance(manifest, dict):
            return None
        # A typed token fixes apiVersion/kind (the provider uses the token), even if inputs say otherwise.
        manifest["apiVersion"] = version if group == "core" else f"{group}/{version}"
        manifest["kind"] = kind
    metadata = manifest.get("metadata")
    if metadata is None:
        metadata = manifest["metadata"] = {}
    if isinstance(metadata, dict) and "name" not in metadata and resource_name:
        metadata["name"] = resource_name
    return manifest


def cached_manifest(resource_type: str, props: Any, resource_name: str = "") -> dict | None:
    """`manifest_from`, computed once per gRPC call for all policies (policies/request_memo.py).
    The policies share the result: rules only read manifests."""
    return request_memo.memoized(("manifest", resource_type, resource_name), props,
                                 lambda: manifest_from(resource_type, props, resource_name))


# ---- identity, messages, redaction ----------------------------------------------------------

@dataclass(frozen=True)
class ResourceIdentity:
    """Who a violation is about: what waivers match on and what messages name."""
    stack: str
    kind: str
    namespace: str
    name: str
    urn: str = ""
    annotations: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def identity_of(manifest: Mapping, urn: str = "", resource_name: str = "") -> ResourceIdentity:
    return ResourceIdentity(
        stack=os.environ.get("PULUMI_STACK", ""),
        kind=kind_of(manifest) or "<unknown kind>",
        namespace=namespace_of(manifest),
        name=name_of(manifest) or resource_name or "<unknown name>",
        urn=urn,
        annotations=dict(annotations_of(manifest)),
    )


_CREDENTIAL_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|credential|auth|"
    r"dsn|conn(ection)?[-_]?str|_url$|_uri$|^url$|^uri$", re.IGNORECASE)
# References to credentials (secretKeyRef, secretName, imagePullSecrets...) are names, not values.
_REFERENCE_KEY = re.compile(r"(Ref|Refs|Name|Secrets)$|^secret$")
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
REDACTED = "<redacted>"


def _sensitive_values(manifest: Any) -> set[str]:
    """String values at credential-bearing positions (see module docstring)."""
    found: set[str] = set()

    def leaves(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= 3:  # shorter strings would redact ordinary words in messages
                found.add(value)
        elif isinstance(value, Mapping):
            for v in value.values():
                leaves(v)
        elif isinstance(value, list):
            for v in value:
                leaves(v)

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            env_name = value.get("name")
            if isinstance(env_name, str) and "value" in value and _CREDENTIAL_KEY.search(env_name):
                leaves(value["value"])  # env var / name-value pair with a credential-like name
            for k, v in value.items():
                if isinstance(k, str) and _CREDENTIAL_KEY.search(k) and not _REFERENCE_KEY.search(k):
                    leaves(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and _URL_USERINFO.search(value):
            found.add(value)

    if kind_of(manifest) == "Secret":
        leaves(get(manifest, "data"))
        leaves(get(manifest, "stringData"))
    walk(manifest)
    return found


def redact(text: str, sensitive: Iterable[str]) -> str:
    for value in sorted(sensitive, key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(value, REDACTED)
    return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)


def message_for(rule: Rule, violation: Violation, who: ResourceIdentity) -> str:
    """`<Kind>/<ns>/<name>: <what> (field <path>). Fix: <remediation>`."""
    unknown = (" This cannot be verified during preview because the value is unknown; it will be "
               "checked at `pulumi up`." if violation.unknown else "")
    return f"{who.ref}: {violation.message} (field {violation.path}).{unknown} Fix: {rule.remediation}"


# ---- the one reporting seam -----------------------------------------------------------------

def is_preview() -> bool:
    return os.environ.get("PULUMI_DRY_RUN", "").lower() == "true"


class Reporter:
    """Collects one rule run's violations; known ones go straight to the policy's level, the ones
    that can only be advisory (unknown during preview) are emitted together by `finish()`."""

    def __init__(self, report_violation: Callable[..., None]):
        self._report_violation = report_violation
        self._advisory: list[str] = []

    def at_policy_level(self, message: str, urn: str | None) -> None:
        self._report_violation(message, urn)

    def advisory(self, message: str) -> None:
        self._advisory.append(message)

    def finish(self) -> None:
        if self._advisory:
            # The SDK's only per-violation advisory channel: it reports this error as ADVISORY.
            error = UnknownValueError(UNKNOWN_STRING_VALUE, [])
            error.message = "\n".join(self._advisory)
            raise error


def report(rule: Rule, violation: Violation, who: ResourceIdentity, reporter: Reporter,
           sensitive: Iterable[str] = ()) -> None:
    """Every violation of every rule passes here.

    Waivers hook in here: a violation covered by a valid waiver for `who` is reported as ADVISORY
    naming the waiver and its expiry, not dropped (policies/crossguard_waivers.py).
    """
    from policies.crossguard_waivers import pack_waivers, waived  # late: that module imports this one

    waiver = pack_waivers().covering(rule, who)  # None when the registry is invalid: fail closed
    if waiver is not None:
        reporter.advisory(redact(message_for(rule, waived(violation, waiver), who), sensitive))
        return
    message = redact(message_for(rule, violation, who), sensitive)
    if violation.unknown and is_preview():
        reporter.advisory(message)
    else:
        reporter.at_policy_level(message, who.urn or None)


# ---- policies ---------------------------------------------------------------------------------

def _config(rule: Rule, configured: Mapping[str, Any]) -> dict:
    """Policy config as the rule expects it: Struct doubles back to ints for integer settings."""
    cfg = dict(configured or {})
    for key, schema in rule.config_schema.items():
        value = cfg.get(key)
        if schema.get("type") == "integer" and isinstance(value, float) and value.is_integer():
            cfg[key] = int(value)
    return cfg


def _resource_validation(rule: Rule):
    def validate(args: ResourceValidationArgs, report_violation) -> None:
        manifest = cached_manifest(args.resource_type, args.props, args.name)
        if manifest is None or kind_of(manifest) not in rule.kinds:
            return  # most policies, for most resources: nothing more to do
        violations = rule.run(manifest, _config(rule, args.get_config()))
        if not violations:
            return  # the common case: skip identity and redaction work
        reporter = Reporter(report_violation)
        who = identity_of(manifest, args.urn, args.name)
        sensitive = _sensitive_values(manifest)
        for violation in violations:
            report(rule, violation, who, reporter, sensitive)
        reporter.finish()
    return validate


def _stack_validation(rule: Rule):
    def validate(args: StackValidationArgs, report_violation) -> None:
        manifests, owners = [], []
        for resource in args.resources:
            manifest = cached_manifest(resource.resource_type, resource.props, resource.name)
            if manifest is not None:
                manifests.append(manifest)
                owners.append(resource)
        reporter = Reporter(report_violation)
        for index, violation in rule.run(manifests, _config(rule, args.get_config())):
            who = identity_of(manifests[index], owners[index].urn, owners[index].name)  # violators only
            report(rule, violation, who, reporter, _sensitive_values(manifests[index]))
        reporter.finish()
    return validate


def policy_for(rule: Rule):
    common = dict(
        name=rule.name,
        description=rule.description,
        enforcement_level=_LEVELS[rule.level],
        config_schema=PolicyConfigSchema(properties={k: dict(v) for k, v in rule.config_schema.items()})
        if rule.config_schema else None,
        severity=_SEVERITY.get(rule.category, Severity.MEDIUM),
        tags=[rule.category, rule.checkov_id],
        remediation_steps=rule.remediation,
    )
    if rule.stack:
        return StackValidationPolicy(validate=_stack_validation(rule), **common)
    return ResourceValidationPolicy(validate=_resource_validation(rule), **common)


def build_policies() -> list:
    """One CrossGuard policy per catalog rule, plus the waiver policies (built once, at pack start)."""
    from policies import crossguard_waivers

    request_memo.install()  # the SDK's per-policy property conversion, once per call instead
    return [policy_for(rule) for rule in catalog.rules()] + crossguard_waivers.policies()
