"""The shape of the code (issue: one orchestrator over pure analyses): the import graph of the
project's modules, counting imports inside functions, has no cycle; ``dft`` imports nothing from
``echem``; nothing under ``echem/report/`` imports the orchestrator; no module rewrites the
interpreter's state."""
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("echem", "dft")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that ``name`` imports anywhere in its body (functions included)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_the_graph_sees_function_level_imports():
    # the check is only worth something if it reads imports inside functions
    graph = _graph()
    assert "echem.report.figures.eis" in graph["echem.report.figures"]   # imported in a function
    assert "echem.analysis.cell" in graph["echem.batch"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle_among_the_projects_modules():
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle)


def test_dft_imports_nothing_from_echem():
    graph = _graph()
    bad = {m: sorted(t for t in ts if t.split(".")[0] == "echem")
           for m, ts in graph.items() if m.split(".")[0] == "dft"}
    assert not any(bad.values()), bad


def test_the_report_never_imports_the_orchestrator():
    graph = _graph()
    bad = {m: ts & {"echem.batch", "echem.cli"} for m, ts in graph.items()
           if m.startswith("echem.report")}
    assert not any(bad.values()), bad


def test_the_analyses_open_no_file_and_draw_nothing():
    # DESIGN.md: no analysis opens a file; the per-cell analysis draws no figure
    graph = _graph()
    for m in ("echem.analysis.cell", "echem.analysis.experiment"):
        assert not {t for t in graph[m] if t.startswith(("echem.report", "echem.io", "echem.batch"))}, m


def test_no_module_rewrites_interpreter_state():
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        assert not (isinstance(t, ast.Subscript) and "sys.modules" in ast.unparse(t.value)), path
                if isinstance(node, ast.Call):
                    call = ast.unparse(node.func)
                    assert call not in ("os._exit", "gc.set_threshold", "gc.disable", "gc.freeze"), (path, call)
