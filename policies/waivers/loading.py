"""Strict loading of a waiver registry and of the approvers file: every problem, nothing half-loaded.

Any problem (unknown key, missing field, bad date, duplicate or look-alike id, a scope that pins no
resource, too long an expiry, a rule or Checkov id that does not exist, an approver without the
role, a signature that is required and missing or that does not verify, ...) raises
`WaiverRegistryError` listing every problem with file, entry and field. An engine that cannot load
the registry applies no waiver at all (fail closed).

Imports only pyyaml, the stdlib and `sshsig` (plus the rule catalog): this module also runs in the
pack's own minimal environment.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from stateless_pack.policies import safe_files
from stateless_pack.policies.catalog import rules as catalog_rules
from stateless_pack.policies.checkov_builtins import builtin_checks
from stateless_pack.policies.rule import Rule
from stateless_pack.policies.strict_yaml import StrictLoader, error_position, error_text
from stateless_pack.policies.waivers.model import (
    OUR_CHECKOV_PREFIX, SCOPE_KEYS, Approvers, Problem, Registry, Waiver, WaiverRegistryError,
    is_checkov_id, is_waiver_id, pins_resources,
)
from stateless_pack.policies.waivers.signatures import (
    SignatureError, canonical_text, fingerprint, listed_signer, parse_signer, signing_key,
)

REGISTRY_VERSION = 1
TOP_LEVEL_KEYS = ("version", "waivers")
REQUIRED_FIELDS = ("id", "rules", "scope", "reason", "approved_by", "approver_role", "reference",
                   "created", "expires")
ENTRY_FIELDS = REQUIRED_FIELDS + ("signature",)
TEXT_FIELDS = ("reason", "approved_by", "approver_role", "reference")
APPROVERS_KEYS = ("roles", "signers", "signature_required_for", "max_waiver_days")
DEFAULT_APPROVERS_NAME = "approvers.yaml"


def shipped_approvers() -> Path:
    """The approvers file shipped with the distribution (a pack folder may carry its own)."""
    return Path(str(resources.files("stateless_pack.policies").joinpath(DEFAULT_APPROVERS_NAME)))


def read_yaml(path: str | os.PathLike) -> Any:
    """Parsed document, or WaiverRegistryError naming the file (missing, unreadable, bad YAML, empty)."""
    return parse_yaml(read_text(path), str(path))


def read_text(path: str | os.PathLike) -> str:
    """The file's text, or WaiverRegistryError naming it (missing, unreadable, not a regular file,
    too large: `safe_files`)."""
    name = str(path)
    try:
        return safe_files.read_text(path)
    except FileNotFoundError:
        raise WaiverRegistryError([Problem(name, "", "", "file not found")]) from None
    except safe_files.UnreadableFile as exc:
        raise WaiverRegistryError([Problem(name, "", "", str(exc))]) from None
    except OSError as exc:
        raise WaiverRegistryError([Problem(name, "", "", f"cannot read: {exc.strerror or exc}")]) from None


def parse_yaml(text: str, name: str) -> Any:
    """`text` (of the file `name`) parsed, or WaiverRegistryError (bad YAML, empty)."""
    try:
        doc = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise WaiverRegistryError([Problem(name, "", "", f"invalid YAML ({error_position(exc)}): "
                                                         f"{error_text(exc)}")]) from None
    except RecursionError:
        raise WaiverRegistryError([Problem(name, "", "", "invalid YAML: nested too deeply")]) from None
    if doc is None:
        raise WaiverRegistryError([Problem(name, "", "", "file is empty")])
    return doc


def _unknown_keys(found: Mapping, allowed: Sequence[str]) -> list[str]:
    return [str(k) for k in found if k not in allowed]


# ---- approvers -----------------------------------------------------------------------------------

def _roles(doc: Mapping, name: str, problems: list) -> dict[str, frozenset]:
    roles: dict[str, frozenset] = {}
    raw_roles = doc.get("roles")
    if not isinstance(raw_roles, Mapping) or not raw_roles:
        problems.append(Problem(name, "", "roles", "must map each role to a list of e-mail addresses"))
        return roles
    for role, holders in raw_roles.items():
        if not isinstance(holders, list) or not holders or not all(
                isinstance(h, str) and "@" in h for h in holders):
            problems.append(Problem(name, "", f"roles.{role}", "must be a non-empty list of e-mail addresses"))
            continue
        roles[str(role)] = frozenset(h.strip().lower() for h in holders)
    return roles


def _signers(doc: Mapping, name: str, roles: Mapping[str, frozenset], problems: list) -> tuple:
    """The approvers' public keys: allowed_signers lines of people who hold a role, each key once."""
    raw = doc.get("signers", [])
    if not isinstance(raw, list):
        problems.append(Problem(name, "", "signers", "must be a list of allowed_signers lines"))
        return ()
    holders = set().union(*roles.values())
    signers, owner_of = [], {}
    for i, line in enumerate(raw):
        try:
            signer = parse_signer(line)
        except ValueError as exc:
            problems.append(Problem(name, "", f"signers[{i}]", str(exc)))
            continue
        if roles and signer.principal not in holders:
            problems.append(Problem(name, "", f"signers[{i}]", f"{signer.principal} holds no role in roles"))
        elif signer.fingerprint in owner_of:
            problems.append(Problem(name, "", f"signers[{i}]", f"key {signer.fingerprint} is already listed "
                                                               f"(signers[{owner_of[signer.fingerprint]}])"))
        else:
            owner_of[signer.fingerprint] = i
            signers.append(signer)
    return tuple(signers)


