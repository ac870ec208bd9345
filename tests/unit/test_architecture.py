"""The rooms of server/ keep their shape: imports run one way, no protocol reaches into another, and
no folder grows past a dozen modules. Read from the source (every import, at any depth), not from
what happens to be loaded."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[2] / "server"
MAX_MODULES_PER_FOLDER = 12
# A folder of one kind of thing that is meant to grow: one module per model family.
GROWING_FOLDERS = frozenset({"formats/families"})

# Layers, lowest first; a module may import its own layer and those below, never those above.
CORE = ("engine", "models", "formats", "templates", "playground")
LAYER_RANK = {"base": 0, "core": 1, "service": 2, "pipeline": 3, "protocols": 4, "app": 5}


def module_name(path: Path) -> str:
    parts = path.relative_to(SERVER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top in CORE:
        return "core"
    if top in ("service", "pipeline", "protocols"):
        return top
    if top in ("app", "cli", "__main__"):
        return "app"
    return "base"  # server itself, config, ids


def protocol_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "protocols" else None


def imported_modules(path: Path) -> set[str]:
    """Every server module `path` imports, at module level or inside a function."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # `from server.protocols import openai` imports the module server.protocols.openai.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    modules = {module_name(p) for p in SERVER.rglob("*.py")}
    return {name for name in found if name in modules}


SOURCES = sorted(SERVER.rglob("*.py"))


def _violations(rule: object) -> list[str]:
    assert callable(rule)
    problems = []
    for path in SOURCES:
        importer = module_name(path)
        for imported in sorted(imported_modules(path)):
            problem = rule(importer, imported)
            if problem:
                problems.append(f"{importer} imports {imported}: {problem}")
    return problems


def _upward(importer: str, imported: str) -> str | None:
    above = LAYER_RANK[layer_of(imported)] > LAYER_RANK[layer_of(importer)]
    return f"{layer_of(importer)} may not import {layer_of(imported)}" if above else None


def _across_protocols(importer: str, imported: str) -> str | None:
    mine, theirs = protocol_of(importer), protocol_of(imported)
    if theirs is not None and mine != theirs:
        return "a protocol imports no other protocol (and the registry finds them, it names none)"
    return None


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert _violations(_upward) == []


def test_no_protocol_imports_another_protocol() -> None:
    assert _violations(_across_protocols) == []


def test_every_protocol_folder_is_a_package_the_registry_finds() -> None:
    from server.protocols import discover

    folders = {
        path.name for path in (SERVER / "protocols").iterdir() if path.is_dir() and path.name != "__pycache__"
    }
    assert {protocol.name for protocol in discover()} == folders


def _num_modules(folder: Path) -> int:
    # An empty __init__.py only marks the folder as a package; it holds no code.
    return sum(1 for path in folder.glob("*.py") if path.name != "__init__.py" or path.read_text().strip())


@pytest.mark.parametrize(
    "folder",
    sorted(path for path in SERVER.rglob("*") if path.is_dir() and path.name != "__pycache__"),
    ids=lambda path: str(path.relative_to(SERVER)) or "server",
)
def test_no_folder_holds_more_than_a_dozen_modules(folder: Path) -> None:
    if str(folder.relative_to(SERVER)) in GROWING_FOLDERS:
        pytest.skip("one module per model family, by design")
    assert _num_modules(folder) <= MAX_MODULES_PER_FOLDER


def test_the_import_reader_sees_an_upward_import(tmp_path: Path) -> None:
    # The rules above are only as good as the reader: an engine module importing the pipeline is caught.
    assert _upward("server.engine.scheduler", "server.pipeline.generation") is not None
    assert _upward("server.pipeline.generation", "server.engine.scheduler") is None
    assert _across_protocols("server.protocols.anthropic.input", "server.protocols.openai.wire") is not None
    assert _across_protocols("server.protocols.anthropic.input", "server.protocols.anthropic.wire") is None
    assert "server.service.errors" in imported_modules(SERVER / "pipeline" / "generation.py")
