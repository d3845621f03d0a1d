"""The house's rules that a grep can check: the import arrows point one way and functions stay short."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_nos"
MAX_FUNCTION_LINES = 80


def _imported_modules(path):
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_compare_never_imports_search():
    """dsl <- optimizers <- tasks <- (search, compare) <- cli: compare and search are siblings."""
    offenders = [f"{path.relative_to(ROOT)}: {module}" for path in sorted((PACKAGE / "compare").rglob("*.py"))
                 for module in _imported_modules(path) if module.startswith("keras_nos.search")]
    assert not offenders, offenders


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
