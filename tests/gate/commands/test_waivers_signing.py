"""`stateless-pack waivers sign|canonical|allowed-signers`, and signers in `list`/`validate`: real
keys from ssh-keygen, a pack folder whose approvers.yaml lists them."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import yaml

from stateless_pack.gate.cli import main
from support.signing import HOD, LEAD, STRANGER, approval, ssh_keygen_verify

TODAY = date.today()

REGISTRY = f"""# The shop's waivers: reviewed like code.
version: 1
waivers:
  - id: W-0001
    rules: [CKV_K8S_21]          # the default namespace
    scope: {{namespace: shop, name: legacy}}
    reason: >-
      The legacy job runs in the default namespace
      until it is retired.
    approved_by: {LEAD}
    approver_role: platform-lead
    reference: "OPS-1"
    created: {TODAY - timedelta(days=2)}
    expires: {TODAY + timedelta(days=20)}
  # sticky sessions need the Head of DevOps
  - id: W-0002
    rules: [no-sticky-service]
    scope:
      namespace: shop
      name: session-store
    reason: Legacy checkout keeps in-process sessions until OPS-7.
    approved_by: {HOD}
    approver_role: head-of-devops
    reference: OPS-7
    created: {TODAY - timedelta(days=1)}
    expires: {TODAY + timedelta(days=30)}   # end of the quarter
