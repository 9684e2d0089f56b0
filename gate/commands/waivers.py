"""`stateless-pack waivers list|expiring|validate|sign|canonical|allowed-signers`: the waiver
registry from a pipeline, and signing a waiver.

Exit codes: 0 fine; 1 problems (invalid registry, or a signature that does not verify; for
`validate` also expired waivers; for `expiring` any waiver expired or expiring within --days; for
`sign` a waiver that cannot be signed); 2 usage errors (argparse).
Output is one line per item, tab-separated (or --json), so `cut`/`grep`/`jq` work on it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

from stateless_pack.gate.waiver_signing import SigningError, ssh_sign, with_signature
from stateless_pack.policies.waivers.loading import (
    load_approvers,
    parse_yaml,
    read_text,
    read_yaml,
    registry_entry,
    registry_from_document,
)
from stateless_pack.policies.waivers.locating import (
    REGISTRY_CONFIG_KEY,
    REGISTRY_ENV,
    RegistryLocation,
    approvers_path,
    locate_registry,
)
from stateless_pack.policies.waivers.model import (
    Approvers,
    Problem,
    Registry,
    Waiver,
    WaiverRegistryError,
    utc_today,
)
from stateless_pack.policies.waivers.signatures import canonical_text

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


def _trust_options(parser) -> None:
    parser.add_argument("--pack", metavar="DIR",
                        help="policy pack folder whose approvers.yaml to trust (default: the installed one)")
    parser.add_argument("--approvers", metavar="PATH",
                        help="approvers file: roles, keys (default: the pack's approvers.yaml)")


def _common(parser) -> None:
    parser.add_argument("project_dir", nargs="?", default=".", metavar="PROJECT_DIR",
                        help="the Pulumi project whose registry to read (default: the current folder)")
    parser.add_argument("--stack", metavar="NAME",
                        help="stack whose config may name the registry (default: the only stack file, else dev)")
    parser.add_argument("--registry", metavar="PATH",
                        help=f"registry file (default: ${REGISTRY_ENV}, else the stack config key "
                             f"{REGISTRY_CONFIG_KEY}, else waivers.yaml in PROJECT_DIR)")
    _trust_options(parser)
    parser.add_argument("--today", metavar="YYYY-MM-DD", type=_iso_date, default=None,
                        help="the date to judge expiry by (default: today)")


def register(subparsers) -> None:
    parser = subparsers.add_parser("waivers", help="list, check, validate and sign the waiver registry",
                                   description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="waivers_command", required=True)
    for name, func, text in (("list", list_command, "every waiver with its status and signer"),
                             ("expiring", expiring_command, "waivers expired or expiring within --days (exit 1 if any)"),
                             ("validate", validate_command, "strict validation, signatures verified; exit 1 if the "
                                                            "registry is invalid or a waiver expired")):
        command = commands.add_parser(name, help=text)
        _common(command)
        command.add_argument("--json", action="store_true", help="print JSON instead of tab-separated lines")
        command.set_defaults(func=func)
        if name == "expiring":
            command.add_argument("--days", type=_non_negative, default=30, metavar="N",
                                 help="look-ahead in days (default: 30)")
    sign = commands.add_parser("sign", help="sign a waiver with your SSH key (ssh-keygen -Y sign) and write "
                                            "the signature into the registry")
    sign.add_argument("waiver_id", metavar="WAIVER_ID")
    sign.add_argument("--key", required=True, metavar="PATH",
                      help="your private key (or its .pub when ssh-agent holds it), e.g. ~/.ssh/id_ed25519")
    _common(sign)
    sign.set_defaults(func=sign_command)
    canonical = commands.add_parser("canonical", help="print the exact text a waiver's signature covers")
    canonical.add_argument("waiver_id", metavar="WAIVER_ID")
    _common(canonical)
    canonical.set_defaults(func=canonical_command)
    signers = commands.add_parser("allowed-signers", help="print the approvers' keys as an allowed_signers "
                                                          "file for `ssh-keygen -Y verify -f`")
    _trust_options(signers)
    signers.set_defaults(func=allowed_signers_command)


def _today(args) -> date:
    return args.today or utc_today()  # the wall clock is read only here, at the edge


def _stack_config(project_dir: Path, stack: str | None) -> dict:
    """The stack's config, when PROJECT_DIR is a Pulumi project (else none)."""
    from stateless_pack.gate.program import runner as program

    if not (project_dir / "Pulumi.yaml").is_file():
        return {}
    try:
        project = program.load_project(project_dir)
        config, _, _ = program.load_config(project_dir, project, stack or program.default_stack(project_dir, project))
    except program.ProgramError as exc:
        raise WaiverRegistryError([Problem(str(project_dir), "", "", str(exc))]) from None
    return config


