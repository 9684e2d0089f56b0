"""gate/render/manifest_files.py: every file under the given paths is loaded or reported, with real lines."""
from __future__ import annotations

import os
import threading

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stateless_pack.gate.commands.scan import problem_finding
from stateless_pack.gate.findings import Subject
from stateless_pack.gate.render.manifest_files import (
    EMPTY,
    ERROR,
    MAX_DEPTH,
    SKIPPED,
    FieldLines,
    as_loaded,
    duplicate_problems,
    load_file,
    load_manifests,
)
from stateless_pack.gate.rule_findings import rule_findings
from stateless_pack.policies.waivers.model import ResourceRef

STICKY = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: sticky\n  namespace: shop\n"
          "spec:\n  selector: {app: web}\n  sessionAffinity: ClientIP\n  ports: [{port: 80}]\n")
SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{ports: [{{port: 80}}]}}\n"


def kinds(problems) -> list:
    return sorted((os.path.basename(p.file), p.kind) for p in problems)


# ---- lines ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path, line", [
    ("spec.sessionAffinity", 6), ("spec.ports[1].port", 10), ("spec.ports[1]", 9), ("spec.ports[0]", 8),
    ("spec.missing.deeper", 4), ('metadata.annotations["a.b/c"]', 3), ("metadata.name", 3), ("", 1),
    ("kind", 2)])
def test_the_line_of_a_field_path_or_of_its_deepest_existing_part(tmp_path, path, line):
    f = tmp_path / "m.yaml"
    f.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  selector: {app: a}\n"
                 "  sessionAffinity: ClientIP\n  ports:\n  - port: 80\n  - name: b\n    port: 81\n")
    [loaded], _ = load_file(str(f))
    assert loaded.lines.line_of(path) == line
    assert FieldLines.of_file(str(f)).line_of(path) == line  # the lazy form reads the same marks


def test_lines_in_a_multi_document_file_are_the_files_lines(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("# leading comment\n---\n" + SERVICE.format(name="a") + "---\n\n" + STICKY)
    [a, sticky], problems = load_file(str(f))
    assert problems == []
    assert (a.line, sticky.line) == (3, 9)
    assert sticky.lines.line_of("spec.sessionAffinity") == 16
    assert sticky.lines.line_of("metadata.name") == 12


def test_an_annotation_key_with_dots_and_slashes(tmp_path):
    f = tmp_path / "i.yaml"
    f.write_text("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: cart\n  annotations:\n"
                 "    nginx.ingress.kubernetes.io/affinity: cookie\n")
    [loaded], _ = load_file(str(f))
    assert loaded.lines.line_of('metadata.annotations["nginx.ingress.kubernetes.io/affinity"]') == 6


def test_an_alias_is_not_walked_twice(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefg", "bcdefgh"))
    f = tmp_path / "bomb.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n" + "".join(
        "  " + line + "\n" for line in bomb.splitlines()))
    node = yaml.compose(f.read_text())
    lines = FieldLines.of_node(node)
    assert lines.line_of("data.h[0][0]") == 11  # an alias is where its anchor is
    assert len(lines._table()) < 100  # each node once: 9**8 paths would never finish


# ---- odd YAML: findings, never tracebacks ---------------------------------------------------

def test_an_unrendered_helm_template_is_a_problem_with_its_line_and_the_next_document_still_loads(tmp_path):
    f = tmp_path / "chart.yaml"
    f.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n"
                 "    {{ include \"labels\" . }}\nspec: {}\n---\n" + STICKY)
    loaded, problems = load_file(str(f))
    assert [(p.line, p.kind) for p in problems] == [(6, ERROR)]
    assert "mapping used as a key" in problems[0].message
    assert [m.manifest["metadata"]["name"] for m in loaded] == ["sticky"]


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_too_deep_is_a_problem_not_a_recursion_error(tmp_path, style):
    depth = 400
    if style == "flow":
        value = "[" * depth + "]" * depth
        body = f"spec: {value}\n"
    else:
        body = "spec:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(depth)) + "  " * (depth + 1) + "b: 1\n"
    f = tmp_path / "deep.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\n" + body + "---\n" + STICKY)
    loaded, problems = load_file(str(f))
    assert [p.kind for p in problems] == [ERROR]
    assert f"more than {MAX_DEPTH} levels" in problems[0].message and problems[0].line > 3
    assert [m.manifest["metadata"]["name"] for m in loaded] == ["sticky"]


