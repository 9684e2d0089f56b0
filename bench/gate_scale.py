"""Benchmark: the gate at scale (`make bench`, or `.venv/bin/python bench/gate_scale.py`).

For each size, one synthetic stack (bench/synthetic_program.py: paved-road components plus some
legacy workloads that break rules) goes through every stage of `stateless-pack preview`, each
timed on its own, then through the whole gate as a command:

  program    the program under Pulumi's mocks (child process), as the gate runs it
  render     manifests written to a folder
  checkov    Checkov alone: `checkov -d` with the gate's options on the rendered folder (floor 1)
  pack       the full catalog pack over gRPC: Remediate+Analyze per resource, AnalyzeStack once
  noop       the same gRPC path with a pack of one no-op policy (floor 2: the protocol's cost)
  gate       `stateless-pack preview` end to end: wall time and peak memory of its process tree

The sequence is what a team would otherwise run: the program, its manifests rendered, then
`checkov -d` (program + render + checkov). All stages of one size run back to back in one process,
so the ratios compare like with like on a shared, noisy machine; absolute seconds vary from run to
run, ratios much less. `--results FILE.md` also draws FILE.png (seconds and MiB per size).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from stateless_pack.gate.checkov import env as checkov_env
from stateless_pack.gate.checkov import runner as checkov_runner
from stateless_pack.gate.commands import preview as preview_command
from stateless_pack.gate.pack import engine
from stateless_pack.gate.program import runner as program
from stateless_pack.gate.render import manifests as render

REPO = Path(__file__).resolve().parents[1]

BENCH = Path(__file__).resolve().parent
# One unit of the synthetic program registers 16.5 Kubernetes resources on average (measured: 10
# units register 165; every fifth unit adds a legacy Deployment and Service, every tenth a Namespace).
RESOURCES_PER_UNIT = 16.5
DEFAULT_SIZES = (10, 100, 1000, 5000)
PROJECT, STACK = "bench", "bench"


@dataclass
class Row:
    size: int             # requested
    resources: int        # Kubernetes resources the program registered (what the engines judge)
    registered: int       # every registered resource (components and the stack included)
    program_s: float
    render_s: float
    checkov_s: float      # Checkov alone (floor)
    checkov_peak_mib: float
    pack_s: float         # full catalog: per-resource calls + AnalyzeStack
    pack_stack_s: float   # AnalyzeStack alone
    noop_s: float         # no-op pack, same calls
    gate_s: float
    gate_exit: int
    gate_peak_mib: float  # sum of RSS over the gate's process tree, sampled
    gate_peaks: dict      # each role's own peak (they need not coincide): program, pack, checkov, gate
    gate_cpu_s: float     # CPU seconds of the gate's whole process tree
    sequence_cpu_s: float  # CPU seconds of program + render + Checkov alone

    @property
    def pack_per_resource_ms(self) -> float:
        return 1000 * (self.pack_s - self.pack_stack_s) / self.registered

    @property
    def throughput_ratio(self) -> float:
        """Full catalog throughput as a fraction of the no-op pack's (target >= 0.5)."""
        return self.noop_s / self.pack_s

    @property
    def gate_over_checkov(self) -> float:
        """Gate wall time over Checkov alone (stretch target <= 1.25 at 1,000)."""
        return self.gate_s / self.checkov_s

    @property
    def sequence_s(self) -> float:
        """Program, render and Checkov alone, one after the other."""
        return self.program_s + self.render_s + self.checkov_s

    @property
    def gate_over_sequence(self) -> float:
        """Gate wall time over the sequence (target <= 0.9 at 1,000)."""
        return self.gate_s / self.sequence_s

    @property
    def gate_ms_per_resource(self) -> float:
        return 1000 * self.gate_s / self.resources

    @property
    def checkov_ms_per_resource(self) -> float:
        return 1000 * self.checkov_s / self.resources