def _signature_roles(doc: Mapping, name: str, roles: Mapping[str, frozenset], problems: list) -> frozenset:
    """Roles whose waivers must be signed; by default the roles the catalog requires for a rule."""
    if "signature_required_for" not in doc:
        return frozenset(r.waiver_approver for r in catalog_rules() if r.waiver_approver)
    raw = doc["signature_required_for"]
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        problems.append(Problem(name, "", "signature_required_for", "must be a list of roles ([] for none)"))
        return frozenset()
    for role in raw:
        if roles and role not in roles:
            problems.append(Problem(name, "", "signature_required_for",
                                    f"unknown role {role!r} (roles: {', '.join(sorted(roles))})"))
    return frozenset(raw)


def load_approvers(path: str | os.PathLike | None = None) -> Approvers:
    path = Path(path) if path is not None else shipped_approvers()
    name = str(path)
    doc = read_yaml(path)
    if not isinstance(doc, Mapping):
        raise WaiverRegistryError([Problem(name, "", "", "top level must be a mapping")])
    problems = [Problem(name, "", k, f"unknown key (allowed: {', '.join(APPROVERS_KEYS)})")
                for k in _unknown_keys(doc, APPROVERS_KEYS)]
    roles = _roles(doc, name, problems)
    signers = _signers(doc, name, roles, problems)
    signature_roles = _signature_roles(doc, name, roles, problems)
    days = doc.get("max_waiver_days")
    if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
        problems.append(Problem(name, "", "max_waiver_days",
                                f"must be a positive number of days, got {days!r}"))
    if problems:
        raise WaiverRegistryError(problems)
    return Approvers(roles=roles, max_waiver_days=days, source=name, signers=signers,
                     signature_roles=signature_roles)


# ---- one registry entry ------------------------------------------------------------------------------

def _as_date(value: Any) -> date | None:
    """YAML dates (unquoted) and quoted ISO dates `YYYY-MM-DD`; never timestamps."""
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10 and value.isascii():
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


@dataclass
class _Entry:
    """One raw entry being checked: the problems found so far, located."""
    raw: Mapping
    file: str
    label: str
    problems: list

    def bad(self, field_name: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.label, field_name, message))

    def has_problem_on(self, field_name: str) -> bool:
        return any(p.field == field_name or p.field.startswith(field_name + ".") for p in self.problems)


