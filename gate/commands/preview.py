"""`stateless-pack preview`: the gate. A Pulumi program, offline, through the policy pack and Checkov.

Stages (overlapped where they do not depend on each other):
  program under mocks  ||  pack launch + GetAnalyzerInfo + Configure  ||  Checkov's imports
      as each resource is registered: Remediate+Analyze  ||  Checkov's resource checks on its manifests
  (Helm charts and kustomizations are rendered by helm and kubectl in the program's child, as the
  provider would: gate/render/helm_components.py)
  coverage: a resource the gate cannot check (a remote component of another package) ends the run
  render manifests into this run's private folder
  Checkov's graph checks over that folder  ||  AnalyzeStack
  --out replaced by a copy of what was checked (under a lock: one run at a time publishes)
  our rules over the manifests, Checkov's findings, the waiver pass; the pack cross-checked; one report.
Checkov's result is that of one run over every manifest (its graph checks connect resources across
files): only its resource checks start while the program runs (gate/checkov/worker.py; README,
"Benchmark").

The pack and the gate read the same waiver registry (the gate hands the pack the path it located)
and the same policy configuration (`--policy-pack-config`: the pack gets it in `Configure`, the gate
reports its own findings at the levels it sets, `gate/levels.py`), and make the same decisions with
the same code (`policies/waivers/decisions.py`). The gate does not
read the pack's messages: it runs the rules itself and checks that the pack blocks exactly the
(policy, resource) pairs it blocks, from the diagnostics' structured fields. A disagreement is a
failed gate (exit 2), never a pass.

Every stage has a deadline (`--timeout-program`, `--timeout-pack` per call, `--timeout-checkov`)
and every child runs in a process group of its own: SIGTERM/SIGINT stop them all, remove the
temporary folders and end the run like a crash.

A helm.sh/v3:Release's objects are checked by the gate only (our rules with engine `rules`, Checkov),
never sent to the pack: the real engine's pack never sees them either. A program that registers no
Kubernetes object blocks (`no-kubernetes-resources`; advisory with --allow-empty).

Exit codes: 0 clean or advisory only, 1 blocking findings, 2 the program, the pack, Checkov or the
gate itself failed (a chart that does not render, a missing helm), a stage ran out of time, or a
signal stopped it. Every failure path ends in 2: a crash never passes the gate. No secret value of the program reaches any message.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from stateless_pack.gate import processes
from stateless_pack.gate.checkov import env as checkov_env
from stateless_pack.gate.checkov.runner import TIMEOUT_SECONDS as CHECKOV_TIMEOUT
from stateless_pack.gate.commands.options import add_timeout
from stateless_pack.gate.exit_codes import EXIT_BLOCKED, EXIT_CLEAN, EXIT_FAILED
from stateless_pack.gate.findings import Finding, Subject
from stateless_pack.gate.levels import POLICY_CONFIG_HELP, load_policy_config
from stateless_pack.gate.output.terminal import Progress, use_color
from stateless_pack.gate.pack.engine import CALL_TIMEOUT as PACK_CALL_TIMEOUT
from stateless_pack.gate.program.runner import DEFAULT_TIMEOUT as PROGRAM_TIMEOUT
from stateless_pack.gate.render import coverage
from stateless_pack.gate.render import tools as render_tools
from stateless_pack.policies.policy_config import PolicyConfigError
from stateless_pack.policies.redaction import redact, redactor


class GateError(Exception):
    """A stage failed: the message says which and why (exit 2)."""


def default_pack_dir() -> Path:
    """The pack folder shipped inside the distribution (stateless_pack/policies)."""
    from stateless_pack import policies

    return Path(policies.__file__).resolve().parent


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "preview", help="run a Pulumi program offline through the policy pack and Checkov",
        description="Run the Pulumi Python program in PROGRAM_DIR under Pulumi's mocks (no CLI, no "
                    "cluster, no credentials), send every resource to the policy pack over the analyzer "
                    "protocol, render the Kubernetes manifests (secrets redacted), run Checkov over them, "
                    "apply the stack's waiver registry and print one report. Exit 0: clean or advisory "
                    "only; 1: blocking findings; 2: the program, the pack, Checkov or the gate failed.")
    p.add_argument("program_dir", nargs="?", default=".", metavar="PROGRAM_DIR",
                   help="folder with Pulumi.yaml (default: the current folder)")
    p.add_argument("--stack", help="stack whose Pulumi.<stack>.yaml config to use "
                                   "(default: the only stack file, else dev)")
    p.add_argument("--policy-pack-config", metavar="FILE", help=POLICY_CONFIG_HELP)
    p.add_argument("--out", default="out/manifests", metavar="DIR",
                   help="folder for the rendered manifests (default: out/manifests)")
    p.add_argument("--json", metavar="FILE", help="also write the findings as JSON")
    p.add_argument("--sarif", metavar="FILE", help="also write SARIF 2.1.0 (code scanning)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (CI test reports)")
    p.add_argument("--state-export", metavar="FILE",
                   help="also write the resources as a Pulumi stack export, for "
                        "`pulumi policy analyze --policy-pack DIR --file FILE`")
    p.add_argument("--waivers", metavar="FILE",
                   help="the stack's waiver registry (default: $STATELESS_PACK_WAIVERS, else stack config "
                        "stateless-pack:waivers, else waivers.yaml in PROGRAM_DIR)")
    p.add_argument("--pack", default=None, metavar="DIR",
                   help="policy pack folder (default: the pack installed with stateless-pack)")
    p.add_argument("--checkov", default=None, metavar="PATH",
                   help=f"Checkov executable (default: ${checkov_env.CHECKOV_ENV_VAR}, else the one "
                        "`stateless-pack checkov install` provisioned, else checkov on PATH)")
    for tool in (render_tools.HELM, render_tools.KUBECTL):
        p.add_argument(tool.flag, default=None, metavar="PATH",
                       help=f"{tool.name} executable, for the program's charts and kustomizations (default: "
                            f"${tool.env_var}, else {tool.name} on PATH, else the one "
                            f"`{render_tools.INSTALL_COMMAND}` provisioned)")
    p.add_argument("--allow-empty", action="store_true",
                   help="a program that registers no Kubernetes object only warns (default: it blocks)")
    add_timeout(p, "--timeout-program", PROGRAM_TIMEOUT, "for the program to run under mocks")
    add_timeout(p, "--timeout-pack", PACK_CALL_TIMEOUT, "for each call to the policy pack")
    add_timeout(p, "--timeout-checkov", CHECKOV_TIMEOUT, "for Checkov's scan")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    progress = Progress(sys.stderr)
    secrets: list = []  # filled as they become known: no error message may show one
    try:
        with processes.stopping_on_signals():
            return preview(args, progress=progress, out=sys.stdout, secrets=secrets)
    except processes.Interrupted as exc:
        print(f"stateless-pack preview: error: stopped by {exc.signal_name}: the program, the policy pack "
              "and Checkov were stopped; nothing was checked", file=sys.stderr)
    except processes.StageTimeout as exc:
        print(f"stateless-pack preview: error: {exc}", file=sys.stderr)
    except GateError as exc:
        print(f"stateless-pack preview: error: {redact(str(exc), secrets)}", file=sys.stderr)
    except BrokenPipeError:
        raise  # the reader went away: gate/cli.py says so, without a traceback
    except Exception:  # a bug in the gate is a failed gate, never a pass
        print("stateless-pack preview: internal error:\n" + redact(traceback.format_exc(), secrets),
              file=sys.stderr)
    return EXIT_FAILED


# --- the pipeline --------------------------------------------------------------------------------

def preview(args: argparse.Namespace, *, progress: Callable[[str], None], out, secrets: list | None = None) -> int:
    from stateless_pack.gate.program import runner as programs
    from stateless_pack.policies.waivers.decisions import WaiverPass
    from stateless_pack.policies.waivers.locating import approvers_path, load_located, locate_registry
    from stateless_pack.policies.waivers.model import utc_today

    secrets = secrets if secrets is not None else []
    try:
        policy_config = load_policy_config(args.policy_pack_config)
    except PolicyConfigError as exc:
        raise GateError(f"--policy-pack-config: {exc}") from None
    program_dir = Path(args.program_dir).resolve()
    pack_dir = Path(args.pack).resolve() if args.pack else default_pack_dir()
    try:  # project files first: the pack needs project, stack and config before the program ran
        project = programs.load_project(program_dir)
        stack = args.stack or programs.default_stack(program_dir, project)
        config, secret_keys, _ = programs.load_config(program_dir, project, stack)
        programs.interpreter_for(program_dir)  # a virtualenv that is missing fails before anything starts
    except programs.ProgramError as exc:
        raise GateError(str(exc)) from None
    secrets += programs.secret_config_values(config, secret_keys)
    try:
        checkov_bin = checkov_env.find_checkov(args.checkov)
    except checkov_env.CheckovNotFound as exc:
        raise GateError(str(exc)) from None
    today = utc_today()
    location = locate_registry(project_dir=program_dir, config=config, explicit=args.waivers)
    registry, problems = load_located(location, approvers_path(pack_dir), today)
    waivers = WaiverPass(registry, problems, today, stack=stack)

    with processes.private_folder("stateless-pack-preview-") as work:
        run, rendered, scan, diagnostics, pack_info = _checked(
            args, _Target(program_dir, project["name"], stack, config, location, pack_dir, checkov_bin),
            policy_config, work, progress, secrets)
        progress(f"publishing the checked manifests to {args.out}; applying waivers")
        with _published(rendered, work, Path(args.out), stack) as (subjects, by_location):
            findings = _findings(subjects, by_location, scan, diagnostics, pack_info, waivers, policy_config,
                                 secrets, gate_only=frozenset(r.urn for r in run.resources if r.gate_only))
            findings = _rendered_from(findings, run.resources)
            if not subjects:
                findings.append(coverage.empty_stack(run.project, run.stack, allow_empty=args.allow_empty))
            report = _report(args, out, run, findings, subjects, location, pack_dir, policy_config, secrets)
    return EXIT_BLOCKED if report.blocking else EXIT_CLEAN


@dataclass(frozen=True)
class _Target:
    """What the stages run on: the program, its stack and config, the registry, the pack, Checkov."""
    program_dir: Path
    project: str
    stack: str
    config: dict
    location: Any
    pack_dir: Path
    checkov_bin: Path


def _checked(args, target: _Target, policy_config, work: Path, progress: Callable[[str], None],
             secrets: list) -> tuple:
    """The program run, its manifests rendered, Checkov's scan and the pack's diagnostics:
    (run, rendered, scan, diagnostics, pack info).

    Checkov's interpreter imports Checkov while the program runs and checks each manifest as the
    program registers it (`streamed`, gate/checkov/feed.py); the pack analyzes each resource as it
    is registered too (gate/pack/feed.py), and its manifests are written (gate/render/feed.py). What
    needs all of them (Checkov's graph checks, the pack's AnalyzeStack, coverage, the manifests'
    names) runs once the program has ended."""
    from stateless_pack.gate.checkov.runner import CheckovProcess
    from stateless_pack.gate.program import runner as programs

    checkovs = [CheckovProcess.prestart(target.checkov_bin, rule_settings=policy_config.rule_settings(),
                                        timeout=args.timeout_checkov, streamed=True)]
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="gate") as pool, ExitStack() as stopping:
        try:
            feeds = _Feeds.start(checkovs[0], work, stopping)
            progress(f"running {target.program_dir} (stack {target.stack}) under mocks; starting the policy pack")
            program_future = pool.submit(programs.run_program, target.program_dir, target.stack,
                                         args.timeout_program, on_resource=feeds.all.put,
                                         tools={"helm": args.helm, "kubectl": args.kubectl})
            with _launched_pack(target.pack_dir, target.project, target.stack, target.config, target.location,
                                policy_config.pack_overrides(), args.timeout_pack) as pack:
                feeds.pack.start(pack.client)
                run = _program_result(program_future)
                feeds.close()
                secrets += run.secrets()
                _require_covered(run)
                if not feeds.checkov.abandoned:  # Checkov's graph checks and AnalyzeStack run while the gate renders
                    checkovs[-1].complete_inputs()
                stack_future = pool.submit(_analyze, pack, run, feeds.pack)
                rendered = _render(run, work, feeds.render.files)
                progress(f"rendered {len(rendered)} manifest(s); finishing Checkov and the pack")
                if feeds.checkov.abandoned and checkovs[-1].streamed:  # Checkov's own way, over the folder
                    checkovs.append(_whole_folder_checkov(checkovs[-1], target, args, policy_config))
                checkov_future = pool.submit(_checkov, work / "manifests", checkovs[-1], rendered,
                                             feeds.checkov.copies(rendered))
                diagnostics, pack_info = _result(stack_future, "the policy pack failed")
                _require_clean_pack_logs(pack)
            # the pack has stopped (its memory is free) while Checkov finishes its graph checks
            return run, rendered, _result(checkov_future, "Checkov failed"), diagnostics, pack_info
        finally:
            for checkov in checkovs:
                checkov.close()


@dataclass
class _Feeds:
    """What takes the program's resources as it registers them: Checkov's input files, the pack,
    the rendered manifests; `all` hands each resource to the three."""
    checkov: Any
    pack: Any
    render: Any
    all: Any

    @classmethod
    def start(cls, checkov, work: Path, stopping: ExitStack) -> "_Feeds":
        from stateless_pack.gate.checkov.feed import CheckovFeed
        from stateless_pack.gate.pack.feed import PackFeed
        from stateless_pack.gate.program.resource_feed import ResourceFeed
        from stateless_pack.gate.render.feed import RenderFeed

        checkov_feed, pack_feed, render_feed = CheckovFeed(checkov), PackFeed(), RenderFeed(work / "streamed")
        stopping.callback(pack_feed.close)
        feeds = cls(checkov_feed, pack_feed, render_feed, ResourceFeed(checkov_feed, pack_feed, render_feed))
        stopping.callback(feeds.all.stop)
        return feeds

    def close(self) -> None:
        """Every resource announced so far handed on."""
        try:
            self.all.close()
        except Exception as exc:  # a manifest or an input file for Checkov could not be written
            raise GateError(f"cannot hand the manifests on: {exc}") from exc


def _whole_folder_checkov(streamed, target: _Target, args, policy_config):
    """A manifest Checkov's loader would expand or report ended the stream: the streamed Checkov is
    stopped, a new one scans the rendered folder as a whole, Checkov's own way."""
    from stateless_pack.gate.checkov.runner import CheckovProcess

    streamed.close()
    return CheckovProcess.prestart(target.checkov_bin, rule_settings=policy_config.rule_settings(),
                                   timeout=args.timeout_checkov)


