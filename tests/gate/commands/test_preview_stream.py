"""`stateless-pack preview` streams the program's resources to Checkov and the pack while it runs: the
report is the one of the stages run one after the other, and a manifest Checkov's loader would not
just read back makes the gate scan the rendered folder as a whole."""
from __future__ import annotations

import json
import shutil

from stateless_pack.gate.checkov import runner as checkov_runner
from stateless_pack.gate.cli import main
from support.isolation import isolated  # noqa: F401 - an autouse fixture
from support.paths import REPO


def synthetic_stack(folder, units: int):
    """The benchmark's synthetic program (paved-road components and legacy workloads), `units` units."""
    folder.mkdir()
    shutil.copy(REPO / "bench" / "synthetic_program.py", folder / "__main__.py")
    (folder / "Pulumi.yaml").write_text("name: bench\nruntime: python\n")
    (folder / "Pulumi.bench.yaml").write_text(json.dumps({"config": {
        "bench:units": units, "bench:redisPassword": "bench-password-not-a-secret"}}))
    return folder


def report(tmp_path, capsys, program, name: str) -> tuple[int, dict]:
    code = main(["preview", str(program), "--stack", "bench", "--out", str(tmp_path / f"{name}-out"),
                 "--json", str(tmp_path / f"{name}.json")])
    capsys.readouterr()
    text = (tmp_path / f"{name}.json").read_text().replace(str(tmp_path / f"{name}-out"), "OUT")
    return code, json.loads(text)


def test_the_streamed_gate_reports_what_the_gate_without_streaming_reports(tmp_path, capsys, monkeypatch):
    program = synthetic_stack(tmp_path / "stack", units=6)
    batches, add_inputs = [], checkov_runner.CheckovProcess.add_inputs
    monkeypatch.setattr(checkov_runner.CheckovProcess, "add_inputs", lambda self, manifests: (
        batches.append((self.streamed, len(manifests))), add_inputs(self, manifests))[1])
    streamed = report(tmp_path, capsys, program, "streamed")
    assert len(batches) > 1 and all(is_streamed for is_streamed, _ in batches)  # really streamed
    prestart = checkov_runner.CheckovProcess.prestart.__func__
    monkeypatch.setattr(checkov_runner.CheckovProcess, "prestart", classmethod(
        lambda cls, checkov_bin, **options: prestart(cls, checkov_bin, **{**options, "streamed": False})))
    batches.clear()
    one_after_the_other = report(tmp_path, capsys, program, "whole")
    assert [is_streamed for is_streamed, _ in batches] == [False]  # all at once, after rendering
    assert streamed == one_after_the_other
    code, found = streamed
    assert code == 1 and {f["engine"] for f in found["findings"]} == {"checkov", "crossguard"}


def test_a_manifest_the_loader_would_report_ends_the_stream_and_the_whole_folder_is_read(tmp_path, capsys):
    program = tmp_path / "deep"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: deep\nruntime: python\n")
    (program / "__main__.py").write_text(
        "import pulumi_kubernetes as k8s\n"
        "deep = inner = {}\n"
        "for _ in range(110):\n"
        "    inner['d'] = {}\n"
        "    inner = inner['d']\n"
        "k8s.core.v1.ConfigMap('fine', metadata={'name': 'fine', 'namespace': 'shop'}, data={'a': 'b'})\n"
        "k8s.apiextensions.CustomResource('deep', api_version='example.org/v1', kind='Deep',\n"
        "                                 metadata={'name': 'deep', 'namespace': 'shop'}, spec=deep)\n")
    code = main(["preview", str(program), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2, captured.out
    assert "cannot hand these manifests to Checkov" in captured.err  # the loader read the folder
    assert "deep_shop_deep.yaml:107: YAML nested more than 100 levels deep" in captured.err
