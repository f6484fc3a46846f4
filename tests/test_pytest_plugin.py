"""The pytest plugin, as a user of pytest-recording would use it: an inner test suite run by pytester.

The inner tests talk to the fake LLM server through the real openai SDK; the first run
records, later runs replay (with the server out of reach), a changed prompt fails only
its own test, and unmarked tests run exactly as without autorr.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytest.importorskip("openai")
pytest_plugins = ["pytester"]

UNREACHABLE = "http://127.0.0.1:9"

AGENT_TESTS = '''
import os

import openai
import pytest


def client():
    return openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="sk-inner-test", max_retries=0)


@pytest.mark.autorr
def test_stream():
    prompt = os.environ.get("PROMPT", "What is 2+2?")
    stream = client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    print("RESULT stream", chunks[0].id, text)


@pytest.mark.autorr(mode="strict", recording="plain_call")
def test_plain(autorr_recording):
    reply = client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    print("RESULT plain", reply.id, reply.choices[0].message.content, type(autorr_recording).__name__)


def test_unmarked():
    from autorr import _patching, _session

    assert _session.active() is None and _patching.installed() == []
    live = openai.OpenAI(base_url=os.environ["LIVE_URL"] + "/v1", api_key="sk-inner-test", max_retries=0)
    reply = live.embeddings.create(model="text-embedding-3-small", input="x")
    print("RESULT unmarked", len(reply.data))
'''


def _results(result: pytest.RunResult) -> dict[str, str]:
    out = {}
    for line in result.outlines:
        found = re.search(r"RESULT (\w+) (.*)", line)
        if found:
            out[found.group(1)] = found.group(2)
    return out


@pytest.fixture
def inner(pytester: pytest.Pytester, llm_server, monkeypatch):
    pytester.makepyfile(test_agent=AGENT_TESTS)
    monkeypatch.setenv("LIVE_URL", llm_server.url)

    def run(url: str, *args: str, fresh_process: bool = False, **env: str) -> pytest.RunResult:
        monkeypatch.setenv("FAKE_URL", url)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        # In-process is fast, and the plugin keeps no state between runs; AUTORR_MODE
        # acts at interpreter start-up, so that case needs a process of its own.
        runner = pytester.runpytest_subprocess if fresh_process else pytester.runpytest
        return runner("-s", "-p", "no:cacheprovider", *args)

    return run


def test_first_run_records_later_runs_replay_offline(inner, pytester, llm_server):
    first = inner(llm_server.url)
    first.assert_outcomes(passed=3)
    recorded = _results(first)
    folder = pytester.path / "recordings" / "test_agent"
    assert sorted(p.name for p in folder.iterdir()) == ["plain_call.db", "test_stream.db"]
    assert "Recorder" in recorded["plain"] and recorded["stream"]
    hits = llm_server.hits

    again = inner(UNREACHABLE)  # marked tests can't reach the server; the unmarked one still does
    again.assert_outcomes(passed=3)
    replayed = _results(again)
    # The server gives every response a fresh id: the same id means the recorded answer.
    assert replayed["stream"] == recorded["stream"]
    assert replayed["plain"] == recorded["plain"].replace("Recorder", "Player")
    assert llm_server.hits == hits + 1  # the unmarked test's own call, live both times


def test_changed_prompt_fails_only_its_test(inner, llm_server):
    inner(llm_server.url).assert_outcomes(passed=3)
    result = inner(UNREACHABLE, PROMPT="What is 3+3?")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "FAILED test_agent.py::test_stream - autorr._errors.StrictReplayMismatch" in out  # a test failure
    assert "autorr: replay has no recorded answer for POST 127.0.0.1/v1/chat/completions" in out
    assert "$.messages[0].content: recorded 'What is 2+2?', now 'What is 3+3?'" in out
    assert "re-record it with --autorr-mode=record" in out
    assert "INTERNALERROR" not in out and "Retrying" not in out
    assert "openai/_base_client.py" not in out  # the traceback stops at the test's own line


def test_replay_mode_needs_the_recording_and_record_mode_replaces_it(inner, pytester, llm_server):
    missing = inner(llm_server.url, "--autorr-mode=replay", "-k", "stream")
    missing.assert_outcomes(errors=1)
    assert "autorr: no recording for test_agent.py::test_stream at " in missing.stdout.str()
    first = _results(inner(llm_server.url, "-k", "stream"))
    again = inner(llm_server.url, "--autorr-mode=record", "-k", "stream")
    again.assert_outcomes(passed=1)
    assert _results(again)["stream"] != first["stream"]  # went live: a fresh response id
    assert [p.name for p in (pytester.path / "recordings" / "test_agent").iterdir()] == ["test_stream.db"]


def test_off_and_custom_dir(inner, pytester, llm_server):
    off = inner(llm_server.url, "--autorr-mode=off", "-k", "plain")
    off.assert_outcomes(passed=1)
    assert "NoneType" in _results(off)["plain"] and not (pytester.path / "recordings").exists()
    inner(llm_server.url, "--autorr-dir=rec", "-k", "plain").assert_outcomes(passed=1)
    assert (pytester.path / "rec" / "test_agent" / "plain_call.db").is_file()


def test_process_wide_autorr_mode_wins(inner, pytester, llm_server, tmp_path):
    result = inner(llm_server.url, "-k", "stream", fresh_process=True, AUTORR_MODE="record",
                   AUTORR_DIR=str(tmp_path / "whole"))
    result.assert_outcomes(passed=1)
    assert "autorr: AUTORR_MODE=record is set for the whole process" in result.stdout.str()
    assert not (pytester.path / "recordings").exists()
    assert len(list((tmp_path / "whole").glob("*.db"))) == 1


MORE_TESTS = '''
import os
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest


def ask(prompt):
    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="sk-inner-test", max_retries=0)
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])


@pytest.mark.autorr
def test_threaded():
    with ThreadPoolExecutor(1) as pool:
        print("RESULT threaded", pool.submit(ask, "from a thread").result().id)


@pytest.mark.autorr
def test_swallowing():
    try:
        ask(os.environ.get("PROMPT", "first"))
    except BaseException:  # an over-eager agent framework
        pass


@pytest.mark.autorr(mode="warn")
def test_warned():
    print("RESULT warned", ask(os.environ.get("PROMPT", "first")).id)


class TestNames:
    @pytest.mark.autorr
    @pytest.mark.parametrize("arg", ["a b", "c/d"])
    def test_param(self, arg):
        pass
'''


def test_threads_swallowed_mismatches_warn_mode_and_names(inner, pytester, llm_server):
    pytester.makepyfile(test_agent=MORE_TESTS)
    first = inner(llm_server.url)
    first.assert_outcomes(passed=5)
    names = sorted(p.name for p in (pytester.path / "recordings" / "test_agent").iterdir())
    assert names == ["TestNames.test_param[a_b].db", "TestNames.test_param[c_d].db", "test_swallowing.db",
                     "test_threaded.db", "test_warned.db"]
    again = inner(UNREACHABLE, PROMPT="second")
    again.assert_outcomes(passed=4, failed=1)
    assert _results(again)["threaded"] == _results(first)["threaded"]  # a worker thread's call was recorded
    assert _results(again)["warned"] == _results(first)["warned"]  # warn: the nearest recorded answer
    out = again.stdout.str()
    assert "FAILED test_agent.py::test_swallowing" in out
    assert "autorr: strict replay mismatch raised inside the test and caught by the code under test" in out
    assert "$.messages[0].content: recorded 'first', now 'second'" in out


def test_bad_marker_arguments_name_the_problem(pytester: pytest.Pytester):
    pytester.makepyfile(test_bad='''
import pytest

@pytest.mark.autorr(mode="loose")
def test_mode():
    pass

@pytest.mark.autorr(recordng="x")
def test_typo():
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*@pytest.mark.autorr on test_bad.py::test_mode: mode='loose' is not valid; use one of: strict, warn, hybrid*",
        "*@pytest.mark.autorr on test_bad.py::test_typo: unknown argument 'recordng'; use: mode, recording, timing*",
    ])


def test_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\nautorr_mode = sometimes\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "autorr: ini autorr_mode='sometimes' is not valid; use one of: auto, record, replay, off" in result.stderr.str()


def test_loading_the_plugin_imports_nothing_more_than_autorr():
    code = ("import sys, pytest, autorr; before = set(sys.modules); import autorr.pytest_plugin; "
            "print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['autorr.pytest_plugin']"


@pytest.mark.parametrize("name", ["custom", "custom.db"])
def test_a_recording_named_with_or_without_its_suffix_is_one_file(tmp_path, name):
    from types import SimpleNamespace

    from autorr.pytest_plugin import _recording_path

    item = SimpleNamespace(path=tmp_path / "test_agent.py")
    assert _recording_path(item, {"dir": None}, name) == tmp_path / "recordings" / "test_agent" / "custom.db"