def _check_fields(entry: _Entry) -> None:
    raw = entry.raw
    for key in _unknown_keys(raw, ENTRY_FIELDS):
        entry.bad(key, f"unknown field (allowed: {', '.join(ENTRY_FIELDS)})")
    for key in REQUIRED_FIELDS:
        if key not in raw or raw[key] is None:
            entry.bad(key, "missing required field")
    wid = raw.get("id")
    if wid is not None and not is_waiver_id(wid):
        entry.bad("id", f"must be W- and at least four ASCII digits (e.g. W-0001), got {wid!r}")
    for key in TEXT_FIELDS:
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            entry.bad(key, f"must be a non-empty string (quote it), got {value!r}")


def _check_rules(entry: _Entry, catalog_by_id: Mapping[str, Rule]) -> list[str]:
    """The entry's rule ids that exist: our names and ids, or Checkov ids of the pinned Checkov."""
    rule_list = entry.raw.get("rules")
    if rule_list is None:
        return []
    if not isinstance(rule_list, list) or not rule_list:
        entry.bad("rules", "must be a non-empty list of rule names or Checkov ids")
        return []
    named: list[str] = []
    for i, rule_id in enumerate(rule_list):
        if not isinstance(rule_id, str):
            entry.bad(f"rules[{i}]", f"must be a string, got {rule_id!r}")
        elif rule_id in catalog_by_id:
            named.append(rule_id)
        elif is_checkov_id(rule_id) and not rule_id.startswith(OUR_CHECKOV_PREFIX):
            if rule_id in builtin_checks():  # the pinned Checkov's Kubernetes checks
                named.append(rule_id)
            else:
                entry.bad(f"rules[{i}]", f"unknown Checkov id {rule_id!r}: the pinned Checkov has no "
                                         "Kubernetes check with this id")
        else:
            entry.bad(f"rules[{i}]", f"unknown rule {rule_id!r}: not in the rule catalog and not a "
                                     "Checkov id (CKV_<FRAMEWORK>_<n>)")
    if len(set(named)) != len(named):
        entry.bad("rules", "lists a rule twice")
    return named


def _check_scope(entry: _Entry) -> list[tuple[str, str]]:
    """(key, glob) pairs of a scope that names the resources it covers."""
    scope = entry.raw.get("scope")
    if scope is None:
        return []
    if not isinstance(scope, Mapping):
        entry.bad("scope", f"must be a mapping of {', '.join(SCOPE_KEYS)}")
        return []
    for key in _unknown_keys(scope, SCOPE_KEYS):
        entry.bad(f"scope.{key}", f"unknown scope key (allowed: {', '.join(SCOPE_KEYS)})")
    pairs = []
    for key in SCOPE_KEYS:
        if key not in scope:
            continue
        value = scope[key]
        if not isinstance(value, str) or not value.strip():
            entry.bad(f"scope.{key}", f"must be a non-empty string (glob), got {value!r}")
        else:
            pairs.append((key, value))
    if not scope and not entry.has_problem_on("scope"):
        entry.bad("scope", "is empty: a waiver must name the resources it covers")
    elif pairs and not pins_resources(dict(pairs)):
        entry.bad("scope", "does not pin any resource: give a namespace or a name without wildcards "
                           "(or a URN whose resource name has none)")
    return pairs


def _check_dates(entry: _Entry, approvers: Approvers, today: date) -> tuple[date | None, date | None]:
    raw = entry.raw
    created, expires = _as_date(raw.get("created")), _as_date(raw.get("expires"))
    for key, parsed in (("created", created), ("expires", expires)):
        if raw.get(key) is not None and parsed is None:
            entry.bad(key, f"must be a date YYYY-MM-DD, got {raw.get(key)!r}")
    if created and expires:
        if created > expires:
            entry.bad("expires", f"{expires} is before created {created}")
        elif (expires - created).days > approvers.max_waiver_days:
            entry.bad("expires", f"{(expires - created).days} days after created; at most "
                                 f"{approvers.max_waiver_days} days allowed ({approvers.source})")
    if created and created > today:
        entry.bad("created", f"{created} is in the future (today is {today}, UTC)")
    return created, expires


