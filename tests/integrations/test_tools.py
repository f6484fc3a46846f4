"""``@autorr.tool``: recorded arguments and results; replay never calls the function."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

import autorr

calls: list[str] = []


@dataclasses.dataclass
class Forecast:
    city: str
    temp_c: float


@autorr.tool
def forecast(city: str, days: int = 1) -> Forecast:
    calls.append(f"forecast {city}")
    return Forecast(city, 20.5 + days)


@autorr.tool(name="search")
async def search(query: str) -> list[dict]:
    calls.append(f"search {query}")
    await asyncio.sleep(0)
    return [{"title": f"about {query}", "rank": 1}]


@autorr.tool
def explode(reason: str) -> None:
    calls.append("explode")
    raise ValueError(f"tool failed: {reason}")


def _agent():
    out = [forecast("Paris"), forecast("Paris", days=3), asyncio.run(search("cats"))]
    with pytest.raises(ValueError, match="tool failed: boom"):
        explode("boom")
    return out


def test_tools_record_and_replay_without_running(recordings):
    calls.clear()
    with autorr.recording(recordings / "tools.db"):
        live = _agent()
    assert len(calls) == 4
    calls.clear()
    with autorr.replaying(recordings / "tools.db") as player:
        assert _agent() == live
    assert calls == [] and player.statistics()["matched"] == 4
    events = autorr.get_recorded_events(recordings / "tools.db")
    assert [e.event_type for e in events] == ["tool"] * 4
    assert events[0].inputs == {"tool": "test_tools.forecast", "args": ["Paris"], "kwargs": {}}
    assert events[2].call == "TOOL search"


def test_changed_arguments_are_a_mismatch(recordings):
    with autorr.recording(recordings / "tools.db"):
        forecast("Paris")
    with autorr.replaying(recordings / "tools.db"):
        with pytest.raises(autorr.StrictReplayMismatch, match=r"\$\.args\[0\]: recorded 'Paris', now 'Rome'"):
            forecast("Rome")


def test_tools_run_normally_when_autorr_is_off():
    calls.clear()
    assert forecast("Oslo").city == "Oslo" and calls == ["forecast Oslo"]


def test_capture_switch_off_runs_tools_unrecorded(recordings):
    autorr.configure_capture({"capture_tool_calls": False})
    try:
        with autorr.recording(recordings / "off.db") as rec:
            forecast("Paris")
        assert rec.manifest.total_events == 0
    finally:
        autorr.configure_capture({"capture_tool_calls": True})


GITHUB_TOKEN = "ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"


@autorr.tool
def fetch_bytes() -> bytes:
    return f"creds {GITHUB_TOKEN}".encode() + b"\xff"


@autorr.tool
def fetch_forecast() -> Forecast:
    return Forecast(f"city with key {GITHUB_TOKEN}", 1.5)


@autorr.tool
def fail_with_secret() -> None:
    raise ValueError(f"bad token {GITHUB_TOKEN}")


def _secret_agent():
    out = [fetch_bytes(), fetch_forecast()]
    with pytest.raises(ValueError) as info:
        fail_with_secret()
    return out + [str(info.value)]


def test_secrets_in_bytes_and_pickled_results_never_reach_the_recording(recordings):
    """Bytes and pickles are scrubbed like JSON results: replay gets the value with the
    secret masked, as for any other recorded text."""
    with autorr.recording(recordings / "tools.db"):
        _secret_agent()
    stored = repr([(e.inputs, e.outputs) for e in autorr.get_recorded_events(recordings / "tools.db")])
    assert GITHUB_TOKEN not in stored and "[REDACTED]" in stored
    with autorr.replaying(recordings / "tools.db"):
        assert _secret_agent() == [b"creds [REDACTED]\xff", Forecast("city with key [REDACTED]", 1.5),
                                   "bad token [REDACTED]"]


@autorr.tool
def login(user: str, password: str = "") -> str:
    return f"welcome {user}, {password} works"


def test_a_credential_passed_to_a_tool_is_masked_in_what_it_returns(recordings):
    # The arguments are scrubbed before the result: the password they teach is masked there.
    with autorr.recording(recordings / "tools.db"):
        assert login("ann", password="BodyPassw0rd!x9") == "welcome ann, BodyPassw0rd!x9 works"
    stored = repr([(e.inputs, e.outputs) for e in autorr.get_recorded_events(recordings / "tools.db")])
    assert "BodyPassw0rd!x9" not in stored
    with autorr.replaying(recordings / "tools.db"):
        assert login("ann", password="BodyPassw0rd!x9") == "welcome ann, [REDACTED] works"


class Toolbox:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @autorr.tool
    def lookup(self, key: str) -> str:
        calls.append(f"lookup {key}")
        return f"{self.prefix}:{key}"


def test_a_method_tool_matches_across_runs(recordings):
    # `self` has the default repr, `<Toolbox object at 0x...>`: the address is not an input.
    with autorr.recording(recordings / "tools.db"):
        assert Toolbox("a").lookup("k") == "a:k"
    calls.clear()
    with autorr.replaying(recordings / "tools.db"):
        assert Toolbox("a").lookup("k") == "a:k"
    assert calls == []


@autorr.tool
def pages(n: int):
    for i in range(n):
        calls.append(f"page {i}")
        yield {"page": i}
    raise ValueError("no more pages")


@autorr.tool
async def tokens(n: int):
    for i in range(n):
        calls.append(f"token {i}")
        await asyncio.sleep(0)
        yield f"t{i}"


def _generator_agent():
    got = []
    with pytest.raises(ValueError, match="no more pages"):
        for page in pages(2):
            got.append(page)
    for page in pages(5):  # the caller stops early: the tool ran no further, nor does replay
        got.append(page)
        if page["page"] == 1:
            break

    async def stream():
        return [t async for t in tokens(3)]

    return got, asyncio.run(stream())


def test_generator_tools_replay_what_they_yielded(recordings):
    calls.clear()
    with autorr.recording(recordings / "tools.db"):
        live = _generator_agent()
    assert live == ([{"page": 0}, {"page": 1}, {"page": 0}, {"page": 1}], ["t0", "t1", "t2"])
    assert calls.count("page 1") == 2 and "page 2" not in calls
    calls.clear()
    with autorr.replaying(recordings / "tools.db") as player:
        assert _generator_agent() == live
    assert calls == [] and player.statistics()["matched"] == 3


class QuotaError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)  # args == (message,): pickle alone cannot rebuild it
        self.code = code


@autorr.tool
def quota() -> None:
    raise QuotaError(429, "over quota")


def test_an_exception_with_its_own_constructor_is_raised_again(recordings):
    with autorr.recording(recordings / "tools.db"):
        with pytest.raises(QuotaError):
            quota()
    with autorr.replaying(recordings / "tools.db"):
        with pytest.raises(QuotaError, match="over quota") as info:
            quota()
    assert info.value.code == 429


def test_an_autorr_failure_while_recording_lets_the_tool_run(recordings, monkeypatch, caplog):
    """The host comes first: a fault inside autorr's decision runs the tool unrecorded."""
    ran = []

    @autorr.tool
    def add(a, b):
        ran.append((a, b))
        return a + b

    def broken(self, kind, request, *, output=False):
        raise RuntimeError("boom")

    with autorr.recording(recordings / "t.db") as rec:
        monkeypatch.setattr(type(rec), "decide", broken)
        assert add(1, 2) == 3
    assert ran == [(1, 2)] and "not recording" in caplog.text and "boom" in caplog.text


