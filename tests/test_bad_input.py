"""Bad input, everywhere a person can type it: one line naming the field, and nothing changes.

The Python API (the store and ``chat()``), ``%providers``, ``%%chat`` options and the provider
panel's fields. Each case checks the line shown, that it names the field, and that the store, its
files on disk and the notebook's variables are exactly as before. The cases and their messages
make ``docs/bad-input.md``; the last test compares it with the committed file (and rewrites it).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets import TraitError

from jupyter_providers import ProviderStore, chat, chat_map
from jupyter_providers._providers_cmd import USAGE
from jupyter_providers.adapters import TYPES
from jupyter_providers.conversation import reset_conversations
from jupyter_providers.magics import ChatMagics
from jupyter_providers.widgets import ProvidersPanel
from jupyter_providers.widgets._common import error_text

from ._docs import check_generated
from .fakes import FakeServer
from .widgets import text

DOCS = Path(__file__).resolve().parent.parent / "docs" / "bad-input.md"


@dataclass
class Ctx:
    store: ProviderStore
    shell: InteractiveShell
    _panel: ProvidersPanel | None = None

    @property
    def panel(self) -> ProvidersPanel:
        if self._panel is None:
            self._panel = ProvidersPanel(store=self.store, selected="P")
        return self._panel


@dataclass(frozen=True)
class Bad:
    where: str
    shown: str  # the input, as the docs show it
    field: str  # what the message must name
    run: Callable[[Ctx], list[str]]  # does it; returns the lines shown
    secret: str = ""  # what the message must not show (a password typed in an address)


# -- how each surface is driven ------------------------------------------------------------------------------
def api(fn: Callable[[ProviderStore], object]) -> Callable[[Ctx], list[str]]:
    def run(ctx: Ctx) -> list[str]:
        with pytest.raises((ValueError, KeyError)) as info:  # ProviderConfigError is a ValueError too
            fn(ctx.store)
        return [error_text(info.value)]

    return run


def providers(line: str) -> Callable[[Ctx], list[str]]:
    def run(ctx: Ctx) -> list[str]:
        with capture_output() as cap:
            ctx.shell.run_line_magic("providers", line)
        assert cap.stdout == "" and not cap.outputs
        return cap.stderr.splitlines()

    return run


def magic(line: str, cell: str = "hi") -> Callable[[Ctx], list[str]]:
    def run(ctx: Ctx) -> list[str]:
        with capture_output() as cap:
            ctx.shell.run_cell(f"%%chat {line}\n{cell}")
        assert cap.stdout == "" and not cap.outputs, "nothing is shown but the error"
        return cap.stderr.splitlines()

    return run


def add_form(name: str) -> Callable[[Ctx], list[str]]:
    def run(ctx: Ctx) -> list[str]:
        panel = ctx.panel
        panel.add_button.click()
        panel.add_name.value = name
        panel.add_confirm.click()
        return [text(panel.add_error.value)]

    return run


def detail_field(attr: str, error_attr: str, value: str) -> Callable[[Ctx], list[str]]:
    """Type ``value`` into a field of the selected provider's settings (the panel saves on change)."""

    def run(ctx: Ctx) -> list[str]:
        detail = ctx.panel.detail
        assert detail.name == "P"
        getattr(detail, attr).value = value
        if attr == "address":
            assert "not saved" in text(detail.preview.value)
        if attr in ("key", "headers"):  # secrets leave the widget even when refused
            assert getattr(detail, attr).value == ""
        return [text(getattr(detail, error_attr).value)]

    return run


def model_input(value: str) -> Callable[[Ctx], list[str]]:
    def run(ctx: Ctx) -> list[str]:
        models = ctx.panel.detail.models
        models.input.value = value
        models.add_button.click()
        assert models.input.value == value, "the refused text stays to be corrected"
        return [text(models.error.value)]

    return run


# -- the cases --------------------------------------------------------------------------------------------------
API, PROV, MAGIC = "Python API", "`%providers`", "`%%chat`"
AZURE_SPACED = "https://r.openai.azure.com/openai/deployments/a b/chat/completions"
PANEL_ADD, PANEL = "panel: + Add form", "panel: provider settings"

