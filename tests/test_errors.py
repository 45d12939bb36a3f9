"""One error tree, one vocabulary of kinds (issue 13).

* Every ``raise`` in the package raises a class of the tree (or calls a function annotated to return
  one), or is on the short list below of exceptions that never leave the package, with the reason.
* Every exception class the package defines is in the tree or on that list.
* The drawing in ``errors.py``'s docstring is the tree: the same classes, parents, kinds and builtin bases.
* The kinds are defined once, in ``errors.Kind``: no other module spells out a table of them again.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from pathlib import Path
from typing import get_args

import pytest

import jupyter_providers
from jupyter_providers import errors
from jupyter_providers._types import KeyVerdict, Verification, VerifyKind
from jupyter_providers.errors import ERROR_CLASSES, KINDS, ProviderError

PACKAGE = Path(jupyter_providers.__file__).parent
TREE = {
    name: obj
    for name, obj in vars(errors).items()
    if inspect.isclass(obj) and issubclass(obj, ProviderError) and obj.__module__ == errors.__name__
}

INTERNAL = "an internal class"  # a class of INTERNAL_CLASSES, or a function annotated to return one
#: (module, or a folder ending in "/", what is raised) -> why it may be outside the tree.
#: Each entry must still match a raise site.
OUTSIDE_THE_TREE = {
    # Python's own protocols: the caller expects exactly these
    ("_secret.py", "TypeError"): "pickle expects a TypeError from __reduce__: a Secret is never pickled",
    ("reply.py", "RuntimeError"): "misuse of one object (two loops reading one reply), like a generator's",
    ("reply.py", "error"): "Reply.data raises the reply's own error again (a ProviderError it recorded)",
    ("client.py", "cut_frames"): "re-raises the very error it was given (Ctrl-C, a bug), with its frames cut",
    ("adapters/__init__.py", "RuntimeError"): "two types claiming one name: a bug in the registry, at import",
    # internal: caught and turned into the tree before they leave the package
    ("_bounded.py", "DeadlineExceeded"): "the client turns it into ProviderTimeoutError",
    ("_bounded.py", "LimitExceeded"): "the client turns it into BadResponseError",
    ("_transport.py", "LimitExceeded"): "the client turns it into BadResponseError",
    ("_transport.py", "DeadlineExceeded"): "the client turns it into ProviderTimeoutError",
    ("_bounded.py", "NestingError"): "a ValueError the client turns into BadResponseError",
    ("_bounded.py", "DecodeError"): "a ValueError the client turns into BadResponseError",
    ("_bounded.py", "error"): "the exception class the caller passed in (DeadlineExceeded or httpx's)",
    ("_sse.py", "SSELimitError"): "a ValueError the client turns into BadResponseError",
    ("_ndjson.py", "NDJSONLimitError"): "an SSELimitError (a ValueError) the client turns into BadResponseError",
    # adapters/ (a folder: every adapter) do no I/O; the client converts whatever they raise
    ("adapters/", INTERNAL): "a ProtocolError or StreamErrorEvent (or a function returning one): the client's",
    ("adapters/", "TypeError"): "a shape check inside try: SHAPE_ERRORS -> ProtocolError",
    ("_cache.py", "TypeError"): "json.dumps expects a TypeError from its default= hook (a value no key can hold)",
    ("_cache.py", INTERNAL): "CacheError: _replay turns it into one CacheWarning, and the reply is not cached",
    ("_cache.py", "_error"): "the cache's method returning a CacheError (a name magics.py also uses)",
    ("_cache.py", "ValueError"): "%providers cache prints it as one line (as _providers_cmd's ValueErrors)",
    ("_template.py", "KeyError"): "string.Formatter's own protocol; render_prompts turns it into InvalidValueError",
    ("_template.py", INTERNAL): "_Missing: render_prompts catches it, the row is not sent and its error says why",
    ("_persist.py", "ValueError"): "a file of the wrong shape, inside _read_json: it raises StoreFileError",
    ("_providers_cmd.py", "UsageError"): "%providers prints it with the usage: argparse's errors",
    ("magics.py", "UsageError"): "IPython's own UsageError: IPython prints it as the magic's usage error",
}
#: exception classes the package defines outside the tree: all internal (see above)
INTERNAL_CLASSES = {
    "CacheError",
    "DecodeError",
    "DeadlineExceeded",
    "LimitExceeded",
    "NDJSONLimitError",
    "NestingError",
    "ProtocolError",
    "SSELimitError",
    "StreamErrorEvent",
    "UsageError",
    "_Missing",
}
#: warnings the package issues (``warnings.warn``), never raised: not errors, so outside the tree
WARNING_CLASSES = {"AddressNote", "CacheWarning"}


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(PACKAGE).as_posix(), ast.parse(p.read_text("utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def _raised_name(exc: ast.expr) -> str:
    """What a ``raise`` raises, by name: ``X``, ``X(...)``, ``f(...)``, ``f(...).with_traceback(None)``."""
    if isinstance(exc, ast.Call):
        func = exc.func
        if isinstance(func, ast.Attribute) and func.attr == "with_traceback":
            return _raised_name(func.value)
        return _raised_name(func)
    if isinstance(exc, ast.Attribute):  # local.LocalServerError
        return exc.attr
    if isinstance(exc, ast.Name):
        return exc.id
    return ast.unparse(exc)


def _returns() -> dict[str, set[str]]:
    """Each function name in the package -> the return annotations of the functions of that name."""
    found: dict[str, set[str]] = {}
    for _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.setdefault(node.name, set()).add(ast.unparse(node.returns) if node.returns else "")
    return found


def _raise_sites() -> list[tuple[str, int, str, bool]]:
    """(module, line, what is raised, whether it is a bare lower-case name: ``raise exc``)."""
    sites = []
    for module, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                bare = isinstance(node.exc, ast.Name) and node.exc.id.islower()
                sites.append((module, node.lineno, _raised_name(node.exc), bare))
    return sites


def _places(module: str) -> list[str]:
    """``adapters/x.py`` -> ``["adapters/x.py", "adapters/"]``: the module, then its folders."""
    parts = module.split("/")
    return [module] + ["/".join(parts[:i]) + "/" for i in range(len(parts) - 1, 0, -1)]


def test_every_raise_in_the_package_raises_the_tree() -> None:
    returns = _returns()
    wrong, used = [], set()
    for module, line, name, bare in _raise_sites():
        if name in TREE or (name in returns and returns[name] <= set(TREE)):
            continue
        internal = name in INTERNAL_CLASSES or (name in returns and returns[name] <= INTERNAL_CLASSES)
        what = [name, INTERNAL] if internal else [name]
        entry = next(((pl, w) for pl in _places(module) for w in what if (pl, w) in OUTSIDE_THE_TREE), None)
        if entry is not None:
            used.add(entry)
            continue
        if bare:  # ``raise exc``: a caught error raised again (next test)
            continue
        wrong.append(f"{module}:{line} raises {name}")
    assert not wrong, "raise a class of jupyter_providers.errors instead:\n" + "\n".join(wrong)
    stale = set(OUTSIDE_THE_TREE) - used
    assert not stale, f"no raise matches these entries any more; remove them: {sorted(stale)}"


def test_a_re_raised_variable_is_always_a_caught_error() -> None:
    """``raise exc`` is skipped above only because ``exc`` is what an ``except`` caught."""
    for module, tree in _modules():
        bound = {h.name for h in ast.walk(tree) if isinstance(h, ast.ExceptHandler) and h.name}
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Name) and node.exc.id.islower():
                assert node.exc.id in bound, f"{module}:{node.lineno} raises {node.exc.id}, not a caught error"


def test_every_exception_class_the_package_defines_is_in_the_tree() -> None:
    exception_names = {n for n, v in vars(builtins).items() if inspect.isclass(v) and issubclass(v, BaseException)}
    defined: dict[str, str] = {}
    for _ in range(3):  # a class deriving from a package exception defined in another module
        for module, tree in _modules():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    bases = {_raised_name(b) for b in node.bases}
                    if bases & (exception_names | set(defined)):
                        defined[node.name] = module
    outside = {n: m for n, m in defined.items() if n not in set(TREE) | INTERNAL_CLASSES | WARNING_CLASSES}
    assert not outside, f"derive these from jupyter_providers.errors.ProviderError: {outside}"
    assert {n for n, m in defined.items() if n in TREE} == set(TREE)
    assert all(defined[n] == "errors.py" for n in TREE), "the tree lives in errors.py alone"
    assert set(defined) >= INTERNAL_CLASSES, "an internal class is gone: drop it from INTERNAL_CLASSES"


def _drawing() -> list[tuple[int, str, str, str]]:
    """(depth, class, kinds, also) for each line of the drawing in errors.py's docstring."""
    rows = []
    for line in (errors.__doc__ or "").splitlines():
        m = re.match(r"^ {4}([│ ]*(?:├── |└── )?)(\w+)\s{2,}(\S.*?)?\s*$", line)
        if m and m.group(2).endswith("Error"):
            rest = m.group(3) or ""
            also = re.search(r"\(also an? (\w+)\)", rest)
            kinds = re.sub(r"\(.*?\)", "", rest).strip()
            rows.append((len(m.group(1)) // 4, m.group(2), kinds, also.group(1) if also else ""))
    return rows


def test_the_drawing_in_the_docstring_is_the_tree() -> None:
    rows = _drawing()
    assert [r[1] for r in rows][:1] == ["ProviderError"]
    assert {r[1] for r in rows} == set(TREE), "draw every class of the tree, and only those"
    parents: list[str] = []
    for depth, name, kinds, also in rows[1:]:
        del parents[depth - 1 :]
        parent = parents[-1] if parents else "ProviderError"
        cls = TREE[name]
        tree_bases = [b.__name__ for b in cls.__bases__ if issubclass(b, ProviderError)]
        assert tree_bases == [parent], f"{name} is drawn under {parent}, derives from {tree_bases}"
        assert kinds.split(" / ") == list(cls.kinds or (cls.kind,)), f"{name}'s kinds are drawn as {kinds!r}"
        extra = [b.__name__ for b in cls.__mro__ if b.__module__ == "builtins" and b not in (Exception, object)]
        builtin_bases = {b for b in extra if b != "BaseException"}
        if also:
            assert also in builtin_bases, f"{name} is drawn as a {also}, is {builtin_bases}"
        parents.append(name)
    for name, cls in TREE.items():  # every builtin the class is, drawn (besides the parent's)
        drawn = {r[3] for r in rows if r[1] == name} - {""}
        own = {b.__name__ for b in cls.__bases__ if b.__module__ == "builtins"} - {"Exception"}
        assert own <= drawn, f"draw {name} as (also a {', '.join(own)})"


def test_the_tree_is_exported() -> None:
    for name, cls in TREE.items():
        assert name in errors.__all__ and name in jupyter_providers.__all__
        assert getattr(jupyter_providers, name) is cls
    assert issubclass(ProviderError, Exception)


def test_old_homes_give_the_same_classes() -> None:
    from jupyter_providers import local
    from jupyter_providers._persist import StoreFileError

    assert StoreFileError is errors.StoreFileError and issubclass(StoreFileError, RuntimeError)
    assert local.LocalServerError is errors.LocalServerError and issubclass(local.LocalServerError, RuntimeError)
    err = local.LocalServerError("port 8000 is already in use - pick another with --port", None)
    assert str(err) == "port 8000 is already in use - pick another with --port" and err.server is None
    assert err.kind == "local_server"


def test_one_vocabulary_of_kinds() -> None:
    from jupyter_providers.adapters import _base

    assert get_args(VerifyKind) == ("ok", *KINDS)
    assert len(set(KINDS)) == len(KINDS)
    assert set(ERROR_CLASSES) == set(KINDS)
    for kind, cls in ERROR_CLASSES.items():
        assert kind in (cls.kinds or (cls.kind,))
        above = [b for b in cls.__mro__[1:] if b in TREE.values() and b is not ProviderError]
        assert not any(kind in (b.kinds or (b.kind,)) for b in above), f"{kind}: the most general class"
    for cls in TREE.values():
        assert cls.kind in KINDS and set(cls.kinds) <= set(KINDS)
    assert {_base.kind_for_status(s) for s in range(100, 600)} <= set(KINDS)
    assert set(_base._EVENT_KINDS.values()) <= set(KINDS)
    assert Verification.__annotations__["kind"] == "VerifyKind" == KeyVerdict.__annotations__["kind"]


def test_no_module_spells_out_the_kinds_again() -> None:
    """A ``Literal[...]`` of kinds, or a table keyed by kinds, outside errors.py is a second vocabulary."""
    kinds = set(KINDS)
    found = []
    for module, tree in _modules():
        if module == "errors.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("Literal"):
                values = {e.value for e in ast.walk(node.slice) if isinstance(e, ast.Constant)}
                if len(values & kinds) >= 2:
                    found.append(f"{module}:{node.lineno} Literal of kinds")
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                if len(keys & kinds) >= 3:
                    found.append(f"{module}:{node.lineno} a table keyed by kinds")
    assert not found, "use jupyter_providers.errors.Kind / ERROR_CLASSES:\n" + "\n".join(found)


@pytest.mark.parametrize("cls", [errors.NotInStoreError, errors.InvalidValueError])
def test_new_classes_are_the_builtins_callers_catch(cls: type[ProviderError]) -> None:
    err = cls("provider: no provider named 'x' (known: a, b)")
    assert isinstance(err, ValueError) and isinstance(err, errors.ProviderConfigError)
    assert str(err) == "provider: no provider named 'x' (known: a, b)"  # not KeyError's "'...'"
    assert err.kind == "config"
    assert isinstance(errors.NotInStoreError("x"), KeyError)
    assert str(errors.NotInStoreError("m", provider="P")) == "P: m"
