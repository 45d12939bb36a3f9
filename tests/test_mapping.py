"""chat_map: a prompt over a list or a DataFrame, against fake servers that are slow, rate-limit and fail."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_providers import InvalidValueError, MapResult, ProviderStore, RateLimitError, chat, chat_map
from jupyter_providers import _transport as transport
from jupyter_providers._progress import MapStats, TextBar
from jupyter_providers._scheduler import IN_FLIGHT, NOT_RUN, OVER_BUDGET, Outcome, Scheduler
from jupyter_providers._settings import settings
from tests.fakes.server import FakeServer, RecordedRequest

KEY = "sk-map-test-7c1d0e9b44"


def _prompt(body: dict[str, Any]) -> str:
    return str([m for m in body.get("messages", []) if m.get("role") == "user"][-1]["content"])


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer("openai", models=["m"]) as srv:
        srv.reply_for = lambda body: f"answer to {_prompt(body)}"
        yield srv


@pytest.fixture
def mapped(store: ProviderStore, fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> ProviderStore:
    store.add("F", type="openai", base_url=fake.base_url, api_key=KEY, models=["m"])
    monkeypatch.setattr(settings, "backoff", 0.01)
    return store


class Recorder:
    """A progress display that keeps every snapshot (and can stop the map, or press Ctrl-C, at a row count)."""

    def __init__(self, stop_at: int | None = None, interrupt_at: int | None = None) -> None:
        self.seen: list[MapStats] = []
        self.closed: MapStats | None = None
        self.stop: Any = None
        self.stop_at, self.interrupt_at = stop_at, interrupt_at

    def on_stop(self, stop: object) -> None:
        self.stop = stop

    def show(self, s: MapStats) -> None:
        self.seen.append(s)
        if self.stop_at is not None and s.done >= self.stop_at:
            self.stop()
        if self.interrupt_at is not None and s.done >= self.interrupt_at:
            self.interrupt_at = None
            raise KeyboardInterrupt

    def close(self, s: MapStats) -> None:
        self.closed = s


def _per_prompt(fake: FakeServer) -> Counter[str]:
    return Counter(_prompt(r.body) for r in fake.requests if r.body)


def test_a_thousand_rows_through_latency_429s_and_failures(mapped: ProviderStore, fake: FakeServer) -> None:
    """Every row ends answered or failed, in order; each is sent exactly as often as its faults demand."""
    fake.retry_after = "0.05"
    sent: Counter[int] = Counter()
    lock = threading.Lock()
    active = [0, 0]  # now, most

    def plan(i: int, attempt: int) -> str | None:
        if i % 50 == 11:
            return "auth"  # permanent: one request, then the row's error
        if i % 97 == 5:
            return "server_error"  # always: the retries run out
        if i % 10 == 3 and attempt == 0:
            return "rate_limit"
        if i % 25 == 7 and attempt < 2:
            return "overloaded"
        return None

    def fault_for(req: RecordedRequest) -> str | None:
        i = int(_prompt(req.body or {}).split()[-1])
        with lock:
            attempt = sent[i]
            sent[i] += 1
            active[0] += 1
            active[1] = max(active)
        time.sleep(random.Random(i * 7 + attempt).uniform(0, 0.01))
        with lock:
            active[0] -= 1
        return plan(i, attempt)

    fake.fault_for = fault_for
    rec = Recorder()
    items = [{"text": f"row {i}"} for i in range(1000)]
    out = chat_map(items, "Say {text}", provider="F", concurrency=16, retries=3, progress=rec, store=mapped)

    assert len(out) == 1000 and all(isinstance(r, MapResult) for r in out)
    for i, r in enumerate(out):
        assert (r.text is None) != (r.error is None), (i, r)
        if i % 50 == 11:
            assert r.error and "key" in r.error.lower(), r.error
            expected = 1
        elif i % 97 == 5:
            assert r.error and "server" in r.error.lower()
            expected = 4  # the first request and 3 retries
        else:
            assert r.text == f"answer to Say row {i}", (i, r)
            expected = 2 if i % 10 == 3 else 3 if i % 25 == 7 else 1
        assert sent[i] == expected == r.attempts, (i, sent[i], r)
    # never sent again after it was answered: the fake saw each answered prompt exactly as often as planned
    assert sum(sent.values()) == len(fake.requests)
    assert active[1] <= 16
    assert min(s.limit for s in rec.seen) < 16  # the 429s cut the limit ...
    assert rec.closed is not None and rec.closed.finished and rec.closed.done == 1000
    assert rec.closed.failed == sum(1 for r in out if r.error)


def test_the_limit_halves_on_429_and_grows_back() -> None:
    """A burst of 429s from one round cuts the limit once (8 -> 4, not to 1); successes grow it back to 8."""
    lock = threading.Lock()
    calls: list[tuple[int, int]] = []  # (row, the limit when it was sent)
    burst = threading.Barrier(8)

    def send(row: int) -> Outcome:
        with lock:
            calls.append((row, sched.limit))
            first = len(calls) <= 8
        if first:  # the first round: all 8 in flight at once, all answered 429
            burst.wait(timeout=5)
            raise RateLimitError("429", retry_after=0.05)
        time.sleep(0.002)
        return Outcome(text=str(row))

    sched = Scheduler(300, send, concurrency=8, retries=2, estimate=lambda row, mean: 1)
    out = sched.run()
    assert [o.text for o in out] == [str(i) for i in range(300)]
    limits = [limit for _, limit in calls]
    assert limits[:8] == [8] * 8 and min(limits) == 4 and limits[-1] == 8
    assert sched.requests == 308


def test_a_row_waits_a_retry_after_longer_than_a_single_call_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """A per-minute rate limit says "retry after 40 s": one chat() call reports it (max_retry_after, 30 s), but a
    map's row waits it out (map_max_retry_after, 300 s); a hint past that ends the row with the 429."""
    monkeypatch.setattr(settings, "max_retry_after", 0.01)
    monkeypatch.setattr(settings, "map_max_retry_after", 0.5)
    hints = {0: 0.2, 1: 5.0}  # row 0: over max_retry_after, within map_max_retry_after; row 1: past both
    tries: Counter[int] = Counter()

    def send(row: int) -> Outcome:
        tries[row] += 1
        if tries[row] == 1 and row in hints:
            raise RateLimitError("429 slow down", retry_after=hints[row])
        return Outcome(text=str(row))

    started = time.monotonic()
    out = Scheduler(3, send, concurrency=3, retries=2, estimate=lambda row, mean: 1).run()
    assert out[0].text == "0" and out[0].attempts == 2 and time.monotonic() - started >= 0.2
    assert out[1].error is not None and "429" in out[1].error and tries[1] == 1
    assert out[2].text == "2" and out[2].attempts == 1