def _check_approval(entry: _Entry, approvers: Approvers, named_rules: list[str],
                    catalog_by_id: Mapping[str, Rule]) -> None:
    """The approver holds the role, and the role may waive every listed rule."""
    role, by = entry.raw.get("approver_role"), entry.raw.get("approved_by")
    if not (isinstance(role, str) and role.strip()):
        return
    if role not in approvers.roles:
        entry.bad("approver_role", f"unknown role {role!r}; {approvers.source} defines: "
                                   f"{', '.join(sorted(approvers.roles))}")
    elif isinstance(by, str) and by.strip() and not approvers.holds(by, role):
        entry.bad("approved_by", f"{by} does not hold role {role!r} in {approvers.source}")
    for rule_id in named_rules:
        needed = catalog_by_id[rule_id].waiver_approver if rule_id in catalog_by_id else None
        if needed and role != needed:
            entry.bad("approver_role", f"rule {rule_id!r} can be waived only by role {needed!r}, "
                                       f"not {role!r}")


def _sign_hint(waiver: Waiver) -> str:
    return f"`stateless-pack waivers sign {waiver.id} --key <private key of {waiver.approved_by}>`"


def _check_signature(entry: _Entry, waiver: Waiver, approvers: Approvers) -> Waiver:
    """`waiver` with its verified signer; a problem when its role requires a signature and it has
    none, or when the signature it carries does not verify with the approver's listed key."""
    text, by, role = entry.raw.get("signature"), waiver.approved_by, waiver.approver_role
    if text is None:
        if role in approvers.signature_roles:
            no_key = "" if approvers.keys_of(by) else (
                f" ({approvers.source} lists no key for {by} yet: the pack maintainers add it to signers)")
            entry.bad("signature", f"role {role!r} requires a signature by {by}: after review, {by} signs "
                                   f"it with {_sign_hint(waiver)}{no_key}")
        return waiver
    try:
        key = signing_key(text, canonical_text(waiver.signed_fields()))
    except SignatureError as exc:
        entry.bad("signature", f"{exc}: review the waiver, then {by} signs it again with {_sign_hint(waiver)}")
        return waiver
    signer = listed_signer(key, approvers.signers)
    if signer is None:
        entry.bad("signature", f"made with key {fingerprint(key)}, which {approvers.source} does not list: "
                               f"{by} signs it with a listed key, {_sign_hint(waiver)}")
    elif signer.principal != by.strip().lower():
        entry.bad("signature", f"made by {signer.principal} (key {signer.fingerprint}), not by approved_by "
                               f"{by}: {by} signs it, {_sign_hint(waiver)}")
    else:
        return replace(waiver, signed_by=signer.principal, signing_key=signer.fingerprint)
    return waiver


def _entry_waiver(raw: Any, index: int, file: str, *, approvers: Approvers, catalog_by_id: Mapping[str, Rule],
                  today: date, check_signature: bool = True) -> tuple[Waiver | None, list]:
    """Validate one registry entry: the waiver, or None and its problems. `check_signature` False:
    valid apart from its signature (what `waivers sign` signs)."""
    label = f"waivers[{index}]"
    if not isinstance(raw, Mapping):
        return None, [Problem(file, label, "", f"must be a mapping, got {type(raw).__name__}")]
    if is_waiver_id(raw.get("id")):
        label = f"{label} {raw['id']}"
    entry = _Entry(raw, file, label, [])
    _check_fields(entry)
    named = _check_rules(entry, catalog_by_id)
    scope = _check_scope(entry)
    created, expires = _check_dates(entry, approvers, today)
    _check_approval(entry, approvers, named, catalog_by_id)
    if entry.problems:
        return None, entry.problems
    waiver = Waiver(
        id=raw["id"], rules=tuple(named), scope=tuple(scope), reason=raw["reason"],
        approved_by=raw["approved_by"], approver_role=raw["approver_role"], reference=raw["reference"],
        created=created, expires=expires, signature=raw.get("signature") or "",
        keys=frozenset(catalog_by_id[r].name if r in catalog_by_id else r for r in named),
    )
    if check_signature:
        waiver = _check_signature(entry, waiver, approvers)
    return (None, entry.problems) if entry.problems else (waiver, [])