def test_nesting_at_the_limit_loads(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\ndata: " + "[" * (MAX_DEPTH - 1)
                 + "]" * (MAX_DEPTH - 1) + "\n")
    loaded, problems = load_file(str(f))
    assert problems == [] and len(loaded) == 1


def test_merge_keys_are_merged(tmp_path):
    f = tmp_path / "merge.yaml"
    f.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
                 "x-defaults: &defaults\n  sessionAffinity: ClientIP\n  ports: [{port: 80}]\n"
                 "spec:\n  <<: *defaults\n  ports: [{port: 8080}]\n")
    [loaded], problems = load_file(str(f))
    assert problems == []
    assert loaded.manifest["spec"] == {"sessionAffinity": "ClientIP", "ports": [{"port": 8080}]}
    subject = Subject(loaded.manifest, ResourceRef.of_manifest(loaded.manifest), loaded.file, loaded.line, loaded.lines)
    # the offending value is written on line 5, in the anchored mapping the merge key brings in
    assert [(f.rule, f.field_line) for f in rule_findings([subject], "rules")] == [("no-sticky-service", 5)]


def test_a_repeated_key_is_still_an_error(tmp_path):
    f = tmp_path / "dup.yaml"
    f.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n")
    assert [(p.line, "duplicate key 'name'" in p.message) for p in load_file(str(f))[1]] == [(5, True)]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n---\n", "apiVersion: v1\nkind: List\n",
                                  "apiVersion: v1\nkind: List\nitems: []\n", "apiVersion: v1\nkind: List\nitems:\n"])
def test_a_file_without_resources_is_reported_as_empty(tmp_path, text):
    f = tmp_path / "empty.yaml"
    f.write_text(text)
    loaded, problems = load_file(str(f))
    assert loaded == [] and [(p.kind, p.message.startswith("no resources")) for p in problems] == [(EMPTY, True)]


def test_a_list_kind_of_one_resource_type_without_items_is_checked_as_a_resource(tmp_path):
    f = tmp_path / "crd.yaml"
    f.write_text("apiVersion: example.org/v1\nkind: AllowList\nmetadata: {name: x}\nspec: {}\n")
    assert [m.manifest["kind"] for m in load_file(str(f))[0]] == ["AllowList"]


# ---- walking folders ------------------------------------------------------------------------

def test_upper_case_extensions_symlinked_folders_and_files_reached_twice(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "A.YAML").write_text(SERVICE.format(name="a"))
    (root / "sub" / "b.Yml").write_text(SERVICE.format(name="b"))
    (root / "c.JSON").write_text('{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c"}}')
    (outside / "d.yaml").write_text(SERVICE.format(name="d"))
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)          # must not walk forever
    (root / "again.yaml").symlink_to(root / "A.YAML")                     # the same file twice
    (root / "notes.txt").write_text("not a manifest name: not read\n")
    loaded, problems = load_manifests([str(root)])
    assert problems == []
    assert sorted(m.manifest["metadata"]["name"] for m in loaded) == ["a", "b", "c", "d"]


def test_hidden_folders_are_reported_unless_included(tmp_path):
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "sticky.yaml").write_text(STICKY)
    (tmp_path / "a.yaml").write_text(SERVICE.format(name="a"))
    loaded, problems = load_manifests([str(tmp_path)])
    assert [m.manifest["metadata"]["name"] for m in loaded] == ["a"]
    assert kinds(problems) == [(".hidden", SKIPPED)]
    assert not problem_finding(problems[0]).blocking
    loaded, problems = load_manifests([str(tmp_path)], include_hidden=True)
    assert sorted(m.manifest["metadata"]["name"] for m in loaded) == ["a", "sticky"] and problems == []


