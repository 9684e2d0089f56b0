"""The waiver registry: approved, temporary exceptions to rules, recorded in code.

A registry is a YAML file (see docs/waivers.md). Loading is strict and fails closed: any problem
(unknown key, missing field, bad date, duplicate id, empty scope, too long an expiry, unknown rule,
wrong approver, ...) raises `WaiverRegistryError` listing every problem with file, entry and field,
and an engine that cannot load the registry applies no waiver at all.

Engines (CrossGuard pack, gate) ask `Registry.covering(rule ids, resource, today)`; resources that
carry suppressions (Checkov skip annotations, the components' waiver marker) are checked with
`unbacked_suppressions`. The clock is always passed in (`today`), never read here, so expiry is
testable.

Imports only pyyaml and the stdlib (plus the rule catalog): this module also runs in the Checkov venv.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Iterable, Sequence

import yaml

from policies.catalog import Rule, Violation, rules as catalog_rules
from policies.manifest import get, is_unknown, mapping, pod_spec

PACK_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACK_DIR.parent                        # the parent of the pack folder
DEFAULT_APPROVERS = PACK_DIR / "approvers.yaml"
DEFAULT_REGISTRY = REPO_ROOT / "waivers.yaml"
REGISTRY_ENV = "STATELESS_PACK_WAIVERS"
REGISTRY_CONFIG_KEY = "stateless-pack:waivers"     # Pulumi stack config key

REGISTRY_VERSION = 1
TOP_LEVEL_KEYS = ("version", "waivers")
ENTRY_FIELDS = ("id", "rules", "scope", "reason", "approved_by", "approver_role", "reference",
                "created", "expires")
SCOPE_KEYS = ("stack", "kind", "namespace", "name", "urn")
APPROVERS_KEYS = ("roles", "max_waiver_days")

WAIVER_ID = re.compile(r"^W-\d{4,}$")
CHECKOV_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
OUR_CHECKOV_PREFIX = "CKV_STL_"                    # reserved for our catalog: must name a real rule

# Checkov treats any annotation key containing one of these as a skip (kubernetes_utils.py).
SKIP_ANNOTATION_MARKERS = ("checkov.io/skip", "bridgecrew.io/skip", "cortex.io/skip")
WAIVER_MARKER = "stateless-pack.io/waivers"


# ---------------------------------------------------------------------------------------------
# Problems and errors


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a registry (or approvers file), located precisely."""
    file: str
    entry: str      # e.g. "waivers[2] W-0003"; "" for file-level problems
    field: str      # e.g. "expires", "scope.kind"; "" when not about one field
    message: str

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.entry, self.field) if part)
        return f"{where}: {self.message}"


class WaiverRegistryError(ValueError):
    """The registry (or the approvers file) is invalid; `problems` lists every reason."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# ---------------------------------------------------------------------------------------------
# Strict YAML


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (plain YAML keeps the last one silently)."""


def _construct_mapping_no_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                              _construct_mapping_no_duplicates)