def write_stack(folder: Path, units: int) -> None:
    """A program folder for `units` units, with its own registry (W-9001, dated today)."""
    today = datetime.date.today()
    (folder / "__main__.py").write_text((BENCH / "synthetic_program.py").read_text())
    (folder / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n")
    (folder / "waivers.yaml").write_text(json.dumps({"version": 1, "waivers": [{
        "id": "W-9001", "rules": ["min-replicas"],
        "scope": {"stack": STACK, "kind": "Deployment", "name": "sessions-*"},
        "reason": "Benchmark: one Redis instance per session store, as in the reference stack.",
        "approved_by": "max.mustermann@example.org", "approver_role": "platform-lead",
        "reference": "BENCH-1", "created": today.isoformat(),
        "expires": (today + datetime.timedelta(days=30)).isoformat()}]}, indent=1))
    (folder / f"Pulumi.{STACK}.yaml").write_text(json.dumps({"config": {
        f"{PROJECT}:units": units,
        f"{PROJECT}:redisPassword": "bench-password-not-a-secret",
        "stateless-pack:waivers": str(folder / "waivers.yaml")}}, indent=1))


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed(fn, *args, **kwargs):
    """(value, wall seconds, CPU seconds of this process and of the children it waited for)."""
    start, cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
    value = fn(*args, **kwargs)
    cpu = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
    return value, time.perf_counter() - start, cpu


def analyze_all(pack_dir: Path, resources: list, config: dict) -> tuple[float, float]:
    """(total seconds, AnalyzeStack seconds) for one pack over the engine's calls."""
    with engine.launch_pack(pack_dir, project=PROJECT, stack=STACK, dry_run=False, config=config) as pack:
        pack.client.get_analyzer_info()
        pack.client.configure()
        start = time.perf_counter()
        pack.client.analyze_many(resources)
        stack_start = time.perf_counter()
        pack.client.analyze_stack(resources)
        end = time.perf_counter()
    return end - start, end - stack_start


def run_measured(command: list[str], **popen) -> tuple[float, int, float, dict, str, float]:
    """(wall seconds, exit code, peak MiB of the process tree, peak MiB by role, stderr, CPU seconds
    of the tree: every process of it is waited for by its parent)."""
    start, cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_CHILDREN)
    process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.append(process.stderr.read()), daemon=True)
    reader.start()
    peak, peaks = 0, {}
    while process.poll() is None:
        peak = max(peak, _tree_rss(process, peaks))
        time.sleep(0.05)
    elapsed, cpu = time.perf_counter() - start, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
    reader.join()
    return (elapsed, process.returncode, peak / 2**20, {k: v / 2**20 for k, v in peaks.items()}, "".join(stderr),
            cpu)


def checkov_alone(folder: Path) -> tuple[float, float, float]:
    """(seconds, peak MiB, CPU seconds) of `checkov -d` with the gate's options (built-in and our
    checks), alone."""
    checkov = checkov_runner.CheckovProcess(checkov_env.find_checkov())  # the gate's folder and environment
    try:
        command = checkov_runner.checkov_command(checkov.checkov_bin, [folder], True,
                                                 os.path.join(checkov.work_dir, "out"))
        elapsed, code, peak, _, stderr, cpu = run_measured(command, cwd=checkov.work_dir, env=checkov.env)
    finally:
        checkov.close()
    if code != 0:
        raise SystemExit(f"Checkov failed: {stderr[-2000:]}")
    return elapsed, peak, cpu


def gate(folder: Path, out: Path) -> tuple[float, int, float, dict, float]:
    """(wall seconds, exit code, peak MiB of the whole process tree, peak MiB by role, CPU seconds)
    of `stateless-pack preview`."""
    command = [str(REPO / ".venv" / "bin" / "stateless-pack"), "preview", str(folder), "--stack", STACK,
               "--out", str(out / "manifests"), "--json", str(out / "gate.json")]
    elapsed, code, peak, peaks, stderr, cpu = run_measured(command)
    if code not in (0, 1):
        raise SystemExit(f"the gate failed (exit {code}):\n{stderr[-3000:]}")
    return elapsed, code, peak, peaks, cpu


ROLES = (("pack", "pulumi.policy"), ("program", "stateless_pack.gate.program.runner"), ("checkov", "checkov"))


