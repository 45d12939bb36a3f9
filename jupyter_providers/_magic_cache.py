"""The notebook side of the answer cache: ``%%chat --cache`` / ``--refresh``, ``%config ChatMagics.cache``,
the diff a refresh shows, and ``%providers cache [clear]``. No IPython import here but ``display``."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.magic_arguments import argument

from ._render import code_html, terminal_text
from ._replay import complete
from ._settings import settings

if TYPE_CHECKING:
    from .reply import Reply

__all__ = [
    "DIFF_LINES", "cache_arguments", "cache_options", "refresh_diff", "replay_note", "show_refresh",
]  # fmt: skip

_F = TypeVar("_F", bound=Callable[..., Any])

#: the most lines of a refresh's diff shown (the rest is counted)
DIFF_LINES = 80


def cache_arguments(fn: _F) -> _F:
    """``--cache`` and ``--refresh`` on ``%%chat``."""
    fn = argument("--refresh", action="store_true", help="ask again, replace the cached reply, show the difference")(fn)
    with_cache: _F = argument("--cache", action="store_true", help="replay a cached reply (record one if none)")(fn)
    return with_cache


def cache_options(magics: Any, args: Any) -> dict[str, Any]:
    """What a ``%%chat`` cell passes to ``chat()``: the cell's flags, or ``ChatMagics.cache`` for every cell."""
    refresh = bool(getattr(args, "refresh", False))
    return {"cache": refresh or bool(getattr(args, "cache", False)) or bool(magics.cache), "refresh": refresh}


def replay_note(reply: Reply) -> list[str]:
    """The footer's word for a reply answered from the cache, when ``settings.mark_replayed`` asks for it (by
    default a replayed footer is the recorded one, so a re-run notebook saves the same outputs)."""
    return ["replayed"] if reply.replayed and settings.mark_replayed else []


def refresh_diff(old: str, new: str) -> str:
    """A short unified diff from the cached reply to the new one ("" when they are the same)."""
    if old == new:
        return ""
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "cached", "new", n=1, lineterm=""))
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"... {len(lines) - DIFF_LINES} more lines"]
    return "\n".join(lines)


def show_refresh(reply: Reply | None, rich: bool) -> None:
    """Under a ``--refresh`` reply: how it differs from the reply it replaced (through the one safe path)."""
    if reply is None or reply.replaced is None or not complete(reply):
        return
    diff = refresh_diff(reply.replaced, reply.text_so_far)
    if not diff:
        print("(refreshed: the same as the cached reply)")
        return
    if rich:
        from IPython.display import HTML, display

        body = code_html(diff, "diff")  # the diff is server text: shown as code, escaped
        display(HTML(f'<div class="jp-providers-refresh">refreshed: changes from the cached reply{body}</div>'))
    else:
        print(terminal_text(f"refreshed: changes from the cached reply\n{diff}"))