def _require_covered(run) -> None:
    try:
        coverage.require_checkable(run.resources)
    except coverage.NotCheckable as exc:
        raise GateError(str(exc)) from None


def _render(run, work: Path, written: dict) -> list:
    from stateless_pack.gate.render import manifests as render

    try:
        return render.render(render.manifests(run.resources), work / "manifests", work / "patches", written)
    except (render.RenderError, OSError) as exc:
        raise GateError(f"cannot write the manifests: {exc}") from None


@contextmanager
def _published(rendered: list, work: Path, out: Path, stack: str) -> Iterator[tuple[list, dict]]:
    """--out becomes a copy of what was checked, locked while the report points at it. Yields the
    subjects (their files: the copies; one manifest per file, from line 1, field lines read when a
    finding needs one) and `by_location`, which maps the files Checkov read (in the private folder)
    to them."""
    from stateless_pack.gate.checkov.findings import subject_key
    from stateless_pack.gate.render import manifests as render
    from stateless_pack.gate.render.manifest_files import FieldLines

    with ExitStack() as held:
        try:
            held.enter_context(render.output_lock(out))
            render.publish(work / "manifests", out, work / "patches")
        except (render.RenderError, OSError) as exc:
            raise GateError(f"cannot write the manifests to {out}: {exc}") from None
        subjects, by_location = [], {}
        for item in rendered:
            copy = render.published_path(item, work / "manifests", out, work / "patches")
            subject = Subject(item.revealed(), _ref(item, stack), str(copy), 1, FieldLines.of_file(str(copy)),
                              partial=item.partial)
            subjects.append(subject)
            by_location[subject_key(str(item.file), 1)] = subject
        yield subjects, by_location


