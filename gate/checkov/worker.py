"""Checkov fed while the program runs: `checkov -d FOLDER` whose Kubernetes runner checks each file as it arrives.

Run by the interpreter of Checkov's own environment, never imported by the gate (it imports Checkov):
`python worker.py CHECKOV_BIN`, started before the gate has anything to scan. Its stdin
carries one JSON value per line: the Checkov command line (as `checkov_runner.checkov_command`
builds it), then any batches of file names inside its `--directory` folder, as the gate writes them
while the program still registers resources, then `null`: the folder is complete.

It is `checkov` itself (`Checkov(argv).run()`: the same configuration, filters, checks, report file
and exit code). With no batch, its Kubernetes runner is Checkov's own. With batches, that runner is
`StreamedRunner` (for Checkov STREAMED_VERSION): Checkov's parser reads each batch and its resource
checks run on it as it arrives; what needs every file (the graph and its checks, `CKV2_K8S_*`,
which connect resources across files) runs once the folder is complete. Every step is Checkov's own
code, in the order Checkov's runner takes it file by file, and three are made faster: its YAML
loader runs on libyaml's parser (the same documents and lines, 6x faster), and its two edge builders
that try every pair of resources find their candidates through an index (`IndexedLocalGraph`).
Files of the folder no batch named are read at the end, so the report is that of one `checkov -d`
over the whole folder (tests/gate/test_checkov_stream.py compares the two, and the edges of the two
graphs). Any other Checkov version waits for the folder and runs unchanged.

The JSON report is written to its file record by record (`ReportFile`): Checkov would first make two
copies of it in memory, one indented for the console (265 MB at 5,000 resources, the peak of its
run). Once it is written, the process ends without tearing down its heap (1.3 s at 5,000).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections import defaultdict
from typing import Iterator

import checkov.main
import yaml
from checkov.common.bridgecrew.platform_integration import bc_integration
from checkov.common.output.report import Report, merge_reports
from checkov.common.runners.base_runner import filter_ignored_paths
from checkov.common.runners.runner_registry import RunnerRegistry
from checkov.common.util.data_structures_utils import pickle_deepcopy
from checkov.common.util.env_vars_config import env_vars_config
from checkov.common.util.json_utils import CustomJSONEncoder
from checkov.common.util.type_forcers import convert_str_to_bool
from checkov.kubernetes import runner as kubernetes_runner
from checkov.kubernetes.checks.resource.registry import registry
from checkov.kubernetes.graph_builder.graph_components.edge_builders.LabelSelectorEdgeBuilder import (
    LabelSelectorEdgeBuilder,
)
from checkov.kubernetes.graph_builder.graph_components.edge_builders.NetworkPolicyEdgeBuilder import (
    NetworkPolicyEdgeBuilder,
)
from checkov.kubernetes.graph_builder.local_graph import KubernetesLocalGraph
from checkov.kubernetes.kubernetes_graph_flags import K8sGraphFlags
from checkov.kubernetes.kubernetes_utils import (
    K8_POSSIBLE_ENDINGS,
    _parse_file,
    build_definitions_context,
    remove_metadata_from_attribute,
    should_include_path,
)
from checkov.kubernetes.parser import k8_yaml
from checkov.runner_filter import RunnerFilter
from checkov.version import version as checkov_version

STREAMED_VERSION = "3.3.30"  # the runner below follows this version's Kubernetes runner step by step


def batches(stream) -> Iterator[list[str]]:
    """The file names of each batch, until `null`; the gate gone (end of input) ends the run."""
    for line in stream:
        names = json.loads(line)
        if names is None:
            return
        yield names
    os._exit(3)  # no `null`: the gate stopped, nothing must be reported as scanned


def peeked(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def folder_files(root_folder: str, excluded_paths: list[str] | None) -> list[str]:
    """The files `checkov -d root_folder` reads (kubernetes_utils.get_folder_definitions' walk)."""
    files = []
    for root, d_names, f_names in os.walk(root_folder):
        filter_ignored_paths(root, d_names, excluded_paths)
        filter_ignored_paths(root, f_names, excluded_paths)
        for file in f_names:
            full_path = os.path.join(root, file)
            if os.path.splitext(file)[1] in K8_POSSIBLE_ENDINGS and \
                    should_include_path(full_path, env_vars_config.IGNORE_HIDDEN_DIRECTORIES):
                files.append(full_path)
    return files


def use_libyaml() -> None:
    """Checkov's YAML loader (k8_yaml.SafeLineLoader: every mapping gets its start and end line) on
    libyaml's parser instead of PyYAML's pure-Python one: the same nodes and marks, 6x faster."""
    if yaml.__with_libyaml__:
        k8_yaml.SafeLineLoader = type("SafeLineLoader", (yaml.CSafeLoader, k8_yaml.SafeLineLoader), {})


def _plain(labels) -> bool:
    return isinstance(labels, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())


class LabelIndexedEdges:
    """LabelSelectorEdgeBuilder with its candidates looked up by label instead of tried one by one.

    For every vertex with labels, Checkov's builder tries every other vertex's selector: n² steps,
    9 s of the graph at 5,000 resources. Here a selector of plain labels is filed under one of its
    (key, value) pairs, and a vertex only tries the selectors filed under one of its own labels
    (and those not filed: not plain); each candidate is then judged by Checkov's own
    `find_connections`, in Checkov's order. A selector matches only if all its pairs are among the
    vertex's labels, the filed one too, so no connection is lost; vertices whose labels are not
    plain try every selector, as in Checkov."""

    should_search_for_edges = staticmethod(LabelSelectorEdgeBuilder.should_search_for_edges)

    def __init__(self):
        self._vertices: list | None = None
        self._filed: dict = defaultdict(list)  # (key, value) -> indexes of selectors with that pair
        self._unfiled: list[int] = []

    def _file(self, vertices: list) -> None:
        self._vertices, self._filed, self._unfiled = vertices, defaultdict(list), []
        for index, vertex in enumerate(vertices):
            selector = vertex.metadata.selector.match_labels if vertex.metadata else None
            if selector and _plain(selector):
                self._filed[next(iter(selector.items()))].append(index)
            elif selector:
                self._unfiled.append(index)

    def find_connections(self, vertex, vertices: list) -> list[int]:
        labels = vertex.metadata.labels if vertex.metadata else None
        if not _plain(labels):
            return LabelSelectorEdgeBuilder.find_connections(vertex, vertices)
        if vertices is not self._vertices:
            self._file(vertices)
        candidates = set(self._unfiled).union(*(self._filed.get(pair, ()) for pair in labels.items()))
        return [index for index in sorted(candidates)
                if LabelSelectorEdgeBuilder.find_connections(vertex, [vertices[index]])]


def _pod_selector(network_policy) -> object:
    """What NetworkPolicyEdgeBuilder matches pods with: spec.podSelector.matchLabels (line keys
    removed, as it does), or None when the policy is not shaped like that."""
    spec = network_policy.attributes.get("spec", {})
    selector = spec.get("podSelector") if isinstance(spec, dict) else None
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    remove_metadata_from_attribute(labels)
    return labels


class NetworkPolicyIndexedEdges:
    """NetworkPolicyEdgeBuilder with its candidate pods looked up by label instead of tried one by one.

    Pods with plain labels are filed under each of their (key, value) pairs; a policy whose pod
    selector is plain only tries the pods filed under its first pair, and the pods without labels
    or with labels that are not plain; each candidate is judged by Checkov's own `find_connections`,
    in Checkov's order. Any other policy (no selector, an empty one, another shape) tries every
    vertex, as in Checkov. A plain pod without the selector's first pair can never match it."""

    should_search_for_edges = staticmethod(NetworkPolicyEdgeBuilder.should_search_for_edges)

    def __init__(self):
        self._vertices: list | None = None
        self._pods_with: dict = defaultdict(list)  # (key, value) -> indexes of pods with that label
        self._other_pods: list[int] = []           # pods without labels, or not plain ones

    def _file(self, vertices: list) -> None:
        self._vertices, self._pods_with, self._other_pods = vertices, defaultdict(list), []
        for index, vertex in enumerate(vertices):
            if vertex.attributes.get("kind") != "Pod":
                continue
            labels = vertex.metadata.labels if vertex.metadata is not None else None
            if labels and _plain(labels):
                for pair in labels.items():
                    self._pods_with[pair].append(index)
            elif not _plain(labels):
                self._other_pods.append(index)

    def find_connections(self, vertex, vertices: list) -> list[int]:
        selector = _pod_selector(vertex)
        if not (selector and _plain(selector)):
            return NetworkPolicyEdgeBuilder.find_connections(vertex, vertices)
        if vertices is not self._vertices:
            self._file(vertices)
        candidates = set(self._other_pods).union(self._pods_with.get(next(iter(selector.items())), ()))
        return [index for index in sorted(candidates)
                if NetworkPolicyEdgeBuilder.find_connections(vertex, [vertices[index]])]


class IndexedLocalGraph(KubernetesLocalGraph):
    """Checkov's Kubernetes graph, its label selector and network policy edges found through indexes
    (`LabelIndexedEdges`, `NetworkPolicyIndexedEdges`)."""

    def __init__(self, definitions):
        super().__init__(definitions)
        indexed = {LabelSelectorEdgeBuilder: LabelIndexedEdges, NetworkPolicyEdgeBuilder: NetworkPolicyIndexedEdges}
        self.edge_builders = [indexed[builder]() if isinstance(builder, type) and builder in indexed else builder
                              for builder in self.edge_builders]


class StreamedRunner(kubernetes_runner.Runner):
    """Checkov's Kubernetes runner (`Runner.run` of STREAMED_VERSION), file batch by file batch."""

    def __init__(self, file_batches: Iterator[list[str]]):
        super().__init__()
        self.file_batches = file_batches
        self.seen: set[str] = set()  # the files checked so far

    def run(self, root_folder, external_checks_dir=None, files=None, runner_filter=None,
            collect_skip_comments=True):
        runner_filter = runner_filter or RunnerFilter()
        self.pbar.turn_off_progress_bar()  # never a terminal here
        report = Report(self.check_type)
        for directory in external_checks_dir or []:
            registry.load_external_checks(directory)
            if self.graph_registry:
                self.graph_registry.load_external_checks(directory)
        self.definitions, self.definitions_raw, self.context = {}, {}, {}
        checked: dict = {}
        graph_definitions: dict = {}
        for names in self.file_batches:
            paths = [os.path.join(root_folder, name) for name in names]
            self._check_files(paths, root_folder, runner_filter, report, checked, graph_definitions,
                              collect_skip_comments)
        self._check_rest(root_folder, runner_filter, report, checked, graph_definitions, collect_skip_comments)
        self.definitions = checked
        self._check_graph(root_folder, runner_filter, report, graph_definitions)
        return report

    def _check_files(self, paths, root_folder, runner_filter, report, checked, graph_definitions,
                     collect_skip_comments) -> None:
        """What Runner.run does for every file, for these: parse, context, List items spread, the
        graph's own copy, the resource checks."""
        definitions, definitions_raw = {}, {}
        for result in map(_parse_file, paths):  # get_files_definitions, in this process
            if result:
                path, parse_result = result
                if parse_result:
                    definitions[path], definitions_raw[path] = parse_result
        self.definitions_raw.update(definitions_raw)
        self.context.update(build_definitions_context(definitions, definitions_raw))
        self.definitions = definitions
        self.spread_list_items()
        graph_definitions.update(pickle_deepcopy(definitions))
        self.check_definitions(root_folder, runner_filter, report, collect_skip_comments=collect_skip_comments)
        checked.update(definitions)
        self.seen.update(paths)

    def _check_rest(self, root_folder, runner_filter, report, checked, graph_definitions,
                    collect_skip_comments) -> None:
        """Files of the folder no batch named; a named file outside it is an error."""
        listed = folder_files(root_folder, runner_filter.excluded_paths)
        outside = self.seen - set(listed)
        if outside:
            raise RuntimeError(f"files streamed to Checkov are not in {root_folder}: {sorted(outside)[:5]}")
        rest = [path for path in listed if path not in self.seen]
        if rest:
            self._check_files(rest, root_folder, runner_filter, report, checked, graph_definitions,
                              collect_skip_comments)

    def _check_graph(self, root_folder, runner_filter, report, graph_definitions) -> None:
        """The rest of Runner.run: the graph over every file, its resources and its checks."""
        if not self.graph_manager:
            return
        # KubernetesGraphManager.build_graph_from_definitions, with the indexed graph
        local_graph = IndexedLocalGraph(graph_definitions)
        self.graph_manager.graph_flags = self.graph_manager.graph_flags or K8sGraphFlags()
        local_graph.build_graph(render_variables=False, graph_flags=self.graph_manager.graph_flags)
        for vertex in local_graph.vertices:
            file_abs_path = kubernetes_runner._get_entity_abs_path(root_folder, vertex.path)
            report.add_resource(f'{file_abs_path}:{vertex.id}')
        self.graph_manager.save_graph(local_graph)
        merge_reports(report, self.get_graph_checks_report(root_folder, runner_filter))
        if runner_filter.run_image_referencer:
            raise RuntimeError("the streamed runner does not run Checkov's image referencer")


class ReportFile(checkov.main.Checkov):
    """`checkov`, writing its JSON report file as it encodes it, without the console copy, for
    `--output json --output-file-path DIR` (what the gate asks for); Checkov's own output otherwise."""

    def print_results(self, runner_registry, url=None, created_baseline_path=None, baseline=None):
        config = self.config
        if config.output != ["json"] or not config.output_file_path or "," in config.output_file_path \
                or convert_str_to_bool(os.getenv("CHECKOV_NO_OUTPUT", "False")):
            return super().print_results(runner_registry, url, created_baseline_path, baseline)
        return write_json_report(runner_registry, self.scan_reports, config, url)


def write_json_report(runner_registry, scan_reports, config, url) -> int:
    """RunnerRegistry.print_reports for the JSON output alone: the same report, the same file, the
    same exit code."""
    if getattr(config, "skip_resources_without_violations", False):
        for report in scan_reports:
            report.extra_resources = set()
    reports, exit_codes = [], []
    for report in scan_reports:
        if not report.is_empty():
            reports.append(report.get_dict(is_quiet=config.quiet, url=url, s3_setup_failed=bc_integration.s3_setup_failed,
                                           support_path=bc_integration.support_repo_path))
        exit_codes.append(report.get_exit_code(runner_registry.get_fail_thresholds(config, report.check_type)))
    if config.compact and reports:
        RunnerRegistry.strip_code_blocks_from_json(reports)
    output = reports[0] if len(reports) == 1 else reports or Report("").get_summary()
    os.makedirs(config.output_file_path, exist_ok=True)
    with open(os.path.join(config.output_file_path, "results_json.json"), "w") as handle:
        write_json(handle, output, CustomJSONEncoder().encode)
    return 1 if 1 in exit_codes else 0


def write_json(handle, value, encode, depth: int = 0) -> None:
    """The text of `json.dumps(value, cls=CustomJSONEncoder)`: the report's mappings and lists down to
    its records piece by piece, each record at once (C-encoded). json.dumps would hold all of it
    (100 MB at 5,000 resources: the gate's peak), json.dump is 3x slower (pure Python)."""
    if isinstance(value, dict) and depth < 2 and all(isinstance(key, str) for key in value):
        handle.write("{")
        for index, (key, item) in enumerate(value.items()):
            handle.write(f"{', ' if index else ''}{encode(key)}: ")
            write_json(handle, item, encode, depth + 1)
        handle.write("}")
    elif isinstance(value, list) and depth < 3:
        handle.write("[")
        for index, item in enumerate(value):
            handle.write(", " if index else "")
            write_json(handle, item, encode, depth + 1)
        handle.write("]")
    else:
        handle.write(encode(value))


def streams(argv: list[str]) -> bool:
    """This Checkov and command line are what StreamedRunner follows: one folder, no single files."""
    return checkov_version == STREAMED_VERSION and argv.count("--directory") == 1 and "--file" not in argv


def main() -> int:
    argv = json.loads(sys.stdin.readline())
    sys.argv = [sys.argv[1]] + argv
    sys.stdout = open(os.devnull, "w")
    file_batches = batches(sys.stdin)
    first = next(file_batches, None)
    if first is not None and streams(argv):
        use_libyaml()
        runner = StreamedRunner(peeked(first, file_batches))
        checkov.main.DEFAULT_RUNNERS[:] = [runner if type(r) is kubernetes_runner.Runner else r
                                           for r in checkov.main.DEFAULT_RUNNERS]
    elif first is not None:
        for _ in file_batches:  # any other Checkov: the folder complete, then Checkov as it is
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=SyntaxWarning)
        return ReportFile(argv).run() or 0


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)  # the report is written: tearing down Checkov's objects only costs time
