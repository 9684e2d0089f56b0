"""The component provider over gRPC, driven as the engine drives it (tests/support/provider_harness.py):
the reference stack's components constructed from another language register what the Python
reference stack registers under mocks, the policy pack passes them, secrets stay secret, and an
invalid argument comes back as the provider's error with the component's own message."""
from __future__ import annotations

import grpc
import pulumi
import pytest
from pulumi.runtime.proto import status_pb2

from stateless_pack.components import (Application, ApplicationArgs, Autoscaling, ComponentArgumentError,
                                       HighAvailability, ObjectBucket, ObjectBucketArgs, RedisSessionStore,
                                       RedisSessionStoreArgs)
from stateless_pack.gate.pack.engine import launch_pack
from stateless_pack.gate.pack.feed import engine_resource
from stateless_pack.gate.program.runner import RegisteredResource, run_program
from stateless_pack.gate.program.values import Secret, secret_values
from stateless_pack.policies.waivers.model import WAIVER_MARKER
from stateless_pack.provider.host import version
from support.mocks import run
from support.pack_harness import PACK_DIR
from support.paths import PROVIDER_DIR, REPO
from support.provider_harness import UNKNOWN, OutputValue, RecordingMonitor, serve_monitor, unwire
from support.reference_stack import (CONFIG, NAMESPACE_URN, PROJECT, STACK, TOKEN, children, construct_reference_stack,
                                     python_component)

REDIS_IMAGE = CONFIG["redisImage"]


@pytest.fixture(scope="module")
def python_stack():
    """The reference stack itself (Pulumi.yaml, __main__.py) under Pulumi's mocks, as `make preview` runs it."""
    return run_program(REPO, stack=STACK)


@pytest.fixture(scope="module")
def constructed(provider):
    monitor = RecordingMonitor(PROJECT, STACK)
    server = serve_monitor(monitor)
    try:
        yield construct_reference_stack(provider, monitor), monitor
    finally:
        server.stop(0)


# ---- the engine's calls ------------------------------------------------------------------------------

