"""The import arrows point one way: layout -> backends -> video I/O, with bench, ui, cli and comfy above.

Read from the sources (every `import`, also the ones inside functions), so a lazy import cannot hide a
circle or an arrow up."""

import ast
from pathlib import Path

import iva0

SRC = Path(iva0.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """module -> the iva0 modules it imports (a `from pkg import name` counts as pkg.name when that is a module)."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("iva0"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                if not base.startswith("iva0"):
                    continue
                for a in node.names:
                    deps.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def cycles(graph: dict[str, set[str]], within: str) -> list[list[str]]:
    nodes = {n for n in graph if n.startswith(within)}
    found, state = [], {}

    def visit(n, stack):
        state[n] = 1
        for d in sorted(graph[n] & nodes):
            if state.get(d) == 1:
                found.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[n] = 2

    for n in sorted(nodes):
        if n not in state:
            visit(n, [n])
    return found


def test_the_graph_is_read():
    g = imports()
    assert "iva0.io.atomic" in g["iva0.io.video"] and "iva0.layout" in g["iva0.retime"]


def test_video_io_has_no_import_circle():
    assert cycles(imports(), "iva0.io") == []


def test_backends_do_not_import_the_benchmark():
    """Retiming a layout belongs with the layout (iva0.retime), not with the benchmark that also uses it."""
    g = imports()
    up = {m: sorted(d for d in deps if d.startswith(("iva0.bench", "iva0.ui", "iva0.cli")))
          for m, deps in g.items() if m.startswith("iva0.backends")}
    assert {m: d for m, d in up.items() if d} == {}


def test_video_io_imports_nothing_above_it():
    """io/ reads and writes pictures and videos; the layout, the backends, the benchmark, the page and
    the CLI are above it (the overlays read off a layout live in iva0.layout_overlay)."""
    g = imports()
    above = ("iva0.layout", "iva0.camera", "iva0.retime", "iva0.masks", "iva0.animate", "iva0.backends", "iva0.segment",
             "iva0.metrics", "iva0.bench", "iva0.ui", "iva0.cli", "iva0.comfy")
    up = {m: sorted(d for d in deps if d.startswith(above)) for m, deps in g.items() if m.startswith("iva0.io")}
    assert {m: d for m, d in up.items() if d} == {}