def _findings(subjects: list, by_location: dict, scan, diagnostics: list, pack_info, waivers, policy_config,
              secrets: list, gate_only: frozenset = frozenset()) -> list[Finding]:
    """Our rules, Checkov's findings, the waiver pass, the configured levels, the pack cross-checked;
    no secret in any text. `gate_only`: URNs the pack never sees (a Release's objects): our rules
    judge the pack's resources as the pack does (among what it sees) and these among all."""
    from stateless_pack.gate.checkov.findings import checkov_findings
    from stateless_pack.gate.levels import apply_levels
    from stateless_pack.gate.rule_findings import rule_findings
    from stateless_pack.gate.waiving import apply_waivers

    findings = rule_findings([s for s in subjects if s.ref.urn not in gate_only], engine="crossguard",
                             config=policy_config)
    if gate_only:
        findings += [f for f in rule_findings(subjects, engine="rules", config=policy_config)
                     if f.urn in gate_only]
    findings += checkov_findings(scan, by_location, policy_config)
    findings = apply_levels(apply_waivers(waivers, findings, subjects, engine="crossguard"), policy_config)
    findings = [replace(f, engine="rules") if f.engine == "crossguard" and f.urn in gate_only else f
                for f in findings]  # the waiver pass's own findings on them: the pack cannot make them
    return _scrub(_cross_check(diagnostics, pack_info, findings), secrets)