def test_the_engine_sequence_is_answered(provider):
    assert provider.handshake(PROVIDER_DIR, provider.engine_address) is None  # UNIMPLEMENTED: the engine goes on
    assert provider.plugin_info() == version()
    provider.check_config(f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:stateless-pack::default")
    configured = provider.configure()
    assert (configured.acceptSecrets, configured.acceptResources, configured.acceptOutputs) == (True, True, True)


@pytest.mark.parametrize("name", ["sessions", "uploads", "web"])
def test_constructed_components_register_what_the_python_reference_stack_registers(constructed, python_stack,
                                                                                   name):
    results, monitor = constructed
    from_provider = children(monitor.registrations, results[name].urn)
    from_python = children(python_stack.resources, python_component(python_stack, name).urn)
    assert from_provider and sorted(from_provider) == sorted(from_python)
    for key, inputs in from_provider.items():
        assert unwire(inputs) == unwire(from_python[key]), key


def test_components_register_under_the_schemas_type_tokens_with_their_outputs(constructed):
    results, monitor = constructed
    for name, result in results.items():
        component = next(r for r in monitor.registrations if r.urn == result.urn)
        assert component.type.startswith(TOKEN) and not component.custom
        assert component.dependencies == (NAMESPACE_URN,)  # dependsOn reached the component
        assert component.outputs is not None  # register_outputs reached the monitor
    web, sessions, uploads = results["web"].state, results["sessions"].state, results["uploads"].state
    assert web == {"deploymentName": "web", "serviceName": "web", "serviceHost": "web.shop.svc.cluster.local"}
    assert (sessions["sentinels"], sessions["masterName"]) == ("sessions-sentinel.shop.svc.cluster.local:26379",
                                                               "sessions")
    assert "host" not in sessions and "port" not in sessions  # replicated: no single Redis address
    assert sessions["connection"]["connectionKeys"] == ["REDIS_SENTINELS", "REDIS_MASTER_NAME"]
    assert (uploads["configMapName"], uploads["secretName"], uploads["claimName"]) == ("uploads",) * 3


def test_the_applications_children_depend_on_the_store_and_the_bucket_it_was_given(constructed):
    results, monitor = constructed
    deployment = monitor.one("kubernetes:apps/v1:Deployment", "web")
    assert {results["sessions"].urn, results["uploads"].urn} <= set(deployment.dependencies)


def test_the_reference_stack_constructs_in_a_preview_where_nothing_has_an_id_yet(provider, constructed):
    """A first `pulumi preview`: the store's and the bucket's connections are known all the same (their
    names come from URNs, not ids), so the Application is built in full."""
    previewing = RecordingMonitor(PROJECT, STACK, preview=True)
    server = serve_monitor(previewing)
    try:
        preview = construct_reference_stack(provider, previewing, dry_run=True)
    finally:
        server.stop(0)
    results, monitor = constructed
    assert preview["web"].state == results["web"].state
    assert unwire(previewing.one("kubernetes:apps/v1:Deployment", "web").inputs) == \
        unwire(monitor.one("kubernetes:apps/v1:Deployment", "web").inputs)


def test_an_engine_without_deployment_info_is_asked_feature_by_feature(provider):
    legacy = RecordingMonitor(PROJECT, STACK, legacy=True)
    server = serve_monitor(legacy)
    try:
        result = provider.construct(legacy, TOKEN + "ObjectBucket", "uploads", {"namespace": "shop"})
    finally:
        server.stop(0)
    assert {"secrets", "resourceReferences", "outputValues"} <= set(legacy.features_asked)
    assert result.state["secretName"] == "uploads"


# ---- the pack over gRPC --------------------------------------------------------------------------------

def _engine_resources(registrations) -> list:
    return [engine_resource(RegisteredResource(type=r.type, name=r.name, urn=r.urn, custom=r.custom, inputs=r.inputs,
                                               parent=r.parent, dependencies=r.dependencies,
                                               property_dependencies=r.property_dependencies))
            for r in registrations]


def test_the_policy_pack_passes_what_the_provider_registered_as_it_passes_the_python_stack(constructed,
                                                                                          python_stack):
    results, monitor = constructed
    namespace = [r for r in python_stack.resources if r.type == "kubernetes:core/v1:Namespace"]
    from_provider = _engine_resources(monitor.registrations) + [engine_resource(r) for r in namespace]
    from_python = [engine_resource(r) for r in python_stack.resources if r.type != "pulumi:pulumi:Stack"]
    assert sum(r.type.startswith("kubernetes:") for r in from_provider) == \
        sum(r.type.startswith("kubernetes:") for r in from_python) > 10
    verdicts = []
    with launch_pack(PACK_DIR, project=PROJECT, stack=STACK, dry_run=False,
                     env={"STATELESS_PACK_WAIVERS": str(REPO / "waivers.yaml")}) as pack:
        pack.client.configure()
        for resources in (from_provider, from_python):
            diagnostics = [d for ds in pack.client.analyze_many(resources) for d in ds]
            verdicts.append(diagnostics + pack.client.analyze_stack(resources))
    assert verdicts == [[], []], [(d.policy_name, d.message) for ds in verdicts for d in ds]
    assert not any(WAIVER_MARKER in str(r.properties) for r in from_provider)  # nothing needed a waiver


# ---- secrets ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("password", [Secret(CONFIG["redisPassword"]), CONFIG["redisPassword"]],
                         ids=["given-as-secret", "given-in-clear"])
def test_the_redis_password_stays_secret(provider, monitor, password):
    result = provider.construct(monitor, TOKEN + "RedisSessionStore", "sessions", {
        "namespace": "shop", "image": CONFIG["redisImage"], "password": password})
    plain = CONFIG["redisPassword"]
    assert plain not in str(result.state)  # the password is no output
    secret = monitor.one("kubernetes:core/v1:Secret", "sessions-auth")
    assert isinstance(secret.inputs["stringData"], Secret) or all(
        isinstance(v, Secret) for v in secret.inputs["stringData"].values())
    for r in monitor.registrations:  # wherever the password is, it is inside a secret (its repr is redacted)
        assert plain not in str(r.inputs), (r.type, r.name)
    assert any(plain in str(v) for r in monitor.registrations for v in secret_values(r.inputs))


