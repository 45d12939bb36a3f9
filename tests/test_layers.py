"""The package's shape: imports go one way (docs/architecture.md), and no module is too long to read at once.

Every module is put in a layer; a module may import its own layer and the ones below, never one above,
whether the import is at the top or inside a function. One exception is allowed and listed: the store's
default network is the client, looked up when ``verify`` or ``fetch_models`` is first called.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jupyter_providers

ROOT = Path(jupyter_providers.__file__).parent

#: bottom to top
LAYERS: dict[str, tuple[str, ...]] = {
    "values": (
        "_types", "errors", "_checks", "_address", "_secret", "_settings", "_sse", "_ndjson", "_bounded",
        "_render", "_throttle", "_interpolate", "_local_exit", "_progress", "_schema_out",
        "_attach",
    ),
    "adapters": ("adapters", "presets"),
    "store": ("_fields", "_records", "_schema", "_persist", "_store_base", "_doctor", "store", "_cache"),
    "client": (
        "_answers", "_failures", "_transport", "_probe", "client", "reply", "local", "_replay", "_ledger", "_metering",
        "_capabilities", "_verify",
    ),
    "api": ("api", "conversation", "mapping", "_scheduler", "_frames", "_template"),
    "surfaces": (
        "magics", "_magic_attach", "_magic_cache", "_magic_map", "_providers_cmd", "_adding", "_chat_view", "_table",
        "_data_view", "_usage_cmd", "widgets",
        "__main__",
        "__init__",
    ),
}  # fmt: skip
ALLOWED_UPWARD = {
    ("store", "client"),  # ProviderStore.network's default, imported when first used
    ("mapping", "widgets.map_progress"),  # chat_map's progress bar in a notebook, imported when one is shown
}
MAX_LINES = 400


def _module(path: Path) -> str:
    """``adapters.openai``, ``store``, ``__init__`` for the package itself."""
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts)


def _rank(module: str) -> int:
    first = module.split(".")[0]
    for i, names in enumerate(LAYERS.values()):
        if first in names or module in names:
            return i
    raise AssertionError(f"{module} is in no layer: put it in LAYERS (tests/test_layers.py) and docs/architecture.md")


def _imports(path: Path) -> set[str]:
    """The package modules ``path`` imports, at the top or in a function, outside ``if TYPE_CHECKING:``."""
    package = _module(path).split(".")[:-1]  # what a relative import starts from
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # for the type checker only: never imported at run time
            if isinstance(child, ast.ImportFrom) and child.level:
                base = package[: len(package) - (child.level - 1)] if child.level > 1 else package
                if child.module:
                    found.add(".".join([*base, child.module]))
                else:
                    found.update(".".join([*base, a.name]) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and (child.module or "").startswith("jupyter_providers."):
                found.add(child.module.removeprefix("jupyter_providers."))  # type: ignore[union-attr]
            elif isinstance(child, ast.Import):
                found.update(
                    a.name.removeprefix("jupyter_providers.")
                    for a in child.names
                    if a.name.startswith("jupyter_providers.")
                )
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m}


SOURCES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=[_module(p) for p in SOURCES])
def test_imports_go_one_way(path: Path) -> None:
    module = _module(path)
    if module.endswith(".__init__"):
        module = module.removesuffix(".__init__")
    mine = _rank(module)
    names = list(LAYERS)
    upward = []
    for target in _imports(path):
        theirs = _rank(target)
        if theirs > mine and (module, target) not in ALLOWED_UPWARD:
            upward.append(f"{module} ({names[mine]}) imports {target} ({names[theirs]})")
    assert not upward, "; ".join(upward)


def test_magics_and_widgets_never_import_each_other() -> None:
    for path in SOURCES:
        module = _module(path)
        other = "widgets" if module == "magics" else "magics" if module.startswith("widgets") else None
        if other:
            assert not any(t.split(".")[0] == other for t in _imports(path)), f"{module} imports {other}"


def test_surfaces_never_import_an_adapter_module() -> None:
    """Magics and widgets ask the registry (``jupyter_providers.adapters``) for type facts; building a
    request is the client's business."""
    for path in SOURCES:
        module = _module(path)
        if _rank(module) == len(LAYERS) - 1 and module != "__init__":
            bad = [t for t in _imports(path) if t.startswith("adapters.")]
            assert not bad, f"{module} imports {bad}"


def test_the_exception_is_still_needed() -> None:
    """An allowed upward import that no longer happens is taken off the list."""
    store = _imports(ROOT / "store.py")
    assert "client" in store
    assert "widgets.map_progress" in _imports(ROOT / "mapping.py")


@pytest.mark.parametrize("path", SOURCES, ids=[_module(p) for p in SOURCES])
def test_no_module_is_longer_than_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_module(path)} has {lines} lines: split it by job (at most {MAX_LINES})"
