"""``%%chat`` and ``%providers``: the notebook's command line to the shared provider store.

``%load_ext jupyter_providers`` registers them. This is the only module that imports IPython.
"""

from __future__ import annotations

import keyword
import shlex
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import HTML, clear_output, display
from traitlets import Bool, Enum, Float, Unicode

from ._chat_view import Column, compare_html, reply_bundle
from ._data_view import DataTable
from ._interpolate import interpolate
from ._magic_attach import attachments_of, sent_bundle
from ._magic_cache import cache_arguments, cache_options, replay_note, show_refresh
from ._magic_map import check_modes, map_cell
from ._persist import StoreFileError
from ._render import terminal_text
from ._throttle import Throttle
from .api import check_chat_options, pick_provider
from .conversation import Conversation, get_conversation
from .errors import InvalidValueError, ProviderError
from .reply import Reply
from .store import ProviderStore, get_store

__all__ = ["ChatMagics", "load_ipython_extension", "unload_ipython_extension"]


@dataclass
class StreamStats:
    """What the last ``%%chat`` sent to the front end (for tests and benchmarks)."""

    pieces: int = 0
    updates: int = 0
    bytes: int = 0
    displays: int = 0


#: the longest unbroken word a stream update holds back (a URL scheme is at most 41 characters)
_HOLD_MAX = 4096


class _StreamPrinter:
    """Writes the pieces of a streaming reply to stdout, coalesced by a :class:`Throttle`."""

    def __init__(self, interval: float, stats: StreamStats) -> None:
        self.pending: list[str] = []
        self.stats = stats
        self.throttle = Throttle(self._flush, interval)

    def add(self, piece: str) -> None:
        self.pending.append(piece)
        self.stats.pieces += 1
        self.throttle.tick()

    def _flush(self, final: bool = False) -> None:
        text = "".join(self.pending)
        self.pending.clear()
        if not final:
            # A front end joins the pieces of a stream before it makes links of URLs in it: the last word
            # waits for the next update, so a "javascript:" here and a "//" there are neutralised as one.
            cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"), len(text) - _HOLD_MAX) + 1
            text, rest = text[:cut], text[cut:]
            if rest:
                self.pending.append(rest)
            if not text:
                return
        sys.stdout.write(terminal_text(text))
        sys.stdout.flush()
        self.stats.updates += 1
        self.stats.bytes += len(text.encode())

    def done(self) -> None:
        self.throttle.done()
        if self.pending:
            self._flush(final=True)


def _footer(reply: Reply, note: str = "") -> str:
    return " · ".join([reply.provider, reply.model, reply.stats(), *([note] if note else []), *replay_note(reply)])