# ---- the registry -------------------------------------------------------------------------------------

def rule_aliases(catalog: Iterable[Rule]) -> dict[str, str]:
    """name and CKV_STL id of each catalog rule -> the rule name (our canonical key)."""
    return {key: r.name for key, r in _by_id(catalog).items()}


def _by_id(catalog: Iterable[Rule]) -> dict[str, Rule]:
    """name and CKV_STL id of each catalog rule -> the rule."""
    return {key: r for r in catalog for key in (r.name, r.checkov_id)}


def empty_registry(source: str = "") -> Registry:
    return Registry(source=source, waivers=(), aliases=rule_aliases(catalog_rules()))


def registry_from_document(doc: Any, source: str, approvers: Approvers, *, today: date,
                           catalog: Iterable[Rule] | None = None) -> Registry:
    """Validate a parsed registry document (from a file or from stack config)."""
    catalog = list(catalog_rules() if catalog is None else catalog)
    catalog_by_id = _by_id(catalog)
    if not isinstance(doc, Mapping):
        raise WaiverRegistryError([Problem(source, "", "", "top level must be a mapping with "
                                                           "'version' and 'waivers'")])
    problems = [Problem(source, "", k, f"unknown top-level key (allowed: {', '.join(TOP_LEVEL_KEYS)})")
                for k in _unknown_keys(doc, TOP_LEVEL_KEYS)]
    if doc.get("version") != REGISTRY_VERSION:
        problems.append(Problem(source, "", "version",
                                f"must be {REGISTRY_VERSION}, got {doc.get('version')!r}"))
    entries = doc.get("waivers")
    if not isinstance(entries, list):
        problems.append(Problem(source, "", "waivers", "must be a list (use [] for no waivers)"))
        entries = []
    waivers, seen = [], {}
    for index, raw in enumerate(entries):
        waiver, entry_problems = _entry_waiver(raw, index, source, approvers=approvers,
                                               catalog_by_id=catalog_by_id, today=today)
        problems += entry_problems
        wid = raw.get("id") if isinstance(raw, Mapping) else None
        if is_waiver_id(wid):
            if wid in seen:
                problems.append(Problem(source, f"waivers[{index}] {wid}", "id",
                                        f"duplicate id (first used by waivers[{seen[wid]}])"))
            else:
                seen[wid] = index
        if waiver:
            waivers.append(waiver)
    if problems:
        raise WaiverRegistryError(problems)
    return Registry(source=source, waivers=tuple(waivers), aliases=rule_aliases(catalog))


def load_registry(path: str | os.PathLike, approvers: Approvers, *, today: date,
                  catalog: Iterable[Rule] | None = None) -> Registry:
    """Load and validate a registry file; WaiverRegistryError lists every problem."""
    return registry_from_document(read_yaml(path), str(path), approvers, today=today, catalog=catalog)


def registry_entry(doc: Any, source: str, waiver_id: str, approvers: Approvers, *, today: date,
                   check_signature: bool = True) -> Waiver:
    """One entry of a registry document, checked alone (other entries may still wait for their
    signatures); `check_signature` False: valid apart from its signature, i.e. ready to be signed.
    WaiverRegistryError lists what is wrong with it."""
    entries = doc.get("waivers") if isinstance(doc, Mapping) else None
    found = [i for i, raw in enumerate(entries if isinstance(entries, list) else [])
             if isinstance(raw, Mapping) and raw.get("id") == waiver_id]
    if len(found) != 1:
        why = "is not in the registry" if not found else f"is listed {len(found)} times"
        raise WaiverRegistryError([Problem(source, "", "", f"waiver {waiver_id} {why}")])
    catalog_by_id = _by_id(catalog_rules())
    waiver, problems = _entry_waiver(entries[found[0]], found[0], source, approvers=approvers,
                                     catalog_by_id=catalog_by_id, today=today, check_signature=check_signature)
    if problems:
        raise WaiverRegistryError(problems)
    return waiver