def _location(args) -> RegistryLocation:
    project_dir = Path(args.project_dir).resolve()
    location = locate_registry(project_dir=project_dir, config=_stack_config(project_dir, args.stack),
                               explicit=args.registry)
    if location.problem:
        raise WaiverRegistryError([Problem(location.source, "", "", location.problem)])
    if location.path is not None and not location.required and not location.path.exists():
        raise WaiverRegistryError([Problem(location.source, "", "", "no waiver registry here (file not found)")])
    return location


def _approvers(args) -> Approvers:
    return load_approvers(args.approvers or approvers_path(args.pack))


def _load(args) -> Registry:
    location = _location(args)
    approvers = _approvers(args)
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
            "reason": waiver.reason, "signed_by": waiver.signed_by or None,
            "signing_key": waiver.signing_key or None}


def _print_rows(rows: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        scope = ",".join(f"{k}={v}" for k, v in r["scope"].items())
        print("\t".join([r["id"], r["status"], r["expires"], f"{r['days_left']}d", ",".join(r["rules"]),
                         scope, f"{r['approved_by']} ({r['approver_role']})", r["reference"],
                         f"signed by {r['signed_by']} ({r['signing_key']})" if r["signed_by"] else "unsigned"]))


def _print_problems(error: WaiverRegistryError, stream) -> None:
    for problem in error.problems:
        print(f"invalid: {problem}", file=stream)


def _loaded(args) -> Registry | None:
    """The registry, or None after printing its problems to stderr."""
    try:
        return _load(args)
    except WaiverRegistryError as error:
        _print_problems(error, sys.stderr)
        return None


def list_command(args) -> int:
    registry = _loaded(args)
    if registry is None:
        return PROBLEMS
    today = _today(args)
    _print_rows([_row(w, today) for w in registry.waivers], args.json)
    return OK


def expiring_command(args) -> int:
    registry = _loaded(args)
    if registry is None:
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
            signed = sum(1 for w in registry.waivers if w.signed_by)
            print(f"ok: {registry.source}: {len(registry.waivers)} waiver(s), none expired, {signed} signed "
                  "(signatures verified)")
    return PROBLEMS if expired else OK


def _problem(error: Exception) -> int:
    problems = error.problems if isinstance(error, WaiverRegistryError) else [error]
    for problem in problems:
        print(f"cannot sign: {problem}", file=sys.stderr)
    return PROBLEMS


def _replace_text(path: Path, text: str) -> None:
    """`path` now holds `text`, or still its old text (never a half-written registry)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def sign_command(args) -> int:
    """Sign one waiver (valid apart from its signature) and write the signature into the registry
    file, once it verifies as every engine will verify it."""
    today = _today(args)
    try:
        location = _location(args)
        if location.path is None:
            raise SigningError(f"the registry is {location.source}, not a file: sign a registry file (--registry)")
        approvers, text = _approvers(args), read_text(location.path)  # one read: sign what is edited
        waiver = registry_entry(parse_yaml(text, location.source), location.source, args.waiver_id,
                                approvers, today=today, check_signature=False)
        signature = ssh_sign(canonical_text(waiver.signed_fields()), Path(args.key).expanduser())
        edited = with_signature(text, args.waiver_id, signature)
        signed = registry_entry(parse_yaml(edited, location.source), location.source, args.waiver_id,
                                approvers, today=today)
        _replace_text(location.path, edited)
    except (WaiverRegistryError, SigningError, OSError) as error:
        return _problem(error)
    print(f"signed: {location.source}: {signed.id} by {signed.signed_by} (key {signed.signing_key})")
    return OK


def canonical_command(args) -> int:
    """The bytes `ssh-keygen -Y sign/verify` sign and check for this waiver (for a cross-check)."""
    try:
        location = _location(args)
        document = location.document if location.document is not None else read_yaml(location.path)
        waiver = registry_entry(document, location.source, args.waiver_id, _approvers(args),
                                today=_today(args), check_signature=False)
    except WaiverRegistryError as error:
        _print_problems(error, sys.stderr)
        return PROBLEMS
    sys.stdout.write(canonical_text(waiver.signed_fields()).decode("ascii"))
    return OK


def allowed_signers_command(args) -> int:
    try:
        approvers = _approvers(args)
    except WaiverRegistryError as error:
        _print_problems(error, sys.stderr)
        return PROBLEMS
    for signer in approvers.signers:
        print(signer.line)
    return OK
