"""`secure:` config decrypted offline as the Pulumi CLI does for passphrase stacks; every other secrets
provider named, its values left encrypted; a wrong or missing passphrase is one line."""
from __future__ import annotations

import json

import pytest

from stateless_pack.gate.program import secure_config
from stateless_pack.gate.program.project import ProgramError, load_config, load_project
from support.passphrase_stack import (
    CLI_CIPHERTEXT,
    CLI_PASSPHRASE,
    CLI_PLAINTEXT,
    CLI_SALT,
    PassphraseStack,
)

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def no_passphrase(monkeypatch):
    monkeypatch.delenv(secure_config.PASSPHRASE, raising=False)
    monkeypatch.delenv(secure_config.PASSPHRASE_FILE, raising=False)


def project(tmp_path, stack_text: str):
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "Pulumi.s.yaml").write_text(stack_text)
    return load_project(tmp_path)


def test_a_value_the_pulumi_cli_encrypted_decrypts(tmp_path, monkeypatch):
    monkeypatch.setenv(secure_config.PASSPHRASE, CLI_PASSPHRASE)
    proj = project(tmp_path, f"encryptionsalt: {CLI_SALT}\nconfig:\n  p:word:\n    secure: {CLI_CIPHERTEXT}\n")
    config, secret, secure = load_config(tmp_path, proj, "s")
    assert config == {"p:word": CLI_PLAINTEXT} and secret == ["p:word"] and secure == {}


def test_secure_values_of_a_passphrase_stack_are_decrypted_and_secret(tmp_path, monkeypatch):
    stack = PassphraseStack(PASSPHRASE)
    monkeypatch.setenv(secure_config.PASSPHRASE, PASSPHRASE)
    proj = project(tmp_path, stack.file_text({
        "p:dbPassword": stack.secure("hunter2-für-alle"), "p:plain": "shown",
        "p:nested": {"user": "app", "keys": [stack.secure("k-1"), "k-2"]}}))
    config, secret, secure = load_config(tmp_path, proj, "s")
    assert config["p:dbPassword"] == "hunter2-für-alle" and config["p:plain"] == "shown"
    assert json.loads(config["p:nested"]) == {"user": "app", "keys": ["k-1", "k-2"]}
    assert sorted(secret) == ["p:dbPassword", "p:nested"] and secure == {}


def test_the_passphrase_file_is_read_as_the_cli_reads_it(tmp_path, monkeypatch):
    stack = PassphraseStack(PASSPHRASE)
    (tmp_path / "phrase").write_text(f"  {PASSPHRASE}\n")  # the CLI strips surrounding whitespace
    monkeypatch.setenv(secure_config.PASSPHRASE_FILE, str(tmp_path / "phrase"))
    proj = project(tmp_path, stack.file_text({"p:pw": stack.secure("from-the-file")}))
    assert load_config(tmp_path, proj, "s")[0]["p:pw"] == "from-the-file"


def test_an_empty_passphrase_is_a_passphrase(tmp_path, monkeypatch):
    stack = PassphraseStack("")
    monkeypatch.setenv(secure_config.PASSPHRASE, "")
    proj = project(tmp_path, stack.file_text({"p:pw": stack.secure("empty-phrase")}))
    assert load_config(tmp_path, proj, "s")[0]["p:pw"] == "empty-phrase"


def test_a_wrong_passphrase_is_one_line(tmp_path, monkeypatch):
    stack = PassphraseStack(PASSPHRASE)
    monkeypatch.setenv(secure_config.PASSPHRASE, PASSPHRASE + "!")
    proj = project(tmp_path, stack.file_text({"p:pw": stack.secure("never-shown")}))
    with pytest.raises(ProgramError) as err:
        load_config(tmp_path, proj, "s")
    message = str(err.value)
    assert "incorrect passphrase" in message and "\n" not in message
    assert PASSPHRASE not in message and "never-shown" not in message


def test_no_passphrase_names_both_variables(tmp_path):
    stack = PassphraseStack(PASSPHRASE)
    proj = project(tmp_path, stack.file_text({"p:pw": stack.secure("x")}))
    with pytest.raises(ProgramError, match="PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE"):
        load_config(tmp_path, proj, "s")


def test_a_passphrase_stack_without_secure_values_needs_no_passphrase(tmp_path):
    proj = project(tmp_path, f"encryptionsalt: {CLI_SALT}\nconfig:\n  p:a: b\n")
    assert load_config(tmp_path, proj, "s") == ({"p:a": "b"}, [], {})


def test_a_value_encrypted_for_another_stack_fails_naming_the_key(tmp_path, monkeypatch):
    ours, theirs = PassphraseStack(PASSPHRASE), PassphraseStack(PASSPHRASE, salt=b"other-st")
    monkeypatch.setenv(secure_config.PASSPHRASE, PASSPHRASE)
    proj = project(tmp_path, ours.file_text({"p:pw": theirs.secure("x")}))
    with pytest.raises(ProgramError, match=r"config p:pw: it does not decrypt with this stack's passphrase"):
        load_config(tmp_path, proj, "s")


@pytest.mark.parametrize("value, why", [
    ("v2:AAAAAAAAAAAAAAAA:AAAA", "not a passphrase-provider ciphertext"),
    ("v1:AAAA:AAAA", "nonce has the wrong size"),
    ("v1:not base64!:AAAA", "base64 is malformed"),
])
def test_malformed_values_fail_saying_why(tmp_path, monkeypatch, value, why):
    monkeypatch.setenv(secure_config.PASSPHRASE, CLI_PASSPHRASE)
    proj = project(tmp_path, f"encryptionsalt: {CLI_SALT}\nconfig:\n  p:pw:\n    secure: '{value}'\n")
    with pytest.raises(ProgramError, match=why):
        load_config(tmp_path, proj, "s")


def test_a_malformed_salt_fails(tmp_path, monkeypatch):
    monkeypatch.setenv(secure_config.PASSPHRASE, CLI_PASSPHRASE)
    proj = project(tmp_path, f"encryptionsalt: v1:fozI5u6B030=\nconfig:\n  p:pw:\n    secure: {CLI_CIPHERTEXT}\n")
    with pytest.raises(ProgramError, match="encryptionsalt is malformed"):
        load_config(tmp_path, proj, "s")


@pytest.mark.parametrize("header, named", [
    ("secretsprovider: awskms://alias/pulumi?region=eu-west-1\nencryptedkey: AQICAHh\n",
     "the awskms secrets provider (secretsprovider: awskms://alias/pulumi?region=eu-west-1)"),
    # as the CLI: a provider URL wins over a salt left behind
    (f"secretsprovider: hashivault://pulumi\nencryptionsalt: {CLI_SALT}\n", "the hashivault secrets provider"),
    ("", "Pulumi Cloud's secrets provider"),
    ("secretsprovider: default\n", "Pulumi Cloud's secrets provider"),
])
def test_other_providers_keep_their_values_encrypted_and_are_named(tmp_path, monkeypatch, header, named):
    monkeypatch.setenv(secure_config.PASSPHRASE, CLI_PASSPHRASE)  # not theirs: never used
    proj = project(tmp_path, header + f"config:\n  p:pw:\n    secure: {CLI_CIPHERTEXT}\n  p:a: b\n")
    config, secret, secure = load_config(tmp_path, proj, "s")
    assert config == {"p:a": "b"} and secret == ["p:pw"]
    assert list(secure) == ["p:pw"] and named in secure["p:pw"]