def _tree_rss(process: psutil.Process, peaks: dict | None = None) -> int:
    """RSS summed over the gate and its children; `peaks` keeps each role's highest sum."""
    total, by_role = 0, {}
    for p in [process, *process.children(recursive=True)]:
        try:
            rss, command = p.memory_info().rss, " ".join(p.cmdline())
        except psutil.Error:
            continue  # ended between listing and reading
        role = next((r for r, marker in ROLES if marker in command), "gate")
        total += rss
        by_role[role] = by_role.get(role, 0) + rss
    if peaks is not None:
        for role, rss in by_role.items():
            peaks[role] = max(peaks.get(role, 0), rss)
    return total


def measure(size: int, work: Path) -> Row:
    folder = work / f"stack-{size}"
    folder.mkdir()
    write_stack(folder, max(1, round(size / RESOURCES_PER_UNIT)))
    run, program_s, program_cpu = timed(program.run_program, folder, STACK)
    items = render.manifests(run.resources)
    rendered, render_s, render_cpu = timed(render.render, items, work / f"manifests-{size}")
    checkov_s, checkov_peak, checkov_cpu = checkov_alone(work / f"manifests-{size}")
    config, _, _ = program.load_config(folder, program.load_project(folder), STACK)
    resources = preview_command.engine_resources(run)
    pack_s, pack_stack_s = analyze_all(preview_command.default_pack_dir(), resources, config)
    noop_s, _ = analyze_all(BENCH / "noop_pack", resources, config)
    gate_out = work / f"gate-{size}"
    gate_out.mkdir()
    gate_s, gate_exit, peak, peaks, gate_cpu = gate(folder, gate_out)
    return Row(size, len(rendered), len(run.resources), program_s, render_s, checkov_s, checkov_peak,
               pack_s, pack_stack_s, noop_s, gate_s, gate_exit, peak, peaks, gate_cpu,
               program_cpu + render_cpu + checkov_cpu)


def _markdown(head: list[str], lines: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(l) + " |" for l in lines]


def table(rows: list[Row]) -> str:
    """Two tables: seconds per stage; then ratios, cost per resource (ms) and peak memory (MiB)."""
    times = _markdown(
        ["size", "k8s resources", "registered", "program s", "render s", "Checkov alone s", "sequence s",
         "pack s (of it AnalyzeStack)", "no-op pack s", "gate s", "gate exit", "CPU s: sequence, gate"],
        [[str(r.size), str(r.resources), str(r.registered), f"{r.program_s:.1f}", f"{r.render_s:.1f}",
          f"{r.checkov_s:.1f}", f"{r.sequence_s:.1f}", f"{r.pack_s:.1f} ({r.pack_stack_s:.1f})",
          f"{r.noop_s:.1f}", f"{r.gate_s:.1f}", str(r.gate_exit), f"{r.sequence_cpu_s:.1f}, {r.gate_cpu_s:.1f}"]
         for r in rows])
    per = _markdown(
        ["size", "pack/no-op throughput", "gate/sequence", "gate/Checkov", "program ms/res", "Checkov ms/res",
         "pack ms/res", "gate ms/res", "Checkov alone peak MiB", "gate peak MiB", "gate peaks by process MiB"],
        [[str(r.size), f"{r.throughput_ratio:.0%}", f"{r.gate_over_sequence:.2f}", f"{r.gate_over_checkov:.2f}",
          f"{1000 * r.program_s / r.registered:.1f}", f"{r.checkov_ms_per_resource:.1f}",
          f"{r.pack_per_resource_ms:.2f}", f"{r.gate_ms_per_resource:.1f}", f"{r.checkov_peak_mib:.0f}",
          f"{r.gate_peak_mib:.0f}", ", ".join(f"{k} {v:.0f}" for k, v in sorted(r.gate_peaks.items()))]
         for r in rows])
    return "\n".join(times + [""] + per)


def _verdict(what: str, value: str, target: str, met: bool) -> str:
    return f"{what}: {value} (target {target}): {'met' if met else 'MISSED'}"


