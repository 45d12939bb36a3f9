"""``%%chat --map NAME``: the cell as ``chat_map``'s template over a notebook variable; and which ``%%chat``
options each mode (one model, ``--compare``, ``--map``) takes, so that none is silently ignored.

No IPython import here but ``display``.
"""

from __future__ import annotations

import keyword
from typing import Any

from ._magic_attach import attachments_of
from ._magic_cache import cache_options
from ._render import terminal_text
from .api import check_chat_options, pick_provider
from .errors import InvalidValueError, ProviderError

__all__ = ["check_modes", "map_cell"]

#: an option given in a mode that would not use it: what to do instead (the option's own flag starts the line)
_ONE = "one model at a time"
_REFUSED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "compare": (
        ("provider", "--provider", "--compare names each model as PROVIDER:MODEL - leave out --provider"),
        ("model", "--model", "--compare names each model as PROVIDER:MODEL - leave out --model"),
        ("schema", "--schema", f"{_ONE} - leave out --compare, or ask each model in its own cell"),
        ("format", "--format", "--compare shows every reply as Markdown - leave out --format"),
        ("no_stream", "--no-stream", "--compare always streams its replies - leave out --no-stream"),
        ("concurrency", "--concurrency", "only with --map (the most rows in flight at once)"),
    ),
    "map": (
        ("compare", "--map", f"{_ONE} - leave out --compare"),
        ("new", "--new", "each --map row is asked on its own, outside any conversation - leave out --new"),
        ("format", "--format", "--map gives a table (--out keeps it) - leave out --format"),
        ("no_stream", "--no-stream", "--map never streams: each row's whole reply goes in the table - leave it out"),
    ),
    "one": (("concurrency", "--concurrency", "only with --map (the most rows in flight at once)"),),
}


def check_modes(args: Any) -> None:
    """Refuse, in one line, an option the cell's mode would ignore (``--concurrency`` without ``--map``,
    ``--schema`` with ``--compare``...): what the option needs, or what to leave out."""
    mode = "map" if args.map is not None else "compare" if args.compare else "one"
    for dest, flag, why in _REFUSED[mode]:
        if getattr(args, dest, None) not in (None, False):
            raise InvalidValueError(f"{flag}: {why}")


def _name(opt: str, name: str | None) -> None:
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise InvalidValueError(f"{opt}: {name!r} is not a variable name")


def map_cell(magics: Any, args: Any, cell: str) -> None:
    """``--map NAME``: the cell, not interpolated, is chat_map's template over ``NAME``'s rows; ``--schema``,
    ``--attach``, ``--system``, ``--temperature``, ``--max-tokens``, ``--concurrency`` and the cache flags go to
    each row. The result goes to ``--out``, else it is shown."""
    from IPython.display import display

    from .mapping import chat_map

    ns: dict[str, Any] = magics._ns
    try:
        t, mt = check_chat_options(args.temperature, args.max_tokens)
        _name("--map", args.map)
        _name("--out", args.out)
        check_modes(args)
        if args.map not in ns:
            raise InvalidValueError(f"--map: {args.map} is not defined in the notebook")
        if args.schema is not None and args.schema not in ns:
            raise InvalidValueError(f"--schema: {args.schema} is not defined in the notebook")
        if not cell.strip():
            raise InvalidValueError("prompt: the cell is empty - write the template under %%chat --map")
        attach = attachments_of(args.attach, ns)
        model_arg = args.model or (magics.default_model if not args.provider else None)
        p, model = pick_provider(magics.store, args.provider, model_arg, default=magics.default_provider)
        concurrency = {} if args.concurrency is None else {"concurrency": args.concurrency}
        result = chat_map(
            ns[args.map], cell.strip(), provider=p.name, model=model, system=args.system or None,
            schema=ns[args.schema] if args.schema is not None else None, attach=attach,
            temperature=t, max_tokens=mt, store=magics.store, **concurrency, **cache_options(magics, args),
        )  # fmt: skip
    except (ProviderError, ValueError, KeyError) as exc:
        magics._error(exc)
        return
    if args.out:
        ns[args.out] = result
    elif magics.rich:
        display(result)  # type: ignore[no-untyped-call]
    else:
        print(terminal_text(repr(result)))
