"""Fails if the modules of ``sweep_magic`` import each other in a cycle.

Every import counts, including those inside functions (a deferred import only hides a cycle;
it does not remove the coupling), except those under ``if TYPE_CHECKING:``, which exist for
annotations only and are never executed. Run: ``python scripts/check_imports.py``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sweep_magic"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for c in candidates:
            if c in modules and c != name:
                found.add(c)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    # A package's __init__ re-exporting its submodules is not a cycle of its own: a submodule
    # importing a sibling through the package is, so keep edges into packages only from
    # outside them.
    graph = {module_name(f): imports_of(f, modules) for f in files}
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    found = cycles(graph)
    for component in found:
        print("import cycle: " + " <-> ".join(component))
    if not found:
        print(f"no import cycles among {len(modules)} modules of sweep_magic")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