def _rendered_from(findings: list[Finding], resources: list) -> list[Finding]:
    """Findings on a resource rendered from a chart, kustomization or component name it, and say
    when only the gate checks the resource."""
    by_urn = {r.urn: r for r in resources if r.origin}
    return [replace(f, origin=coverage.described_origin(by_urn[f.urn].origin),
                    gate_only=by_urn[f.urn].gate_only) if f.urn in by_urn else f for f in findings]


def _report(args, out, run, findings: list[Finding], subjects: list, location, pack_dir: Path, policy_config,
            secrets: list):
    from stateless_pack.gate.output import reports

    scrub = redactor(secrets)
    checked = [replace(c, resource=scrub(c.resource)) for c in reports.checked_pairs(subjects, policy_config)]
    report = reports.Report(
        findings=findings, checked=checked, rules=reports.rule_help(), resources=len(subjects),
        title=f"stateless-pack preview: {run.project} (stack {run.stack})",
        meta={"command": "preview", "program": str(run.program_dir), "project": run.project,
              "stack": run.stack, "manifests": str(Path(args.out)), "pack": str(pack_dir),
              "waivers": location.source, "policy_config": policy_config.source})
    reports.print_table(report, out, color=use_color(out))
    reports.write_outputs(report, json_path=args.json, sarif_path=args.sarif, junit_path=args.junit)
    if args.state_export:
        from stateless_pack.gate.pack import state_export
        state_export.write(run, args.state_export)
    return report