def test_a_generator_tool_gets_what_the_caller_sends_and_throws_while_recording(recordings):
    """send(), throw() and the return value reach the tool as with no recording at all."""

    @autorr.tool
    def accumulator():
        total = 0
        while True:
            try:
                x = yield total
            except ValueError:
                total = -1
                continue
            if x is None:
                return total
            total += x

    def drive():
        g = accumulator()
        out = [next(g), g.send(5), g.send(7), g.throw(ValueError("reset")), g.send(2)]
        try:
            g.send(None)
        except StopIteration as stop:
            out.append(("returned", stop.value))
        return out

    plain = drive()
    assert plain == [0, 5, 12, -1, 1, ("returned", 1)]
    with autorr.recording(recordings / "g.db"):
        assert drive() == plain

    @autorr.tool
    async def echo():
        got = None
        while True:
            got = yield got

    async def adrive():
        g = echo()
        out = [await g.asend(None), await g.asend("a"), await g.asend("b")]
        await g.aclose()
        return out

    with autorr.recording(recordings / "a.db"):
        assert asyncio.run(adrive()) == [None, "a", "b"]


def test_a_long_repr_is_scrubbed_before_it_is_cut(recordings):
    """A value kept as its repr is cut to 500 characters: a key across the cut must not
    leave a piece the patterns no longer recognise."""
    key = "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"

    class Handle:
        def __repr__(self):
            return "Handle(" + "x" * 480 + key + ")"

        def __reduce__(self):
            raise TypeError("not picklable")

    @autorr.tool
    def connect():
        return Handle()

    with autorr.recording(recordings / "r.db"):
        connect()
    stored = repr([(e.inputs, e.outputs) for e in autorr.get_recorded_events(recordings / "r.db")])
    assert key[:12] not in stored and "[REDACTED]" in stored


def test_an_exception_whose_pickle_was_broken_by_redaction_is_raised_as_its_class():
    """The writer masks a secret it learned after the exception was pickled (the pickle's
    lengths no longer fit): replay still raises the recorded class, with its masked text."""
    from autorr.integrations._calls import recorded_result

    data = {"raised": {"pickle": {"latin1": "\x80\x04broken"}, "repr": "ValueError('bad key [REDACTED]')"},
            "type": "ValueError", "class": "builtins.ValueError", "message": "bad key [REDACTED]"}
    with pytest.raises(ValueError, match=r"bad key \[REDACTED\]"):
        recorded_result(data)
    with pytest.raises(RuntimeError, match="Gone: it went"):  # a class that cannot be imported
        recorded_result(dict(data, type="Gone", **{"class": "nowhere.Gone"}, message="it went"))


@autorr.tool
def sign_in(user: str, password: str, note: str = "") -> str:
    return f"{user} signed in ({note})"


@autorr.tool
async def rotate(api_key, scope):
    return f"rotated {scope}"


@autorr.tool
def token_pages(token, n):
    yield from (f"page {i}" for i in range(n))


def test_credential_arguments_passed_by_position_are_masked_wherever_they_go(recordings):
    """By position, a password is stored in the args list with no name to say what it is:
    the parameter's name says it, and its value is learned (masked in the result too)."""
    secret, key, token = "Opaque-pw-12345", "opaque-key-67890", "opaque-tok-13579"
    with autorr.recording(recordings / "tools.db"):
        sign_in("bob", secret, note=f"echo {secret}")
        asyncio.run(rotate(key, "all"))
        list(token_pages(token, 2))
        sign_in("amy", password="short")  # under 8 characters: nothing learned, masked by its name
    stored = repr([(e.inputs, e.outputs) for e in autorr.get_recorded_events(recordings / "tools.db")])
    assert secret not in stored and key not in stored and token not in stored and "'short'" not in stored
    assert "'bob'" in stored and "'all'" in stored and "page 1" in stored
