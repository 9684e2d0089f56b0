"""Signed waivers when a registry loads: real keys from ssh-keygen, every way a signature can fail,
and agreement with `ssh-keygen -Y sign/verify` in both directions."""
from __future__ import annotations

import subprocess
from datetime import date, timedelta

import pytest
import yaml

from stateless_pack.policies.waivers.loading import load_approvers, registry_entry, registry_from_document
from stateless_pack.policies.waivers.model import WaiverRegistryError
from stateless_pack.policies.waivers.signatures import NAMESPACE, canonical_text, normalized_armor
from support.signing import (
    HOD, LEAD, STRANGER, Key, approval, approvers_yaml, damaged, signature_block, ssh_keygen_sign,
    ssh_keygen_verify,
)

TODAY = date.today()
CREATED, EXPIRES = TODAY - timedelta(days=1), TODAY + timedelta(days=30)


def entry(wid="W-0002", rule="no-sticky-service", by=HOD, role="head-of-devops",
          scope="{namespace: shop, name: session-store}") -> str:
    return f"""  - id: {wid}
    rules: [{rule}]
    scope: {scope}
    reason: Legacy checkout keeps in-process sessions until OPS-7 moves them to Redis.
    approved_by: {by}
    approver_role: {role}
    reference: OPS-7
    created: {CREATED}
    expires: {EXPIRES}
"""


def registry_text(*entries: str) -> str:
    return "# registry\nversion: 1\nwaivers:\n" + "".join(entries)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return approval(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def approvers(keys):
    return load_approvers(keys.approvers_file)


def load(text, approvers):
    return registry_from_document(yaml.safe_load(text), "waivers.yaml", approvers, today=TODAY)


def refusal(text, approvers) -> str:
    """The one problem loading `text` reports, as `entry: field: message`."""
    with pytest.raises(WaiverRegistryError) as caught:
        load(text, approvers)
    [problem] = caught.value.problems
    return f"{problem.entry}: {problem.field}: {problem.message}"


# ---- accepted ---------------------------------------------------------------------------------

def test_a_sticky_waiver_signed_by_the_head_of_devops_loads_with_its_signer(keys, approvers):
    registry = load(keys.sign(registry_text(entry()), "W-0002"), approvers)
    waiver = registry.get("W-0002")
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", f"{keys.keys[HOD].private}.pub"],
                                 capture_output=True, text=True, check=True).stdout.split()[1]
    assert (waiver.signed_by, waiver.signing_key) == (HOD, fingerprint)


def test_an_rsa_signature_verifies_too(keys, approvers):
    text = keys.sign(registry_text(entry(rule="CKV_K8S_21", by=LEAD, role="platform-lead")), "W-0002", LEAD)
    assert load(text, approvers).get("W-0002").signed_by == LEAD


def test_reformatting_the_yaml_keeps_the_signature_valid(keys, approvers):
    signed = keys.sign(registry_text(entry()), "W-0002")
    doc = yaml.safe_load(signed)
    doc["waivers"][0] = dict(reversed(list(doc["waivers"][0].items())))          # another key order
    doc["waivers"][0]["created"] = CREATED.isoformat()                          # a quoted date
    reformatted = yaml.safe_dump(doc, default_flow_style=True, width=40)        # flow style, no comments
    assert reformatted != signed and "{" in reformatted
    assert load(reformatted, approvers).get("W-0002").signed_by == HOD


def test_a_role_without_the_requirement_may_go_unsigned(approvers):
    assert load(registry_text(entry(rule="CKV_K8S_21", by=LEAD, role="platform-lead")), approvers)


def test_the_requirement_is_the_packs_setting(keys, tmp_path):
    relaxed = tmp_path / "approvers.yaml"
    relaxed.write_text(approvers_yaml(keys.keys).replace("signature_required_for: [head-of-devops]",
                                                         "signature_required_for: []"))
    assert load(registry_text(entry()), load_approvers(relaxed)).get("W-0002").signed_by == ""
    default = tmp_path / "default.yaml"
    default.write_text(approvers_yaml(keys.keys).replace("signature_required_for: [head-of-devops]\n", ""))
    assert load_approvers(default).signature_roles == {"head-of-devops"}  # the catalog's sticky-session role


# ---- refused: every way a signature fails, each naming the waiver and what to do ------------------

def test_an_unsigned_sticky_waiver_is_refused(approvers):
    assert refusal(registry_text(entry()), approvers) == (
        f"waivers[0] W-0002: signature: role 'head-of-devops' requires a signature by {HOD}: after review, "
        f"{HOD} signs it with `stateless-pack waivers sign W-0002 --key <private key of {HOD}>`")