def _program_result(future: Future):
    """The program's run; what it said (print, pulumi.log, stderr: redacted) shown first on stderr, as
    the Pulumi CLI shows diagnostics, also when it failed."""
    from stateless_pack.gate.program import diagnostics

    try:
        run = future.result()
    except Exception as exc:
        sys.stderr.write(diagnostics.render(getattr(exc, "diagnostics", ())))
        raise GateError(f"the program failed: {exc}") from exc
    sys.stderr.write(diagnostics.render(run.diagnostics))
    return run


def _result(future: Future, what: str) -> Any:
    """The stage's value, or GateError naming the stage (its exception says why)."""
    try:
        return future.result()
    except GateError:
        raise
    except Exception as exc:  # ProgramError, CheckovError, PackError, or a bug in a stage
        raise GateError(f"{what}: {exc}") from exc


def _ref(item, stack: str):
    from stateless_pack.policies.waivers.model import ResourceRef

    return ResourceRef.of_manifest(item.revealed(), stack=stack, urn=item.resource.urn)


class _launched_pack:
    """launch_pack + GetAnalyzerInfo + Configure, with failures as GateError. The pack is told
    where the registry is, so that it reads exactly the registry the gate read, and configured with
    the policy configuration's entries for its policies (`overrides`), as the engine would."""

    def __init__(self, pack_dir: Path, project: str, stack: str, config: dict, location, overrides: dict,
                 call_timeout: float = PACK_CALL_TIMEOUT):
        self.args = (pack_dir, project, stack, config)
        self.location, self.overrides, self.call_timeout = location, overrides, call_timeout
        self.pack = None

    def __enter__(self):
        from stateless_pack.gate.pack import engine
        from stateless_pack.policies.waivers.locating import REGISTRY_ENV

        pack_dir, project, stack, config = self.args
        # A file: its absolute path (the optional default only if it is there: a path given to the pack
        # is required). A document from stack config: the pack reads the same config. Nothing: the
        # pack must not pick up a registry from the caller's environment either.
        path = self.location.path
        given = path is not None and (self.location.required or path.exists())
        env = {REGISTRY_ENV: str(path.resolve())} if given else {}
        try:
            # dry_run False: the gate's mocks make every value known, as at `pulumi up`
            self.pack = engine.launch_pack(pack_dir, project=project, stack=stack, dry_run=False,
                                           config=config, env=env, drop_env=(REGISTRY_ENV,),
                                           call_timeout=self.call_timeout)
            self.pack.client.get_analyzer_info()
            self.pack.client.configure(self.overrides)
        except Exception as exc:
            if self.pack is not None:
                self.pack.close()
            raise GateError(f"the policy pack failed: {exc}") from exc
        return self.pack

    def __exit__(self, *exc) -> None:
        self.pack.close()


