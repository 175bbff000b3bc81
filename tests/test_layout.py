"""The package's rooms and what may import what (ARCHITECTURE.md), read from the source.

Every ``import`` and ``from ... import`` of every module, function-level ones included (not
those under ``TYPE_CHECKING``, which never run), is resolved to a module of the package.
The graph they make has no cycle, each room imports only the rooms below it, only
``_napari`` imports Qt, napari or magicgui, and no module grows past the size one reads in
a sitting.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "napari_maskprep"
PACKAGE = "napari_maskprep"
GUI_LIBRARIES = {"napari", "magicgui", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy"}
MAX_LINES = 700

# What each room may import of the package (besides itself). Kernels are the floor: plain
# arrays in and out. ``core.registry`` hands each checked call to ``engine.planes``, the one
# edge from core up; the rest of ``engine`` sits above the ops.
ALLOWED = {
    "kernels": {"core.errors"},
    "core": {"kernels", "engine.planes"},
    "engine.planes": {"core", "kernels"},
    "ops": {"core", "kernels"},
    "engine": {"core", "kernels"},
    "io": {"core", "_version"},
    "recipe": {"core", "engine", "io", "export"},
    "learning": {"core", "kernels", "io", "ops"},
    "export": {"core", "_version"},
    "large_images": {"core", "engine", "io", "recipe"},
    "cluster": {"core"},
    "batch": {"core", "engine", "io", "recipe", "large_images", "cluster"},
    "fit": {"core", "io", "recipe"},
    "demo": {"core", "io", "recipe", "batch", "samples", "fit"},
    "samples": {"io"},
    "presets": set(),
    "cli": {"core", "io", "recipe", "batch", "cluster", "large_images", "demo", "fit", "presets",
            "export", "_version"},
    "_napari": {"core", "engine", "io", "recipe", "batch", "large_images", "ops", "samples",
                "fit", "learning", "presets"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """Imports under ``if TYPE_CHECKING:``: names for annotations, never run."""
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded |= {n for child in node.body for n in ast.walk(child)}
    return guarded


def imported(name: str, path: Path) -> set[str]:
    """The package's modules ``name`` imports when it runs (submodules named by
    ``from x import y`` too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    found = set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            submodules = {f"{base}.{a.name}" for a in node.names} & MODULES.keys()
            found |= submodules
            if len(submodules) < len(node.names):  # names defined in ``base`` itself
                found.add(base)
    return found


GRAPH = {name: {m for m in imported(name, path) if m in MODULES and m != name}
         for name, path in MODULES.items()}


def room(module: str) -> str:
    rest = module.removeprefix(PACKAGE + ".")
    return "engine.planes" if rest == "engine.planes" else rest.split(".")[0]


def within(module: str, rooms: set[str]) -> bool:
    rest = module.removeprefix(PACKAGE + ".")
    return any(rest == r or rest.startswith(r + ".") for r in rooms)


def test_no_import_cycle():
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = trail[trail.index(target):] + [target] if target in trail else [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in MODULES:
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_room_imports_only_the_rooms_below_it(module):
    here = room(module)
    if module == PACKAGE:  # the public API re-exports
        return
    allowed = ALLOWED.get(here, set())
    for target in GRAPH[module]:
        if room(target) != here:
            assert within(target, allowed), f"{module} imports {target}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_napari_room_imports_gui_libraries(module):
    if room(module) == "_napari":
        return
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                 else [])
        assert not {n.split(".")[0] for n in names} & GUI_LIBRARIES, f"{module}: {names}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_short_enough_to_read_in_one_sitting(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{module}: {lines} lines"


def test_every_room_is_there():
    rooms = {room(m) for m in MODULES}
    assert {"core", "ops", "kernels", "engine", "io", "_napari"} <= rooms