CASES = [
    Bad(API, 'store.add("")', "name", api(lambda s: s.add(""))),
    Bad(API, 'store.add("   ")', "name", api(lambda s: s.add("   "))),
    Bad(API, 'store.add("x" * 65)', "name", api(lambda s: s.add("x" * 65))),
    Bad(API, 'store.add("p")  # "P" exists', "name", api(lambda s: s.add("p"))),
    Bad(API, 'store.add("Q", type="bedrock")', "type", api(lambda s: s.add("Q", type="bedrock"))),
    Bad(API, 'store.add("Q", base_url="file:///etc/passwd")', "base_url",
        api(lambda s: s.add("Q", base_url="file:///etc/passwd"))),
    Bad(API, 'store.add("Q", base_url="javascript:alert(1)")', "base_url",
        api(lambda s: s.add("Q", base_url="javascript:alert(1)"))),
    Bad(API, 'store.add("Q", base_url="http://exa mple.com/v1")', "base_url",
        api(lambda s: s.add("Q", base_url="http://exa mple.com/v1"))),
    Bad(API, 'store.add("Q", base_url="http://localhost:70000")', "base_url",
        api(lambda s: s.add("Q", base_url="http://localhost:70000"))),
    Bad(API, 'store.add("Q", base_url="http://localhost:0")', "base_url",
        api(lambda s: s.add("Q", base_url="http://localhost:0"))),
    Bad(API, 'store.add("Q", base_url="https://user:pw@host")', "base_url",
        api(lambda s: s.add("Q", base_url="https://user:pw@host"))),
    Bad(API, 'store.add("Q", base_url="https://host/v1#top")', "base_url",
        api(lambda s: s.add("Q", base_url="https://host/v1#top"))),
    Bad(API, 'store.add("Q", models=["gpt 4o"])', "model", api(lambda s: s.add("Q", models=["gpt 4o"]))),
    Bad(API, 'store.add("Q", models=5)', "models", api(lambda s: s.add("Q", models=5))),  # type: ignore[arg-type]
    Bad(API, 'store.add("Q", api_key="sk-abc\\ndef")', "api_key", api(lambda s: s.add("Q", api_key="sk-abc\ndef"))),
    Bad(API, 'store.add("Q", api_key_env="1BAD")', "api_key_env", api(lambda s: s.add("Q", api_key_env="1BAD"))),
    Bad(API, 'store.add("Q", enabled="yes")', "enabled", api(lambda s: s.add("Q", enabled="yes"))),  # type: ignore[arg-type]
    Bad(API, 'store.add("Q", api_version=5)', "api_version", api(lambda s: s.add("Q", api_version=5))),  # type: ignore[arg-type]
    Bad(API, 'store.add("Q", headers={"Bad Name": "v"})', "headers",
        api(lambda s: s.add("Q", headers={"Bad Name": "v"}))),
    Bad(API, 'store.add("Q", headers={"X-A": "a\\r\\nb"})', "headers",
        api(lambda s: s.add("Q", headers={"X-A": "a\r\nb"}))),
    Bad(API, 'store.update("P", colour="red")', "colour", api(lambda s: s.update("P", colour="red"))),
    Bad(API, 'store.update("Ghost", enabled=False)', "provider", api(lambda s: s.update("Ghost", enabled=False))),
    Bad(API, 'store.update("P", base_url="ftp://x")', "base_url", api(lambda s: s.update("P", base_url="ftp://x"))),
    Bad(API, 'store.update("P", verify_tls="no")', "verify_tls", api(lambda s: s.update("P", verify_tls="no"))),
    Bad(API, 'store.add_models("P")', "model", api(lambda s: s.add_models("P"))),
    Bad(API, 'store.add_models("P", "a b")', "model", api(lambda s: s.add_models("P", "a b"))),
    Bad(API, 'store.remove_model("P", "zzz")', "model", api(lambda s: s.remove_model("P", "zzz"))),
    Bad(API, 'store.update_model("P", "m", id="x y")', "model", api(lambda s: s.update_model("P", "m", id="x y"))),
    Bad(API, 'store.update_model("P", "m", display_name=5)', "display_name",
        api(lambda s: s.update_model("P", "m", display_name=5))),  # type: ignore[arg-type]
    Bad(API, 'store.remove("Ghost")', "provider", api(lambda s: s.remove("Ghost"))),
    Bad(API, 'store.verify("P", timeout=-1)', "timeout", api(lambda s: s.verify("P", timeout=-1))),
    Bad(API, 'store.verify("P", model="a b")', "model", api(lambda s: s.verify("P", model="a b"))),
    Bad(API, 'chat("hi", provider="P", temperature=-0.5)', "temperature",
        api(lambda s: chat("hi", provider="P", temperature=-0.5, store=s))),
    Bad(API, 'chat("hi", provider="P", cache="yes")', "cache",
        api(lambda s: chat("hi", provider="P", cache="yes", store=s))),  # type: ignore[arg-type]
    Bad(API, 'chat("hi", provider="P", cache=True, cache_dir=3)', "cache_dir",
        api(lambda s: chat("hi", provider="P", cache=True, cache_dir=3, store=s))),  # type: ignore[arg-type]
    Bad(API, 'chat("hi", provider="P", temperature="hot")', "temperature",
        api(lambda s: chat("hi", provider="P", temperature="hot", store=s))),  # type: ignore[arg-type]
    Bad(API, 'chat("hi", provider="P", temperature=float("nan"))', "temperature",
        api(lambda s: chat("hi", provider="P", temperature=float("nan"), store=s))),
    Bad(API, 'chat("hi", provider="Claude", temperature=1.5)  # anthropic', "temperature",
        api(lambda s: chat("hi", provider="Claude", temperature=1.5, store=s))),
    Bad(API, 'chat("hi", provider="P", max_tokens=0)', "max_tokens",
        api(lambda s: chat("hi", provider="P", max_tokens=0, store=s))),
    Bad(API, 'chat("hi", provider="P", max_tokens=1.5)', "max_tokens",
        api(lambda s: chat("hi", provider="P", max_tokens=1.5, store=s))),  # type: ignore[arg-type]
    Bad(API, 'chat("   ", provider="P")', "prompt", api(lambda s: chat("   ", provider="P", store=s))),
    Bad(API, 'chat(None, provider="P")', "prompt", api(lambda s: chat(None, provider="P", store=s))),  # type: ignore[arg-type]
    Bad(API, 'chat([{"role": "robot", "content": "x"}], provider="P")', "messages",
        api(lambda s: chat([{"role": "robot", "content": "x"}], provider="P", store=s))),  # type: ignore[typeddict-item]
    Bad(API, 'chat("hi", provider="Nope")', "provider", api(lambda s: chat("hi", provider="Nope", store=s))),
    Bad(API, 'chat("hi", provider="Off")  # disabled', "provider", api(lambda s: chat("hi", provider="Off", store=s))),
    Bad(API, 'chat("hi", provider="Empty")  # no model', "model", api(lambda s: chat("hi", provider="Empty", store=s))),
    Bad(API, 'chat("hi", provider="P", model="a b")', "model",
        api(lambda s: chat("hi", provider="P", model="a b", store=s))),
    Bad(API, 'chat("hi", provider="P", timeout=0)', "timeout",
        api(lambda s: chat("hi", provider="P", timeout=0, store=s))),
    Bad(API, 'chat("hi", provider="P", system=5)', "system",
        api(lambda s: chat("hi", provider="P", system=5, store=s))),  # type: ignore[arg-type]
    Bad(API, 'chat("hi", provider="P", stream="yes")', "stream",
        api(lambda s: chat("hi", provider="P", stream="yes", store=s))),  # type: ignore[arg-type]
    Bad(API, 'store.set_price("P", "m", input=-1, output=0.6)', "input",
        api(lambda s: s.set_price("P", "m", input=-1, output=0.6))),
    Bad(API, 'store.set_price("P", "m", input=float("nan"), output=0.6)', "input",
        api(lambda s: s.set_price("P", "m", input=float("nan"), output=0.6))),
    Bad(API, 'store.set_price("P", "m", input="0.15", output=0.6)', "input",
        api(lambda s: s.set_price("P", "m", input="0.15", output=0.6))),  # type: ignore[arg-type]
    Bad(API, 'store.set_price("P", "m", input=0.15, output=None)', "price",
        api(lambda s: s.set_price("P", "m", input=0.15, output=None))),
    Bad(API, 'store.set_price("P", "zzz", input=0.15, output=0.6)', "model",
        api(lambda s: s.set_price("P", "zzz", input=0.15, output=0.6))),
    Bad(API, 'chat("hi", provider="P", max_cost=-0.01)', "max_cost",
        api(lambda s: chat("hi", provider="P", max_cost=-0.01, store=s))),
    Bad(API, 'chat("hi", provider="P", max_cost="1$")', "max_cost",
        api(lambda s: chat("hi", provider="P", max_cost="1$", store=s))),  # type: ignore[arg-type]
    Bad(API, 'chat_map(["hi"], provider="P", max_cost=float("nan"))', "max_cost",
        api(lambda s: chat_map(["hi"], provider="P", max_cost=float("nan"), store=s, progress=False))),
    Bad(PROV, "%providers price P m --input -1 --output 0.6", "input", providers("price P m --input -1 --output 0.6")),
    Bad(PROV, "%providers price P m --input nan --output 0.6", "input",
        providers("price P m --input nan --output 0.6")),
    Bad(PROV, "%providers price P m --input cheap --output 0.6", "input",
        providers("price P m --input cheap --output 0.6")),
    Bad(PROV, "%providers price P m --input 0.15", "price", providers("price P m --input 0.15")),
    Bad(PROV, "%providers price P zzz --input 0.15 --output 0.6", "model",
        providers("price P zzz --input 0.15 --output 0.6")),
    Bad(PROV, "%providers usage --today --notebook", "--notebook", providers("usage --today --notebook")),
    Bad(PROV, "%providers frobnicate", "command", providers("frobnicate")),
    Bad(PROV, "%providers add", "name", providers("add")),
    Bad(PROV, "%providers add X --type nope", "type", providers("add X --type nope")),
    Bad(PROV, "%providers add X --url file:///etc/passwd", "base_url", providers("add X --url file:///etc/passwd")),
    Bad(PROV, "%providers add X --url 'http://a b'", "base_url", providers("add X --url 'http://a b'")),
    Bad(PROV, "%providers add X --url http://h:99999", "base_url", providers("add X --url http://h:99999")),
    Bad(PROV, "%providers add p", "name", providers("add p")),
    Bad(PROV, "%providers add X --model 'a b'", "model", providers("add X --model 'a b'")),
    Bad(PROV, "%providers add X --bogus", "--bogus", providers("add X --bogus")),
    Bad(PROV, "%providers add 'unclosed", "arguments", providers("add 'unclosed")),
    Bad(PROV, "%providers models P --add 'a b'", "model", providers("models P --add 'a b'")),
    Bad(PROV, "%providers verify Ghost", "provider", providers("verify Ghost")),
    Bad(PROV, "%providers tls P maybe", "state", providers("tls P maybe")),
    Bad(PROV, "%providers cache purge", "action", providers("cache purge")),
    Bad(MAGIC, "%%chat -p P --temperature -1", "temperature", magic("-p P --temperature -1")),
    Bad(MAGIC, "%%chat -p P --temperature abc", "temperature", magic("-p P --temperature abc")),
    Bad(MAGIC, "%%chat -p Claude --temperature 1.2  # anthropic", "temperature", magic("-p Claude --temperature 1.2")),
    Bad(MAGIC, "%%chat -p P --max-tokens 1.5", "max-tokens", magic("-p P --max-tokens 1.5")),
    Bad(MAGIC, "%%chat -p P --max-tokens 0", "max_tokens", magic("-p P --max-tokens 0")),
    Bad(MAGIC, "%%chat -p Nope", "provider", magic("-p Nope")),
    Bad(MAGIC, "%%chat -p P -m nope-model  # the server does not know it", "model", magic("-p P -m nope-model")),
    Bad(MAGIC, "%%chat -p P -m 'a b'", "model", magic("-p P -m 'a b'")),
    Bad(MAGIC, "%%chat -p Off  # disabled", "provider", magic("-p Off")),
    Bad(MAGIC, "%%chat -p P  # an empty cell", "prompt", magic("-p P", "  \n")),
    Bad(MAGIC, "%%chat -p P  # the cell uses {nowhere}", "prompt", magic("-p P", "Tell me about {nowhere}")),
    Bad(MAGIC, "%%chat -p P --out 1x", "--out", magic("-p P --out 1x")),
    Bad(MAGIC, "%%chat -p P --out class", "--out", magic("-p P --out class")),
    Bad(MAGIC, "%%chat --compare P:m", "--compare", magic("--compare P:m")),
    Bad(MAGIC, "%%chat --compare Nope:x,P:m", "provider", magic("--compare Nope:x,P:m")),
    Bad(MAGIC, "%%chat --compare P:m,Off:m", "provider", magic("--compare P:m,Off:m")),
    Bad(MAGIC, "%%chat -p P --format pdf", "format", magic("-p P --format pdf")),
    Bad(MAGIC, "%%chat -p P --bogus", "--bogus", magic("-p P --bogus")),
    Bad(MAGIC, "%%chat -p 'P", "options", magic("-p 'P")),
    Bad(MAGIC, "%%chat -p P --concurrency 4  # without --map", "--concurrency", magic("-p P --concurrency 4")),
    Bad(MAGIC, "%%chat --compare P:m,Claude:m -f text", "--format", magic("--compare P:m,Claude:m -f text")),
    Bad(MAGIC, "%%chat --compare P:m,Claude:m --schema S", "--schema", magic("--compare P:m,Claude:m --schema S")),
    Bad(PANEL_ADD, "name: (empty)", "name", add_form("")),
    Bad(PANEL_ADD, "name: `   `", "name", add_form("   ")),
    Bad(PANEL_ADD, "name: `p` (`P` exists)", "name", add_form("p")),
    Bad(PANEL_ADD, "name: 65 characters", "name", add_form("x" * 65)),
    Bad(PANEL, "address: `file:///etc/passwd`", "base_url", detail_field("address", "address_error", "file:///etc/passwd")),
    Bad(PANEL, "address: `javascript:alert(1)`", "base_url",
        detail_field("address", "address_error", "javascript:alert(1)")),
    Bad(PANEL, "address: `http://exa mple.com`", "base_url",
        detail_field("address", "address_error", "http://exa mple.com")),
    Bad(PANEL, "address: `http://localhost:99999`", "base_url",
        detail_field("address", "address_error", "http://localhost:99999")),
    Bad(PANEL, "address: `http://localhost:0`", "base_url", detail_field("address", "address_error", "http://localhost:0")),
    Bad(PANEL, "API key with a control character", "api_key", detail_field("key", "key_error", "sk-abc\x07def")),
    Bad(PANEL, "headers: `NoColon`", "headers", detail_field("headers", "headers_error", "NoColon")),
    Bad(PANEL, "headers: `Bad Name: v`", "headers", detail_field("headers", "headers_error", "Bad Name: v")),
    Bad(PANEL, "models: `gpt 4o`", "model", model_input("gpt 4o")),
    Bad(PANEL, "models: `a, b c`", "model", model_input("a, b c")),
    # values that cannot be sent, invisible characters, look-alike names (issue 11)
    Bad(API, 'store.add("Q", api_key="sk-abc\u201cdef")  # a curly quote', "api_key",
        api(lambda s: s.add("Q", api_key="sk-abc\u201cdef"))),
    Bad(API, 'store.add("Q", api_key="sk-abc\u00a0def")  # a non-breaking space', "api_key",
        api(lambda s: s.add("Q", api_key="sk-abc\u00a0def"))),
    Bad(API, 'store.add("Q", api_key="sk-abc def")', "api_key", api(lambda s: s.add("Q", api_key="sk-abc def"))),
    Bad(API, 'store.add("Q", api_key="Bearer sk-abc")  # copied from a header', "api_key",
        api(lambda s: s.add("Q", api_key="Bearer sk-abc"))),
    Bad(API, 'store.update("P", api_key="sk-\u200babc")  # zero-width space', "api_key",
        api(lambda s: s.update("P", api_key="sk-\u200babc"))),
    Bad(API, 'store.add("Q", headers={"X-Token": "tok\u2019en"})', "headers",
        api(lambda s: s.add("Q", headers={"X-Token": "tok\u2019en"}))),
    Bad(API, 'store.add("Q", headers={"X-Token": "a\x00b"})', "headers",
        api(lambda s: s.add("Q", headers={"X-Token": "a\x00b"}))),
    Bad(API, 'store.add("Q", base_url="http://exa\x00mple.com")', "base_url",
        api(lambda s: s.add("Q", base_url="http://exa\x00mple.com"))),
    Bad(API, 'store.add("Q", base_url="http://exa\x7fmple.com")', "base_url",
        api(lambda s: s.add("Q", base_url="http://exa\x7fmple.com"))),
    Bad(API, 'store.add("Q", base_url="http://\u2603.net")  # not valid IDNA', "base_url",
        api(lambda s: s.add("Q", base_url="http://\u2603.net"))),
    Bad(API, 'store.add("Q", base_url="http://exa%mple.com")', "base_url",
        api(lambda s: s.add("Q", base_url="http://exa%mple.com"))),
    Bad(API, 'store.add("Q", base_url="https://[::zz]/v1")', "base_url",
        api(lambda s: s.add("Q", base_url="https://[::zz]/v1"))),
    Bad(API, 'store.add("Q", base_url="https://me:hunter2@host:99999")', "base_url",
        api(lambda s: s.add("Q", base_url="https://me:hunter2@host:99999")), secret="hunter2"),
    Bad(API, 'store.add("Q", base_url="https://me:hunter2@exa mple.com")', "base_url",
        api(lambda s: s.add("Q", base_url="https://me:hunter2@exa mple.com")), secret="hunter2"),
    Bad(API, 'store.add("Q", base_url="ftp://me:hunter2@host")', "base_url",
        api(lambda s: s.add("Q", base_url="ftp://me:hunter2@host")), secret="hunter2"),
    Bad(API, 'store.add("Q", base_url="https://me:hunter2@host/v1?x")', "base_url",
        api(lambda s: s.add("Q", base_url="https://me:hunter2@host/v1?x")), secret="hunter2"),
    Bad(API, 'store.add("Q", base_url="https://exa mple.com/v1/chat/completions?key=sk-pasted-9f")', "base_url",
        api(lambda s: s.add("Q", base_url="https://exa mple.com/v1/chat/completions?key=sk-pasted-9f")),
        secret="sk-pasted-9f"),
    Bad(API, 'store.add("Q", type="azure", base_url="https://r.openai.azure.com/openai/deployments/my$dep/chat/completions")',
        "model", api(lambda s: s.add("Q", type="azure",
                                     base_url="https://r.openai.azure.com/openai/deployments/my$dep/chat/completions"))),
    Bad(API, 'store.update("Azure", base_url="https://r.openai.azure.com/openai/deployments/a b/chat/completions")',
        "model", api(lambda s: s.update("Azure", base_url=AZURE_SPACED))),
    Bad(API, 'store.detect("")', "url", api(lambda s: s.detect(""))),
    Bad(API, 'store.detect("ftp://host/v1/models")', "base_url", api(lambda s: s.detect("ftp://host/v1/models"))),
    Bad(API, 'store.add("P\u202eQ")  # right-to-left override', "name", api(lambda s: s.add("P\u202eQ"))),
    Bad(API, 'store.add("Open\u200bAI")  # zero-width space', "name", api(lambda s: s.add("Open\u200bAI"))),
    Bad(API, 'store.add("A\u2066B")  # bidi isolate', "name", api(lambda s: s.add("A\u2066B"))),
    Bad(API, 'store.add("\ufeffQ")  # byte order mark', "name", api(lambda s: s.add("\ufeffQ"))),
    Bad(API, 'store.add("Q\x07")', "name", api(lambda s: s.add("Q\x07"))),
    Bad(API, 'store.add("\uff30")  # fullwidth P; "P" exists', "name", api(lambda s: s.add("\uff30"))),
    Bad(API, 'store.add("\u1d3e")  # modifier letter capital P; "P" exists', "name", api(lambda s: s.add("\u1d3e"))),
    Bad(API, 'store.add_models("P", "gpt\u200b4o")', "model", api(lambda s: s.add_models("P", "gpt\u200b4o"))),
    Bad(API, 'store.add_models("P", "m\u202e")', "model", api(lambda s: s.add_models("P", "m\u202e"))),
    Bad(API, 'store.add_models("P", "m\x00")', "model", api(lambda s: s.add_models("P", "m\x00"))),
    Bad(API, 'store.update_model("P", "m", display_name="x\u202ey")', "display_name",
        api(lambda s: s.update_model("P", "m", display_name="x\u202ey"))),
    Bad(API, 'store.add("Az", type="azure", base_url=AZ, models=["my/deploy"])', "model",
        api(lambda s: s.add("Az", type="azure", base_url="https://r.openai.azure.com", models=["my/deploy"]))),
    Bad(API, 'store.add("Az", type="azure", base_url=AZ, models=["x" * 65])', "model",
        api(lambda s: s.add("Az", type="azure", base_url="https://r.openai.azure.com", models=["x" * 65]))),
    Bad(API, 'store.add_models("Azure", "gpt-4o:latest")', "model",
        api(lambda s: s.add_models("Azure", "gpt-4o:latest"))),
    Bad(API, 'store.update("Ollama", type="azure")  # its model is "llama3.2:1b"', "model",
        api(lambda s: s.update("Ollama", type="azure"))),
    Bad(API, 'store.add("G", preset="nope")', "preset", api(lambda s: s.add("G", preset="nope"))),
    Bad(API, 'store.add("G", preset="groq", type="anthropic")', "type",
        api(lambda s: s.add("G", preset="groq", type="anthropic"))),
    Bad(API, 'store.add("G", preset=5)', "preset", api(lambda s: s.add("G", preset=5))),  # type: ignore[arg-type]
    Bad(PROV, "%providers add X --preset nope", "preset", providers("add X --preset nope")),
    Bad(PROV, "%providers add X --preset groq --type anthropic", "type",
        providers("add X --preset groq --type anthropic")),
    Bad(PROV, "%providers add X --type bedrock", "type", providers("add X --type bedrock")),
    Bad(PROV, '%providers add "Open\u200bAI"', "name", providers("add 'Open\u200bAI'")),
    Bad(PROV, "%providers add X --url 'http://me:hunter2@h:99999'", "base_url",
        providers("add X --url 'http://me:hunter2@h:99999'"), secret="hunter2"),
    Bad(PROV, '%providers models P --add "gpt\u200b4o"', "model", providers("models P --add 'gpt\u200b4o'")),
    Bad(PANEL_ADD, "name: `P\u202eQ` (right-to-left override)", "name", add_form("P\u202eQ")),
    Bad(PANEL_ADD, "name: `\uff30` (fullwidth; `P` exists)", "name", add_form("\uff30")),
    Bad(PANEL, "API key with a curly quote", "api_key", detail_field("key", "key_error", "sk-abc\u201cdef")),
    Bad(PANEL, "headers: `X-Token: tok\u2019en`", "headers",
        detail_field("headers", "headers_error", "X-Token: tok\u2019en")),
    Bad(PANEL, "address: `http://exa\x00mple.com`", "base_url",
        detail_field("address", "address_error", "http://exa\x00mple.com")),
    Bad(PANEL, "address: `https://me:hunter2@h:0`", "base_url",
        detail_field("address", "address_error", "https://me:hunter2@h:0"), secret="hunter2"),
    Bad(PANEL, "models: `gpt\u200b4o`", "model", model_input("gpt\u200b4o")),
]  # fmt: skip
MESSAGES: dict[int, list[str]] = {}