def test_fifos_and_broken_links_are_reported_and_never_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "broken.yaml").symlink_to(tmp_path / "gone.yaml")
    os.mkfifo(tmp_path / "fifo-target")
    (tmp_path / "via-link.yml").symlink_to(tmp_path / "fifo-target")
    (tmp_path / "a.yaml").write_text(SERVICE.format(name="a"))
    result: list = []
    worker = threading.Thread(target=lambda: result.append(load_manifests([str(tmp_path)])), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the loader blocked on a FIFO"
    loaded, problems = result[0]
    assert [m.manifest["metadata"]["name"] for m in loaded] == ["a"]
    assert kinds(problems) == [("broken.yaml", ERROR), ("pipe.yaml", ERROR), ("via-link.yml", ERROR)]
    messages = {os.path.basename(p.file): p.message for p in problems}
    assert "a FIFO" in messages["pipe.yaml"] and "a FIFO" in messages["via-link.yml"]
    assert all(problem_finding(p).blocking for p in problems)


def test_an_unreadable_folder_blocks(tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    (tmp_path / "a.yaml").write_text(SERVICE.format(name="a"))
    real_scandir = os.scandir

    def scandir(path):  # tests run as root, for whom chmod 000 changes nothing
        if os.path.basename(path) == "locked":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    loaded, problems = load_manifests([str(tmp_path)])
    assert [m.manifest["metadata"]["name"] for m in loaded] == ["a"]
    assert kinds(problems) == [("locked", ERROR)] and "Permission denied" in problems[0].message
    assert problem_finding(problems[0]).blocking


def test_empty_input_blocks_unless_allowed(tmp_path):
    (tmp_path / "empty.yaml").write_text("# nothing here\n")
    _, [problem] = load_manifests([str(tmp_path)])
    assert problem.kind == EMPTY
    assert problem_finding(problem).blocking and not problem_finding(problem, allow_empty=True).blocking


# ---- random trees never hide a violation ----------------------------------------------------

NAMES = st.text(alphabet="abcXYZ_-.# {}", min_size=1, max_size=12).filter(lambda n: n not in (".", ".."))
EXTENSIONS = st.sampled_from(["", ".yaml", ".YAML", ".yml", ".Yml", ".json", ".JSON", ".txt", ".yaml.bak"])
CONTENTS = st.sampled_from(["", "# comment\n", "not: [valid\n", "just text\n", SERVICE.format(name="other"),
                            "apiVersion: v1\nkind: List\n", "{{ .Values }}: x\n", "\xff\xfe"])
ENTRIES = st.lists(st.tuples(st.sampled_from(["file", "folder", "link", "fifo", "dangling"]), NAMES, EXTENSIONS,
                             CONTENTS, st.sampled_from([0o644, 0o000, 0o200])), max_size=8)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=ENTRIES, nested=st.booleans())
def test_random_files_never_make_a_violation_disappear(tmp_path_factory, entries, nested):
    root = tmp_path_factory.mktemp("tree")
    home = root / "apps" if nested else root
    home.mkdir(exist_ok=True)
    (home / "sticky.yaml").write_text(STICKY)
    for i, (what, name, extension, content, mode) in enumerate(entries):
        target = root / f"{i}{name}{extension}"
        if what == "folder":
            target.mkdir()
            (target / f"inner{extension}").write_text(content, errors="surrogateescape")
        elif what == "link":
            target.symlink_to(home, target_is_directory=True)
        elif what == "fifo":
            os.mkfifo(target)
        elif what == "dangling":
            target.symlink_to(root / "nowhere")
        else:
            target.write_bytes(content.encode("utf-8", "surrogateescape") if content != "\xff\xfe" else b"\xff\xfe")
        if what in ("file", "folder"):
            target.chmod(mode | (0o700 if what == "folder" else 0))
    loaded, problems = load_manifests([str(root)])
    subjects = [Subject(m.manifest, ResourceRef.of_manifest(m.manifest), m.file, m.line, m.lines) for m in loaded]
    findings = rule_findings(subjects, "rules") + [problem_finding(p) for p in problems]
    assert ("no-sticky-service", "Service/shop/sticky") in {(f.rule, f.resource) for f in findings if f.blocking}
    # every entry named like a manifest was read or reported, none silently left out
    reported = {p.file for p in problems} | {m.file for m in loaded}
    for i, (what, name, extension, _, _) in enumerate(entries):
        path = str(root / f"{i}{name}{extension}")
        if what in ("file", "fifo", "dangling") and extension.lower() in (".yaml", ".yml", ".json"):
            assert path in reported or any(os.path.samefile(path, r) for r in reported if os.path.exists(r)
                                           and os.path.exists(path)), path


# ---- the gate's own rendering, without reading it back ---------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["yes", "on", "0x10", "1e3", "~", "- a", "a: b", "#c"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["Service", "ConfigMap", "Deployment"]), spec=VALUES,
       metadata=st.dictionaries(st.text(max_size=8), VALUES, max_size=3))
def test_as_loaded_is_what_the_loader_reads_back_from_the_rendered_file(tmp_path, kind, spec, metadata):
    document = {"apiVersion": "v1", "kind": kind, "metadata": metadata, "spec": spec}
    file = tmp_path / "m.yaml"
    file.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False,
                              allow_unicode=True), encoding="utf-8")  # as gate/render/manifests.py writes it
    (read,), problems = load_file(str(file))
    loaded = as_loaded(document, str(file))
    assert not problems
    assert (loaded.manifest, loaded.file, loaded.line) == (read.manifest, read.file, read.line)
    assert loaded.lines.line_of("spec") == read.lines.line_of("spec")


def nested(levels: int) -> dict:
    """A ConfigMap whose `data` holds mappings `levels` deep."""
    document = {"apiVersion": "v1", "kind": "ConfigMap", "data": {}}
    inner = document["data"]
    for _ in range(levels):
        inner["d"] = {}
        inner = inner["d"]
    return document


