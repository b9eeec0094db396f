"""The import graph of a Python package, read from its source (AST): its import cycles and the
imports of other modules' private (underscore) names.

Every import statement counts, wherever it stands: at the top of a module, under
``if TYPE_CHECKING:``, at the bottom, or inside a function (an import inside a function hides a
cycle, it does not remove it). Imports resolve to modules of the package:

* ``import pkg.a.b`` imports the module ``pkg.a.b`` (``pkg/a/b.py`` or ``pkg/a/b/__init__.py``);
* ``from pkg.a import name`` imports ``pkg.a``, and also ``pkg.a.name`` when that is a submodule: so
  ``from pkg import Name`` (even ``from pkg import submodule``) imports the package's ``__init__``
  (the module ``pkg``), and a submodule that does so depends on everything that
  ``__init__`` imports;
* relative imports (``from . import x``, ``from ..y import z``) resolve against the
  importing module;
* importing ``pkg.a.b`` does not count as importing ``pkg`` and ``pkg.a`` (Python runs their
  ``__init__`` first, but a package ``__init__`` that only re-exports its submodules depends on
  them, not the reverse).

    >>> graph = import_graph("spaces")
    >>> graph.cycles()            # [] when the package's modules form a hierarchy
    >>> graph.private_imports     # [] when no module imports another one's _names

Run as a script (``python tests/import_graph.py spaces``) it prints both and exits 1 when either
is non-empty.
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class PrivateImport:
    """``importer`` imports the private name ``name`` of module ``module`` (at ``importer``'s
    line ``line``)."""

    importer: str
    module: str
    name: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.module}.{self.name}"


@dataclass
class ImportGraph:
    """Modules of one package and, for each, the modules of the package it imports (with
    the lines)."""

    package: str
    modules: dict[str, Path]
    edges: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    private_imports: list[PrivateImport] = field(default_factory=list)

    def imports(self, module: str) -> set[str]:
        return set(self.edges.get(module, {}))

    def components(self) -> list[list[str]]:
        """The strongly connected components with a cycle (more than one module, or a module
        importing itself), each sorted, in sorted order: every module of one imports every other,
        directly or not."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        out: list[list[str]] = []

        def visit(v: str) -> None:  # Tarjan's algorithm (recursive: packages are small)
            index[v] = low[v] = len(index)
            stack.append(v)
            on_stack.add(v)
            for w in sorted(self.imports(v)):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in self.imports(v):
                    out.append(sorted(comp))

        for v in sorted(self.modules):
            if v not in index:
                visit(v)
        return sorted(out)

    def cycles(self) -> list[list[str]]:
        """Import cycles, each as [m1, m2, ..., m1] (m1 imports m2, ...): for every module of a
        component (`components`), a shortest cycle through it, without repeats; [] when there
        is none."""
        found: dict[tuple[str, ...], list[str]] = {}
        for comp in self.components():
            members = set(comp)
            for start in comp:
                path = self._shortest_cycle(start, members)
                if path:
                    ring = path[:-1]
                    # one rotation per cycle, starting at its smallest name
                    k = ring.index(min(ring))
                    canon = tuple(ring[k:] + ring[:k])
                    found.setdefault(canon, [*canon, canon[0]])
        return [found[k] for k in sorted(found, key=lambda c: (len(c), c))]

    def _shortest_cycle(self, start: str, members: set[str]) -> list[str] | None:
        parent: dict[str, str] = {}
        queue = deque([start])
        seen = {start}
        while queue:
            v = queue.popleft()
            for w in sorted(self.imports(v) & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if w not in seen:
                    seen.add(w)
                    parent[w] = v
                    queue.append(w)
        return None

    def describe_cycle(self, cycle: list[str]) -> str:
        """``a (line 3) -> b (line 9) -> a``: each arrow with the importer's line(s) of
        that import."""
        parts = []
        for a, b in itertools.pairwise(cycle):
            lines = ", ".join(str(n) for n in sorted(self.edges[a][b]))
            parts.append(f"{a} (line {lines})")
        return " -> ".join([*parts, cycle[-1]])

    def report(self) -> str:
        """Both findings as text, one line each; "no import cycles, no private imports"
        when clean."""
        lines = [f"cycle: {self.describe_cycle(c)}" for c in self.cycles()]
        lines += [f"private: {p}" for p in self.private_imports]
        return "\n".join(lines) or f"{self.package}: no import cycles, no private imports"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(package_dir: str | Path, package: str | None = None) -> ImportGraph:
    """The import graph of the package in `package_dir` (its name: `package`, default the
    folder's name).

    Edges are imports between the package's own modules; `private_imports` lists every import of a
    name starting with one underscore (not dunders) from another module of the package."""
    root = Path(package_dir).resolve()
    name = package or root.name
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        if not all(
            (d / "__init__.py").exists() for d in path.parents if d == root or root in d.parents
        ):
            continue  # a folder without __init__.py is not a subpackage
        mod = _module_name(path, root)
        modules[name + mod[len(root.name) :]] = path
    graph = ImportGraph(name, modules, {m: {} for m in modules})
    for mod, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            for target, names in _targets(node, mod, is_package):
                _add(graph, mod, target, names, node.lineno)
    return graph


def _targets(node: ast.AST, mod: str, is_package: bool) -> Iterable[tuple[str, list[str]]]:
    """(module imported from, names imported from it: [] for `import x`) of one import statement."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, []
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = mod.split(".") if is_package else mod.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        yield target, [alias.name for alias in node.names]


def _add(graph: ImportGraph, importer: str, target: str, names: list[str], line: int) -> None:
    def edge(to: str) -> None:
        lines = graph.edges[importer].setdefault(to, [])
        if line not in lines:
            lines.append(line)

    if not names:  # import a.b.c: the deepest module of the package on that path
        parts = target.split(".")
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in graph.modules:
                edge(".".join(parts[:k]))
                break
        return
    for n in names:
        sub = f"{target}.{n}"
        if (
            target in graph.modules and target != importer
        ):  # from pkg import x reads x off pkg's __init__
            edge(target)
        if sub in graph.modules:  # ... and when x is a submodule, imports it too
            edge(sub)
        if (
            n.startswith("_")
            and not n.startswith("__")
            and target in graph.modules
            and sub not in graph.modules
        ):
            graph.private_imports.append(PrivateImport(importer, target, n, line))


def main(argv: list[str]) -> int:
    status = 0
    for folder in argv or ["spaces"]:
        graph = import_graph(folder)
        print(graph.report())
        status |= bool(graph.cycles() or graph.private_imports)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