def test_a_sticky_waiver_signed_by_a_platform_lead_is_refused(keys, approvers):
    why = refusal(keys.sign(registry_text(entry()), "W-0002", LEAD), approvers)
    assert why.startswith(f"waivers[0] W-0002: signature: made by {LEAD} (key SHA256:")
    assert f"not by approved_by {HOD}: {HOD} signs it, `stateless-pack waivers sign W-0002" in why


def test_a_waiver_signed_by_an_unknown_key_is_refused(keys, approvers):
    why = refusal(keys.sign(registry_text(entry()), "W-0002", STRANGER), approvers)
    assert why.startswith("waivers[0] W-0002: signature: made with key SHA256:")
    assert f"which {keys.approvers_file} does not list: {HOD} signs it with a listed key" in why


@pytest.mark.parametrize("before,after", [
    ("scope: {namespace: shop, name: session-store}", "scope: {namespace: shop}"),
    ("scope: {namespace: shop, name: session-store}", "scope: {namespace: shop, name: session-*}"),
    (f"expires: {EXPIRES}", f"expires: {EXPIRES + timedelta(days=1)}"),
    ("rules: [no-sticky-service]", "rules: [no-sticky-service, no-sticky-edge]"),
    ("reason: Legacy", "reason: legacy"),
], ids=["scope-widened", "name-made-a-glob", "expiry-extended", "rule-added", "reason-edited"])
def test_a_waiver_edited_after_signing_is_refused(keys, approvers, before, after):
    signed = keys.sign(registry_text(entry()), "W-0002")
    assert before in signed
    assert refusal(signed.replace(before, after), approvers).startswith(
        "waivers[0] W-0002: signature: does not match the waiver as written: it was changed after signing, "
        f"or the signature is damaged: review the waiver, then {HOD} signs it again")


def test_a_corrupted_signature_is_refused(keys, approvers):
    assert "does not match the waiver as written" in refusal(
        keys.sign(registry_text(entry()), "W-0002", damage=damaged), approvers)


@pytest.mark.parametrize("signature,why", [
    ("'-----BEGIN SSH SIGNATURE-----\n  not base64!\n  -----END SSH SIGNATURE-----'", "is not an armored SSH"),
    ("'trust me'", "is not an armored SSH signature"),
    ("''", "is not an armored SSH signature"),
    ("[1, 2]", "must be the armored SSH signature text"),
    ("'-----BEGIN SSH SIGNATURE-----\n  AAAA\n  -----END SSH SIGNATURE-----'", "is not a readable SSH signature"),
], ids=["bad-base64", "free-text", "empty", "a-list", "not-sshsig"])
def test_a_signature_that_is_not_one_is_refused(approvers, signature, why):
    text = registry_text(entry()) + f"    signature: {signature}\n"
    assert why in refusal(text, approvers)


def test_a_signature_made_for_another_namespace_is_refused(keys, approvers):
    text = registry_text(entry())
    waiver = registry_entry(yaml.safe_load(text), "t", "W-0002", approvers, today=TODAY, check_signature=False)
    text += signature_block(ssh_keygen_sign(keys.keys[HOD], canonical_text(waiver.signed_fields()), "git"))
    assert f"was made for namespace 'git', not '{NAMESPACE}'" in refusal(text, approvers)


def test_a_platform_lead_waiver_that_carries_a_signature_must_verify(keys, approvers):
    text = keys.sign(registry_text(entry(rule="CKV_K8S_21", by=LEAD, role="platform-lead")), "W-0002", LEAD)
    assert "does not match" in refusal(text.replace("reference: OPS-7", "reference: OPS-8"), approvers)


def test_one_bad_signature_makes_the_whole_registry_invalid(keys, approvers):
    good = keys.sign(registry_text(entry("W-0001", scope="{name: checkout}"), entry()), "W-0001")
    with pytest.raises(WaiverRegistryError) as caught:
        load(good, approvers)
    assert [p.entry for p in caught.value.problems] == ["waivers[1] W-0002"]


# ---- the canonical text, and ssh-keygen on both sides ----------------------------------------------

def test_canonical_text_is_one_line_of_sorted_json_with_iso_dates():
    fields = {"id": "W-0001", "scope": {"name": "a", "kind": "Service"}, "rules": ["no-sticky-service"],
              "reason": "caf\u00e9", "created": date(2026, 1, 2), "expires": date(2026, 2, 3),
              "signature": "ignored"}
    assert canonical_text(fields) == (b'{"created":"2026-01-02","expires":"2026-02-03","id":"W-0001",'
                                      b'"reason":"caf\\u00e9","rules":["no-sticky-service"],'
                                      b'"scope":{"kind":"Service","name":"a"}}\n')


