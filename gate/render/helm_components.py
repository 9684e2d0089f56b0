"""What the Kubernetes provider registers for Helm charts and kustomizations, rendered by the real helm
and kubectl in the program's child process.

- `kubernetes:helm.sh/v4:Chart` and `kubernetes:kustomize/v2:Directory` are remote components: under
  Pulumi's mocks their children come from no Construct, so the gate registers them as the provider
  does (provider/pkg/provider/helm/v4/chart.go, kustomize/v2/directory.go): `helm template` with the
  release name (`name`, default the component's), the namespace (`namespace`, default the provider's),
  the values (`values` merged over `valueYamlFiles`, helm's deep merge, over stdin), CRDs unless
  `skipCrds`, no hooks (the provider keeps only the release's manifest), `dependencyUpdate`; the
  kustomization built with no load restrictions and helm enabled. Then yaml/v2's Normalize and Register
  (`yaml_components.register`): children `<resourcePrefix>:<namespace>/<name>` (the prefix defaulting
  to the component's name) of type `kubernetes:<group>/<version>:<Kind>`, parented to the component.
- `kubernetes:helm.sh/v3:Release` is one custom resource: the provider installs the chart itself and
  the engine's pack never sees its objects. The gate renders them as the release would install them
  (hooks included unless `disableWebhooks`, no tests) and checks them as children of the Release,
  marked `gate_only` (their URNs are the gate's: no engine registers them). The release name is `name`
  or, as the provider's Check does, the resource's name and a suffix (here derived from the URN).
- `kubernetes:helm.sh/v3:Chart` and `kubernetes:kustomize:Directory` (v1) register their children in
  the SDK itself, from the invokes `kubernetes:helm:template` and `kubernetes:kustomize:directory`:
  answered as provider/pkg/provider/invoke_helm_template.go and invoke_kustomize.go do (hooks without
  test hooks, namespace `default` for helm; decodeYaml: documents without kind or apiVersion skipped,
  the chart's namespace set on namespaced kinds, a kind it cannot tell assumed namespaced).

A chart that cannot be fetched or does not render, a kustomization that does not build, a missing
helm or kubectl: `ExpansionError` with the tool's own message, never an empty chart. What the gate
cannot do offline exactly as the provider would (an input unknown until deployment, a post-renderer,
a remote asset) is an `ExpansionError` too. Values given as secrets make the rendered strings that
contain them secret. helm and kubectl run through gate/render/helm.py and kustomize.py.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Mapping

from stateless_pack.gate.program.pulumi_wire import (
    ARCHIVE_SIG,
    ASSET_SIG,
    SIG_KEY,
    UNKNOWN_SENTINELS,
)
from stateless_pack.gate.program.values import is_secret_marker, secret_marker
from stateless_pack.gate.render import helm, kustomize, tools
from stateless_pack.gate.render import yaml_components as yaml_v2
from stateless_pack.gate.render.manifest_files import ERROR
from stateless_pack.gate.render.yaml_components import ExpansionError, Parsed
from stateless_pack.policies import safe_files

CHART_V4 = "kubernetes:helm.sh/v4:Chart"
DIRECTORY_V2 = "kubernetes:kustomize/v2:Directory"
RELEASE = "kubernetes:helm.sh/v3:Release"
CHART_V3 = "kubernetes:helm.sh/v3:Chart"
DIRECTORY_V1 = "kubernetes:kustomize:Directory"
COMPONENTS = frozenset({CHART_V4, DIRECTORY_V2, RELEASE})  # what the gate expands on registration
SDK_COMPONENTS = frozenset({CHART_V3, DIRECTORY_V1})         # the SDK registers their children
HELM_TEMPLATE = "kubernetes:helm:template"
KUSTOMIZE_DIRECTORY = "kubernetes:kustomize:directory"
_UNKNOWNS = frozenset(UNKNOWN_SENTINELS.values())


class Tools:
    """helm and kubectl for one run, found on first use (a program without charts needs neither):
    `explicit` names them ({"helm": PATH, "kubectl": PATH}, from --helm/--kubectl), else
    gate/render/tools.py looks ($STATELESS_PACK_HELM, PATH, the provisioned copy)."""

    def __init__(self, explicit: Mapping[str, str] | None = None):
        self.explicit = dict(explicit or {})
        self.found: dict[str, Path | ExpansionError] = {}

    def path(self, name: str) -> Path:
        if name not in self.found:
            try:
                self.found[name] = tools.find(tools.TOOLS[name], self.explicit.get(name))
            except tools.ToolNotFound as err:
                self.found[name] = ExpansionError(str(err))
        found = self.found[name]
        if isinstance(found, ExpansionError):
            raise found
        return found

    def optional(self, name: str) -> Path | None:
        """The tool if there is one (kustomize needs helm only for a kustomization's helmCharts)."""
        try:
            return self.path(name)
        except ExpansionError:
            return None


# ---- the program's values, as the provider reads them ------------------------------------------------

class _Values:
    """Wire values made plain for the tools: secret markers unwrapped (and remembered), assets read
    (a values entry becomes the asset's text, as the provider's marshalValues does)."""

    def __init__(self):
        self.secrets: list = []

    def plain(self, value: Any, at: str = "") -> Any:
        if is_secret_marker(value):
            inner = self.plain(value.get("value"), at)
            self.secrets += _scalars(inner)
            return inner
        if isinstance(value, dict) and value.get(SIG_KEY) == ASSET_SIG:
            return self.asset_text(value, at)
        if isinstance(value, dict) and value.get(SIG_KEY) == ARCHIVE_SIG:
            raise ExpansionError(f"{at or 'a value'}: an archive is not a Helm value")
        if isinstance(value, dict):
            return {k: self.plain(v, f"{at}.{k}" if at else k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.plain(v, f"{at}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and value in _UNKNOWNS:
            raise ExpansionError(
                f"{at or 'an input'} is unknown until deployment (an output of another "
                "resource): the provider would register nothing yet, so the gate cannot check the objects")
        if isinstance(value, float) and value.is_integer():
            return int(value)  # protobuf numbers are doubles; `replicas: 2` must render as 2
        return value

    def asset_text(self, asset: Mapping, at: str) -> str:
        if "text" in asset:
            return str(asset["text"])
        location = str(asset.get("path") or asset.get("uri") or "")
        if location.startswith("file://"):
            location = location[len("file://"):]
        elif "path" not in asset:
            raise ExpansionError(f"{at}: the asset {location!r} cannot be fetched offline; "
                                 "use a FileAsset or a StringAsset")
        try:
            return safe_files.read_text(location)  # a regular file of bounded size only
        except OSError as err:
            raise ExpansionError(f"{at}: reading {location}: {err.strerror or err}") from None

    def file_path(self, value: Any, at: str) -> str | None:
        """A file the tool reads itself (a CA bundle, a client certificate): its path."""
        value = self.plain_marker(value)
        if value is None or value == "":
            return None
        if isinstance(value, dict) and value.get(SIG_KEY) == ASSET_SIG and "path" in value:
            return str(value["path"])
        if isinstance(value, str):
            return value
        raise ExpansionError(f"{at}: only a file path can be handed to helm offline")

    def plain_marker(self, value: Any) -> Any:
        while is_secret_marker(value):
            value = value.get("value")
        return value


def _scalars(value: Any) -> list:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _scalars(v)]
    if isinstance(value, list):
        return [s for v in value for s in _scalars(v)]
    return [] if value is None or isinstance(value, bool) or value == "" else [value]


def merge_values(base: Mapping, over: Mapping) -> dict:
    """helm's mergeMaps (pkg/cli/values/options.go): `over` wins, mappings merge key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = value
    return out


def _chart_values(values: _Values, args: Mapping) -> dict:
    """`values` over `valueYamlFiles` (each file over the ones before it): one mapping for helm. A
    values file given as a secret makes each of its values a secret."""
    merged: dict = {}
    secret_files = is_secret_marker(args.get("valueYamlFiles"))
    files = values.plain_marker(args.get("valueYamlFiles")) or []
    for index, asset in enumerate(files if isinstance(files, list) else [files]):
        at = f"valueYamlFiles[{index}]"
        if not isinstance(values.plain_marker(asset), dict) or values.plain_marker(asset).get(SIG_KEY) != ASSET_SIG:
            raise ExpansionError(f"{at}: not an asset (a FileAsset or StringAsset of YAML values)")
        found = yaml_v2.decode_documents(values.plain(asset, at), at)
        for document in found[:1]:  # helm reads one document per values file
            merged = merge_values(merged, document)
            if secret_files or is_secret_marker(asset):
                values.secrets += _scalars(document)
    given = values.plain(args.get("values") or {}, "values")
    if not isinstance(given, Mapping):
        raise ExpansionError("values: not a mapping")
    return merge_values(merged, given)


def _chart_ref(values: _Values, args: Mapping, repository: Mapping, *, plain_http: bool = False) -> helm.ChartRef:
    chart = values.plain(args.get("chart"), "chart")
    if not isinstance(chart, str) or not chart:
        raise ExpansionError("chart: a chart is required")
    version = values.plain(args.get("version"), "version") or None
    if version is None and values.plain(args.get("devel"), "devel") is True:
        version = ">0.0.0-0"  # helm's --devel without --version
    return helm.ChartRef(
        chart=chart, version=version, repo=values.plain(repository.get("repo"), "repositoryOpts.repo") or None,
        username=values.plain(repository.get("username"), "repositoryOpts.username") or None,
        password=values.plain(repository.get("password"), "repositoryOpts.password") or None,
        ca_file=values.file_path(repository.get("caFile"), "repositoryOpts.caFile"),
        cert_file=values.file_path(repository.get("certFile"), "repositoryOpts.certFile"),
        key_file=values.file_path(repository.get("keyFile"), "repositoryOpts.keyFile"),
        plain_http=plain_http)


# ---- rendering ---------------------------------------------------------------------------------------

def _render(ref: helm.ChartRef, run: Tools, read: _Values, **options) -> list[Parsed]:
    """`helm template`: every document, with its template; helm's own message on failure. A document
    that is not a Kubernetes object fails the chart, as the provider's Parse does."""
    try:
        rendered = helm.template(ref, helm=run.path("helm"), locate=False, **options)  # lines unused
    except helm.HelmError as err:
        raise ExpansionError(f"helm: {err}") from None
    for problem in rendered.problems:
        if problem.kind == ERROR:  # not "no resources": a chart may render nothing
            raise ExpansionError(f"{problem.where}: {problem.message}")
    return [Parsed(_marked(doc.manifest, read.secrets), source=doc.source) for doc in rendered.documents]


def _marked(obj: Any, secrets: list) -> Any:
    """The object with every value that holds a secret of the program marked secret."""
    if not secrets:
        return obj
    texts = [str(s) for s in secrets if isinstance(s, str)]
    others = [s for s in secrets if not isinstance(s, str)]

    def mark(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        if isinstance(value, str) and any(t in value for t in texts):
            return secret_marker(value)
        if not isinstance(value, (str, bool)) and value is not None and value in others:
            return secret_marker(value)
        return value

    return mark(obj)


def release_name(name: str, urn: str) -> str:
    """A Release's name when none is given: the provider's Check adds a random suffix to the
    resource's name; the gate derives it from the URN (same program, same report)."""
    return f"{name}-{hashlib.sha256(urn.encode()).hexdigest()[:8]}"


def expand(component_type: str, name: str, urn: str, inputs: dict, *, default_namespace: str,
           run: Tools, hooks_in_render_mode: bool = False) -> list[yaml_v2.Child]:
    """The children the provider would register (a Release: the objects it would install) for the
    component `name` with these wire inputs. `hooks_in_render_mode`: the provider renders YAML to a
    directory, where a v4 Chart's `includeHooks` applies."""
    try:
        if component_type == DIRECTORY_V2:
            return _directory_v2(name, inputs, default_namespace, run)
        if component_type in (CHART_V4, RELEASE):
            return _chart(component_type, name, urn, inputs, default_namespace, run, hooks_in_render_mode)
    except ExpansionError as err:
        raise ExpansionError(f"{component_type} {name!r}: {err}") from None
    raise ValueError(f"{component_type} is not a component the gate renders")


def _chart(component_type: str, name: str, urn: str, args: dict, default_namespace: str, run: Tools,
           hooks_in_render_mode: bool) -> list[yaml_v2.Child]:
    values = _Values()

    def flag(key: str) -> bool:
        return values.plain(args.get(key), key) is True

    post_renderer = "postRenderer" if component_type == CHART_V4 else "postrender"
    if args.get(post_renderer):
        raise ExpansionError(f"{post_renderer}: the gate cannot run a post-renderer; render the chart "
                             "with it and check the output with `stateless-pack scan`")
    namespace = values.plain(args.get("namespace"), "namespace") or default_namespace
    repository = values.plain_marker(args.get("repositoryOpts")) or {}
    if component_type == CHART_V4:  # chart.go: the release's manifest only (no hooks), the component's name
        release = values.plain(args.get("name"), "name") or name
        hooks, prefix = hooks_in_render_mode and flag("includeHooks"), args
    else:  # a Release installs its hooks too; its objects are named after the Release
        release = values.plain(args.get("name"), "name") or release_name(name, urn)
        hooks, prefix = not flag("disableWebhooks"), {"resourcePrefix": name}
    ref = _chart_ref(values, args, repository, plain_http=flag("plainHttp"))
    objects = _render(ref, run, values, release=release, namespace=namespace, values=_chart_values(values, args),
                      include_crds=not flag("skipCrds"), include_hooks=hooks, skip_tests=True,
                      dependency_update=flag("dependencyUpdate"))
    return yaml_v2.register(objects, name, prefix, default_namespace=namespace)


def _directory_v2(name: str, inputs: dict, default_namespace: str, run: Tools) -> list:
    """directory.go: no load restrictions, helm enabled; then Normalize and Register."""
    values = _Values()
    directory = values.plain(inputs.get("directory"), "directory")
    if not isinstance(directory, str) or not directory:
        raise ExpansionError("directory: a kustomization directory is required")
    namespace = values.plain(inputs.get("namespace"), "namespace") or default_namespace
    text = _build(directory, run, load_restrictions=False, enable_helm=True, helm=run.optional("helm"))
    objects = [Parsed(doc) for doc in yaml_v2.decode_documents(text, directory)]
    return yaml_v2.register(objects, name, inputs, default_namespace=namespace)


def _build(directory: str, run: Tools, **options) -> str:
    try:
        return kustomize.build(Path(directory), kubectl=run.path("kubectl"), **options)
    except kustomize.KustomizeError as err:
        raise ExpansionError(f"kustomize: {err}") from None


# ---- the invokes of the v3 Chart and the v1 Directory -----------------------------------------------

def decoded(objects: list[Parsed], namespace: str) -> list[Parsed]:
    """The provider's decodeYaml: documents without kind or apiVersion skipped; with a namespace,
    namespaced kinds without one get it (a kind the gate cannot tell: namespaced, as the provider
    assumes when the cluster has no answer)."""
    kept = [p for p in objects if p.obj.get("kind") and p.obj.get("apiVersion")]
    out = []
    for parsed in kept:
        obj = parsed.obj
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        if (namespace and not metadata.get("namespace")
                and yaml_v2.known_namespaced(obj, [k.obj for k in kept]) is not False):
            parsed = Parsed({**obj, "metadata": {**metadata, "namespace": namespace}}, parsed.secret, parsed.source)
        out.append(parsed)
    return out


def helm_template(json_opts: Mapping, run: Tools) -> list[Parsed]:
    """The answer to `kubernetes:helm:template` (v3 Chart): the objects for the SDK (`.obj`), each
    with its template."""
    opts = dict(json_opts)
    try:
        return _helm_template(opts, run)
    except ExpansionError as err:
        raise ExpansionError(f"{CHART_V3} {str(opts.get('release_name') or '')!r}: {err}") from None


def _helm_template(opts: dict, run: Tools) -> list[Parsed]:
    fetch = opts.get("fetch_opts") if isinstance(opts.get("fetch_opts"), dict) else {}
    repo_name, chart = str(opts.get("repo") or ""), str(opts.get("path") or opts.get("chart") or "")
    if not opts.get("path") and repo_name.startswith("http"):
        raise ExpansionError("'repo' option specifies the name of the Helm Chart repo, not the URL. Use "
                             "'fetchOpts.repo' to specify a URL for a remote Chart")
    if not opts.get("path") and repo_name and not fetch.get("repo") and not chart.startswith(f"{repo_name}/"):
        chart = f"{repo_name.rstrip('/')}/{chart}"  # invoke_helm_template.go normalizeChartRef
    version = opts.get("version") or fetch.get("version") or (">0.0.0-0" if fetch.get("devel") else None)
    ref = helm.ChartRef(chart=chart, version=None if opts.get("path") else version,
                        repo=fetch.get("repo") or None, username=fetch.get("username") or None,
                        password=fetch.get("password") or None, ca_file=fetch.get("ca_file") or None,
                        cert_file=fetch.get("cert_file") or None, key_file=fetch.get("key_file") or None)
    values = _Values()
    namespace = str(opts.get("namespace") or "")
    documents = _render(ref, run, values, release=str(opts.get("release_name") or ""),
                        namespace=namespace or "default",
                        values=values.plain(opts.get("values") if isinstance(opts.get("values"), dict) else {}),
                        include_crds=not opts.get("skip_crd_rendering"), include_hooks=True,
                        skip_tests=not opts.get("include_test_hook_resources"),
                        api_versions=tuple(opts.get("api_versions") or ()),
                        kube_version=opts.get("kube_version") or None)
    return decoded(documents, namespace)


def kustomize_directory(directory: str, run: Tools) -> list[dict]:
    """The answer to `kubernetes:kustomize:directory` (v1 Directory): kustomize's default options."""
    try:
        text = _build(directory, run)
        return [p.obj for p in decoded([Parsed(d) for d in yaml_v2.decode_documents(text, directory)], "")]
    except ExpansionError as err:
        raise ExpansionError(f"{DIRECTORY_V1} {directory!r}: {err}") from None


# ---- where a child came from -------------------------------------------------------------------------

def source_of(inputs: Mapping) -> str:
    """The chart or directory a component renders, to name in reports ("" if none, or if secret)."""
    value = inputs.get("chart") or inputs.get("directory")
    return value if isinstance(value, str) else ""


def origin(component_urn: str, source: str = "", template: str = "", *, gate_only: bool = False) -> dict:
    """What the gate records of a rendered child: the component (its URN), the chart or directory,
    the chart's template file (when helm says), and whether only the gate sees it."""
    found = {"component": component_urn}
    found.update({k: v for k, v in (("source", source), ("template", template)) if v})
    if gate_only:
        found["gate_only"] = True
    return found
