"""The README's "Using the components" example, exactly as written, passes the gate.

The code block is read from README.md and run as a Pulumi program in a folder of its own, with a
stack config that gives what it reads (images pinned by digest, as a real stack must) and the empty
waiver registry the README tells a new stack to start with.
"""
from __future__ import annotations

import re

import pytest

from support.paths import REPO
from test_examples_through_the_gate import findings, run_gate

STACK_CONFIG = """config:
  readme-example:namespace: shop
  readme-example:image: registry.example.org/shop/web:1.4.2@sha256:{a}
  readme-example:redisImage: registry.example.org/mirror/redis:7.4.2@sha256:{b}
  readme-example:redisPassword: readme-example-password-not-a-secret
""".format(a="1" * 64, b="2" * 64)


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Using the components"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section shows one program"
    return blocks[0]


@pytest.fixture
def example(tmp_path):
    program = tmp_path / "program"
    program.mkdir()
    (program / "__main__.py").write_text(readme_example(), encoding="utf-8")
    (program / "Pulumi.yaml").write_text("name: readme-example\nruntime: python\n", encoding="utf-8")
    (program / "Pulumi.dev.yaml").write_text(STACK_CONFIG, encoding="utf-8")
    (program / "waivers.yaml").write_text("version: 1\nwaivers: []\n", encoding="utf-8")
    return program


def test_the_readme_example_passes_the_gate_without_a_waiver(example, tmp_path):
    code, report, output = run_gate(example, tmp_path / "out")
    assert code == 0, output
    assert findings(report) == [], output
    kinds = {f.name.split("_")[0] for f in (tmp_path / "out" / "manifests").glob("*.yaml")}
    assert {"deployment", "statefulset"} & kinds == {"deployment"}, kinds


def test_the_gate_would_catch_an_unpinned_redis_image(example, tmp_path):
    # The check above can fail: the same program with a tag-only Redis image is blocked (CKV_K8S_43).
    config = example / "Pulumi.dev.yaml"
    config.write_text(re.sub(r"redis:7.4.2@sha256:\w+", "redis:7.4.2", config.read_text()), encoding="utf-8")
    code, report, output = run_gate(example, tmp_path / "out")
    assert code == 1, output
    assert {f["rule"] for f in findings(report) if f["blocking"]} == {"CKV_K8S_43"}, output
