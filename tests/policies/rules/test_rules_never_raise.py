"""No rule ever raises, whatever it is fed: arbitrary JSON-like values, malformed manifests of the
right kind, lists where dicts belong, and preview UNKNOWNs anywhere."""
from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings, strategies as st

from stateless_pack.policies.catalog import Violation, rules
from stateless_pack.policies.manifest import POD_SPEC_PATHS, UNKNOWN
from support.rule_fixtures import load_fixtures

RULES = rules()
KINDS = sorted({kind for rule in RULES for kind in rule.kinds} | {"Pod", "ConfigMap", "", "RayCluster"}
               | {key.rpartition("/")[2] for key in POD_SPEC_PATHS})
FIXTURE_DOCS = [doc for f in load_fixtures() for doc in f.documents]
KEYS = sorted({"spec", "template", "metadata", "containers", "initContainers", "volumes", "env", "name",
               "value", "valueFrom", "image", "args", "command", "ports", "selector", "matchLabels",
               "matchExpressions", "annotations", "labels", "type", "replicas", "minReplicas",
               "scaleTargetRef", "securityContext", "readOnlyRootFilesystem", "emptyDir", "hostPath",
               "persistentVolumeClaim", "volumeClaimTemplates", "volumeMounts", "mountPath", "secret",
               "rules", "routes", "services", "sticky", "sessionPersistence", "trafficPolicy",
               "loadBalancer", "consistentHash", "subsets", "portLevelSettings", "jobTemplate",
               "storageClassName", "bucketClassName", "readinessProbe", "sessionAffinity", "key",
               "operator", "values", "namespace", "externalIPs", "targetPort", "port", "local",
               # native sidecars, volume types, bare pods, Redis by command/port, config sources
               "restartPolicy", "ownerReferences", "controller", "csi", "driver", "ephemeral",
               "volumeClaimTemplate", "nfs", "cinder", "gitRepo", "projected", "sources", "configMap",
               "items", "path", "secretName", "envFrom", "configMapRef", "secretRef", "prefix",
               "configMapKeyRef", "secretKeyRef", "data", "stringData", "containerPort", "hostPort",
               "hostNetwork", "readOnly", "php.ini", "application.yaml", "application.properties",
               "settings.py", "context.xml", "appsettings.json", ".env", "redis.conf", "SESSION_DRIVER"})

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["ClientIP", "cookie", "redis:7", "6379",
                                                          "--requirepass", "NodePort", "files",
                                                          "$(X)", "redis://:p@h", "In", "Exists",
                                                          "Always", "redis-server", "requirepass x",
                                                          "session.save_handler = files", "{", "<a>",
                                                          "a: [", "ZmlsZQ==", 6379, "shop"]),
                    st.just(UNKNOWN))
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)),
                                               children, max_size=5)),
    max_leaves=40,
)
manifests = st.builds(lambda kind, body, meta: {"kind": kind, "metadata": meta, **body},
                      st.sampled_from(KINDS),
                      st.dictionaries(st.sampled_from(["spec", "apiVersion", "data", "stringData"]), json_like,
                                      max_size=3),
                      st.one_of(json_like, st.fixed_dictionaries({"name": json_like, "namespace": json_like,
                                                                  "annotations": json_like})))


def _mutate(doc, data, depth=0):
    """A fixture manifest with some values replaced by garbage, UNKNOWN, or wrong container types."""
    if isinstance(doc, dict):
        return {k: (data.draw(json_like) if data.draw(st.integers(0, 9)) == 0 else _mutate(v, data, depth + 1))
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [_mutate(v, data, depth + 1) for v in doc]
    choice = data.draw(st.integers(0, 5))
    return {0: UNKNOWN, 1: [doc], 2: {"x": doc}}.get(choice, doc)


def _check_resource(rule, manifest):
    found = rule.run(manifest)
    assert isinstance(found, list)
    for v in found:
        assert isinstance(v, Violation) and isinstance(v.path, str) and isinstance(v.message, str)
        assert isinstance(v.unknown, bool)


def _check_stack(rule, manifests):
    found = rule.run(manifests)
    for i, v in found:
        assert isinstance(i, int) and 0 <= i < len(manifests)
        assert isinstance(v, Violation) and isinstance(v.path, str) and isinstance(v.message, str)


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(value=json_like)
def test_arbitrary_values_never_raise(value):
    for rule in RULES:
        if rule.stack:
            _check_stack(rule, value if isinstance(value, list) else [value])
        else:
            _check_resource(rule, value)


@SETTINGS
@given(manifest=manifests)
def test_malformed_manifests_of_every_kind_never_raise(manifest):
    for rule in RULES:
        if rule.stack:
            _check_stack(rule, [manifest, manifest])
        else:
            _check_resource(rule, manifest)


@SETTINGS
@given(data=st.data())
def test_mutated_fixtures_never_raise(data):
    doc = _mutate(copy.deepcopy(data.draw(st.sampled_from(FIXTURE_DOCS))), data)
    stack = [_mutate(copy.deepcopy(d), data) for d in data.draw(st.lists(st.sampled_from(FIXTURE_DOCS),
                                                                          max_size=5))] + [doc]
    for rule in RULES:
        if rule.stack:
            _check_stack(rule, stack)
        else:
            _check_resource(rule, doc)


@SETTINGS
@given(config=st.dictionaries(st.sampled_from(sorted({key for rule in RULES for key in rule.config_schema})),
                              json_like))
def test_malformed_config_never_raises(config):
    for rule in RULES:
        for doc in FIXTURE_DOCS:
            if rule.stack:
                rule.run(FIXTURE_DOCS, config)
                break
            rule.run(doc, config)


def test_a_volume_item_whose_key_is_a_list_is_judged_not_raised():
    """Found by test_mutated_fixtures_never_raise: two mounts of one volume whose item key is a list."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "spring", "namespace": "shop"},
                  "spec": {"template": {"spec": {
                      "containers": [{"name": "c", "image": "x", "volumeMounts": [
                          {"name": "p", "mountPath": "/workspace/config"}, {"name": "p", "mountPath": "/etc/x"}]}],
                      "volumes": [{"name": "p", "configMap": {"name": "spring-profiles",
                                                              "items": [{"key": ["prod"], "path": "a.properties"},
                                                                        {"key": ["prod"], "path": "a.properties"}]}}]}}}}
    for rule in rules():
        if rule.stack:
            _check_stack(rule, [deployment])
        else:
            _check_resource(rule, deployment)


def test_budgets_with_percentages_of_thousands_of_digits_are_judged_not_raised():
    """int() refuses more than 4,300 digits and a float overflows past 1e308: neither may escape a rule."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
                  "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    [pdb_rule] = [r for r in rules() if r.name == "pdb-coverage"]
    for field, value in (("maxUnavailable", "9" * 5000 + "%"), ("minAvailable", "1" + "0" * 400 + "%")):
        pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "b", "namespace": "shop"},
               "spec": {field: value, "selector": {"matchLabels": {"app": "web"}}}}
        found = list(pdb_rule.run([deployment, pdb], {}))
        assert [index for index, _ in found] == [0], found  # refused by the API server: no coverage