def engine_resources(run) -> list:
    """The program's registered resources as the engine sends them to an analyzer (not what only the
    gate sees: a Release's objects)."""
    from stateless_pack.gate.pack.feed import engine_resource

    return [engine_resource(r) for r in run.resources if not r.gate_only]


def _analyze(pack, run, pack_feed) -> tuple[list, Any]:
    """Every registered resource through Remediate+Analyze (`pack_feed` sent them as they were
    registered), then AnalyzeStack once; what only the gate sees goes to neither."""
    resources = [r for r in run.resources if not r.gate_only]
    try:
        per_resource = pack_feed.results(resources)
        stack_diagnostics = pack.client.analyze_stack(pack_feed.sent(resources))
    except Exception as exc:
        raise GateError(f"the policy pack failed: {exc}") from exc
    return [d for ds in per_resource for d in ds] + list(stack_diagnostics), pack.client.get_analyzer_info()


def _blocks(diagnostic) -> bool:
    return diagnostic.enforcement_level in ("mandatory", "remediate")


def _cross_check(diagnostics: list, info, findings: list[Finding]) -> list[Finding]:
    """The pack must block exactly the (policy, URN) pairs the gate blocks for the pack's policies
    (compared on the diagnostics' structured fields). Policies of the pack that the gate does not
    know (a custom pack) become findings at the level the pack reported them."""
    ours = {f.rule for f in findings if f.engine == "crossguard"} | _catalog_policy_names()
    expected = {(f.rule, f.urn) for f in findings if f.engine == "crossguard" and f.blocking}
    reported = {(d.policy_name, d.urn) for d in diagnostics if d.policy_name in ours and _blocks(d)}
    if expected != reported:
        def lines(pairs):
            return "; ".join(f"{rule} on {urn or 'the stack'}" for rule, urn in sorted(pairs)) or "none"
        raise GateError("the policy pack and the gate disagree (is --pack another version of "
                        f"stateless-pack?): only the pack blocks {lines(reported - expected)}; only the "
                        f"gate blocks {lines(expected - reported)}")
    extra = [Finding(rule=d.policy_name, engine="crossguard",
                     level="mandatory" if _blocks(d) else "advisory",
                     resource=d.urn or "stack", message=_strip_description(d), urn=d.urn,
                     fix=_remediation(info, d.policy_name))
             for d in diagnostics if d.policy_name not in ours]
    return findings + extra