# ---- invalid arguments -------------------------------------------------------------------------------------

BAD_ARGUMENTS = [
    ("Application", "web", {"namespace": "shop", "image": "registry.example.org/shop/web"},
     lambda: Application("web", ApplicationArgs(namespace="shop", image="registry.example.org/shop/web"))),
    ("Application", "web", {"namespace": "shop", "image": CONFIG["image"], "replicas": 1},
     lambda: Application("web", ApplicationArgs(namespace="shop", image=CONFIG["image"], replicas=1))),
    ("Application", "Web_1", {"namespace": "shop", "image": CONFIG["image"]},
     lambda: Application("Web_1", ApplicationArgs(namespace="shop", image=CONFIG["image"]))),
    ("Application", "web", {"namespace": "shop", "image": CONFIG["image"], "autoscaling": {"maxReplicas": 4,
                                                                                           "minReplicas": 1}},
     lambda: Application("web", ApplicationArgs(namespace="shop", image=CONFIG["image"],
                                                autoscaling=Autoscaling(max_replicas=4, min_replicas=1)))),
    ("RedisSessionStore", "sessions", {"namespace": "shop", "image": REDIS_IMAGE, "password": Secret("x" * 20),
                                       "highAvailability": {"sentinels": 4}},
     lambda: RedisSessionStore("sessions", RedisSessionStoreArgs(namespace="shop", image=REDIS_IMAGE,
                                                                 password=pulumi.Output.secret("x" * 20),
                                                                 high_availability=HighAvailability(sentinels=4)))),
    ("ObjectBucket", "uploads", {"namespace": "default"},
     lambda: ObjectBucket("uploads", ObjectBucketArgs(namespace="default"))),
]


def _python_message(program) -> str:
    with pytest.raises(ComponentArgumentError) as raised:
        run(program)
    return str(raised.value)


@pytest.mark.parametrize("component,name,inputs,python", BAD_ARGUMENTS,
                         ids=["unpinned-image", "one-replica-no-waiver", "not-a-dns-name", "autoscaler-min-one",
                              "even-sentinels", "default-namespace"])
def test_an_invalid_argument_is_the_providers_error_with_the_components_message(provider, monitor, component, name,
                                                                              inputs, python):
    expected = _python_message(python)
    with pytest.raises(grpc.RpcError) as raised:
        provider.construct(monitor, TOKEN + component, name, inputs)
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == expected
    assert "Traceback" not in error.details() and 'File "' not in error.details()
    [details] = [v for k, v in error.trailing_metadata() if k == "grpc-status-details-bin"]
    assert status_pb2.Status.FromString(details).message == expected  # what the engine prints
    assert monitor.registrations == []  # checked before anything was registered


def test_a_connection_not_known_in_a_preview_is_an_error_not_an_empty_object(provider, monitor):
    with pytest.raises(grpc.RpcError) as raised:
        provider.construct(monitor, TOKEN + "Application", "web", {
            "namespace": "shop", "image": CONFIG["image"],
            "sessionStore": OutputValue(UNKNOWN, ("urn:pulumi:dev::p::stateless-pack:index:RedisSessionStore::s",))},
            dry_run=True)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not known yet" in raised.value.details()
    assert monitor.registrations == []


def test_a_connection_from_another_namespace_is_rejected_like_in_python(provider, monitor):
    sessions = provider.construct(monitor, TOKEN + "RedisSessionStore", "sessions", {
        "namespace": "other", "image": REDIS_IMAGE, "password": Secret("x" * 20)})
    with pytest.raises(grpc.RpcError) as raised:
        provider.construct(monitor, TOKEN + "Application", "web", {
            "namespace": "shop", "image": CONFIG["image"],
            "sessionStore": OutputValue(sessions.state["connection"], (sessions.urn,))})
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("session store 'sessions' is in namespace 'other'")


def test_a_missing_required_argument_is_an_invalid_argument(provider, monitor):
    with pytest.raises(grpc.RpcError) as raised:
        provider.construct(monitor, TOKEN + "Application", "web", {"namespace": "shop"})
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert monitor.registrations == []
