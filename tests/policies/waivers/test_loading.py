"""Loading the waiver registry: strict, complete error reports, fail closed."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from stateless_pack.policies import catalog
from stateless_pack.policies.catalog import Rule
from stateless_pack.policies.waivers.loading import load_approvers, load_registry, shipped_approvers
from stateless_pack.policies.waivers.locating import approvers_path, load_located, locate_registry
from stateless_pack.policies.waivers.model import Approvers, WaiverRegistryError
from support.paths import FIXTURES as FIXTURE_ROOT

FIXTURES = FIXTURE_ROOT / "waivers"
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
TODAY = date(2026, 12, 1)

# A stand-in for a catalog rule that any approver role may waive (waiver_approver=None), so the
# approver logic is tested whatever rules the real catalog holds today.
STAND_IN = Rule(name="stand-in-any-approver", checkov_id="CKV_STL_999", category="storage",
                description="stand-in", remediation="stand-in", kinds=frozenset({"Deployment"}),
                check=lambda manifest, cfg: iter(()))
CATALOG = [*catalog.rules(), STAND_IN]


@pytest.fixture(scope="module")
def approvers():
    return load_approvers(FIXTURES / "approvers.yaml")


def load(path, approvers, today=TODAY):
    return load_registry(path, approvers, today=today, catalog=CATALOG)


def write(tmp_path, text, name="waivers.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def expectations(path: Path) -> list[tuple[str, str, str]]:
    """`# expect: <entry> :: <field> :: <message fragment>` lines; '-' means empty."""
    found = []
    for line in path.read_text().splitlines():
        if line.startswith("# expect:"):
            entry, field, fragment = (p.strip() for p in line[len("# expect:"):].split("::", 2))
            found.append(("" if entry == "-" else entry, "" if field == "-" else field, fragment))
    return found


# ---- valid registry ---------------------------------------------------------------------------

def test_valid_registry_loads_every_entry(approvers):
    registry = load(FIXTURES / "valid.yaml", approvers)
    assert [w.id for w in registry.waivers] == ["W-0001", "W-0002", "W-0003"]
    first = registry.get("W-0001")
    assert first.rules == ("no-sticky-service",)
    assert dict(first.scope) == {"stack": "dev", "kind": "Service", "namespace": "shop",
                                 "name": "session-*"}
    assert (first.created, first.expires) == (date(2026, 11, 1), date(2027, 1, 29))
    # a quoted ISO date is as good as a YAML date
    assert registry.get("W-0002").created == date(2026, 11, 15)


def test_the_pack_approvers_file_is_valid_and_defines_every_role_the_catalog_requires():
    pack = load_approvers()
    for rule in catalog.rules():
        if rule.waiver_approver:
            assert rule.waiver_approver in pack.roles, rule.name
    assert pack.max_waiver_days > 0


# ---- every malformed registry: a clear error naming file, entry and field ----------------------

def test_there_is_an_invalid_fixture_for_every_case():
    assert len(INVALID) >= 30
    assert all(expectations(p) for p in INVALID), [p.name for p in INVALID if not expectations(p)]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_malformed_registry_is_rejected_with_a_located_problem(path, approvers):
    with pytest.raises(WaiverRegistryError) as caught:
        load(path, approvers)
    problems = caught.value.problems
    for entry, field, fragment in expectations(path):
        matching = [p for p in problems if p.entry == entry and p.field == field
                    and fragment in p.message]
        assert matching, f"expected {entry!r} {field!r} {fragment!r}; got:\n{caught.value}"
    for problem in problems:
        assert problem.file == str(path)
        assert str(path) in str(problem)  # the printed line names the file


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_malformed_registry_blocks_every_waiver(path, monkeypatch):
    """The engines' entry point: no registry (nothing is waived) and the problems to report."""
    location = locate_registry(project_dir=None, config={}, environ={"STATELESS_PACK_WAIVERS": str(path)})
    registry, problems = load_located(location, FIXTURES / "approvers.yaml", TODAY)
    assert registry is None
    assert problems and all(p.file == str(path) for p in problems)