def _read_yaml(path: Path) -> Any:
    """Parsed document, or WaiverRegistryError naming the file (missing, unreadable, bad YAML, empty)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WaiverRegistryError([Problem(name, "", "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WaiverRegistryError([Problem(name, "", "", f"cannot read: {exc}")]) from None
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise WaiverRegistryError([Problem(name, "", "", f"invalid YAML{at}: {reason}")]) from None
    if doc is None:
        raise WaiverRegistryError([Problem(name, "", "", "file is empty")])
    return doc


def _unknown_keys(found: Mapping, allowed: Sequence[str]) -> list[str]:
    return [str(k) for k in found if k not in allowed]


# ---------------------------------------------------------------------------------------------
# Approvers (owned by the pack: who holds which approver role, how long a waiver may last)


@dataclass(frozen=True)
class Approvers:
    roles: Mapping[str, frozenset]   # role -> lower-cased e-mail addresses
    max_waiver_days: int
    source: str = ""

    def holds(self, email: str, role: str) -> bool:
        return email.strip().lower() in self.roles.get(role, frozenset())


def load_approvers(path: str | os.PathLike = DEFAULT_APPROVERS) -> Approvers:
    path = Path(path)
    name = str(path)
    doc = _read_yaml(path)
    if not isinstance(doc, Mapping):
        raise WaiverRegistryError([Problem(name, "", "", "top level must be a mapping")])
    problems = [Problem(name, "", k, f"unknown key (allowed: {', '.join(APPROVERS_KEYS)})")
                for k in _unknown_keys(doc, APPROVERS_KEYS)]
    roles: dict[str, frozenset] = {}
    raw_roles = doc.get("roles")
    if not isinstance(raw_roles, Mapping) or not raw_roles:
        problems.append(Problem(name, "", "roles", "must map each role to a list of e-mail addresses"))
    else:
        for role, holders in raw_roles.items():
            if not isinstance(holders, list) or not holders or not all(
                    isinstance(h, str) and "@" in h for h in holders):
                problems.append(Problem(name, "", f"roles.{role}",
                                        "must be a non-empty list of e-mail addresses"))
                continue
            roles[str(role)] = frozenset(h.strip().lower() for h in holders)
    days = doc.get("max_waiver_days")
    if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
        problems.append(Problem(name, "", "max_waiver_days",
                                f"must be a positive number of days, got {days!r}"))
    if problems:
        raise WaiverRegistryError(problems)
    return Approvers(roles=roles, max_waiver_days=days, source=name)


# ---------------------------------------------------------------------------------------------
# Resources and waivers


@dataclass(frozen=True)
class ResourceRef:
    """What a waiver scope is matched against. Empty fields are unknown and match no pattern."""
    stack: str = ""
    kind: str = ""
    namespace: str = ""
    name: str = ""
    urn: str = ""

    @classmethod
    def of_manifest(cls, manifest: Any, *, stack: str = "", urn: str = "") -> "ResourceRef":
        meta = mapping(get(manifest, "metadata"))
        kind, name, ns = get(manifest, "kind"), meta.get("name"), meta.get("namespace")
        text = lambda v: v if isinstance(v, str) else ""  # noqa: E731 - unknowns match nothing
        namespace = "default" if ns in (None, "") else text(ns)  # Kubernetes' default namespace
        return cls(stack=stack, kind=text(kind), namespace=namespace, name=text(name), urn=urn)

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" + (f" in stack {self.stack}" if self.stack else "")


@dataclass(frozen=True)
class Waiver:
    id: str
    rules: tuple            # as written (rule names and/or Checkov ids)
    scope: tuple            # ((key, glob), ...) in SCOPE_KEYS order
    reason: str
    approved_by: str
    approver_role: str
    reference: str
    created: date
    expires: date
    keys: frozenset = field(default=frozenset(), compare=False)  # canonical rule keys

    def is_expired(self, today: date) -> bool:
        """Valid through its expiry day; expired from the day after."""
        return today > self.expires

    def is_active(self, today: date) -> bool:
        return self.created <= today <= self.expires

    def in_scope(self, ref: ResourceRef) -> bool:
        """All scope keys must match; a field the resource does not know never matches."""
        for key, pattern in self.scope:
            value = getattr(ref, key)
            if not value or not fnmatchcase(value, pattern):
                return False
        return True

    def may_apply_to_stack(self, stack: str) -> bool:
        """False only when the scope provably excludes `stack` (so it is not stale there)."""
        scope = dict(self.scope)
        if "stack" in scope and not fnmatchcase(stack, scope["stack"]):
            return False
        urn = scope.get("urn")
        if urn and urn.startswith("urn:pulumi:") and "::" in urn:
            stack_part = urn[len("urn:pulumi:"):].split("::", 1)[0]
            if not any(c in stack_part for c in "*?[") and stack_part != stack:
                return False
        return True

    def scope_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.scope)


def _rule_aliases(catalog: Iterable[Rule]) -> dict[str, str]:
    """name and CKV_STL id of each catalog rule -> the rule name (our canonical key)."""
    aliases = {}
    for r in catalog:
        aliases[r.name] = r.name
        aliases[r.checkov_id] = r.name
    return aliases


@dataclass(frozen=True)
class Registry:
    source: str
    waivers: tuple
    aliases: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def canonical(self, rule_id: str) -> str:
        """Our rule name for a rule name or CKV_STL id; other Checkov ids stay as they are."""
        return self.aliases.get(rule_id, rule_id)

    def get(self, waiver_id: str) -> Waiver | None:
        return next((w for w in self.waivers if w.id == waiver_id), None)

    def covering(self, rule_ids: Iterable[str] | str, ref: ResourceRef, today: date) -> Waiver | None:
        """The first active waiver that waives one of `rule_ids` for `ref`, else None.

        `rule_ids` are the names a finding goes by, e.g. ("no-sticky-service", "CKV_STL_1") or
        ("CKV_K8S_21",); our rule names and CKV_STL ids are interchangeable.
        """
        wanted = {self.canonical(r) for r in ([rule_ids] if isinstance(rule_ids, str) else rule_ids)}
        for waiver in self.waivers:
            if waiver.is_active(today) and waiver.keys & wanted and waiver.in_scope(ref):
                return waiver
        return None

    def expired(self, today: date) -> list:
        return [w for w in self.waivers if w.is_expired(today)]

    def expiring(self, within_days: int, today: date) -> list:
        """Waivers that are expired or expire within `within_days` days of `today`."""
        return [w for w in self.waivers if (w.expires - today).days <= within_days]

    def stale(self, used_waiver_ids: Iterable[str], *, stack: str | None = None) -> list:
        """Waivers nothing used; with `stack`, only those whose scope may apply to that stack."""
        used = set(used_waiver_ids)
        return [w for w in self.waivers
                if w.id not in used and (stack is None or w.may_apply_to_stack(stack))]


def empty_registry(source: str = "") -> Registry:
    return Registry(source=source, waivers=(), aliases=_rule_aliases(catalog_rules()))


# ---------------------------------------------------------------------------------------------
# Strict loading


def _as_date(value: Any) -> date | None:
    """YAML dates (unquoted) and quoted ISO dates; never timestamps."""
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
        except ValueError:
            return None
    return None


def _entry_problems(raw: Any, index: int, file: str, *, approvers: Approvers,
                    catalog_by_id: Mapping[str, Rule], today: date) -> tuple[Waiver | None, list]:
    """Validate one registry entry: the waiver, or None and its problems."""
    label = f"waivers[{index}]"
    if not isinstance(raw, Mapping):
        return None, [Problem(file, label, "", f"must be a mapping, got {type(raw).__name__}")]
    wid = raw.get("id")
    if isinstance(wid, str) and wid:
        label = f"{label} {wid}"
    problems: list[Problem] = []

    def bad(field_name: str, message: str) -> None:
        problems.append(Problem(file, label, field_name, message))

    for key in _unknown_keys(raw, ENTRY_FIELDS):
        bad(key, f"unknown field (allowed: {', '.join(ENTRY_FIELDS)})")
    for key in ENTRY_FIELDS:
        if key not in raw or raw[key] is None:
            bad(key, "missing required field")

    if "id" in raw and raw["id"] is not None and not (isinstance(wid, str) and WAIVER_ID.match(wid)):
        bad("id", f"must look like W-0001, got {wid!r}")

    for key in ("reason", "approved_by", "approver_role", "reference"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            bad(key, f"must be a non-empty string (quote it), got {value!r}")

    # rules: known rule names, our CKV_STL ids, or Checkov-shaped ids of built-in checks
    rule_list = raw.get("rules")
    named_rules: list[str] = []
    if rule_list is not None:
        if not isinstance(rule_list, list) or not rule_list:
            bad("rules", "must be a non-empty list of rule names or Checkov ids")
        else:
            for i, rule_id in enumerate(rule_list):
                if not isinstance(rule_id, str):
                    bad(f"rules[{i}]", f"must be a string, got {rule_id!r}")
                elif rule_id in catalog_by_id:
                    named_rules.append(rule_id)
                elif CHECKOV_ID.match(rule_id) and not rule_id.startswith(OUR_CHECKOV_PREFIX):
                    named_rules.append(rule_id)
                else:
                    bad(f"rules[{i}]", f"unknown rule {rule_id!r}: not in the rule catalog and not a "
                                       "Checkov id (CKV_<FRAMEWORK>_<n>)")
            if len(set(named_rules)) != len(named_rules):
                bad("rules", "lists a rule twice")

    # scope: at least one key that actually narrows; all values non-empty globs
    scope = raw.get("scope")
    scope_pairs: list[tuple[str, str]] = []
    if scope is not None:
        if not isinstance(scope, Mapping):
            bad("scope", f"must be a mapping of {', '.join(SCOPE_KEYS)}")
        else:
            for key in _unknown_keys(scope, SCOPE_KEYS):
                bad(f"scope.{key}", f"unknown scope key (allowed: {', '.join(SCOPE_KEYS)})")
            for key in SCOPE_KEYS:
                if key not in scope:
                    continue
                value = scope[key]
                if not isinstance(value, str) or not value.strip():
                    bad(f"scope.{key}", f"must be a non-empty string (glob), got {value!r}")
                else:
                    scope_pairs.append((key, value))
            if not scope and not _has_problem_on(problems, "scope"):
                bad("scope", "is empty: a waiver must name the resources it covers")
            elif scope_pairs and all(set(v) <= {"*"} for _, v in scope_pairs):
                bad("scope", "matches every resource ('*' only): name the resources it covers")

    # dates: real dates, created <= expires, created not in the future, within the maximum
    created, expires = _as_date(raw.get("created")), _as_date(raw.get("expires"))
    for key, parsed in (("created", created), ("expires", expires)):
        if raw.get(key) is not None and parsed is None:
            bad(key, f"must be a date YYYY-MM-DD, got {raw.get(key)!r}")
    if created and expires:
        if created > expires:
            bad("expires", f"{expires} is before created {created}")
        elif (expires - created).days > approvers.max_waiver_days:
            bad("expires", f"{(expires - created).days} days after created; at most "
                           f"{approvers.max_waiver_days} days allowed ({approvers.source})")
    if created and created > today:
        bad("created", f"{created} is in the future (today is {today})")

    # approval: the approver holds the role, and the role may waive every listed rule
    role, by = raw.get("approver_role"), raw.get("approved_by")
    if isinstance(role, str) and role.strip():
        if role not in approvers.roles:
            bad("approver_role", f"unknown role {role!r}; {approvers.source} defines: "
                                 f"{', '.join(sorted(approvers.roles))}")
        elif isinstance(by, str) and by.strip() and not approvers.holds(by, role):
            bad("approved_by", f"{by} does not hold role {role!r} in {approvers.source}")
        for rule_id in named_rules:
            needed = catalog_by_id[rule_id].waiver_approver if rule_id in catalog_by_id else None
            if needed and role != needed:
                bad("approver_role", f"rule {rule_id!r} can be waived only by role {needed!r}, "
                                     f"not {role!r}")

    if problems:
        return None, problems
    return Waiver(
        id=wid, rules=tuple(named_rules), scope=tuple(scope_pairs), reason=raw["reason"],
        approved_by=raw["approved_by"], approver_role=role, reference=raw["reference"],
        created=created, expires=expires,
        keys=frozenset(catalog_by_id[r].name if r in catalog_by_id else r for r in named_rules),
    ), []


def _has_problem_on(problems: list, field_name: str) -> bool:
    return any(p.field == field_name or p.field.startswith(field_name + ".") for p in problems)


def load_registry(path: str | os.PathLike, approvers: Approvers, *, today: date,
                  catalog: Iterable[Rule] | None = None) -> Registry:
    """Load and validate a registry; WaiverRegistryError lists every problem (nothing half-loaded)."""
    path = Path(path)
    name = str(path)
    catalog = list(catalog_rules() if catalog is None else catalog)
    catalog_by_id = {key: r for r in catalog for key in (r.name, r.checkov_id)}
    doc = _read_yaml(path)
    if not isinstance(doc, Mapping):
        raise WaiverRegistryError([Problem(name, "", "", "top level must be a mapping with "
                                                         "'version' and 'waivers'")])
    problems = [Problem(name, "", k, f"unknown top-level key (allowed: {', '.join(TOP_LEVEL_KEYS)})")
                for k in _unknown_keys(doc, TOP_LEVEL_KEYS)]
    if doc.get("version") != REGISTRY_VERSION:
        problems.append(Problem(name, "", "version",
                                f"must be {REGISTRY_VERSION}, got {doc.get('version')!r}"))
    entries = doc.get("waivers")
    if not isinstance(entries, list):
        problems.append(Problem(name, "", "waivers", "must be a list (use [] for no waivers)"))
        entries = []
    waivers, seen = [], {}
    for index, raw in enumerate(entries):
        waiver, entry_problems = _entry_problems(raw, index, name, approvers=approvers,
                                                 catalog_by_id=catalog_by_id, today=today)
        problems += entry_problems
        wid = raw.get("id") if isinstance(raw, Mapping) else None
        if isinstance(wid, str):
            if wid in seen:
                problems.append(Problem(name, f"waivers[{index}] {wid}", "id",
                                        f"duplicate id (first used by waivers[{seen[wid]}])"))
            else:
                seen[wid] = index
        if waiver:
            waivers.append(waiver)
    if problems:
        raise WaiverRegistryError(problems)
    return Registry(source=name, waivers=tuple(waivers), aliases=_rule_aliases(catalog))


# ---------------------------------------------------------------------------------------------
# Locating a stack's registry


def registry_path(environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """(path, explicitly configured?) of the registry for the current stack.

    Order: env STATELESS_PACK_WAIVERS, Pulumi stack config `stateless-pack:waivers` (PULUMI_CONFIG),
    else `waivers.yaml` in the repository root. Relative paths are relative to the repository root
    (the pack and the program run from different directories; the root is the one they share).
    """
    env = os.environ if environ is None else environ
    configured = env.get(REGISTRY_ENV)
    if not configured and env.get("PULUMI_CONFIG"):
        try:
            config = json.loads(env["PULUMI_CONFIG"])
        except ValueError:
            config = {}
        configured = config.get(REGISTRY_CONFIG_KEY) if isinstance(config, dict) else None
    if configured:
        path = Path(str(configured)).expanduser()
        return (path if path.is_absolute() else REPO_ROOT / path), True
    return DEFAULT_REGISTRY, False


def load_stack_registry(today: date, *, environ: Mapping[str, str] | None = None,
                        approvers_path: str | os.PathLike = DEFAULT_APPROVERS,
                        catalog: Iterable[Rule] | None = None) -> tuple[Registry | None, list]:
    """(registry, []) or (None, problems): the engines' entry point. None means no waiver applies.

    A registry that is configured but missing is a problem; a missing default `waivers.yaml` is
    simply an empty registry (every violation still blocks).
    """
    path, explicit = registry_path(environ)
    if not explicit and not path.exists():
        return empty_registry(str(path)), []
    try:
        return load_registry(path, load_approvers(approvers_path), today=today, catalog=catalog), []
    except WaiverRegistryError as exc:
        return None, exc.problems


# ---------------------------------------------------------------------------------------------
# Suppressions on resources must be backed by the registry


def _is_skip_annotation(key: str) -> bool:
    return any(marker in key for marker in SKIP_ANNOTATION_MARKERS)


def _backing_problem(waiver_id: str, registry: Registry, ref: ResourceRef, today: date,
                     rule_id: str | None) -> str | None:
    """Why `waiver_id` does not back a suppression (of `rule_id`, if given) on `ref`; None if it does."""
    waiver = registry.get(waiver_id)
    if waiver is None:
        return f"waiver {waiver_id} is not in the registry {registry.source}"
    if waiver.is_expired(today):
        return f"waiver {waiver_id} expired on {waiver.expires}"
    if not waiver.is_active(today):
        return f"waiver {waiver_id} is not valid before {waiver.created}"
    if rule_id is not None and registry.canonical(rule_id) not in waiver.keys:
        return f"waiver {waiver_id} does not waive {rule_id} (it waives {', '.join(waiver.rules)})"
    if not waiver.in_scope(ref):
        return f"waiver {waiver_id} does not cover {ref} (scope: {waiver.scope_text()})"
    return None


def unbacked_suppressions(annotations: Any, ref: ResourceRef, registry: Registry | None,
                          today: date, *, path: str = "metadata.annotations") -> list:
    """Violations for every suppression in `annotations` that no valid registry waiver backs.

    - `checkov.io/skip<n>: <CKV id>=<waiver id>`: the waiver must exist, be active, waive that id
      and cover `ref` (free text instead of a waiver id is unbacked);
    - `stateless-pack.io/waivers: "W-0001,W-0002"`: each waiver must exist, be active, cover `ref`.
    `registry` None means the registry is invalid: then nothing is backed (fail closed).
    Values unknown during preview give `unknown=True` violations.
    """
    if is_unknown(annotations):
        return [Violation(path, "annotations are unknown during preview: suppressions cannot be "
                                "checked", unknown=True)]
    found: list[Violation] = []
    for key, value in mapping(annotations).items():
        key = str(key)
        is_skip, is_marker = _is_skip_annotation(key), key == WAIVER_MARKER
        if not (is_skip or is_marker):
            continue
        where = f"{path}['{key}']"
        if is_unknown(value):
            found.append(Violation(where, f"{key} is unknown during preview: cannot check that a "
                                          "waiver backs it", unknown=True))
            continue
        if not isinstance(value, str):
            found.append(Violation(where, f"{key} has a non-text value {value!r}: unbacked suppression"))
            continue
        if is_skip:
            rule_id, _, text = value.partition("=")
            rule_id, text = rule_id.strip(), text.strip()
            claims = [(text, rule_id)]
            if not text or not WAIVER_ID.match(text):
                found.append(Violation(where, f"unbacked suppression (skip of {rule_id or '?'}): the "
                                              "annotation names no registered waiver (text "
                                              f"{text or 'none'!r})"))
                continue
        else:
            claims = [(wid.strip(), None) for wid in value.split(",") if wid.strip()]
        for waiver_id, rule in claims:
            if registry is None:
                why = "the waiver registry is invalid, so no waiver applies"
            else:
                why = _backing_problem(waiver_id, registry, ref, today, rule)
            if why:
                what = f"skip of {rule} by {waiver_id}" if rule else f"marker names {waiver_id}"
                found.append(Violation(where, f"unbacked suppression ({what}): {why}"))
    return found


def suppression_annotations(manifest: Any) -> list:
    """(path, annotations) where suppressions may sit: the resource, and its pod template (Checkov
    scans the pod of a workload as a resource of its own, so skips there count too)."""
    top = get(manifest, "metadata", "annotations")
    places = [("metadata.annotations", top if is_unknown(top) else mapping(top))]
    found = pod_spec(manifest)
    if found is not None and len(found[0]) > 1:  # workload with a template (not a bare Pod)
        template = found[0][:-1]
        annotations = get(manifest, *template, "metadata", "annotations")
        dotted_path = ".".join(template) + ".metadata.annotations"
        if annotations is not None:
            places.append((dotted_path, annotations if is_unknown(annotations) else mapping(annotations)))
    return places


def manifest_unbacked_suppressions(manifest: Any, ref: ResourceRef, registry: Registry | None,
                                   today: date) -> list:
    """`unbacked_suppressions` over every place in `manifest` that can hold a suppression."""
    found = []
    for where, annotations in suppression_annotations(manifest):
        found += unbacked_suppressions(annotations, ref, registry, today, path=where)
    return found


def backing_waiver_ids(manifest: Any) -> set:
    """Waiver ids that the suppressions in `manifest` name (they count as used, not stale)."""
    ids = set()
    for _, annotations in suppression_annotations(manifest):
        for key, value in mapping(annotations).items():
            if not isinstance(value, str):
                continue
            if str(key) == WAIVER_MARKER:
                ids |= {w.strip() for w in value.split(",") if w.strip()}
            elif _is_skip_annotation(str(key)):
                ids.add(value.partition("=")[2].strip())
    return ids
