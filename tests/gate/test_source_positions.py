"""gate/source_positions.py: the line of the user's program that created each resource, even one a
component from an installed package created."""
from __future__ import annotations

from pathlib import Path

from stateless_pack.gate.program.runner import RegisteredResource, run_program
from stateless_pack.gate.source_positions import source_root, user_positions
from support.programs import pulumi_program


def resource(urn: str, parent: str = "", source: tuple = ()) -> RegisteredResource:
    return RegisteredResource(type="t", name=urn, urn=urn, custom=True, inputs={}, parent=parent, source=source)


def test_a_resource_created_in_an_installed_package_takes_its_nearest_users_ancestor(tmp_path):
    program = tmp_path / "app" / "__main__.py"
    installed = tmp_path / "app" / ".venv" / "lib" / "python3.11" / "site-packages" / "lib" / "comp.py"
    elsewhere = tmp_path / "elsewhere.py"
    resources = [
        resource("stack", source=(str(installed), 3)),
        resource("comp", parent="stack", source=(str(program), 12)),
        resource("child", parent="comp", source=(str(installed), 40)),   # in the project's own venv
        resource("grandchild", parent="child", source=(str(elsewhere), 5)),  # outside the project
        resource("own", parent="comp", source=(str(program), 20)),
        resource("orphan", source=(str(installed), 1)),
    ]
    assert user_positions(resources, tmp_path / "app") == {
        "comp": (str(program), 12), "child": (str(program), 12), "grandchild": (str(program), 12),
        "own": (str(program), 20)}


def test_a_parent_cycle_ends(tmp_path):
    resources = [resource("a", parent="b"), resource("b", parent="a")]
    assert user_positions(resources, tmp_path) == {}


def test_the_repository_root_is_the_nearest_folder_with_git(tmp_path):
    (tmp_path / "repo" / "infra" / "app").mkdir(parents=True)
    (tmp_path / "repo" / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    assert source_root(tmp_path / "repo" / "infra" / "app") == (tmp_path / "repo").resolve()
    assert source_root(tmp_path) == tmp_path.resolve()  # no repository: the folder itself


def test_a_components_children_point_at_the_line_of_the_program_that_created_it(tmp_path):
    """The Deployment and Service of an `Application` are created inside stateless-pack's
    components (not the user's files): they point at the program's `Application(...)` line."""
    app = pulumi_program(tmp_path / "app", """\
        from stateless_pack.components.application import Application, ApplicationArgs
        import pulumi_kubernetes as k8s

        k8s.core.v1.ConfigMap("plain", metadata={"name": "plain", "namespace": "shop"}, data={"a": "b"})
        Application("web", ApplicationArgs(namespace="shop",
                                           image="registry.example.org/web@sha256:" + "a" * 64))
        """)
    run = run_program(app)
    positions = user_positions(run.resources, app)
    by_type = {r.type: positions.get(r.urn) for r in run.resources}
    main = str(Path(app / "__main__.py").resolve())
    assert by_type["kubernetes:core/v1:ConfigMap"] == (main, 4)
    assert by_type["kubernetes:apps/v1:Deployment"] == (main, 5)
    assert by_type["kubernetes:core/v1:Service"] == (main, 5)