@magics_class
class ChatMagics(Magics):
    """``%%chat`` talks to a model; ``%providers`` manages the shared provider store."""

    default_provider = Unicode(None, allow_none=True, help="Provider used when --provider is not given.").tag(
        config=True
    )
    default_model = Unicode(None, allow_none=True, help="Model used when neither --provider nor --model is given.").tag(
        config=True
    )
    default_format = Enum(("markdown", "text", "code"), "markdown", help="How replies are shown.").tag(config=True)
    update_interval = Float(0.25, help="Seconds between two output updates while a reply streams.").tag(config=True)
    show_footer = Bool(True, help="Show provider, model, latency and tokens under each reply.").tag(config=True)
    cache = Bool(False, help="Replay cached replies in every %%chat cell (as --cache does).").tag(config=True)

    def __init__(self, shell: Any = None, store: ProviderStore | None = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        self._store = store
        self.last_stats = StreamStats()

    @property
    def store(self) -> ProviderStore:
        return self._store if self._store is not None else get_store()  # an empty store is falsy (len 0)

    @property
    def _ns(self) -> dict[str, Any]:
        ns: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        return ns

    @property
    def rich(self) -> bool:
        """True in a notebook (or captured output); False in a plain terminal, where text is printed as is."""
        pub = getattr(self.shell, "display_pub", None)
        return type(pub).__name__ != "DisplayPublisher"

    # -- %%chat -------------------------------------------------------------------------------
    @magic_arguments()
    @argument("--provider", "-p", help="provider name (default: ChatMagics.default_provider or the only enabled one)")
    @argument("--model", "-m", help="model id (default: the provider's first model)")
    @argument("--system", "-s", help="system prompt for this conversation")
    @argument("--temperature", "-t", type=float, help="sampling temperature, 0 to 2")
    @argument("--max-tokens", type=int, help="the most tokens the reply may have")
    @argument("--new", action="store_true", help="start a fresh conversation")
    @argument("--out", "-o", help="store the reply text in this variable (with --schema: the parsed value)")
    @argument("--schema", help="a variable holding a schema (JSON Schema dict, dataclass, TypedDict, pydantic class)")
    @argument("--format", "-f", choices=("markdown", "text", "code"), help="how to show the reply")
    @argument("--no-stream", action="store_true", help="wait for the whole reply")
    @argument("--compare", "-c", help="PROVIDER:MODEL,... - ask several models at once, side by side")
    @argument("--attach", "-a", help="NAME,... - variables (figure, image, DataFrame) or image files sent along")
    @argument("--map", help="a list or DataFrame variable: the cell is a template over its fields, one reply a row")
    @argument("--concurrency", type=int, help="with --map: the most rows in flight at once (default 8)")
    @cache_arguments
    @cell_magic
    def chat(self, line: str, cell: str) -> None:
        """Send the cell to a model and show the reply; the conversation continues in the next %%chat.

        With --compare, the cell is the next turn of each model's own %%chat conversation: each model gets
        its history with it (--new and --system apply to each), and its reply, however it ends, is recorded
        there, so a later `%%chat -p PROVIDER -m MODEL` continues from the comparison.

        With --map NAME, the cell is a template over the rows of the list or DataFrame NAME (chat_map): its
        `{field}` names are the columns (or a dict row's keys; `{}` is a string row), never notebook variables,
        and `{{`/`}}` are literal braces. --out gets the result (a DataFrame for a DataFrame); each row is asked
        on its own, outside any conversation, with --schema, --attach and --system as for one reply. An option a
        mode would ignore (--concurrency without --map, --schema or --format with --compare...) is refused.
        """
        self._chat(self.chat, line, cell)

    @cell_magic
    def llm_chat(self, line: str, cell: str) -> None:
        """The same as %%chat (registered too, in case another extension owns %%chat)."""
        self._chat(self.chat, line, cell)

    def _chat(self, parser_of: Callable[..., Any], line: str, cell: str) -> None:
        try:  # shlex, not IPython's arg_split, which keeps the quotes of --system "..."
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%%chat: {exc} in the options") from None
        args = parser_of.parser.parse_args(argv)  # type: ignore[attr-defined]
        if args.map is not None:
            return map_cell(self, args, cell)
        try:
            check_modes(args)
            prompt = interpolate(cell, self._ns)
            t, mt = check_chat_options(args.temperature, args.max_tokens)
            if args.out is not None and (not args.out.isidentifier() or keyword.iskeyword(args.out)):
                raise InvalidValueError(f"--out: {args.out!r} is not a variable name")
            if not prompt.strip():
                raise InvalidValueError("prompt: the cell is empty - write a question under %%chat")
            if args.schema is not None and args.schema not in self._ns:
                raise InvalidValueError(f"--schema: {args.schema} is not defined in the notebook")
            args.attach = attachments_of(args.attach, self._ns)
            if args.compare:
                self._compare(args, prompt, t, mt)
            else:
                self._one(args, prompt, t, mt)
        except (ProviderError, ValueError, KeyError, NameError) as exc:
            self._error(exc)

    def _error(self, exc: BaseException) -> None:
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        print(terminal_text(text.splitlines()[0] if text else type(exc).__name__), file=sys.stderr)

    def _conversation(self, name: str, model: str, args: Any) -> Conversation:
        """The ``%%chat`` conversation with ``name``/``model``, with the cell's --new and --system applied."""
        conv = get_conversation(name, model)
        assert conv is not None
        conv.store = self._store
        if args.new:
            conv.reset()
        if args.system is not None:
            conv.system = args.system or None
        return conv

    def _one(self, args: Any, prompt: str, t: float | None, mt: int | None) -> None:
        model_arg = args.model or (self.default_model if not args.provider else None)
        p, model = pick_provider(self.store, args.provider, model_arg, default=self.default_provider)
        conv = self._conversation(p.name, model, args)
        stats = self.last_stats = StreamStats()
        fmt = args.format or self.default_format
        reply: Reply | None = None
        note = ""
        error: ProviderError | None = None
        printer = _StreamPrinter(self.update_interval, stats)
        # The reply records itself in the conversation when it ends, however it ends: this only shows it.
        try:
            schema = {"schema": self._ns[args.schema]} if args.schema is not None else {}
            sampling = {"temperature": t, "max_tokens": mt, "attach": args.attach, **cache_options(self, args)}
            reply = conv.send(prompt, stream=not args.no_stream, **sampling, **schema)
            if not args.no_stream:
                for piece in reply:
                    printer.add(piece)
        except KeyboardInterrupt:
            if reply is None:  # stopped before the server answered: nothing to show
                print(f"{terminal_text(p.name)}: stopped before the server answered", file=sys.stderr)
                return
            note = "stopped"
            reply.cancel()
        except ProviderError as exc:
            if reply is None:
                raise
            error = exc
            note = "interrupted by an error"
        finally:
            printer.done()
        assert reply is not None
        text = reply.text_so_far
        data = reply.data if schema and error is None and not reply.cancelled else None
        if args.out and (data is not None or not schema):
            self._ns[args.out] = data if schema else text
        self._show(reply, text, fmt, note, stats)
        if args.attach:  # thumbnails of exactly what was sent
            display(sent_bundle(args.attach), raw=True)
        show_refresh(reply, self.rich)
        if data is not None:  # the parsed value, as a table (every value through the safe path)
            display(DataTable(data)) if self.rich else print(repr(DataTable(data)))
        if error is not None:
            self._error(error)

    def _show(self, reply: Reply, text: str, fmt: str, note: str, stats: StreamStats) -> None:
        footer = _footer(reply, note) if self.show_footer else (note and f"({note})")
        if not self.rich or fmt == "text":
            # Plain text needs no second copy: the streamed text stays, the footer goes under it.
            if not stats.updates:
                print(terminal_text(text), end="")
            print(terminal_text(f"\n[{footer}]") if footer else "")
            return
        bundle = reply_bundle(text, fmt, footer, streamed=stats.updates > 0)
        if stats.updates:
            clear_output(wait=True)
        display(bundle, raw=True)
        stats.displays += 1
        stats.bytes += sum(len(v.encode()) for v in bundle.values())

    # -- --compare ----------------------------------------------------------------------------------
    def _compare(self, args: Any, prompt: str, t: float | None, mt: int | None) -> None:
        targets: list[tuple[str, str]] = []
        for item in [s.strip() for s in args.compare.split(",") if s.strip()]:
            name, _, model = item.partition(":")
            p, chosen = pick_provider(self.store, name.strip(), model.strip() or None)
            if (p.name, chosen) in targets:
                raise InvalidValueError(f"--compare: {p.name}:{chosen} is listed twice")
            targets.append((p.name, chosen))
        if len(targets) < 2:
            raise InvalidValueError("--compare: give at least two PROVIDER:MODEL targets, separated by commas")
        # Each column is a turn of that model's %%chat conversation: its history goes with the prompt,
        # and the reply records itself there, so a later `%%chat -p NAME -m MODEL` continues from it.
        convs = [self._conversation(n, m, args) for n, m in targets]
        columns = [Column(f"{n} · {m}") for n, m in targets]
        stats = self.last_stats = StreamStats()
        stopping, options = threading.Event(), {"attach": args.attach, **cache_options(self, args)}

        def run(i: int) -> None:
            col = columns[i]
            try:
                col.reply = convs[i].send(prompt, stream=True, temperature=t, max_tokens=mt, **options)
                if stopping.is_set():  # Ctrl-C came while the request was on its way
                    col.reply.cancel()
                for _ in col.reply:
                    stats.pieces += 1
            except ProviderError as exc:
                col.error = str(exc)
            finally:
                col.elapsed = time.perf_counter() - col.started

        handle = display(HTML(compare_html(columns, final=False)), display_id=True) if self.rich else None
        with ThreadPoolExecutor(max_workers=len(columns)) as pool:
            pending = {pool.submit(run, i) for i in range(len(columns))}
            try:
                # wait() returns as soon as the last reply is in: the cell takes as long as the slowest
                # model, not that rounded up to the next update_interval.
                for _ in range(1_000_000):  # bounded: at least a day of updates
                    _, pending = wait(pending, timeout=self.update_interval)
                    if not pending:
                        break
                    if handle is not None:
                        handle.update(HTML(compare_html(columns, final=False)))
                        stats.updates += 1
            except KeyboardInterrupt:
                stopping.set()
                for col in columns:
                    if col.reply is not None:
                        col.reply.cancel()
        if args.out:
            self._ns[args.out] = {c.label: (c.reply.text_so_far if c.reply else "") for c in columns}
        if handle is not None:
            handle.update(HTML(compare_html(columns, final=True)))
            stats.displays += 1
        else:
            for c in columns:
                print(c.plain())

    # -- %providers ---------------------------------------------------------------------------------
    @line_magic
    def providers(self, line: str) -> None:
        """%providers [add|verify|models|enable|disable|remove|key ...]: show or change the providers."""
        from ._providers_cmd import USAGE, ProvidersCommand, UsageError

        try:
            argv = shlex.split(line)
        except ValueError as exc:
            print(f"%providers: {exc} in the arguments\n{USAGE}", file=sys.stderr)
            return
        try:
            result = ProvidersCommand(self.store).run(argv)
        except UsageError as exc:
            print(f"{exc}\n{USAGE}" if str(exc) else USAGE, file=sys.stderr)
            return
        except (ProviderError, ValueError, KeyError, StoreFileError) as exc:
            self._error(exc)
            return
        if isinstance(result, str):
            print(terminal_text(result))
        elif self.rich:
            display(result)
        else:
            print(terminal_text(repr(result)))


def load_ipython_extension(ipython: Any) -> None:
    magics = ChatMagics(ipython)
    owner = ipython.magics_manager.magics["cell"].get("chat")
    if owner is not None and type(getattr(owner, "__self__", None)).__name__ != "ChatMagics":
        del magics.magics["cell"]["chat"]
        print("%%chat is already taken by another extension; use %%llm_chat for jupyter-providers", file=sys.stderr)
    ipython.register_magics(magics)


def unload_ipython_extension(ipython: Any) -> None:
    mm = ipython.magics_manager
    for kind, names in (("cell", ("chat", "llm_chat")), ("line", ("providers",))):
        for name in names:
            fn = mm.magics[kind].get(name)
            if type(getattr(fn, "__self__", None)).__name__ == "ChatMagics":
                del mm.magics[kind][name]
