"""Running Checkov (its built-in Kubernetes checks and our `CKV_STL_*` checks) and reading its findings.

Checkov lives in its own virtual environment (`gate/checkov/env.py`: it pins `packaging<24`, Pulumi
needs `packaging>=26`), so it runs as a command, or as `gate/checkov/worker.py` run by its own
interpreter (prestarted; streamed: it checks input files while the caller still writes them; see
`CheckovProcess`). The run is offline and deterministic: no policy download,
no update check, no platform API, no user-level Checkov config or CHECKOV-related environment
variables. Anything that goes wrong (no binary, a crash, unreadable output, a file Checkov skipped,
one of our checks that did not run) raises `CheckovError`: a broken Checkov never passes the gate.
A resource Checkov silently dropped (it keeps no record of it, not even of our `CKV_STL_0` probe,
which passes on everything) is returned in `CheckovScan.unevaluated`, for the gate to report.
Checkov's field paths (`spec/template/spec/containers/[0]/image`) are turned into ours
(`spec.template.spec.containers[0].image`) here, in one place.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path

import yaml

from stateless_pack.gate import processes
from stateless_pack.gate.checkov import env as checkov_env
from stateless_pack.gate.findings import Finding
from stateless_pack.gate.user_cache import cache_root
from stateless_pack.gate.render.manifest_files import LoadedManifest, load_manifests
from stateless_pack.policies import checkov_checks
from stateless_pack.policies.catalog import MANDATORY, rules
from stateless_pack.policies.checkov_checks import PROBE_ID, SETTINGS_VARIABLE
from stateless_pack.policies.manifest import dotted
from stateless_pack.policies.waivers.model import ResourceRef
from stateless_pack.policies.waivers.suppressions import without_skips

OUR_CHECKS_DIR = Path(checkov_checks.__file__).resolve().parent
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
TIMEOUT_SECONDS = 900

# Environment variables Checkov reads as command-line options (ext_argument_parser.py): a user's
# CKV_SKIP_CHECK could hide our checks, CKV_NO_FAIL_ON_CRASH would turn a crash into a pass, ...
_CHECKOV_OPTION_VARIABLES = (
    "CKV_EXTERNAL_CHECKS_PUBLIC_KEY", "CKV_FRAMEWORK", "CKV_CHECK", "CKV_SKIP_CHECK", "BC_API_KEY",
    "PRISMA_API_URL", "DOWNLOAD_EXTERNAL_MODULES", "CKV_VAR_FILE", "EXTERNAL_MODULES_DIR", "CKV_EVAL_VARS",
    "BC_CA_BUNDLE", "CKV_POLICY_METADATA_FILTER", "CKV_POLICY_METADATA_FILTER_EXCEPTION",
    "CKV_SECRETS_SCAN_FILE_TYPE", "CKV_SECRETS_SCAN_ENABLE_ALL", "CKV_SECRETS_SCAN_BLOCK_LIST",
    "CKV_SKIP_RESOURCES_WITHOUT_VIOLATIONS", "CKV_NO_FAIL_ON_CRASH",
)
_OFFLINE_VARIABLES = {
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",  # no PyPI version check (only an env var exists for it)
    "BC_SKIP_MAPPING": "TRUE",                # no Prisma Cloud id mapping download
}


class CheckovError(RuntimeError):
    """Checkov could not give a complete, trustworthy result."""


@dataclass(frozen=True)
class Suppression:
    """A check Checkov reported SKIPPED because of a `checkov.io/skip*` annotation."""

    rule: str        # our rule name for CKV_STL ids, else the Checkov id
    checkov_id: str
    resource: str    # Kind/namespace/name
    file: str
    comment: str     # the text after `=` in the annotation: for our components, the waiver id
    line: int = 0


@dataclass(frozen=True)
class CheckovScan:
    findings: list[Finding]          # FAILED checks
    suppressions: list[Suppression]  # SKIPPED checks: the waiver layer checks that each is backed
    unevaluated: list = field(default_factory=list)  # (file, line) of each manifest Checkov dropped


def run_checkov(paths: list[str], *, checkov_bin: str | os.PathLike | None = None,
                external_checks: bool = True) -> list[Finding]:
    """The failed Checkov checks over the manifest files/folders `paths`, as findings."""
    return scan_with_checkov(paths, checkov_bin=checkov_bin, external_checks=external_checks).findings


def scan_with_checkov(paths: list[str], *, checkov_bin: str | os.PathLike | None = None,
                      external_checks: bool = True, checkov: CheckovProcess | None = None,
                      rule_settings: dict | None = None, timeout: float = TIMEOUT_SECONDS,
                      loaded: list[LoadedManifest] | None = None, copies: list | None = None) -> CheckovScan:
    """Failed and suppressed Checkov checks over the manifest files/folders `paths`; raises
    `CheckovError` if a file cannot be handed to Checkov or Checkov fails. `loaded`: the manifests
    of `paths` as `load_manifests` reads them, already in memory (the gate rendered them): the files
    are not read again; `copies`: see `scan_manifests`."""
    manifests, problems = (loaded, []) if loaded is not None else load_manifests([str(p) for p in paths])
    if problems:  # Checkov would silently skip these files
        if checkov is not None:
            checkov.close()
        raise CheckovError("cannot hand these manifests to Checkov: "
                           + "; ".join(f"{p.where}: {p.message}" for p in problems))
    return scan_manifests(manifests, checkov_bin=checkov_bin, external_checks=external_checks, checkov=checkov,
                          rule_settings=rule_settings, timeout=timeout, copies=copies)


def scan_manifests(manifests: list[LoadedManifest], *, checkov_bin: str | os.PathLike | None = None,
                   external_checks: bool = True, checkov: CheckovProcess | None = None,
                   rule_settings: dict | None = None, timeout: float = TIMEOUT_SECONDS,
                   copies: list | None = None) -> CheckovScan:
    """Checkov over loaded manifests; findings name each manifest's own file and line.

    Checkov reads private copies, one manifest per file in its own working folder, without skip
    annotations (it evaluates every check; the waiver pass decides). One Checkov process over
    everything: its graph checks (e.g. CKV2_K8S_6, pods without a NetworkPolicy) connect resources
    across files and even namespaces, so a split scan would change its results. `checkov`: a
    `CheckovProcess.prestart()`ed run to use (it wins over `checkov_bin`, `rule_settings` and
    `timeout`). `rule_settings`: {rule name: properties} for our checks. `copies`: for each
    manifest, the input file `checkov` already has for it (`add_inputs`: the gate streams them while
    the program runs), or None.
    """
    if checkov is None:
        checkov = CheckovProcess(checkov_bin if checkov_bin is not None else _found_checkov(),
                                 rule_settings=rule_settings, timeout=timeout)
    checkov_bin = checkov.checkov_bin
    try:
        if not (checkov_bin.is_file() and os.access(checkov_bin, os.X_OK)):
            raise CheckovError(f"Checkov not found at {checkov_bin}: run `stateless-pack checkov install`")
        sources = _inputs(checkov, manifests, copies)
        reports = checkov.scan([checkov.input_folder], external_checks) if sources else []
    finally:
        checkov.close()
    records = [(result, record) for report in reports for result, record in _records(report)]
    unevaluated = []
    if external_checks:  # without the probe, a kind no check applies to would look dropped
        unevaluated = _require_our_checks_ran(sources, records)

    real_path = cache(os.path.realpath)  # once per file, not once per record

    def located(item):  # Checkov names its private copy; name the manifest's own file and line
        source = sources.get(real_path(item.file)) if item.file else None
        return replace(item, file=source.file, line=source.line) if source else item

    findings = sorted((located(_finding(record)) for result, record in records if result == "failed_checks"),
                      key=lambda f: (f.resource, f.checkov_id, f.path))
    suppressions = sorted((located(_suppression(record)) for result, record in records
                           if result == "skipped_checks"), key=lambda s: (s.resource, s.checkov_id))
    return CheckovScan(findings, suppressions, [(loaded.file, loaded.line) for loaded in unevaluated])


def _inputs(checkov: CheckovProcess, manifests: list[LoadedManifest], copies: list | None
            ) -> dict[str, LoadedManifest]:
    """Checkov's input file of each manifest, written now unless `copies` names one it already has;
    {real path of the file: its manifest}. Checkov must have no other input file."""
    copies = list(copies) if copies is not None else [None] * len(manifests)
    written = iter(checkov.add_inputs([m.manifest for m, copy in zip(manifests, copies) if copy is None]))
    files = [copy if copy is not None else next(written) for copy in copies]
    sources = {os.path.realpath(file): loaded for file, loaded in zip(files, manifests)}
    if len(sources) != len(list(checkov.input_folder.iterdir())):
        raise CheckovError("Checkov has input files for manifests it was not asked to scan")
    return sources


def checkov_command(checkov_bin: Path, paths: list[Path], external_checks: bool, output_dir: str) -> list[str]:
    command = [str(checkov_bin), "--framework", "kubernetes", "--output", "json",
               "--output-file-path", output_dir,
               "--soft-fail",            # failed checks exit 0: a non-zero exit then always means a crash
               "--skip-download", "--skip-results-upload", "--compact"]
    for path in paths:
        command += ["--directory" if path.is_dir() else "--file", str(path)]
    if external_checks:
        command += ["--external-checks-dir", str(OUR_CHECKS_DIR)]
    return command


# Run by a prestarted Checkov's interpreter: `checkov` with its command line and input files read
# from stdin (Checkov is imported, about 5 s of a small scan, before the manifests exist).
WORKER = Path(__file__).resolve().with_name("worker.py")


class CheckovProcess:
    """One Checkov run in a private working folder (empty HOME and cwd: no user or folder
    `.checkov.yaml` changes what runs), with the offline environment, in a process group of its own
    (`close` stops Checkov's workers too), within `timeout` seconds of `scan`.

    `prestart()` launches the interpreter of a Checkov installed in a virtual environment right away
    (`gate/checkov/worker.py`) and hands it the command line later (`scan`); `streamed`, it gets its
    command line at once and starts on each input file as `add_inputs` writes it, while the caller
    still prepares the rest (the graph checks wait for `scan`). Any other Checkov executable (a pipx
    shim, a wrapper script) runs as a plain command at `scan` time.
    """

    def __init__(self, checkov_bin: str | os.PathLike, *, rule_settings: dict | None = None,
                 timeout: float = TIMEOUT_SECONDS):
        self.checkov_bin = Path(checkov_bin)
        self.timeout = timeout
        self._work = processes.temp_folder("stateless-pack-checkov-")
        self.env = {k: v for k, v in os.environ.items() if k not in _CHECKOV_OPTION_VARIABLES}
        # Its temporary files (lark's grammar cache, hcl2's parser) go to a cache of ours, never
        # left behind in the user's temporary folder.
        self.env.update(_OFFLINE_VARIABLES, HOME=str(self._work), TMPDIR=str(_checkov_tmp()))
        self.env[SETTINGS_VARIABLE] = json.dumps(rule_settings or {})  # never the caller's own
        self._process: subprocess.Popen | None = None
        self._stream: list[str] | None = None  # the command line a streamed Checkov got
        self._lines: queue.SimpleQueue = queue.SimpleQueue()  # to a streamed Checkov's stdin
        self._writer: threading.Thread | None = None
        self._inputs = 0
        self._complete = False  # a streamed Checkov was told it has every input file
        self.input_folder.mkdir()

    @classmethod
    def prestart(cls, checkov_bin: str | os.PathLike, *, rule_settings: dict | None = None,
                 timeout: float = TIMEOUT_SECONDS, streamed: bool = False) -> "CheckovProcess":
        checkov = cls(checkov_bin, rule_settings=rule_settings, timeout=timeout)
        if _is_venv_checkov(checkov.checkov_bin):
            try:
                with open(checkov._stderr_path, "w") as stderr:  # a file: never a full pipe
                    checkov._process = processes.popen(
                        [str(checkov.checkov_bin.parent / "python"), str(WORKER), str(checkov.checkov_bin)],
                        cwd=checkov.work_dir, env=checkov.env, stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL, stderr=stderr, text=True)
            except OSError:
                checkov._process = None  # scan() starts it the plain way and reports any error
        if streamed and checkov._process is not None:
            checkov._stream = checkov._command([checkov.input_folder], True)
            checkov._writer = threading.Thread(target=_write_lines, name="checkov-input", daemon=True,
                                               args=(checkov._process.stdin, checkov._lines))
            checkov._writer.start()
            checkov._send(checkov._stream[1:])
        return checkov

    @property
    def work_dir(self) -> str:
        """The private working folder: cwd, HOME and output of the run (removed by `close`)."""
        return str(self._work)

    @property
    def input_folder(self) -> Path:
        """Where `add_inputs` writes."""
        return self._work / "in"

    @property
    def streamed(self) -> bool:
        return self._stream is not None

    @property
    def _stderr_path(self) -> Path:
        return self._work / "checkov.stderr"

    def _command(self, paths: list[Path], external_checks: bool) -> list[str]:
        return checkov_command(self.checkov_bin, paths, external_checks, os.path.join(self.work_dir, "out"))

    def add_inputs(self, manifests: list[dict]) -> list[Path]:
        """Write each manifest, skip annotations left out, as the next file of `input_folder` (a
        streamed Checkov starts on it at once); returns the files."""
        if self._complete and manifests:
            raise CheckovError("Checkov was told it had every input file: no manifest can be added now")
        files = []
        for manifest in manifests:
            copy = self.input_folder / f"{self._inputs:05d}.yaml"
            copy.write_text(yaml.dump(without_skips(manifest), Dumper=_DUMPER, sort_keys=False), encoding="utf-8")
            self._inputs += 1
            files.append(copy)
        if self.streamed and files:
            self._send([file.name for file in files])
        return files

    def complete_inputs(self) -> None:
        """A streamed Checkov has every input file: what needs all of them (its graph checks) starts
        now, while the caller prepares the rest; `scan` waits for the result."""
        if self.streamed and not self._complete:
            self._send(None)
            self._complete = True

    def _send(self, value) -> None:
        """One line for the streamed Checkov, written by its own thread (`_write_lines`): the gate
        never waits on a Checkov that reads slowly or not at all (its deadline runs at `scan`)."""
        self._lines.put(json.dumps(value) + "\n")

    def scan(self, paths: list[Path], external_checks: bool) -> list[dict]:
        """Run Checkov over `paths` and return its Kubernetes reports (see `parse_reports`).
        One scan per instance; `close()` afterwards."""
        command = self._command(paths, external_checks)
        if self.streamed and command != self._stream:
            raise CheckovError("a streamed Checkov scans its own input folder, with our checks")
        returncode, stdout, stderr = self._execute(command)
        if returncode != 0:
            raise CheckovError(f"Checkov failed (exit {returncode}): {_tail(stderr or stdout)}")
        try:
            with open(os.path.join(self.work_dir, "out", "results_json.json"), encoding="utf-8") as handle:
                return parse_reports(handle.read())
        except OSError as err:
            raise CheckovError(f"Checkov wrote no results ({err}): {_tail(stderr)}") from err

    def _execute(self, command: list[str]) -> tuple[int, str, str]:
        try:
            if self._process is None:
                self._process = processes.popen(command, cwd=self.work_dir, env=self.env, text=True,
                                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE)
                stdout, stderr = self._process.communicate("", timeout=self.timeout)
            elif self.streamed:  # the end of the input files, after what is still queued
                self.complete_inputs()
                self._lines.put(_CLOSE)
                self._process.wait(timeout=self.timeout)
                stdout, stderr = "", self._stderr_path.read_text(encoding="utf-8", errors="replace")
            else:  # the command line, then the end of the input files
                self._process.communicate(json.dumps(command[1:]) + "\nnull\n", timeout=self.timeout)
                stdout, stderr = "", self._stderr_path.read_text(encoding="utf-8", errors="replace")
            processes.stop(self._process)  # workers it left behind, if any
            return self._process.returncode, stdout, stderr
        except OSError as err:
            raise CheckovError(f"cannot start Checkov ({self.checkov_bin}): {err}") from err
        except subprocess.TimeoutExpired as err:
            raise CheckovError(f"Checkov did not finish within {self.timeout:g}s (--timeout-checkov)") from err

    def close(self) -> None:
        """Stop Checkov (and its workers) if it is still running, and remove the folder."""
        if self._process is not None:
            processes.stop(self._process)
            if self._writer is not None:  # its next write fails now: the thread closes the pipe
                self._lines.put(_CLOSE)
                self._writer.join(timeout=5)
            try:  # close its pipes; a process that escaped its group must not keep us here
                self._process.communicate(timeout=5)
            except (subprocess.TimeoutExpired, ValueError, OSError):
                pass
        processes.remove(self._work)


_CLOSE = object()


def _write_lines(stream, lines: queue.SimpleQueue) -> None:
    """Write `lines` to a streamed Checkov's stdin until `_CLOSE`, then close it. A Checkov that
    stopped reading fails at `scan` (its exit code and stderr say why); what it did not read is
    dropped."""
    for line in iter(lines.get, _CLOSE):
        try:
            stream.write(line)
            stream.flush()
        except (OSError, ValueError):
            break
    try:
        stream.close()
    except (OSError, ValueError):
        pass  # flushing what it would not read failed again: the pipe is closed all the same


def _checkov_tmp() -> Path:
    folder = cache_root() / "checkov-tmp"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _found_checkov() -> Path:
    """The Checkov the gate would run (`gate/checkov/env.py`), or CheckovError saying how to get one."""
    try:
        return checkov_env.find_checkov()
    except checkov_env.CheckovNotFound as err:
        raise CheckovError(str(err)) from None


def _is_venv_checkov(checkov_bin: Path) -> bool:
    """A `checkov` script of a virtual environment, whose interpreter can import Checkov itself."""
    return (checkov_bin.parent / "python").is_file() and (checkov_bin.parent.parent / "pyvenv.cfg").is_file()


def parse_reports(text: str) -> list[dict]:
    """Checkov's JSON output: one report, a list of reports, or a bare summary when nothing was found."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise CheckovError(f"unreadable Checkov output ({err}): {text[:200]!r}") from err
    reports = data if isinstance(data, list) else [data]
    if not all(isinstance(r, dict) for r in reports):
        raise CheckovError(f"unexpected Checkov output: {text[:200]!r}")
    reports = [r for r in reports if "results" in r]  # a bare summary ({"passed": 0, ...}): no resources
    for report in reports:
        errors = report.get("results", {}).get("parsing_errors") or []
        if errors:
            raise CheckovError(f"Checkov could not parse: {', '.join(map(str, errors))}")
    return [r for r in reports if r.get("check_type") == "kubernetes"]


def _records(report: dict):
    results = report.get("results") or {}
    for result in ("passed_checks", "failed_checks", "skipped_checks"):
        for record in results.get(result) or []:
            yield result, record


def resource_ref(checkov_resource: str) -> str:
    """Checkov's `Kind.namespace.name` -> our `Kind/namespace/name` (names may contain dots)."""
    parts = checkov_resource.split(".", 2)
    return "/".join(parts) if len(parts) == 3 else checkov_resource


@lru_cache(maxsize=None)
def _ours():
    return {r.checkov_id: r for r in rules()}


# Checkov's keys under these hold map keys that may contain "/" (`metadata/annotations/a.io/b`).
_FREE_FORM_MAPS = frozenset({"annotations", "labels"})


def checkov_path(key: str) -> str:
    """Checkov's `spec/template/spec/containers/[0]/image` as our `spec.template.spec.containers[0].image`."""
    parts: list = []
    pieces = str(key).split("/")
    for i, piece in enumerate(pieces):
        if parts and parts[-1] in _FREE_FORM_MAPS:
            parts.append("/".join(pieces[i:]))
            break
        inner = piece[1:-1] if piece.startswith("[") and piece.endswith("]") else None
        parts.append(int(inner) if inner is not None and inner.isdigit() else piece)
    return dotted(tuple(p for p in parts if p != ""))


def _finding(record: dict) -> Finding:
    checkov_id = record.get("check_id", "")
    rule = _ours().get(checkov_id)
    keys = (record.get("check_result") or {}).get("evaluated_keys") or []
    return Finding(
        rule=rule.name if rule else checkov_id,
        engine="checkov",
        level=rule.level if rule else MANDATORY,  # built-in failures block
        resource=resource_ref(record.get("resource", "")),
        message=record.get("check_name") or checkov_id,
        path=", ".join(str(k) if rule else checkov_path(k) for k in keys),  # ours are in our syntax
        fix=rule.remediation if rule else (record.get("guideline") or ""),
        file=record.get("file_abs_path") or record.get("file_path") or "",
        checkov_id=checkov_id,
    )


def _suppression(record: dict) -> Suppression:
    checkov_id = record.get("check_id", "")
    rule = _ours().get(checkov_id)
    return Suppression(
        rule=rule.name if rule else checkov_id,
        checkov_id=checkov_id,
        resource=resource_ref(record.get("resource", "")),
        file=record.get("file_abs_path") or record.get("file_path") or "",
        comment=(record.get("check_result") or {}).get("suppress_comment") or "",
    )


def _require_our_checks_ran(sources: dict, records) -> list:
    """Every resource rule must have a verdict on every resource of its kinds that Checkov evaluated;
    returns the manifests Checkov did not evaluate at all (no record, not even the probe's).

    Checkov logs and ignores a check file that fails to import: without this, such a run would look
    clean. Each manifest is its own file (`sources`: real path of Checkov's copy -> the manifest),
    so records are matched by file.
    """
    named: dict = {}
    for _, record in records:
        file = record.get("file_abs_path")
        if file:
            named.setdefault(file, set()).add(record.get("check_id"))
    by_file: dict = {}
    for file, ids in named.items():  # each file's real path once, not once per record
        by_file.setdefault(os.path.realpath(file), set()).update(ids)
    missing, unevaluated = [], []
    for copy, loaded in sources.items():
        if copy not in by_file:
            unevaluated.append(loaded)
            continue
        manifest = loaded.manifest
        expected = [PROBE_ID] + [r.checkov_id for r in rules() if not r.stack and r.judges(manifest)]
        missing += [f"{check_id} on {ResourceRef.of_manifest(manifest).display} ({loaded.file})"
                    for check_id in expected if check_id not in by_file[copy]]
    if missing:
        raise CheckovError("Checkov did not run our checks (did policies/checkov_checks load?): "
                           + "; ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""))
    return unevaluated


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:]) or "(no output)"