@pytest.mark.parametrize("document", [
    {"apiVersion": "v1", "kind": "List", "items": []},                       # the loader expands it
    {"apiVersion": "v1", "kind": "ConfigMapList", "items": [{"apiVersion": "v1", "kind": "ConfigMap"}]},
    {"kind": "ConfigMap", "metadata": {"name": "no-api-version"}},            # the loader reports it
    {"apiVersion": "v1", "kind": "", "metadata": {"name": "empty-kind"}},
    nested(MAX_DEPTH),
    ["not", "a", "mapping"],
])
def test_as_loaded_leaves_what_the_loader_would_expand_or_report_to_the_loader(tmp_path, document):
    assert as_loaded(document, str(tmp_path / "m.yaml")) is None


@pytest.mark.parametrize("levels", range(MAX_DEPTH - 3, MAX_DEPTH + 2))
def test_as_loaded_refuses_exactly_the_depths_the_loader_reports(tmp_path, levels):
    document, file = nested(levels), tmp_path / "m.yaml"
    file.write_text(yaml.dump(document, sort_keys=False))
    read, problems = load_file(str(file))
    loaded = as_loaded(document, str(file))
    assert (loaded is None) == bool(problems)
    assert loaded is None or [loaded.manifest] == [m.manifest for m in read]


# ---- one object, defined twice --------------------------------------------------------------

def _dup_messages(problems) -> list:
    return [(os.path.basename(p.file), p.line, p.message) for p in problems]


def test_two_copies_of_one_resource_in_two_files_are_reported_at_the_second_naming_the_first(tmp_path):
    (tmp_path / "a.yaml").write_text(SERVICE.format(name="web"))
    (tmp_path / "b.yaml").write_text("# the same Service again\n" + SERVICE.format(name="web"))
    loaded, problems = load_manifests([str(tmp_path)])
    assert problems == [] and len(loaded) == 2  # both copies are still checked
    [duplicate] = duplicate_problems(loaded)
    assert (duplicate.file, duplicate.line, duplicate.kind) == (str(tmp_path / "b.yaml"), 2, ERROR)
    assert duplicate.message == (f"Service/shop/web is defined twice: at {tmp_path / 'a.yaml'}:1 and here; "
                                 "the cluster holds one object under that name")


def test_copies_in_documents_and_list_items_of_one_file_are_reported_each(tmp_path):
    item = "  - apiVersion: v1\n    kind: Service\n    metadata: {name: web, namespace: shop}\n"
    (tmp_path / "all.yaml").write_text(SERVICE.format(name="web") + "---\n" + SERVICE.format(name="web")
                                       + "---\napiVersion: v1\nkind: List\nitems:\n" + item)
    loaded, _ = load_manifests([str(tmp_path / "all.yaml")])
    assert [(name, line) for name, line, _ in _dup_messages(duplicate_problems(loaded))] == [
        ("all.yaml", 6), ("all.yaml", 14)]
    assert all("at " + str(tmp_path / "all.yaml") + ":1 and here" in p.message for p in duplicate_problems(loaded))


@pytest.mark.parametrize("first, second, duplicate", [
    ("apps/v1|Deployment|shop|web", "apps/v1beta2|Deployment|shop|web", True),   # one object, two API versions
    ("v1|Service||web", "v1|Service|default|web", True),                           # no namespace: the default one
    ("v1|Service|shop|web", "serving.knative.dev/v1|Service|shop|web", False),     # another group: another kind
    ("v1|Service|shop|web", "v1|Service|other|web", False),
    ("v1|Service|shop|web", "v1|Service|shop|web2", False),
    ("v1|Service|shop|web", "v1|ConfigMap|shop|web", False),
    ("v1|Pod|shop|", "v1|Pod|shop|", False),                                       # generateName: a new object each time
], ids=["api-versions", "default-namespace", "other-group", "other-namespace", "other-name", "other-kind",
        "generate-name"])
def test_what_counts_as_one_object(tmp_path, first, second, duplicate):
    def manifest(spec: str) -> str:
        api, kind, namespace, name = spec.split("|")
        meta = {"namespace": namespace} if namespace else {}
        meta.update({"name": name} if name else {"generateName": "job-"})
        return yaml.safe_dump({"apiVersion": api, "kind": kind, "metadata": meta})
    (tmp_path / "a.yaml").write_text(manifest(first))
    (tmp_path / "b.yaml").write_text(manifest(second))
    loaded, _ = load_manifests([str(tmp_path)])
    assert len(duplicate_problems(loaded)) == (1 if duplicate else 0)


def test_one_file_named_twice_or_reached_through_a_link_is_no_duplicate(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.yaml").write_text(SERVICE.format(name="web"))
    (tmp_path / "link").symlink_to(tmp_path / "m")
    loaded, _ = load_manifests([str(tmp_path / "m"), str(tmp_path / "m" / "a.yaml"), str(tmp_path / "link")])
    assert len(loaded) == 1 and duplicate_problems(loaded) == []
