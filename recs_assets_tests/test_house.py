"""Every import points down: a stage uses the stages below it and the ground floor, never one above.

The order is written once, here, from the ground up. Every import of every module is read from its
source (nested imports inside functions too), so a lazy import that runs up the house fails as well."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "recs_assets"
# Floors from the ground up; a module may import its own floor and every floor below it.
FLOORS = [
    {"core", "artifacts", "settings", "resources", "deployment"},
    {"ingest"},
    {"transform"},
    {"features"},
    {"retrieval"},
    {"training"},
    {"candidates"},
    {"baselines"},
    {"ranking"},
    {"evaluation"},
    {"serving"},
    {"monitoring"},
    {"automation"},
    {"environment"},
    {"definitions", "pipeline", "summary", "next_week", "dev", "__init__"},
]
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def room(module: str) -> str:
    """``recs_assets.candidates.als`` → ``candidates``; ``recs_assets`` itself → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> set[str]:
    """Every ``recs_assets`` module ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "recs_assets"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "recs_assets":
            names = [f"{node.module}.{a.name}" for a in node.names]
            found |= {n if n.count(".") >= 1 and node.module == "recs_assets" else node.module for n in names}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_room_of_the_package_has_a_floor():
    rooms = {room("recs_assets." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)) for p in MODULES}
    assert rooms - set(FLOOR) == set(), "add the new room to FLOORS"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    here = room("recs_assets." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    up = sorted(m for m in imports(path) if FLOOR[room(m)] > FLOOR[here])
    assert not up, f"{here} (floor {FLOOR[here]}) imports a higher floor: {up}"


def test_the_online_package_imports_no_orchestrator():
    for path in (PACKAGE.parent / "recs_service").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {n for n in names if n.split(".")[0] in ("recs_assets", "dagster")}, path


def test_the_check_fails_on_an_import_that_runs_up(tmp_path):
    upward = tmp_path / "x.py"
    upward.write_text("def f():\n    from recs_assets.serving.assets import recommendations\n")
    assert any(FLOOR[room(m)] > FLOOR["candidates"] for m in imports(upward))
