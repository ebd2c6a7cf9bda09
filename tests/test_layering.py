"""Imports point down: the layering rules of DEVELOPERS.md, checked on the source's import graph.

Every import statement counts, including those inside functions (lazy imports) and under
`TYPE_CHECKING`, and relative imports are resolved against the importing module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dc2kit"
ABOVE_THE_READERS = ("dc2kit.readers", "dc2kit.cli")
# package → prefixes it must not import (a prefix matches the module and its submodules)
FORBIDDEN = {
    "capture": ("dc2kit.android_bridge", "dc2kit.ios_bridge", *ABOVE_THE_READERS),
    "android_bridge": ("dc2kit.ios_bridge", *ABOVE_THE_READERS),
    "ios_bridge": ("dc2kit.android_bridge", *ABOVE_THE_READERS),
}
MODEL_MAY_IMPORT = ("dc2kit.model", "dc2kit.errors")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute names of every dc2kit module `source` (the text of `module`) imports."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "dc2kit" or name.startswith("dc2kit.")}


def matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def imports_of(package: str) -> dict[str, set[str]]:
    """module name → the dc2kit modules it imports, for every module of `dc2kit.<package>`."""
    paths = sorted((PACKAGE / package).rglob("*.py"))
    assert paths, f"no modules under dc2kit/{package}"
    return {
        module_name(path): imported_modules(
            path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
        )
        for path in paths
    }


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_capture_and_the_bridges_import_only_downwards(package):
    violations = [
        f"{module} imports {name}"
        for module, names in imports_of(package).items()
        for name in sorted(names)
        if matches(name, FORBIDDEN[package])
    ]
    assert violations == []


def test_the_model_imports_nothing_else_of_dc2kit():
    violations = [
        f"{module} imports {name}"
        for module, names in imports_of("model").items()
        for name in sorted(names)
        if name != "dc2kit" and not matches(name, MODEL_MAY_IMPORT)
    ]
    assert violations == []


def test_the_reader_dispatch_sits_above_both_bridges():
    assert not (PACKAGE / "capture" / "open.py").exists()  # its old home, inside capture/
    readers = imported_modules((PACKAGE / "readers.py").read_text(), "dc2kit.readers")
    assert {"dc2kit.android_bridge", "dc2kit.ios_bridge"} <= readers
    bridges = imports_of("android_bridge") | imports_of("ios_bridge")
    assert any(matches(name, ("dc2kit.capture",)) for names in bridges.values() for name in names)


def test_the_scanner_sees_lazy_relative_and_type_checking_imports():
    source = """
from typing import TYPE_CHECKING
from . import sibling
from ..ios_bridge.heic import read_iphone_heic
if TYPE_CHECKING:
    import dc2kit.cli
def late():
    from dc2kit.readers import open_capture
"""
    names = imported_modules(source, "dc2kit.android_bridge.sniff")
    assert {
        "dc2kit.android_bridge.sibling",
        "dc2kit.ios_bridge.heic",
        "dc2kit.cli",
        "dc2kit.readers",
    } <= names
    assert matches("dc2kit.ios_bridge.heic", FORBIDDEN["android_bridge"])
    assert "dc2kit.capture.x" in imported_modules("from .x import y", "dc2kit.capture", True)