def test_all_problems_are_reported_at_once_not_just_the_first(tmp_path, approvers):
    path = write(tmp_path, """
version: 1
extra: 1
waivers:
  - id: W-0001
    rules: [nope]
    scope: {}
    reason: r
    approved_by: hod@example.org
    approver_role: head-of-devops
    reference: OPS-1
    created: 2026-11-01
    expires: tomorrow
  - id: W-0002
""")
    with pytest.raises(WaiverRegistryError) as caught:
        load(path, approvers)
    located = {(p.entry, p.field) for p in caught.value.problems}
    assert {("", "extra"), ("waivers[0] W-0001", "rules[0]"), ("waivers[0] W-0001", "scope"),
            ("waivers[0] W-0001", "expires"), ("waivers[1] W-0002", "rules"),
            ("waivers[1] W-0002", "expires")} <= located


def test_valid_entries_next_to_an_invalid_one_are_not_loaded_half(tmp_path, approvers):
    text = (FIXTURES / "valid.yaml").read_text() + "  - id: W-0009\n"
    with pytest.raises(WaiverRegistryError) as caught:
        load(write(tmp_path, text), approvers)
    assert {p.entry for p in caught.value.problems} == {"waivers[3] W-0009"}


def test_missing_registry_file_is_an_error(tmp_path, approvers):
    with pytest.raises(WaiverRegistryError, match="file not found"):
        load(tmp_path / "nope.yaml", approvers)


# ---- boundaries of the date rules ---------------------------------------------------------------

ENTRY = """version: 1
waivers:
  - id: W-0001
    rules: [{rule}]
    scope: {{name: a}}
    reason: r
    approved_by: {by}
    approver_role: {role}
    reference: OPS-1
    created: {created}
    expires: {expires}
"""


def entry(rule="no-sticky-service", by="hod@example.org", role="head-of-devops",
          created="2026-11-01", expires="2026-11-30"):
    return ENTRY.format(rule=rule, by=by, role=role, created=created, expires=expires)


def yaml_entry(**kwargs) -> dict:
    """The waiver of `entry(...)` as a parsed mapping."""
    import yaml

    return yaml.safe_load(entry(**kwargs))["waivers"][0]


def test_expiry_exactly_max_days_after_creation_is_allowed(tmp_path, approvers):
    # 90 days allowed in the test approvers; 2026-11-01 + 90 days = 2027-01-30
    registry = load(write(tmp_path, entry(expires="2027-01-30")), approvers)
    assert registry.get("W-0001").expires == date(2027, 1, 30)
    with pytest.raises(WaiverRegistryError, match="91 days after created"):
        load(write(tmp_path, entry(expires="2027-01-31")), approvers)


def test_created_today_is_allowed_created_tomorrow_is_not(tmp_path, approvers):
    assert load(write(tmp_path, entry(created="2026-12-01", expires="2026-12-02")), approvers)
    with pytest.raises(WaiverRegistryError, match="in the future"):
        load(write(tmp_path, entry(created="2026-12-02", expires="2026-12-03")), approvers)


def test_one_day_waiver_created_and_expiring_the_same_day_is_allowed(tmp_path, approvers):
    assert load(write(tmp_path, entry(created="2026-11-30", expires="2026-11-30")), approvers)


def test_max_waiver_days_comes_from_the_approvers_file(tmp_path):
    approvers = Approvers(roles={"head-of-devops": frozenset({"hod@example.org"})},
                                  max_waiver_days=10, source="approvers.yaml")
    with pytest.raises(WaiverRegistryError, match="at most 10 days"):
        load(write(tmp_path, entry(created="2026-11-01", expires="2026-11-12")), approvers)


# ---- approvers --------------------------------------------------------------------------------