def _catalog_policy_names() -> set:
    from stateless_pack.policies.catalog import rules
    from stateless_pack.policies.waivers.wording import POLICY_NAMES

    return {r.name for r in rules()} | set(POLICY_NAMES)


def _strip_description(d) -> str:
    """A custom policy's message, without the description line pulumi-policy puts in front."""
    if d.description and d.message.startswith(d.description + "\n"):
        return d.message[len(d.description) + 1:]
    return d.message


def _remediation(info, policy_name: str) -> str:
    try:
        return info.policy(policy_name).remediation_steps
    except KeyError:
        return ""


def _require_clean_pack_logs(pack) -> None:
    errors = [log.message for log in pack.logs if log.severity == "error"]
    if errors:
        raise GateError("the policy pack logged errors:\n" + "\n".join(errors))


def _checkov(folder: Path, checkov, rendered: list, copies: dict):
    """Checkov over the rendered folder; `copies`: {rendered file: the input file Checkov already
    has for it} (streamed while the program ran)."""
    from stateless_pack.gate.checkov import runner as checkov_runner

    whole = sorted((item for item in rendered if not item.partial), key=lambda i: i.file.name)  # file order
    if not whole:  # nothing rendered (patches are in another folder): Checkov would have nothing to scan
        return checkov_runner.CheckovScan([], [])
    loaded = _as_loaded(whole)
    return checkov_runner.scan_with_checkov(
        [str(folder)], checkov=checkov, loaded=loaded,
        copies=[copies.get(item.file) for item in whole] if loaded is not None else None)


def _as_loaded(rendered: list) -> list | None:
    """The rendered manifests as Checkov's loader would read them back from their files, without
    reading them; None if one of them needs the loader (see `as_loaded`)."""
    from stateless_pack.gate.render.manifest_files import as_loaded

    loaded = [as_loaded(item.redacted(), str(item.file)) for item in rendered]
    return None if any(item is None for item in loaded) else loaded


def _scrub(findings: list[Finding], secrets: Iterable[Any]) -> list[Finding]:
    """No secret value of the program in any text the gate writes (messages, paths, fixes, the
    resource's name: a name can come from a secret too)."""
    if not secrets:
        return findings
    scrub = redactor(secrets)
    return [replace(f, message=scrub(f.message), path=scrub(f.path), fix=scrub(f.fix),
                    resource=scrub(f.resource)) for f in findings]
