"""The house's rules that a parser can check: the import arrows of docs/architecture.md, no import cycles, small
modules and short functions. Imports inside functions count as much as those at the top of a file."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_nos"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 400


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name, path):
    """The modules of keras_nos that ``name`` imports: ``from a import b`` is ``a.b`` when that is a module, else ``a``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _room(module):
    """``keras_nos.search.loop`` -> ``search``; ``keras_nos.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _documented_layers():
    """The rooms of the arrow diagram under "Which package may import which", left (bottom) to right."""
    section = ARCHITECTURE.read_text().split("## Which package may import which", 1)[1]
    diagram = re.search(r"```\n(.*?)```", section, re.S).group(1)
    return [set(re.findall(r"[a-z_]+", layer)) for layer in diagram.split("←")]


LAYERS = _documented_layers()
LAYER_OF = {room: index for index, layer in enumerate(LAYERS) for room in layer}


def test_the_diagram_names_every_room():
    rooms = {_room(module) for module in MODULES} - {None}
    assert rooms == set(LAYER_OF), (sorted(rooms - set(LAYER_OF)), sorted(set(LAYER_OF) - rooms))


def test_every_import_points_to_a_room_on_its_left():
    """A room imports only rooms to its left in the diagram: not sideways, never back up."""
    offenders = []
    for module, imported in sorted(IMPORTS.items()):
        room = _room(module)
        if room is None:  # the package's own door: its names load lazily by string
            continue
        for target in sorted(imported):
            if _room(target) != room and LAYER_OF[_room(target)] >= LAYER_OF[room]:
                offenders.append(f"{module} -> {target}")
    assert not offenders, offenders


def test_tracking_reads_only_the_result_of_tasks():
    """A Trial holds an EvaluationResult; the tracking layer needs nothing else of the tasks."""
    offenders = [f"{module} -> {target}" for module, imported in sorted(IMPORTS.items()) if _room(module) == "tracking"
                 for target in sorted(imported) if _room(target) == "tasks" and target != "keras_nos.tasks.result"]
    assert not offenders, offenders


def _cycles():
    """The strongly connected groups of more than one module in the import graph (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in IMPORTS[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                groups.append(sorted(group))

    for module in IMPORTS:
        if module not in index:
            visit(module)
    return groups


def test_no_module_imports_one_that_imports_it_back():
    assert not _cycles(), _cycles()


def test_imports_inside_functions_and_relative_imports_count(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from keras_nos.dsl import rule\n    from .errors import KerasNosError\n")
    assert _imports("keras_nos.probe", probe) == {"keras_nos.dsl.rule", "keras_nos.errors"}


def test_no_module_is_longer_than_400_lines():
    long = [f"{path.relative_to(ROOT)} ({lines} lines)" for path in MODULES.values()
            if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not long, long


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
