"""The ``%providers`` sub-commands, parsed with argparse. No IPython here (the magic displays the result)."""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NoReturn

from ._fields import PROVIDER_TYPES
from ._table import ProvidersTable, Table
from .errors import NotInStoreError, ProviderConfigError
from .presets import preset_names

if TYPE_CHECKING:
    from .store import ProviderStore

__all__ = ["USAGE", "ProvidersCommand", "UsageError"]

USAGE = (
    f"usage: %providers [add NAME [--preset {'|'.join(preset_names())}] [--type {'|'.join(PROVIDER_TYPES)}] "
    "[--url URL [--detect]] [--key-env VAR] [--no-key] "
    "[--model ID ...] | verify [NAME] [--model ID] [--capabilities] | "
    "models NAME [--fetch] [--add ID ...] [--remove ID] | "
    "enable NAME | disable NAME | remove NAME | key NAME | tls NAME on|off | cache [clear] | "
    "price NAME MODEL [--input X --output Y | --clear] | usage [--today | --notebook]]"
)


class UsageError(ValueError):
    """A bad sub-command or argument: the magic prints this line and the usage."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%providers: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message.strip() if message else "")


def _parser() -> _Parser:
    parser = _Parser(prog="%providers", add_help=False)
    sub = parser.add_subparsers(dest="cmd", metavar="command", parser_class=_Parser)
    add = sub.add_parser("add", add_help=False)
    add.add_argument("name")
    add.add_argument("--type", "-t")
    add.add_argument("--preset")
    add.add_argument("--url", "-u", default="")
    add.add_argument("--key-env")
    add.add_argument("--no-key", action="store_true")
    add.add_argument("--model", "-m", action="append", default=[])
    add.add_argument("--api-version")
    add.add_argument("--detect", action="store_true")
    verify = sub.add_parser("verify", add_help=False)
    verify.add_argument("name", nargs="?")
    verify.add_argument("--model", "-m")
    verify.add_argument("--capabilities", action="store_true")
    models = sub.add_parser("models", add_help=False)
    models.add_argument("name")
    models.add_argument("--fetch", action="store_true")
    models.add_argument("--add", nargs="+", default=[])
    models.add_argument("--remove", action="append", default=[])
    for cmd in ("enable", "disable", "remove", "key"):
        sub.add_parser(cmd, add_help=False).add_argument("name")
    tls = sub.add_parser("tls", add_help=False)
    tls.add_argument("name")
    tls.add_argument("state", choices=("on", "off"))
    sub.add_parser("cache", add_help=False).add_argument("action", nargs="?", choices=("clear",))
    price = sub.add_parser("price", add_help=False)
    price.add_argument("name")
    price.add_argument("model")
    price.add_argument("--input")
    price.add_argument("--output")
    price.add_argument("--clear", action="store_true")
    usage = sub.add_parser("usage", add_help=False).add_mutually_exclusive_group()
    usage.add_argument("--today", action="store_true")
    usage.add_argument("--notebook", action="store_true")
    return parser


class ProvidersCommand:
    """Runs one ``%providers`` command line against a store; returns a table or a line of text."""

    def __init__(self, store: ProviderStore) -> None:
        self.store = store

    def run(self, argv: list[str]) -> Table | str:
        if argv and argv[0] in ("-h", "--help", "help"):
            raise UsageError("")
        args = _parser().parse_args(argv)
        handler = getattr(self, f"_{args.cmd}", None) if args.cmd else None
        if handler is None:
            return ProvidersTable(self.store)
        result: Table | str = handler(args)
        return result

    def _need(self, name: str) -> str:
        if name not in self.store:
            known = ", ".join(self.store.names()) or "none yet"
            raise NotInStoreError(f"no provider named {name!r}; known providers: {known}")
        return name

    def _add(self, a: Any) -> str:
        from ._adding import from_detection, with_notes

        type_, models, lines = a.type, a.model, []
        if a.detect:  # probed with the key the provider will use: --key-env's (the user's choice), else none
            key = (os.environ.get(a.key_env) or None) if a.key_env and not a.no_key else None
            found = self.store.detect(a.url, api_key=key)
            how = "add again with --key-env VAR (a variable holding the key)"  # not the Python API's api_key=
            if a.key_env and key is None and not a.no_key:
                how = f"${a.key_env} (--key-env) is not set, so no key was sent: set it and add again"
            type_, models, line = from_detection(found, a.type, a.model, how)
            type_ = a.type if a.preset else type_  # a preset decides the type
            if type_ is None and not a.preset:
                raise ProviderConfigError(f"url: {a.name} not added - {found.told(how)}")
            lines.append(line)
        p, notes = with_notes(
            lambda: self.store.add(
                a.name, type=type_, base_url=a.url, api_key="" if a.no_key else None, api_key_env=a.key_env,
                models=models, api_version=a.api_version, preset=a.preset,
            )
        )  # fmt: skip
        added = f"added {p.name} ({p.type}): {self.store.endpoint_preview(p.name)} - key: {p.key_label}"
        return "\n".join([*lines, *notes, added])

    def _verify(self, a: Any) -> ProvidersTable | str:
        if a.name:
            return f"{self._need(a.name)}: {self.store.verify(a.name, model=a.model, capabilities=a.capabilities)}"
        names = [p.name for p in self.store if p.enabled]
        # One thread per provider (each only waits on the network): a cap of 16 made 20 providers take
        # two rounds, twice as long as one verify (benchmarks/fanout.py); one round ends within the
        # verify deadline, however the servers behave.
        with ThreadPoolExecutor(max_workers=min(len(names), 256) or 1) as pool:
            list(pool.map(lambda n: self.store.verify(n, capabilities=a.capabilities), names))
        return ProvidersTable(self.store)

    def _models(self, a: Any) -> str:
        name = self._need(a.name)
        lines = []
        have = self.store[name].model_ids
        for model_id in a.remove:  # refused before anything changes, not after --add was saved
            if model_id not in have:
                raise NotInStoreError(f"provider {name!r} has no model {model_id!r}; it has: {', '.join(have) or '-'}")
        if a.add:
            self.store.add_models(name, *a.add)
        for model_id in a.remove:
            self.store.remove_model(name, model_id)
        if a.fetch:
            from ._answers import short_list  # httpx comes with it: only when a list is fetched

            offered = self.store.fetch_models(name)
            if getattr(offered, "cut", False):
                head = f"the server offers more than {len(offered):,} (the first {len(offered):,} are kept: raise "
                head += "jupyter_providers.client.settings.max_models for more)"
            else:
                head = f"the server offers {len(offered)}"
            lines.append(f"{head}: {short_list(offered, 50) or '-'}")
        lines.append(f"{name} models: {', '.join(self.store[name].model_ids) or '-'}")
        return "\n".join(lines)

    def _enable(self, a: Any) -> str:
        self.store.update(self._need(a.name), enabled=True)
        return f"{a.name} enabled"

    def _disable(self, a: Any) -> str:
        self.store.update(self._need(a.name), enabled=False)
        return f"{a.name} disabled"

    def _remove(self, a: Any) -> str:
        self.store.remove(self._need(a.name))
        return f"{a.name} removed"

    def _key(self, a: Any) -> str:
        import getpass

        from ._secret import Secret

        name = self._need(a.name)
        key = Secret(getpass.getpass(f"API key for {name} (not echoed, not saved in the notebook; Enter keeps it): "))
        if not key.reveal().strip():  # an empty Enter: nothing typed, nothing changes
            return f"{name}: key unchanged (key: {self.store[name].key_label})"
        self.store.update(name, api_key=key)
        return f"{name}: key saved (key: {self.store[name].key_label})"

    def _cache(self, a: Any) -> str:
        from ._cache import cache_report

        return cache_report(a.action)

    def _tls(self, a: Any) -> str:
        self.store.update(self._need(a.name), verify_tls=a.state == "on")
        state = "ON" if a.state == "on" else "OFF - certificates are not checked"
        return f"{a.name}: TLS verification {state}"

    def _price(self, a: Any) -> str:
        from ._usage_cmd import price_command

        return price_command(self.store, self._need(a.name), a.model, a.input, a.output, a.clear)

    def _usage(self, a: Any) -> Table:
        from ._usage_cmd import usage_table

        return usage_table(self.store, today=a.today, notebook=a.notebook)