def test_ssh_keygen_verifies_our_signature_and_we_accept_ssh_keygens(keys, approvers, tmp_path):
    signed = keys.sign(registry_text(entry()), "W-0002")
    waiver = load(signed, approvers).get("W-0002")
    message = canonical_text(waiver.signed_fields())
    (tmp_path / "allowed_signers").write_text("".join(s.line + "\n" for s in approvers.signers))
    (tmp_path / "sig").write_text(normalized_armor(waiver.signature))

    def ssh_verify(principal, data):
        return ssh_keygen_verify(tmp_path / "allowed_signers", principal, tmp_path / "sig", data)

    assert ssh_verify(HOD, message)
    assert not ssh_verify(LEAD, message) and not ssh_verify(HOD, message.replace(b"shop", b"shoq"))
    # and the other way round: a signature made by `ssh-keygen -Y sign` alone, pasted by hand
    pasted = registry_text(entry()) + signature_block(ssh_keygen_sign(keys.keys[HOD], message))
    assert load(pasted, approvers).get("W-0002").signed_by == HOD


# ---- the approvers' keys ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ecdsa(tmp_path_factory):
    return Key.generate(tmp_path_factory.mktemp("ecdsa"), "ecdsa", "ecdsa")


@pytest.mark.parametrize("line,why", [
    ("{hod} {ed}", None),
    ("{hod} namespaces=\"git,stateless-pack-waiver\" {ed} comment", None),
    ("\"{hod}\" {ed}", None),
    ("{hod} namespaces=\"git\" {ed}", "excludes 'stateless-pack-waiver'"),
    ("* {ed}", "principal must be one e-mail address"),
    ("{hod},{lead} {ed}", "principal must be one e-mail address"),
    ("{hod} cert-authority {ed}", "option cert-authority is not supported"),
    ("{hod} valid-before=\"20300101\" {ed}", "option valid-before is not supported"),
    ("{hod} {ecdsa}", "key type 'ecdsa-sha2-nistp256' is not supported: use ssh-ed25519 or ssh-rsa"),
    ("{hod} ssh-ed25519 AAAAnotakey", "not a valid ssh-ed25519 public key"),
    ("{hod}", "not an allowed_signers line"),
    ("", "must be an allowed_signers line"),
    ("{stranger} {ed}", "mallory@example.org holds no role"),
], ids=["plain", "namespaces", "quoted-principal", "other-namespace", "wildcard", "two-principals",
        "cert-authority", "validity", "ecdsa", "bad-key", "no-key", "empty", "no-role"])
def test_signer_lines_are_checked(keys, ecdsa, tmp_path, line, why):
    line = line.format(hod=HOD, lead=LEAD, stranger=STRANGER, ed=keys.keys[HOD].public, ecdsa=ecdsa.public)
    path = tmp_path / "approvers.yaml"
    path.write_text(f"roles: {{head-of-devops: [{HOD}], platform-lead: [{LEAD}]}}\n"
                    f"signers:\n  - {yaml.safe_dump(line).splitlines()[0]}\nmax_waiver_days: 9\n")
    if why is None:
        assert [s.principal for s in load_approvers(path).signers] == [HOD]
        return
    with pytest.raises(WaiverRegistryError) as caught:
        load_approvers(path)
    [problem] = caught.value.problems
    assert problem.field == "signers[0]" and why in problem.message


@pytest.mark.parametrize("extra,field,why", [
    ("signers:\n  - {hod} {ed}\n  - {lead} {ed}\n", "signers[1]", "is already listed (signers[0])"),
    ("signers: {hod}\n", "signers", "must be a list of allowed_signers lines"),
    ("signature_required_for: [head-of-devop]\n", "signature_required_for", "unknown role 'head-of-devop'"),
    ("signature_required_for: head-of-devops\n", "signature_required_for", "must be a list of roles"),
], ids=["same-key-twice", "signers-not-a-list", "unknown-role", "roles-not-a-list"])
def test_approvers_signature_settings_are_checked(keys, tmp_path, extra, field, why):
    path = tmp_path / "approvers.yaml"
    path.write_text(f"roles: {{head-of-devops: [{HOD}], platform-lead: [{LEAD}]}}\nmax_waiver_days: 9\n"
                    + extra.format(hod=HOD, lead=LEAD, ed=keys.keys[HOD].public))
    with pytest.raises(WaiverRegistryError) as caught:
        load_approvers(path)
    [problem] = caught.value.problems
    assert problem.field == field and why in problem.message


def test_the_shipped_approvers_have_a_key_for_everyone_who_must_sign():
    shipped = load_approvers()
    assert shipped.signature_roles == {"head-of-devops"}
    for role in shipped.signature_roles:
        assert all(shipped.keys_of(holder) for holder in shipped.roles[role]), role