def verdicts(rows: list[Row]) -> list[str]:
    """The targets of the issue (#14), each met or missed."""
    by_size = {r.size: r for r in rows}
    out = [_verdict(f"pack throughput at {size}", f"{r.throughput_ratio:.0%} of the no-op pack", ">= 50%",
                    r.throughput_ratio >= 0.5)
           for size, r in sorted(by_size.items()) if size in (1000, 5000)]
    if 1000 in by_size:
        r = by_size[1000]
        out.append(_verdict("gate wall at 1000", f"{r.gate_s:.1f} s = {r.gate_over_sequence:.2f} x the sequence "
                            f"(program + render + Checkov alone: {r.sequence_s:.1f} s)", "<= 0.9",
                            r.gate_over_sequence <= 0.9))
        out.append(_verdict("gate wall at 1000, stretch", f"{r.gate_over_checkov:.2f} x Checkov alone "
                            f"(the gate's processes used {r.gate_cpu_s:.1f} CPU s: on {os.cpu_count()} cores at "
                            f"least {r.gate_cpu_s / os.cpu_count():.1f} s = "
                            f"{r.gate_cpu_s / os.cpu_count() / r.checkov_s:.2f} x Checkov alone)", "<= 1.25",
                            r.gate_over_checkov <= 1.25))
    if 5000 in by_size:
        r = by_size[5000]
        out.append(_verdict("gate peak memory at 5000", f"{r.gate_peak_mib:.0f} MiB = "
                            f"{r.gate_peak_mib / r.checkov_peak_mib:.2f} x Checkov alone's {r.checkov_peak_mib:.0f}",
                            "<= 1.05", r.gate_peak_mib <= 1.05 * r.checkov_peak_mib))
    if 1000 in by_size and 5000 in by_size:
        small, large = by_size[1000], by_size[5000]
        gate_growth = large.gate_ms_per_resource / small.gate_ms_per_resource
        checkov_growth = large.checkov_ms_per_resource / small.checkov_ms_per_resource
        out.append(_verdict("growth of ms/resource from 1000 to 5000",
                            f"gate x{gate_growth:.2f} ({small.gate_ms_per_resource:.1f} -> "
                            f"{large.gate_ms_per_resource:.1f}), Checkov alone x{checkov_growth:.2f} "
                            f"({small.checkov_ms_per_resource:.1f} -> {large.checkov_ms_per_resource:.1f})",
                            "gate <= Checkov alone", gate_growth <= checkov_growth))
    return out


def plot(rows: list[Row], path: Path) -> None:
    """Seconds and peak MiB per size: the gate, Checkov alone and the sequence (Agg: no display)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    sizes = [r.resources for r in rows]
    figure, (seconds, mib) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for axes, series, unit in (
            (seconds, (("gate", [r.gate_s for r in rows]), ("Checkov alone", [r.checkov_s for r in rows]),
                       ("sequence: program + render + Checkov", [r.sequence_s for r in rows])), "seconds"),
            (mib, (("gate (process tree)", [r.gate_peak_mib for r in rows]),
                   ("Checkov alone (process tree)", [r.checkov_peak_mib for r in rows])), "peak MiB")):
        for label, values in series:
            axes.plot(sizes, values, marker="o", label=label)
        axes.set_xscale("log")
        axes.set_xlabel("Kubernetes resources")
        axes.set_ylabel(unit)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    seconds.set_title("wall time")
    mib.set_title("peak memory")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated resource counts (default: %(default)s)")
    parser.add_argument("--results", type=Path, help="also write the table to this Markdown file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="stateless-pack-bench-") as work:
        for size in sizes:
            print(f"size {size} ...", file=sys.stderr, flush=True)
            rows.append(measure(size, Path(work)))
            print(table(rows[-1:]), file=sys.stderr, flush=True)
    machine = (f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
               f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {datetime.date.today().isoformat()}")
    report = "\n".join([table(rows), "", *[f"- {v}" for v in verdicts(rows)], "", f"Machine: {machine}"])
    print(report)
    if args.results:
        picture = args.results.with_suffix(".png")
        plot(rows, picture)
        args.results.write_text(f"![seconds and peak MiB per size]({picture.name})\n\n{report}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