def test_each_worker_sends_on_its_own_client_and_the_map_closes_them(
    mapped: ProviderStore, fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No shared pool for a map's rows: httpcore hands each request a connection by scanning the pool's
    connections for every waiting request, which at 32 rows in flight cost more CPU than the request itself."""
    made: list[Any] = []
    real = transport.new_client

    def spy(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    def shared(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a map's row used the shared pool")

    monkeypatch.setattr(transport, "new_client", spy)
    monkeypatch.setattr(transport, "http_client", shared)
    out = chat_map([f"q{i}" for i in range(40)], provider="F", concurrency=4, progress=False, store=mapped)
    assert [r.text for r in out] == [f"answer to q{i}" for i in range(40)]
    assert 1 <= len(made) <= 4 and all(c.is_closed for c in made)


def test_stop_keeps_finished_rows_and_lets_the_ones_in_flight_land(mapped: ProviderStore, fake: FakeServer) -> None:
    fake.delay = 0.02
    rec = Recorder(stop_at=20)
    out = chat_map([f"q{i}" for i in range(200)], provider="F", concurrency=4, progress=rec, store=mapped)
    answered = [r for r in out if r.ok]
    assert 20 <= len(answered) < 200
    assert all(r.text == f"answer to q{i}" for i, r in enumerate(out) if r.ok)
    assert all(r.error == NOT_RUN for r in out if not r.ok)
    assert len(fake.requests) == len(answered)  # every request sent was kept
    assert rec.closed is not None and rec.closed.stopped == "stopped"


def test_ctrl_c_returns_at_once_with_every_finished_row(mapped: ProviderStore, fake: FakeServer) -> None:
    fake.delay = 0.05
    rec = Recorder(interrupt_at=8)
    out = chat_map([f"c{i}" for i in range(200)], provider="F", concurrency=4, progress=rec, store=mapped)
    assert len(out) == 200
    done = [i for i, r in enumerate(out) if r.ok]
    assert len(done) >= 8 and all(out[i].text == f"answer to c{i}" for i in done)
    errors = Counter(r.error for r in out if not r.ok)
    assert set(errors) <= {NOT_RUN, IN_FLIGHT} and errors[NOT_RUN] > 100


def test_a_missing_field_fails_before_anything_is_sent(mapped: ProviderStore, fake: FakeServer) -> None:
    items = [{"text": "a"}, {"text": "b"}, {"body": "c"}]
    with pytest.raises(InvalidValueError, match=r"row 2: no field 'text' .*the fields: body"):
        chat_map(items, "Classify: {text}", provider="F", progress=False, store=mapped)
    with pytest.raises(InvalidValueError, match="literal braces"):
        chat_map(items, 'Answer as {"label": x}', provider="F", progress=False, store=mapped)
    with pytest.raises(InvalidValueError, match="template over its fields"):
        chat_map(items, provider="F", progress=False, store=mapped)
    assert fake.requests == []


def test_strings_are_the_prompts_or_fill_the_template(mapped: ProviderStore, fake: FakeServer) -> None:
    out = chat_map(["one", "two"], provider="F", progress=False, store=mapped)
    assert [r.text for r in out] == ["answer to one", "answer to two"]
    out = chat_map(["one", "two"], "Say {} ({item})", provider="F", progress=False, store=mapped)
    assert [r.text for r in out] == ["answer to Say one (one)", "answer to Say two (two)"]
    assert out[0].usage.input_tokens and out[0].latency_s is not None
    assert chat_map([], provider="F", progress=False, store=mapped) == []


def test_permanent_errors_end_their_row_only(mapped: ProviderStore, fake: FakeServer) -> None:
    fake.fault_for = lambda req: "quota" if "bad" in _prompt(req.body or {}) else None
    out = chat_map(["good 1", "bad 2", "good 3"], provider="F", progress=False, store=mapped)
    assert out[0].ok and out[2].ok and not out[1].ok
    assert "quota" in (out[1].error or "").lower()
    assert _per_prompt(fake)["bad 2"] == 1  # an exhausted quota is not retried
    out = chat_map(["x", "y"], provider="F", model="nope", progress=False, store=mapped)
    assert all(not r.ok and "nope" in (r.error or "") for r in out)


def test_max_tokens_total_stops_before_sending_past_it(mapped: ProviderStore, fake: FakeServer) -> None:
    fake.reply = "one two three"
    fake.reply_for = None
    # 18 characters: an estimate of 5 + 3 (max_tokens) tokens a row; the fake counts words: 6 tokens a row
    items = [f"prompt number {i:03d}" for i in range(100)]
    rec = Recorder()
    out = chat_map(items, provider="F", max_tokens=3, max_tokens_total=80, concurrency=4, progress=rec, store=mapped)
    sent = [r for r in out if r.ok]
    assert len(sent) == 13 and len(fake.requests) == 13  # 13 x 6 = 78: a 14th (estimated 8) would pass 80
    assert sum(r.usage.total_tokens or 0 for r in sent) == 78
    assert all(r.error == OVER_BUDGET for r in out if not r.ok)
    assert rec.closed is not None and rec.closed.stopped == "max_tokens_total reached"


def test_rows_spread_over_the_providers_keys(store: ProviderStore, fake: FakeServer) -> None:
    store.add("K", type="openai", base_url=fake.base_url, api_key="sk-k1-aaaa,sk-k2-bbbb", models=["m"])
    out = chat_map([f"r{i}" for i in range(40)], provider="K", concurrency=8, progress=False, store=store)
    assert all(r.ok for r in out)
    keys = Counter(r.headers.get("authorization") for r in fake.requests)
    assert keys == {"Bearer sk-k1-aaaa": 20, "Bearer sk-k2-bbbb": 20}


def test_chat_retries_zero_sends_once(mapped: ProviderStore, fake: FakeServer) -> None:
    fake.fault = "rate_limit"
    with pytest.raises(RateLimitError) as info:
        chat("hi", "F", store=mapped, retries=0)
    assert len(fake.requests) == 1 and info.value.retry_after == 1.0
    with pytest.raises(InvalidValueError, match="retries"):
        chat("hi", "F", store=mapped, retries=-1)


def test_options_are_checked_first(mapped: ProviderStore, fake: FakeServer) -> None:
    for kw, word in (
        ({"concurrency": 0}, "concurrency"), ({"concurrency": 1000}, "concurrency"), ({"retries": -1}, "retries"),
        ({"max_tokens_total": 0}, "max_tokens_total"), ({"temperature": 5}, "temperature"),
        ({"progress": "yes"}, "progress"),
    ):  # fmt: skip
        with pytest.raises(InvalidValueError, match=word):
            chat_map(["a"], provider="F", store=mapped, **kw)
    with pytest.raises(InvalidValueError, match="items"):
        chat_map("one string", provider="F", store=mapped)
    assert fake.requests == []


def test_the_text_bar_goes_to_stderr(mapped: ProviderStore, fake: FakeServer) -> None:
    buf = io.StringIO()
    chat_map(["a", "b", "c"], provider="F", progress=TextBar(buf), store=mapped)
    last = buf.getvalue().rstrip("\n").split("\r")[-1]
    assert last.startswith("[" + "#" * 24 + "] 3/3") and "done in" in last and "tokens" in last


def test_importing_the_package_loads_no_dataframe_library() -> None:
    code = "import sys, jupyter_providers\nprint([m for m in ('pandas', 'polars', 'numpy') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_pandas_dataframe_gives_a_dataframe_with_its_index(mapped: ProviderStore, fake: FakeServer) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"text": ["good", "bad", "fine"], "n": [1, 2, 3]}, index=["a", "b", "c"])
    fake.fault_for = lambda req: "auth" if "bad" in _prompt(req.body or {}) else None
    out = chat_map(df, "Review {n}: {text}", provider="F", progress=False, store=mapped)
    assert isinstance(out, pd.DataFrame) and list(out.index) == ["a", "b", "c"]
    assert list(out.columns) == ["reply", "error", "latency_s", "input_tokens", "output_tokens"]
    assert out.loc["a", "reply"] == "answer to Review 1: good" and out.loc["c", "reply"] == "answer to Review 3: fine"
    assert pd.isna(out.loc["b", "reply"]) and "401" in out.loc["b", "error"]
    assert out.loc["a", "input_tokens"] > 0 and out.loc["a", "latency_s"] > 0
    joined = df.join(out)
    assert joined.loc["c", "text"] == "fine" and joined.loc["c", "reply"].endswith("fine")
    series = chat_map(df["text"], "Say {}", provider="F", progress=False, store=mapped)
    assert list(series.index) == ["a", "b", "c"] and series.loc["c", "reply"] == "answer to Say fine"


def test_a_polars_dataframe_gives_a_polars_dataframe(mapped: ProviderStore, fake: FakeServer) -> None:
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"text": ["x", "y"]})
    out = chat_map(df, "Say {text}", provider="F", progress=False, store=mapped)
    assert isinstance(out, pl.DataFrame) and out["reply"].to_list() == ["answer to Say x", "answer to Say y"]
    assert out["error"].to_list() == [None, None] and out.columns[1:] == [
        "error",
        "latency_s",
        "input_tokens",
        "output_tokens",
    ]


def test_the_notebook_bar_shows_counts_stops_and_never_holds_a_key(mapped: ProviderStore, fake: FakeServer) -> None:
    from jupyter_providers.widgets.map_progress import MapProgressBar

    fake.delay = 0.02
    bar = MapProgressBar(show=False)
    original = bar.show

    def show(s: MapStats) -> None:
        original(s)
        if s.done >= 10:
            bar.stop_button.click()  # as the front end's click arrives

    bar.show = show  # type: ignore[method-assign]
    out = chat_map([f"w{i}" for i in range(100)], provider="F", concurrency=2, progress=bar, store=mapped)
    assert 10 <= sum(r.ok for r in out) < 100
    assert bar.bar.max == 100 and bar.bar.value == sum(r.ok for r in out)
    assert "stopped after" in bar.label.value and bar.stop_button.layout.display == "none"
    assert bar.hint.layout.display == "none"
    states = [repr(x.get_state()) for x in (bar.box, bar.bar, bar.label, bar.stop_button)]
    assert not any(KEY in s or KEY[3:] in s for s in states)
    assert not any("answer to" in s for s in states)  # counts and times only, never a reply


def test_the_displayed_bar_leaves_a_summary_of_counts_when_the_map_ends(
    mapped: ProviderStore, fake: FakeServer
) -> None:
    """The live bar is replaced (update_display on its display id) by counts only - no time, no rate, no widget id
    - so a re-run replayed from the cache saves the same output; its widgets are closed."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from jupyter_providers.widgets.map_progress import MapProgressBar

    InteractiveShell.instance()
    with capture_output() as cap:
        bar = MapProgressBar()
        out = chat_map(["w0", "w1", "w2"], provider="F", progress=bar, store=mapped)
    assert all(r.ok for r in out)
    live, *_, last = cap.outputs
    display_id = live.transient["display_id"]
    assert "application/vnd.jupyter.widget-view+json" in live.data and not live.update
    tokens = sum((r.usage.input_tokens or 0) + (r.usage.output_tokens or 0) for r in out)
    text = f"chat_map: 3 rows \u00b7 3 answered \u00b7 {tokens:,} tokens"
    assert last.update and last.transient["display_id"] == display_id and last.data["text/plain"] == text
    assert last.data["text/html"] == f'<div class="jp-providers-map-done">{text}</div>'
    assert bar.box.comm is None and bar.bar.comm is None  # closed: nothing left in the kernel


def test_the_stop_button_shows_where_a_click_can_be_read(mapped: ProviderStore, fake: FakeServer) -> None:
    """On the main thread, where no kernel subshell can read its clicks (here: no kernel at all), the bar says how
    to interrupt instead; off the main thread (``await asyncio.to_thread(chat_map, ...)``) it shows Stop. A plain
    cell in a real kernel shows Stop too: tests/test_map_kernel.py."""
    from jupyter_providers.widgets.map_progress import MapProgressBar

    seen: dict[str, Any] = {}

    def watch(bar: MapProgressBar, where: str) -> MapProgressBar:
        def show(s: MapStats) -> None:
            seen[where] = (bar.stop_button.layout.display, bar.hint.layout.display)

        bar.show = show  # type: ignore[method-assign]
        return bar

    fake.delay = 0.3
    chat_map(["a"], provider="F", progress=watch(MapProgressBar(show=False), "main"), store=mapped)
    worker = threading.Thread(
        target=chat_map, args=(["b"],), kwargs={"provider": "F", "store": mapped,
                                                "progress": watch(MapProgressBar(show=False), "thread")},
    )  # fmt: skip
    worker.start()
    worker.join(10)
    assert seen == {"main": ("none", None), "thread": (None, "none")}


def test_a_schema_gives_one_column_per_field_and_a_bad_reply_is_its_rows_error(
    mapped: ProviderStore, fake: FakeServer
) -> None:
    import dataclasses

    pd = pytest.importorskip("pandas")

    @dataclasses.dataclass
    class Verdict:
        label: str
        stars: int

    def answer(body: dict[str, Any]) -> str:
        text = _prompt(body)
        return "not json at all" if "broken" in text else json.dumps({"label": text[-4:], "stars": len(text)})

    fake.reply_for = answer
    df = pd.DataFrame({"review": ["nice", "broken", "meh!"]})
    out = chat_map(df, "Rate: {review}", provider="F", schema=Verdict, progress=False, store=mapped)
    assert list(out.columns) == ["label", "stars", "error", "latency_s", "input_tokens", "output_tokens"]
    assert out.loc[0, "label"] == "nice" and out.loc[0, "stars"] == 10 and out.loc[2, "label"] == "meh!"
    assert pd.isna(out.loc[1, "label"]) and "JSON" in out.loc[1, "error"]
    body = fake.requests[0].body or {}
    assert body["response_format"]["type"] == "json_schema"  # the schema went with every row
    rows = chat_map(["nice"], "Rate: {}", provider="F", schema=Verdict, progress=False, store=mapped)
    assert rows[0].data == Verdict("nice", 10)
    n = len(fake.requests)
    with pytest.raises(InvalidValueError, match="result column"):
        chat_map(df, "{review}", provider="F", schema={"type": "object", "properties": {"error": {}}}, store=mapped)
    assert len(fake.requests) == n
