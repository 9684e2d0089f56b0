"""`stateless-pack waivers list|expiring|validate`: the waiver registry from a pipeline.

Exit codes: 0 fine; 1 problems (invalid registry; for `validate` also expired waivers; for
`expiring` any waiver expired or expiring within --days); 2 usage errors (argparse).
Output is one line per item, tab-separated (or --json), so `cut`/`grep`/`jq` work on it.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from pathlib import Path

from stateless_pack.policies.waivers.loading import load_approvers, read_yaml, registry_from_document
from stateless_pack.policies.waivers.locating import REGISTRY_CONFIG_KEY, REGISTRY_ENV, approvers_path, locate_registry
from stateless_pack.policies.waivers.model import Problem, Registry, Waiver, WaiverRegistryError, utc_today

OK, PROBLEMS = 0, 1


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a number of days >= 0: {text!r}")
    return value


def register(subparsers) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("project_dir", nargs="?", default=".", metavar="PROJECT_DIR",
                        help="the Pulumi project whose registry to read (default: the current folder)")
    common.add_argument("--stack", metavar="NAME",
                        help="stack whose config may name the registry (default: the only stack file, else dev)")
    common.add_argument("--registry", metavar="PATH",
                        help=f"registry file (default: ${REGISTRY_ENV}, else the stack config key "
                             f"{REGISTRY_CONFIG_KEY}, else waivers.yaml in PROJECT_DIR)")
    common.add_argument("--pack", metavar="DIR",
                        help="policy pack folder whose approvers.yaml to trust (default: the installed one)")
    common.add_argument("--approvers", metavar="PATH",
                        help="approver roles file (default: the pack's approvers.yaml)")
    common.add_argument("--today", metavar="YYYY-MM-DD", type=_iso_date, default=None,
                        help="the date to judge expiry by (default: today)")
    common.add_argument("--json", action="store_true", help="print JSON instead of tab-separated lines")

    parser = subparsers.add_parser("waivers", help="list, check and validate the waiver registry",
                                   description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="waivers_command", required=True)
    commands.add_parser("list", parents=[common], help="every waiver with its status"
                        ).set_defaults(func=list_command)
    expiring = commands.add_parser("expiring", parents=[common],
                                   help="waivers expired or expiring within --days (exit 1 if any)")
    expiring.add_argument("--days", type=_non_negative, default=30, metavar="N",
                          help="look-ahead in days (default: 30)")
    expiring.set_defaults(func=expiring_command)
    commands.add_parser("validate", parents=[common],
                        help="strict validation; exit 1 if the registry is invalid or a waiver expired"
                        ).set_defaults(func=validate_command)


def _today(args) -> date:
    return args.today or utc_today()  # the wall clock is read only here, at the edge


def _stack_config(project_dir: Path, stack: str | None) -> dict:
    """The stack's config, when PROJECT_DIR is a Pulumi project (else none)."""
    from stateless_pack.gate import program

    if not (project_dir / "Pulumi.yaml").is_file():
        return {}
    try:
        project = program.load_project(project_dir)
        config, _, _ = program.load_config(project_dir, project, stack or program.default_stack(project_dir, project))
    except program.ProgramError as exc:
        raise WaiverRegistryError([Problem(str(project_dir), "", "", str(exc))]) from None
    return config


def _load(args) -> Registry:
    project_dir = Path(args.project_dir).resolve()
    location = locate_registry(project_dir=project_dir, config=_stack_config(project_dir, args.stack),
                               explicit=args.registry)
    if location.problem:
        raise WaiverRegistryError([Problem(location.source, "", "", location.problem)])
    if location.path is not None and not location.required and not location.path.exists():
        raise WaiverRegistryError([Problem(location.source, "", "", "no waiver registry here (file not found)")])
    approvers = load_approvers(args.approvers or approvers_path(args.pack))
    document = location.document if location.document is not None else read_yaml(location.path)
    return registry_from_document(document, location.source, approvers, today=_today(args))


def _status(waiver: Waiver, today: date) -> str:
    if waiver.is_expired(today):
        return "expired"
    return "active" if waiver.is_active(today) else "not-yet-valid"


def _row(waiver: Waiver, today: date) -> dict:
    return {"id": waiver.id, "status": _status(waiver, today), "expires": waiver.expires.isoformat(),
            "days_left": (waiver.expires - today).days, "rules": list(waiver.rules),
            "scope": dict(waiver.scope), "approved_by": waiver.approved_by,
            "approver_role": waiver.approver_role, "reference": waiver.reference,
            "reason": waiver.reason}


def _print_rows(rows: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        scope = ",".join(f"{k}={v}" for k, v in r["scope"].items())
        print("\t".join([r["id"], r["status"], r["expires"], f"{r['days_left']}d", ",".join(r["rules"]),
                         scope, f"{r['approved_by']} ({r['approver_role']})", r["reference"]]))


def _print_problems(error: WaiverRegistryError, stream) -> None:
    for problem in error.problems:
        print(f"invalid: {problem}", file=stream)


def list_command(args) -> int:
    try:
        registry = _load(args)
    except WaiverRegistryError as error:
        _print_problems(error, sys.stderr)
        return PROBLEMS
    today = _today(args)
    _print_rows([_row(w, today) for w in registry.waivers], args.json)
    return OK


def expiring_command(args) -> int:
    try:
        registry = _load(args)
    except WaiverRegistryError as error:
        _print_problems(error, sys.stderr)
        return PROBLEMS
    today = _today(args)
    found = registry.expiring(args.days, today)
    _print_rows([_row(w, today) for w in found], args.json)
    return PROBLEMS if found else OK


def validate_command(args) -> int:
    today = _today(args)
    try:
        registry = _load(args)
    except WaiverRegistryError as error:
        if args.json:
            print(json.dumps({"valid": False, "problems": [str(p) for p in error.problems],
                              "expired": []}, indent=2))
        else:
            _print_problems(error, sys.stdout)
        return PROBLEMS
    expired = registry.expired(today)
    if args.json:
        print(json.dumps({"valid": not expired, "problems": [],
                          "expired": [_row(w, today) for w in expired]}, indent=2))
    else:
        for waiver in expired:
            print(f"expired: {registry.source}: {waiver.id}: expired on {waiver.expires} "
                  f"(rules {', '.join(waiver.rules)}; renew it with a new approval or remove it)")
        if not expired:
            print(f"ok: {registry.source}: {len(registry.waivers)} waiver(s), none expired")
    return PROBLEMS if expired else OK