# -- the fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def srv() -> Iterator[FakeServer]:
    with FakeServer("openai", models=["m"]) as s:
        yield s


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


@pytest.fixture
def ctx(store: ProviderStore, shell: InteractiveShell, srv: FakeServer) -> Iterator[Ctx]:
    store.add("P", base_url=srv.base_url, api_key="sk-bad-input-P-0000", models=["m"])
    store.add("Off", base_url=srv.base_url, api_key="", models=["m"], enabled=False)
    store.add("Empty", base_url=srv.base_url, api_key="")
    store.add("Claude", type="anthropic", base_url=srv.base_url, api_key="", models=["m"])
    store.add("Azure", type="azure", base_url="https://r.openai.azure.com", api_key="", models=["gpt-4o"])
    store.add("Ollama", base_url=srv.base_url, api_key="", models=["llama3.2:1b"])
    shell.register_magics(ChatMagics(shell, store=store))
    reset_conversations()
    c = Ctx(store, shell)
    yield c
    if c._panel is not None:
        assert c._panel.wait(10)
        c._panel.close()


def state(ctx: Ctx) -> tuple[object, ...]:
    files = ctx.store._files.dir  # type: ignore[union-attr]
    on_disk = {p.name: p.read_bytes() for p in sorted(files.iterdir()) if p.is_file()}
    assert {"providers.json", "keys.json"} <= set(on_disk), "both files are there to compare"
    return list(ctx.store), on_disk, sorted(k for k in ctx.shell.user_ns if not k.startswith("_"))


