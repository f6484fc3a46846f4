"""Threads an agent starts, and pool work it submits, record into that agent's recording."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autorr.store import Reader

from conftest import _clean_env

# Two agents, each in its own thread with its own Recorder, each starting a thread and
# using a thread pool; then two asyncio tasks sharing the loop's default executor.
AGENTS = """
import asyncio, json, sys, threading, urllib.request
from concurrent.futures import ThreadPoolExecutor
import autorr

url, directory = sys.argv[1], sys.argv[2]

def ask(q):
    request = urllib.request.Request(url, data=json.dumps({"q": q}).encode(), headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(request))["echo"]["q"]

both_in = threading.Barrier(2)

def agent(name, scope):
    with scope(name):
        both_in.wait()  # the second agent's recorder starts before the first one's threads
        ask(name + "-own")
        helper = threading.Thread(target=ask, args=(name + "-thread",))
        helper.start()
        helper.join()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(ask, name + "-pool").result()
        both_in.wait()

async def task(name):
    with autorr.Recorder(name, directory=directory):
        await asyncio.get_running_loop().run_in_executor(None, ask, name + "-executor")

async def tasks():
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(1))  # one worker thread, started by the first task
    await asyncio.gather(task("c"), task("d"))

scopes = {"a": lambda name: autorr.recording(f"{directory}/{name}.db"),
          "b": lambda name: autorr.Recorder(name, directory=directory)}
threads = [threading.Thread(target=agent, args=(name, scope)) for name, scope in scopes.items()]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
asyncio.run(tasks())
"""


def test_threads_and_pools_record_into_the_agent_that_started_them(echo_server, tmp_path):
    url, _ = echo_server
    agent = tmp_path / "agents.py"
    agent.write_text(AGENTS)
    done = subprocess.run([sys.executable, str(agent), url + "/ask", str(tmp_path)], env=_clean_env({}),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    recorded = {}
    for name in "abcd":
        with Reader(tmp_path / f"{name}.db") as reader:
            recorded[name] = sorted(reader.request(e)["json"]["q"] for e in reader.events())
    assert recorded == {"a": ["a-own", "a-pool", "a-thread"], "b": ["b-own", "b-pool", "b-thread"],
                        "c": ["c-executor"], "d": ["d-executor"]}


def test_a_thread_started_in_a_session_is_freed_once_it_has_run(tmp_path):
    """The session's run() is taken off the thread when it ends: the thread (and what it
    holds) goes with its last reference, not at some later cyclic collection."""
    import gc
    import threading
    import weakref

    import autorr

    class Holder(threading.Thread):
        def run(self):
            self.result = bytearray(1000)

    enabled = gc.isenabled()
    gc.disable()
    try:
        with autorr.Recorder("freed", directory=tmp_path):
            thread = Holder()
            thread.start()
            thread.join()
            gone = weakref.ref(thread)
            del thread
            assert gone() is None
    finally:
        if enabled:
            gc.enable()


def test_a_second_start_raises_as_without_autorr_and_wraps_nothing(tmp_path):
    import threading

    import autorr

    ran = []
    with autorr.Recorder("twice", directory=tmp_path):
        thread = threading.Thread(target=lambda: ran.append(1))
        thread.start()
        thread.join()
        with pytest.raises(RuntimeError, match="once"):
            thread.start()
        assert "run" not in vars(thread)
        own = threading.Thread()
        own.run = lambda: ran.append(2)  # a run() set on the instance is the one that runs
        own.start()
        own.join()
        assert vars(own)["run"]() is None and ran == [1, 2, 2]