def test_head_of_devops_can_waive_sticky_sessions(tmp_path, approvers):
    assert load(write(tmp_path, entry()), approvers).get("W-0001")


@pytest.mark.parametrize("rule", ["no-sticky-service", "CKV_STL_1"])
def test_platform_lead_cannot_waive_sticky_sessions(tmp_path, approvers, rule):
    with pytest.raises(WaiverRegistryError) as caught:
        load(write(tmp_path, entry(rule=rule, by="lead@example.org", role="platform-lead")), approvers)
    [problem] = caught.value.problems
    assert (problem.entry, problem.field) == ("waivers[0] W-0001", "approver_role")
    assert f"rule '{rule}' can be waived only by role 'head-of-devops'" in problem.message


@pytest.mark.parametrize("rule", ["stand-in-any-approver", "CKV_STL_999", "CKV_K8S_22", "CKV2_K8S_6"])
@pytest.mark.parametrize("by,role", [("lead@example.org", "platform-lead"),
                                     ("hod@example.org", "head-of-devops")])
def test_any_role_holder_can_waive_rules_without_a_required_role(tmp_path, approvers, rule, by, role):
    assert load(write(tmp_path, entry(rule=rule, by=by, role=role)), approvers).get("W-0001")


@pytest.mark.parametrize("rule", [r for r in catalog.rules()], ids=lambda r: r.name)
def test_platform_lead_may_waive_exactly_the_catalog_rules_that_require_no_other_role(tmp_path, rule):
    pack = load_approvers()
    lead = sorted(pack.roles["platform-lead"])[0]
    path = write(tmp_path, entry(rule=rule.name, by=lead, role="platform-lead",
                                 created="2026-11-01", expires="2026-11-30"))
    if rule.waiver_approver in (None, "platform-lead"):
        assert load_registry(path, pack, today=TODAY).get("W-0001")
    else:
        with pytest.raises(WaiverRegistryError, match=f"only by role '{rule.waiver_approver}'"):
            load_registry(path, pack, today=TODAY)


def test_approver_email_matches_case_insensitively(tmp_path, approvers):
    assert load(write(tmp_path, entry(rule="CKV_K8S_22", by="second.lead@EXAMPLE.org",
                                      role="platform-lead")), approvers)


def test_role_holder_of_another_role_is_rejected(tmp_path, approvers):
    with pytest.raises(WaiverRegistryError, match="hod@example.org does not hold role 'platform-lead'"):
        load(write(tmp_path, entry(rule="CKV_K8S_22", by="hod@example.org", role="platform-lead")),
             approvers)


@pytest.mark.parametrize("text,field", [
    ("roles: {}\nmax_waiver_days: 90\n", "roles"),
    ("roles: {hod: []}\nmax_waiver_days: 90\n", "roles.hod"),
    ("roles: {hod: [not-an-email]}\nmax_waiver_days: 90\n", "roles.hod"),
    ("roles: {hod: [a@b.c]}\nmax_waiver_days: 0\n", "max_waiver_days"),
    ("roles: {hod: [a@b.c]}\nmax_waiver_days: true\n", "max_waiver_days"),
    ("roles: {hod: [a@b.c]}\n", "max_waiver_days"),
    ("roles: {hod: [a@b.c]}\nmax_waiver_days: 9\nmaximum: 3\n", "maximum"),
])
def test_malformed_approvers_file_is_rejected(tmp_path, text, field):
    with pytest.raises(WaiverRegistryError) as caught:
        load_approvers(write(tmp_path, text, "approvers.yaml"))
    assert [p.field for p in caught.value.problems] == [field]


# ---- locating a stack's registry ---------------------------------------------------------------

CONFIG_KEY = "stateless-pack:waivers"


def test_registry_location_env_wins_over_stack_config(tmp_path):
    location = locate_registry(project_dir=tmp_path, config={CONFIG_KEY: "b.yaml"},
                               environ={"STATELESS_PACK_WAIVERS": str(tmp_path / "a.yaml")})
    assert location.path == tmp_path / "a.yaml" and location.required