# -- the tests --------------------------------------------------------------------------------------------------
def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30
    assert {c.where for c in CASES} == {API, PROV, MAGIC, PANEL_ADD, PANEL}


@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{c.where}: {c.shown}" for c in CASES])
def test_bad_input(case: int, ctx: Ctx) -> None:
    bad = CASES[case]
    if bad.where.startswith("panel"):
        ctx.panel  # noqa: B018 - built before the snapshot (showing a provider changes nothing either)
    before = state(ctx)
    lines = bad.run(ctx)
    assert lines and lines[0].strip(), "something is said"
    if bad.where == PROV and len(lines) == 2:  # a malformed %providers line: the problem, then the usage
        assert lines[1] == USAGE
    else:
        assert len(lines) == 1, lines
    message = lines[0]
    assert bad.field in message, f"{message!r} does not name {bad.field!r}"
    assert "Traceback" not in message and len(message) < 400
    assert not bad.secret or bad.secret not in message, "a password typed in an address is never echoed"
    assert state(ctx) == before, "nothing changed: the store, its files, the notebook's variables"
    MESSAGES[case] = lines


def test_the_panel_offers_only_the_registry_types(ctx: Ctx) -> None:
    """A bad type cannot be typed in the panel: the form's type is the registry's list, which refuses any other."""
    panel = ctx.panel
    before = state(ctx)
    assert [v for _, v in panel.add_type.options] == list(TYPES)
    panel.add_name.value = "Q"
    with pytest.raises(TraitError):
        panel.add_type.value = "bedrock"
    with pytest.raises(TraitError):  # what a front end sends: an index
        panel.add_type.set_state({"index": 9})
    assert panel.add_type.value == "openai" and state(ctx) == before