"""


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return approval(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def registry(tmp_path):
    path = tmp_path / "waivers.yaml"
    path.write_text(REGISTRY)
    return path


def waivers(capsys, keys, registry, *argv, options=()):
    """`stateless-pack waivers ARGV PROJECT_DIR --registry FILE --pack DIR OPTIONS`."""
    code = main(["waivers", *map(str, argv), str(registry.parent), "--registry", str(registry),
                 "--pack", str(keys.pack_dir), *map(str, options)])
    out, err = capsys.readouterr()
    return code, out, err


def sign(capsys, keys, registry, waiver_id="W-0002", by=HOD):
    return waivers(capsys, keys, registry, "sign", waiver_id, options=("--key", keys.keys[by].private))


def test_sign_writes_the_signature_and_keeps_the_rest_of_the_file(capsys, keys, registry):
    code, out, err = sign(capsys, keys, registry)
    assert (code, err) == (0, "") and out.startswith(f"signed: {registry}: W-0002 by {HOD} (key SHA256:")
    signed = registry.read_text()
    # every line of the original is still there, in order; only the signature block was added
    added = [line for line in signed.splitlines() if line not in REGISTRY.splitlines()]
    assert added[0] == "    signature: |" and added[1].strip() == "-----BEGIN SSH SIGNATURE-----"
    assert added[-1].strip() == "-----END SSH SIGNATURE-----"
    assert [line for line in signed.splitlines() if line not in added] == REGISTRY.splitlines()
    assert waivers(capsys, keys, registry, "validate")[0] == 0


def test_signing_an_edited_waiver_again_replaces_its_signature(capsys, keys, registry):
    assert sign(capsys, keys, registry)[0] == 0
    edited = registry.read_text().replace("until OPS-7.", "until OPS-7 is done.")
    registry.write_text(edited)
    assert "does not match the waiver as written" in waivers(capsys, keys, registry, "validate")[1]
    assert sign(capsys, keys, registry)[0] == 0
    again = registry.read_text()
    assert again.count("BEGIN SSH SIGNATURE") == 1 and again != edited
    assert again.split("    signature: |")[0] == edited.split("    signature: |")[0]
    assert waivers(capsys, keys, registry, "validate")[0] == 0


def test_a_platform_lead_waiver_can_be_signed_with_an_rsa_key(capsys, keys, registry):
    assert sign(capsys, keys, registry, "W-0001", by=LEAD)[0] == 0
    assert sign(capsys, keys, registry, "W-0002", by=HOD)[0] == 0
    code, out, _ = waivers(capsys, keys, registry, "list", options=["--json"])
    rows = {r["id"]: r for r in json.loads(out)}
    assert code == 0 and (rows["W-0001"]["signed_by"], rows["W-0002"]["signed_by"]) == (LEAD, HOD)
    assert rows["W-0001"]["signing_key"] != rows["W-0002"]["signing_key"]


@pytest.mark.parametrize("by,why", [
    (LEAD, f"made by {LEAD}"),
    (STRANGER, "does not list"),
], ids=["a-platform-lead", "an-unknown-key"])
def test_sign_refuses_a_key_that_would_not_verify_and_leaves_the_file_alone(capsys, keys, registry, by, why):
    code, out, err = sign(capsys, keys, registry, by=by)
    assert code == 1 and out == "" and err.startswith("cannot sign: ") and why in err
    assert registry.read_text() == REGISTRY


FLOW_STYLE = REGISTRY.split("  # sticky sessions")[0] + (
    f"  - {{id: W-0002, rules: [no-sticky-service], scope: {{namespace: shop, name: session-store}}, "
    f"reason: r, approved_by: {HOD}, approver_role: head-of-devops, reference: OPS-7, "
    f"created: {TODAY}, expires: {TODAY + timedelta(days=3)}}}\n")


@pytest.mark.parametrize("text,why", [
    (REGISTRY.replace(f"approved_by: {HOD}", f"approved_by: {LEAD}"), f"{LEAD} does not hold role"),
    (REGISTRY.replace("W-0002", "W-0003"), "waiver W-0002 is not in the registry"),
    (FLOW_STYLE, "written in flow style"),
], ids=["approver-lacks-role", "unknown-id", "flow-style"])
def test_sign_refuses_what_cannot_be_signed(capsys, keys, registry, text, why):
    registry.write_text(text)
    code, _, err = sign(capsys, keys, registry)
    assert code == 1 and why in err
    assert registry.read_text() == text


def test_sign_with_a_missing_key_file_fails_clearly(capsys, keys, registry, tmp_path):
    code, _, err = waivers(capsys, keys, registry, "sign", "W-0002", options=("--key", tmp_path / "no-key"))
    assert code == 1 and f"no key file {tmp_path / 'no-key'}" in err and registry.read_text() == REGISTRY


def test_validate_verifies_every_signature(capsys, keys, registry):
    code, out, _ = waivers(capsys, keys, registry, "validate")
    assert code == 1 and "W-0002: signature: role 'head-of-devops' requires a signature" in out
    sign(capsys, keys, registry)
    code, out, _ = waivers(capsys, keys, registry, "validate")
    assert code == 0 and "2 waiver(s), none expired, 1 signed (signatures verified)" in out
    registry.write_text(registry.read_text().replace("name: session-store", "name: session-*"))
    code, out, _ = waivers(capsys, keys, registry, "validate")
    assert code == 1 and "W-0002: signature: does not match the waiver as written" in out


def test_list_shows_who_signed(capsys, keys, registry):
    sign(capsys, keys, registry)
    code, out, _ = waivers(capsys, keys, registry, "list")
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    assert code == 0 and rows["W-0001"][-1] == "unsigned"
    assert rows["W-0002"][-1].startswith(f"signed by {HOD} (SHA256:")


def test_ssh_keygen_verifies_what_the_commands_print(capsys, keys, registry, tmp_path):
    """The cross-check docs/waivers.md describes: canonical text + allowed_signers -> ssh-keygen."""
    sign(capsys, keys, registry)
    code, canonical, _ = waivers(capsys, keys, registry, "canonical", "W-0002")
    assert code == 0 and canonical.startswith('{"approved_by":"jane.doe@example.org"') and canonical.count("\n") == 1
    assert main(["waivers", "allowed-signers", "--pack", str(keys.pack_dir)]) == 0
    (tmp_path / "allowed_signers").write_text(capsys.readouterr().out)
    signature = yaml.safe_load(registry.read_text())["waivers"][1]["signature"]
    (tmp_path / "sig").write_text(signature)

    def verify(text):
        return ssh_keygen_verify(tmp_path / "allowed_signers", HOD, tmp_path / "sig", text.encode())

    assert verify(canonical)
    assert not verify(canonical.replace("session-store", "session-*"))


def test_sign_refuses_a_registry_that_lives_in_stack_config(capsys, keys, tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: shop\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  stateless-pack:waivers:\n    version: 1\n    waivers: []\n")
    code = main(["waivers", "sign", "W-0002", str(tmp_path), "--key", str(keys.keys[HOD].private),
                 "--pack", str(keys.pack_dir)])
    err = capsys.readouterr().err
    assert code == 1 and "not a file: sign a registry file (--registry)" in err
