"""gate/render/yaml_components.py: what the provider registers for a yaml/v2 ConfigGroup/ConfigFile, offline."""
from __future__ import annotations

import pytest

from stateless_pack.gate.program.pulumi_wire import SECRET_SIG, SIG_KEY
from stateless_pack.gate.program.values import is_secret_marker, secret_marker
from stateless_pack.gate.render.yaml_components import (
    CONFIG_FILE,
    CONFIG_GROUP,
    SKIP_AWAIT,
    ExpansionError,
    expand,
    type_token,
)

STICKY = """\
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: shop}
spec: {sessionAffinity: ClientIP, ports: [{port: 80}]}
"""


def named(children):
    return [(c.type, c.name) for c in children]


def test_yaml_text_children_are_named_like_the_provider():
    text = STICKY + "---\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n"
    children = expand(CONFIG_GROUP, "app", {"yaml": text})
    # yaml.go register: "<prefix>:<namespace>/<name>", cluster-scoped objects without a namespace
    assert named(children) == [("kubernetes:core/v1:Service", "app:shop/sticky"),
                               ("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "app:reader")]
    assert children[0].inputs["spec"]["sessionAffinity"] == "ClientIP"
    assert children[0].inputs["apiVersion"] == "v1" and children[0].inputs["kind"] == "Service"


def test_a_namespaced_object_without_namespace_gets_the_default_one():
    children = expand(CONFIG_GROUP, "app", {"yaml": STICKY.replace(", namespace: shop", "")},
                      default_namespace="team-a")
    assert named(children) == [("kubernetes:core/v1:Service", "app:team-a/sticky")]
    assert children[0].inputs["metadata"]["namespace"] == "team-a"


@pytest.mark.parametrize("prefix, expected", [("edge", "edge:shop/sticky"), ("", "shop/sticky")])
def test_resource_prefix_replaces_the_name_and_empty_means_none(prefix, expected):
    assert named(expand(CONFIG_GROUP, "app", {"yaml": STICKY, "resourcePrefix": prefix}))[0][1] == expected


def test_files_are_relative_to_the_program_and_globbed_in_sorted_order(tmp_path):
    (tmp_path / "m").mkdir()
    for name in ("b.yaml", "a.yaml", ".hidden.yaml"):
        (tmp_path / "m" / name).write_text(STICKY.replace("sticky", name.split(".")[-2] or "h"))
    group = expand(CONFIG_GROUP, "g", {"files": ["m/*.yaml"]}, base=tmp_path)
    assert [c.name for c in group] == ["g:shop/hidden", "g:shop/a", "g:shop/b"]  # Go's Glob: dot files too
    single = expand(CONFIG_FILE, "f", {"file": "m/a.yaml"}, base=tmp_path)
    assert [c.name for c in single] == ["f:shop/a"]
    with pytest.raises(ExpansionError, match="reading YAML file"):  # a ConfigFile's file is never a pattern
        expand(CONFIG_FILE, "f", {"file": "m/*.yaml"}, base=tmp_path)


def test_sources_come_in_the_providers_order_files_yaml_objs(tmp_path):
    (tmp_path / "f.yaml").write_text(STICKY.replace("sticky", "from-file"))
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-objs", "namespace": "shop"}}
    children = expand(CONFIG_GROUP, "g", {"objs": [obj], "yaml": STICKY, "files": ["f.yaml"]}, base=tmp_path)
    assert [c.name for c in children] == ["g:shop/from-file", "g:shop/sticky", "g:shop/from-objs"]


def test_lists_are_replaced_by_their_items():
    text = ("apiVersion: v1\nkind: List\nitems:\n"
            "- {apiVersion: v1, kind: Service, metadata: {name: a, namespace: shop}, spec: {sessionAffinity: ClientIP}}\n"
            "- apiVersion: v1\n  kind: ServiceList\n  items:\n"
            "  - {apiVersion: v1, kind: Service, metadata: {name: b, namespace: shop}}\n")
    assert named(expand(CONFIG_GROUP, "g", {"yaml": text})) == [
        ("kubernetes:core/v1:Service", "g:shop/a"), ("kubernetes:core/v1:Service", "g:shop/b")]


def test_secrets_stay_secret_and_skip_await_is_an_annotation():
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: shop}\nstringData: {password: hunter2}\n"
    child, = expand(CONFIG_GROUP, "g", {"yaml": text, "skipAwait": True})
    assert child.inputs["stringData"] == secret_marker({"password": "hunter2"})
    assert child.inputs["metadata"]["annotations"] == {SKIP_AWAIT: "true"}


def test_yaml_given_as_a_secret_makes_the_contents_secret_but_not_the_identity():
    child, = expand(CONFIG_GROUP, "g", {"yaml": {SIG_KEY: SECRET_SIG, "value": STICKY}})
    assert child.name == "g:shop/sticky" and child.type == "kubernetes:core/v1:Service"
    assert is_secret_marker(child.inputs["spec"])
    assert child.inputs["metadata"] == {"name": "sticky", "namespace": "shop"}


def test_a_custom_resource_is_namespaced_as_its_crd_among_the_objects_says():
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: routes.x.io}\n"
           "spec: {group: x.io, scope: Namespaced, names: {kind: Route}}\n")
    route = "apiVersion: x.io/v1\nkind: Route\nmetadata: {name: r}\n"
    children = expand(CONFIG_GROUP, "g", {"yaml": crd + "---\n" + route})
    assert named(children) == [("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "g:routes.x.io"),
                               ("kubernetes:x.io/v1:Route", "g:default/r")]


@pytest.mark.parametrize("inputs, message", [
    ({"yaml": "apiVersion: x.io/v1\nkind: Route\nmetadata: {name: r}\n"}, "set its metadata.namespace"),
    ({"yaml": "kind: Service\nmetadata: {name: a}\n"}, "require a kind and apiVersion"),
    ({"yaml": "apiVersion: v1\nkind: Service\nmetadata: {}\n"}, "require a .metadata.name"),
    ({"yaml": "- just\n- a list\n"}, "not an object"),
    ({"yaml": "a: 1\na: 2\n"}, "duplicate key"),
    ({"files": ["https://example.org/app.yaml"]}, "cannot be fetched offline"),
    ({"files": ["missing.yaml"]}, "reading YAML file"),
    ({"objs": ["not an object"]}, "not an object"),
])
def test_what_the_provider_rejects_or_the_gate_cannot_fetch_is_an_error(inputs, message, tmp_path):
    with pytest.raises(ExpansionError, match=message):
        expand(CONFIG_GROUP, "g", inputs, base=tmp_path)


def test_an_alias_bomb_is_refused_before_it_is_expanded():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    with pytest.raises(ExpansionError, match="alias bomb"):
        expand(CONFIG_GROUP, "g", {"yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  "
                                           + bomb.replace("\n", "\n  ")})


@pytest.mark.parametrize("api_version, kind, token", [
    ("v1", "Service", "kubernetes:core/v1:Service"),
    ("apps/v1", "Deployment", "kubernetes:apps/v1:Deployment"),
    ("traefik.io/v1alpha1", "IngressRoute", "kubernetes:traefik.io/v1alpha1:IngressRoute"),
])
def test_type_tokens(api_version, kind, token):
    assert type_token(api_version, kind) == token