# -- the docs -----------------------------------------------------------------------------------------------------
def _escaped(value: str, *, all_non_ascii: bool) -> str:
    """Characters a reader cannot see (or that reorder the line) as ``\\uXXXX``; with ``all_non_ascii``, every
    non-ASCII one (what was typed, exactly)."""

    def esc(c: str) -> str:
        hidden = unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") or (c.isspace() and c != " ")
        return f"\\u{ord(c):04x}" if hidden or (all_non_ascii and not c.isascii()) else c

    return "".join(map(esc, value))


def _code(value: str) -> str:
    value = _escaped(value, all_non_ascii=True)
    fence = "``" if "`" in value else "`"
    pad = " " if "`" in value else ""
    return f"{fence}{pad}{value}{pad}{fence}".replace("|", "\\|")


def render() -> str:
    lines = [
        "# Bad input",
        "",
        "<!-- Generated by tests/test_bad_input.py: do not edit; the test suite rewrites it and fails on drift. -->",
        "",
        f"{len(CASES)} bad inputs, through the Python API, `%providers`, `%%chat` and the provider panel. Each is "
        "refused with one line that names the field (a malformed `%providers` line also prints the usage line), "
        "and each test checks that nothing changed: the providers, their files on disk and the notebook's "
        "variables are as before, byte for byte. The store holds `P` (enabled, model `m`, a key, so both "
        "`providers.json` and `keys.json` exist), `Off` (disabled), `Empty` (no model), `Claude` (anthropic), "
        "`Azure` (deployment `gpt-4o`) and `Ollama` (model `llama3.2:1b`). A password typed in an address is "
        f"never echoed. The panel's type is a list of the registry's {len(TYPES)} types "
        f"({', '.join(f'`{t}`' for t in TYPES)}), so a bad type cannot be entered there.",
        "",
        "| where | input | message |",
        "|---|---|---|",
    ]
    for i, c in enumerate(CASES):
        shown = _escaped(MESSAGES[i][0], all_non_ascii=False).replace("|", "\\|") + (
            " *(then the usage line)*" if len(MESSAGES[i]) > 1 else ""
        )
        where = c.where.replace("|", "\\|")
        value = _escaped(c.shown, all_non_ascii=True) if c.where.startswith("panel") else _code(c.shown)
        lines.append(f"| {where} | {value} | {shown} |")
    return "\n".join(lines) + "\n"


def test_docs_bad_input_md_is_generated_from_this_run() -> None:
    if len(MESSAGES) != len(CASES):
        pytest.skip("only some cases ran: run the whole module to check docs/bad-input.md")
    check_generated(DOCS, render(), "this run's messages")
