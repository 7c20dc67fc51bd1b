"""The import layering: emrlab_common < hdfs < yarn < mapreduce < emrlab, and no import cycles between modules.

Inside each layer, its parts (subpackages and top-level modules) are layered
too, in the order PART_ORDERS gives, the order of the architecture (for
mapreduce: the job API a user writes against, Streaming and mrjob jobs, the
task side, the ApplicationMaster, the shuffle's serving side, the runners, the
JobHistory server, the commands), and no subpackage imports itself through others.

Every import counts, the ones inside functions too: moving an import into a
function hides a dependency from Python's import machinery, not from a
reader. Imports under `if TYPE_CHECKING:` are for annotations only and do
not count. Known violations are listed with their owner; fixing one makes the
test say so, so that the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("emrlab_common", "hdfs", "yarn", "mapreduce", "emrlab")  # each may import only those before it

# (importer, imported) pairs that go up a layer, each waiting for its fix.
KNOWN_UPWARD_IMPORTS: set[tuple[str, str]] = set()
# Edges that close an import cycle; without them the module graph must have none.
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()

# Each layer's parts, lowest first: a part may import only the parts before it (the layer's own
# __init__ may import any). A new part must be placed here.
PART_ORDERS: dict[str, tuple[str, ...]] = {
    "hdfs": ("errors", "protocol", "paths", "checksum", "blocktoken", "datatransfer", "pipeline", "client",
             "webhdfs", "namenode", "datanode", "cli"),
    "yarn": ("errors", "records", "containerlogs", "client", "resourcemanager", "nodemanager", "amclient",
             "distributedshell", "cli"),
    # shuffle/ is the NodeManager's serving side: it checks the AM's ids (appmaster/records.py) and
    # reads the task side's segments; the reducers' side of the shuffle is task/reduce/.
    # A task runs Streaming and mrjob steps (task/steps.py, task/pipes.py), so streaming/ sits below it.
    "mapreduce": ("api", "streaming", "task", "appmaster", "shuffle", "runners", "jobhistory", "commands",
                  "examples"),
    "emrlab": ("corpus", "launcher", "controller", "spotlab", "commands", "cli", "__main__"),
}
# (importer, imported) module pairs that go up inside a layer, each waiting for its fix (see why beside it).
KNOWN_UPWARD_PART_IMPORTS: set[tuple[str, str]] = set()


def module_files() -> dict[str, Path]:
    modules = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            if "protos" in path.relative_to(ROOT).parts:
                continue  # generated stubs
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(child for statement in node.body for child in ast.walk(statement))
    return skipped


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its file (a package's __init__ counts as the package)."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(dotted: str) -> None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        if dotted and dotted != name and not name.startswith(dotted + "."):
            found.add(dotted)

    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                add(f"{base}.{alias.name}")
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_of(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_package_imports_only_the_layers_below_it():
    graph = import_graph()
    upward = {(importer, imported) for importer, targets in graph.items() for imported in targets
              if layer_of(imported) > layer_of(importer)}
    assert upward - KNOWN_UPWARD_IMPORTS == set(), "imports that go up a layer"
    assert KNOWN_UPWARD_IMPORTS - upward == set(), "fixed: remove these from KNOWN_UPWARD_IMPORTS"


def test_no_module_imports_itself_through_others():
    graph = import_graph()
    for importer, imported in KNOWN_CYCLE_EDGES:
        assert imported in graph.get(importer, set()), f"fixed: remove {(importer, imported)} from KNOWN_CYCLE_EDGES"
        graph[importer].discard(imported)
    assert cycles(graph) == []


def part_of(module: str) -> str | None:
    """The subpackage or top-level module of its layer that `module` is in; None for the layer's __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def upward_part_imports(graph: dict[str, set[str]], orders: dict[str, tuple[str, ...]]) -> set[tuple[str, str]]:
    upward = set()
    for importer, targets in graph.items():
        for imported in targets:
            layer, importer_part, imported_part = importer.split(".")[0], part_of(importer), part_of(imported)
            if (layer != imported.split(".")[0] or layer not in orders or None in (importer_part, imported_part)
                    or importer_part == imported_part):
                continue
            if orders[layer].index(importer_part) < orders[layer].index(imported_part):
                upward.add((importer, imported))
    return upward


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Each subpackage (or top-level module) of a layer and the others of its layer it imports."""
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for importer, targets in graph.items():
        packages.setdefault(package(importer), set())
        for imported in targets:
            if imported.split(".")[0] == importer.split(".")[0] and package(imported) != package(importer):
                packages[package(importer)].add(package(imported))
    return packages


def test_every_part_of_a_layer_is_placed_in_its_order():
    for layer, order in PART_ORDERS.items():
        parts = {part_of(module) for module in module_files() if module.split(".")[0] == layer} - {None}
        assert parts - set(order) == set(), f"place these parts of {layer} in PART_ORDERS"
        assert set(order) - parts == set(), f"gone: remove these from PART_ORDERS[{layer!r}]"


def test_every_part_imports_only_the_parts_below_it():
    upward = upward_part_imports(import_graph(), PART_ORDERS)
    assert upward - KNOWN_UPWARD_PART_IMPORTS == set(), "imports that go up inside a layer"
    assert KNOWN_UPWARD_PART_IMPORTS - upward == set(), "fixed: remove these from KNOWN_UPWARD_PART_IMPORTS"


def test_no_subpackage_imports_itself_through_others():
    graph = import_graph()
    for importer, imported in KNOWN_UPWARD_PART_IMPORTS | KNOWN_CYCLE_EDGES:
        graph[importer].discard(imported)
    assert cycles(package_graph(graph)) == []


def test_the_part_checks_can_fail():
    graph = {"mapreduce.api.sampling": {"mapreduce.task.splits"}, "mapreduce.task.steps": {"mapreduce.api.job"},
             "mapreduce.task.splits": set(), "mapreduce.api.job": set(), "mapreduce": {"mapreduce.api.job"}}
    orders = {"mapreduce": ("api", "task")}
    assert upward_part_imports(graph, orders) == {("mapreduce.api.sampling", "mapreduce.task.splits")}
    assert cycles(package_graph(graph)) == [["mapreduce.api", "mapreduce.task"]]
    graph["mapreduce.api.sampling"] = set()
    assert upward_part_imports(graph, orders) == set()
    assert cycles(package_graph(graph)) == []


def test_the_checks_can_fail(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    source = tmp_path / "records.py"
    source.write_text("from typing import TYPE_CHECKING\nfrom . import errors\nif TYPE_CHECKING:\n"
                      "    from mapreduce.job import Job\n\ndef later():\n    from mapreduce.commands.job import run\n")
    modules = {"yarn.records": source, "yarn.errors": source, "mapreduce.job": source,
               "mapreduce.commands.job": source}
    assert imports_of("yarn.records", source, modules) == {"yarn.errors", "mapreduce.commands.job"}
