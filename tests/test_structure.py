"""The shape of the code (issue 14): three packages in layers, each a hierarchy of modules.

* Layers: `spaces` imports neither `nas` nor `analysis`; `analysis` imports `spaces` only; `nas` may
  import both; inside `nas`, only the command line (`nas.cli`) imports `nas.cli`: the library never
  imports its CLI.
* In every package: no import cycle and no import of another module's private (underscore) name.
  Every import counts, also under TYPE_CHECKING and inside functions (tests/import_graph.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from import_graph import import_graph

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("spaces", "analysis", "nas")
MAY_IMPORT = {"spaces": set(), "analysis": {"spaces"}, "nas": {"spaces", "analysis"}}


def project_imports(package: str) -> list[tuple[str, int, str]]:
    """(file, line, top-level package) of every import of one of PACKAGES other than
    `package` itself."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES and top != package:
                    found.append((str(path.relative_to(ROOT)), node.lineno, top))
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_layers_below_it(package):
    wrong = [
        f"{f}:{line} imports {top}"
        for f, line, top in project_imports(package)
        if top not in MAY_IMPORT[package]
    ]
    assert wrong == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_and_no_private_import(package):
    graph = import_graph(ROOT / package)
    assert graph.cycles() == [] and graph.private_imports == [], graph.report()


def test_the_library_never_imports_the_command_line():
    graph = import_graph(ROOT / "nas")
    cli = {m for m in graph.modules if m == "nas.cli" or m.startswith("nas.cli.")}
    assert {
        m: sorted(graph.imports(m) & cli)
        for m in graph.modules
        if m not in cli and graph.imports(m) & cli
    } == {}


def test_import_graph_finds_cycles_hidden_in_functions_and_private_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.a import A\n")
    (pkg / "a.py").write_text(
        "A = 1\n\ndef f():\n    from pkg.b import _hidden\n    return _hidden\n"
    )
    (pkg / "b.py").write_text("from pkg import A\n_hidden = 2\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from .. import a\nfrom pkg import A\n")
    graph = import_graph(pkg)
    assert graph.cycles() == [["pkg", "pkg.a", "pkg.b", "pkg"]]  # through a function-level import
    assert [str(p) for p in graph.private_imports] == ["pkg.a:4 imports pkg.b._hidden"]
    # `from pkg import A` reads the package's __init__
    assert graph.imports("pkg.sub.c") == {"pkg", "pkg.a"}


def test_the_layer_check_sees_imports_inside_functions(tmp_path, monkeypatch):
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "x.py").write_text("def f():\n    from nas.study import load_study\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert project_imports("spaces") == [("spaces/x.py", 2, "nas")]