def test_explicit_file_wins_over_everything(tmp_path):
    location = locate_registry(project_dir=tmp_path, config={CONFIG_KEY: "b.yaml"},
                               environ={"STATELESS_PACK_WAIVERS": "/a.yaml"}, explicit=str(tmp_path / "c.yaml"))
    assert location.path == tmp_path / "c.yaml"


def test_stack_config_path_is_relative_to_the_project_folder(tmp_path):
    location = locate_registry(project_dir=tmp_path, config={CONFIG_KEY: "stacks/prod-waivers.yaml"}, environ={})
    assert location.path == tmp_path / "stacks" / "prod-waivers.yaml" and location.required


def test_default_is_waivers_yaml_in_the_project_folder_and_optional(tmp_path):
    location = locate_registry(project_dir=tmp_path, config={}, environ={})
    assert (location.path, location.required) == (tmp_path / "waivers.yaml", False)
    registry, problems = load_located(location, FIXTURES / "approvers.yaml", TODAY)
    assert problems == [] and registry.waivers == ()


def test_registry_given_in_stack_config_as_a_structured_value(tmp_path):
    document = {"version": 1, "waivers": [yaml_entry(rule="CKV_K8S_22", by="lead@example.org",
                                                      role="platform-lead")]}
    location = locate_registry(project_dir=None, config={CONFIG_KEY: json.dumps(document, default=str)}, environ={})
    registry, problems = load_located(location, FIXTURES / "approvers.yaml", TODAY)
    assert problems == [] and [w.id for w in registry.waivers] == ["W-0001"]


@pytest.mark.parametrize("config,environ", [({CONFIG_KEY: "waivers.yaml"}, {}),
                                            ({}, {"STATELESS_PACK_WAIVERS": "waivers.yaml"}),
                                            ({CONFIG_KEY: "42"}, {})],
                         ids=["relative-config-path", "relative-env-path", "not-a-path"])
def test_what_the_pack_cannot_resolve_is_a_problem_not_an_empty_registry(config, environ):
    """The pack runs in its own folder: a relative path would silently name another file."""
    location = locate_registry(project_dir=None, config=config, environ=environ)
    registry, problems = load_located(location, FIXTURES / "approvers.yaml", TODAY)
    assert registry is None and len(problems) == 1 and problems[0].message


def test_nothing_configured_in_the_pack_is_an_empty_registry():
    registry, problems = load_located(locate_registry(project_dir=None, config={}, environ={}),
                                      FIXTURES / "approvers.yaml", TODAY)
    assert problems == [] and registry.waivers == ()


def test_configured_registry_that_does_not_exist_fails_closed(tmp_path):
    location = locate_registry(project_dir=tmp_path, config={},
                               environ={"STATELESS_PACK_WAIVERS": str(tmp_path / "missing.yaml")})
    registry, problems = load_located(location, FIXTURES / "approvers.yaml", TODAY)
    assert registry is None
    assert [p.message for p in problems] == ["file not found"]


def test_stack_registry_loads_the_configured_file(tmp_path):
    path = write(tmp_path, entry(rule="CKV_K8S_22", by="lead@example.org", role="platform-lead"))
    location = locate_registry(project_dir=tmp_path, config={CONFIG_KEY: path.name}, environ={})
    registry, problems = load_located(location, FIXTURES / "approvers.yaml", TODAY)
    assert problems == [] and [w.id for w in registry.waivers] == ["W-0001"]


def test_approvers_come_from_the_pack_folder_else_the_shipped_file(tmp_path):
    assert approvers_path(None) == shipped_approvers() == approvers_path(tmp_path)
    (tmp_path / "approvers.yaml").write_text("roles: {head-of-devops: [a@b.c]}\nmax_waiver_days: 9\n")
    assert approvers_path(tmp_path) == tmp_path / "approvers.yaml"
