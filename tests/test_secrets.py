"""No key, ever: not in reprs, not in errors (even when a server echoes it), not in the saved config."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from jupyter_providers import ProviderError, ProviderStore, chat
from jupyter_providers import client as client_module
from jupyter_providers.adapters import type_names

from .fakes import FakeServer

KEY = "sk-leak-canary-Zq8Rw2"
KEY2 = "sk-second-canary-Lp0Xx"


def _echo_key_server(request: httpx.Request) -> httpx.Response:
    """A server that does what some proxies do: quote the key it was given back in the error."""
    given = request.headers.get("authorization", "") + request.headers.get("x-api-key", "")
    given += request.headers.get("api-key", "") + request.headers.get("x-goog-api-key", "")
    body = {"error": {"message": f"Incorrect API key provided: {given}", "type": "invalid_request_error"}}
    return httpx.Response(401, json=body)


@pytest.mark.parametrize("type_", type_names())
def test_a_server_echoing_the_key_is_redacted(store: ProviderStore, type_: str) -> None:
    store.add("P", type=type_, base_url="http://127.0.0.1:9", api_key=f"{KEY},{KEY2}", models=["m"])
    http = httpx.Client(transport=httpx.MockTransport(_echo_key_server))
    for _ in range(2):  # both keys take a turn
        with pytest.raises(ProviderError) as info:
            chat("hi", provider="P", store=store, http=http)
        text = f"{info.value} {info.value!r} {info.value.server_message} {info.value.args}"
        assert KEY not in text and KEY2 not in text
        assert "***" in text


def test_reprs_hold_no_key(store: ProviderStore) -> None:
    store.add("P", base_url="http://127.0.0.1:9", api_key=KEY, headers={"X-Custom": "v"}, models=["m"])
    for text in (repr(store), str(store), repr(store["P"]), str(store["P"]), repr(list(store))):
        assert KEY not in text


@pytest.mark.parametrize("fault", ["auth", "rate_limit", "server_error", "html_200", "not_json", "midstream_error"])
def test_errors_and_verdicts_hold_no_key(store: ProviderStore, fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module.settings, "max_retries", 0)
    with FakeServer("openai", api_key=KEY, models=["m"]) as srv:
        store.add("P", base_url=srv.base_url, api_key=KEY, models=["m"])
        srv.fault = fault
        verdict = store.verify("P")
        assert KEY not in repr(verdict) and KEY not in str(verdict)
        with pytest.raises(ProviderError) as info:
            chat("hi", provider="P", store=store, stream=True).wait()
        assert KEY not in repr(info.value) and KEY not in str(info.value)


def test_saved_config_holds_no_key(tmp_path: Path) -> None:
    store = ProviderStore(tmp_path, admin_paths=[])
    store.add("P", type="anthropic", base_url="http://127.0.0.1:9", api_key=KEY, models=["m"])
    store.update("P", api_key=KEY2)
    for path in tmp_path.iterdir():
        if path.name == "keys.json":
            assert (path.stat().st_mode & 0o777) == 0o600
            assert json.loads(path.read_text()) == {"P": KEY2}
            continue
        if path.is_file():
            assert KEY not in path.read_text(errors="replace") and KEY2 not in path.read_text(errors="replace")


@pytest.mark.parametrize(("type_", "var"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")])
def test_the_sdk_variable_is_not_sent_to_a_local_server(
    store: ProviderStore, monkeypatch: pytest.MonkeyPatch, type_: str, var: str
) -> None:
    """``$OPENAI_API_KEY`` is for api.openai.com: a local server or a proxy gets it only when named for it."""
    monkeypatch.setenv(var, KEY)
    with FakeServer(type_, api_key=KEY, models=["m"]) as srv:
        store.add("Local", type=type_, base_url=srv.base_url, models=["m"])  # api_key=None: "the usual variable"
        with pytest.raises(ProviderError) as info:
            chat("hi", provider="Local", store=store)
        sent = srv.requests[-1].headers
        assert KEY not in json.dumps(sent)
        assert f"${var} is sent only to the official address - use api_key_env='{var}'" in str(info.value)
        store.update("Local", api_key_env=var)  # named: now it is sent
        assert chat("hi", provider="Local", store=store).text == srv.reply
        assert KEY in json.dumps(srv.requests[-1].headers)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("\u201c", "the non-ASCII character '\u201c' (U+201C LEFT DOUBLE QUOTATION MARK)"),
        ("\x0b", "a control character (U+000B) at position 13"),
    ],
    ids=["curly-quote", "vertical-tab"],
)
def test_a_key_from_a_variable_that_cannot_be_sent_is_one_line(
    store: ProviderStore, monkeypatch: pytest.MonkeyPatch, bad: str, why: str
) -> None:
    """The store checks the keys it is given; a key read from a variable is checked where it is sent:
    httpx refuses non-ASCII, h11 quotes an illegal value in its message: one line, never the key."""
    key = "sk-variable-" + "Q7rT2mW9xZ4kP1nV"
    monkeypatch.setenv("MY_KEY", key[:12] + bad + key[12:])
    with FakeServer("openai", models=["m"]) as srv:
        store.add("P", base_url=srv.base_url, api_key_env="MY_KEY", models=["m"])
        with pytest.raises(ProviderError) as info:
            chat("hi", provider="P", store=store)
        verdict = store.verify("P")
    text = f"{info.value} {info.value!r} {info.value.args} {verdict}"
    assert why in text and "\n" not in str(info.value)
    assert key[:12] not in text and key[12:] not in text
    assert "Traceback" not in text and info.value.kind == "config"
    assert (verdict.ok, verdict.kind) == (False, "config")  # not "bad_response": the server was never asked


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("Bearer {key}", "it has 'Bearer ' before the key at position 1 - set $MY_KEY to the key alone"),
        ("bearer {key}", "it has 'Bearer ' before the key at position 1 - set $MY_KEY to the key alone"),
        ("{half} {rest}", "it has a space inside a key at position 13 - set $MY_KEY to the key as plain ASCII"),
    ],
    ids=["bearer", "lower-bearer", "space"],
)
def test_a_key_from_a_variable_with_a_space_is_refused_before_sending(
    store: ProviderStore, monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    """An Authorization value pasted whole into a variable would go out as 'Bearer Bearer sk-...' and come back
    as a 401 saying to check the key: it is refused before anything is sent, in one line, without the key."""
    key = "sk-variable-" + "Q7rT2mW9xZ4kP1nV"
    monkeypatch.setenv("MY_KEY", value.format(key=key, half=key[:12], rest=key[12:]))
    with FakeServer("openai", models=["m"]) as srv:
        store.add("P", base_url=srv.base_url, api_key_env="MY_KEY", models=["m"])
        with pytest.raises(ProviderError) as info:
            chat("hi", provider="P", store=store)
        verdict = store.verify("P")
        assert not srv.requests  # nothing was sent
    text = f"{info.value} {info.value!r} {info.value.args} {verdict}"
    assert why in str(info.value) and "\n" not in str(info.value) and info.value.kind == "config", text
    assert key[:12] not in text and key[12:] not in text
    assert (verdict.ok, verdict.kind) == (False, "config")


def test_credentials_in_the_azure_endpoint_variable_are_not_echoed(
    store: ProviderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AZURE_OPENAI_ENDPOINT`` is read as it is, unchecked by the store: a password in it is still never shown."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "http://admin:Pa55-w0rd-secret@127.0.0.1:9")
    store.add("Az", type="azure", api_key="", models=["gpt-4o"])
    verdict = store.verify("Az")
    with pytest.raises(ProviderError) as info:
        chat("hi", provider="Az", store=store)
    preview = store.endpoint_preview("Az")
    assert preview.startswith("http://***@127.0.0.1:9/openai/deployments/gpt-4o/")
    for text in (str(verdict), repr(verdict), str(info.value), repr(info.value), preview):
        assert "Pa55-w0rd-secret" not in text


def test_an_empty_entry_keeps_the_stored_key(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from jupyter_providers.magics import ChatMagics

    store.add("P", base_url="http://127.0.0.1:9", api_key=KEY, models=["m"])
    shell = InteractiveShell.instance()
    shell.register_magics(ChatMagics(shell, store=store))
    for typed in ("", "   "):
        monkeypatch.setattr("getpass.getpass", lambda prompt, typed=typed: typed)
        with capture_output() as cap:
            shell.run_line_magic("providers", "key P")
        assert cap.stdout.strip() == "P: key unchanged (key: entered)" and not cap.stderr
        assert store["P"].api_key == KEY
    monkeypatch.setattr("getpass.getpass", lambda prompt: KEY2)
    with capture_output() as cap:
        shell.run_line_magic("providers", "key P")
    assert cap.stdout.strip() == "P: key saved (key: entered)" and store["P"].api_key == KEY2


def test_a_key_pasted_with_its_bearer_prefix_says_to_enter_the_key_alone(
    store: ProviderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Bearer sk-...`` copied from a curl command: not "retype it as plain text" (it is plain text), but what to
    drop; in one line that shows no key, from Python and from ``%providers key``."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from jupyter_providers import InvalidValueError
    from jupyter_providers.magics import ChatMagics

    with pytest.raises(InvalidValueError) as info:
        store.add("Q", base_url="http://127.0.0.1:9", api_key=f"Bearer {KEY}")
    said = str(info.value)
    assert said.startswith("api_key: ") and "'Bearer ' before the key" in said and "enter the key alone" in said
    assert "plain text" not in said and KEY not in said and "\n" not in said, said
    store.add("P", base_url="http://127.0.0.1:9", api_key=KEY, models=["m"])
    shell = InteractiveShell.instance()
    shell.register_magics(ChatMagics(shell, store=store))
    monkeypatch.setattr("getpass.getpass", lambda prompt: f"bearer {KEY2}")
    with capture_output() as cap:
        shell.run_line_magic("providers", "key P")
    assert "enter the key alone" in cap.stderr + cap.stdout and KEY2 not in cap.stderr + cap.stdout, cap.stderr
    assert store["P"].api_key == KEY
