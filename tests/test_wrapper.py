"""StreamingLLMWrapper: one client's calls go to the recorder it was given."""

from __future__ import annotations

import asyncio

import pytest

import autorr

openai = pytest.importorskip("openai")


def test_each_agent_client_records_into_its_own_recorder(llm_server, recordings):
    planner = autorr.Recorder("planner", directory=recordings, agent_id="planner")
    writer = autorr.Recorder("writer", directory=recordings, agent_id="writer")
    a = autorr.StreamingLLMWrapper(openai.OpenAI(base_url=llm_server.openai_base_url, api_key="k"), recorder=planner)
    b = autorr.StreamingLLMWrapper(openai.AsyncOpenAI(base_url=llm_server.openai_base_url, api_key="k"),
                                   recorder=writer)
    a.chat.completions.create(model="m", messages=[{"role": "user", "content": "plan"}])
    text = "".join(c.choices[0].delta.content or "" for c in a.chat.completions.create(
        model="m", stream=True, messages=[{"role": "user", "content": "plan more"}]) if c.choices)

    async def write():
        r = await b.chat.completions.create(model="m", messages=[{"role": "user", "content": "write"}])
        return r.choices[0].message.content

    written = asyncio.run(write())
    assert text and written
    assert not autorr.is_recording()  # nothing leaked into the process default
    assert planner.stop().total_events == 2 and writer.stop().total_events == 1
    events = autorr.get_recorded_events(recordings / "planner.db")
    assert events[1].metadata["provider"] == "openai" and len(autorr.get_recorded_streams(recordings / "planner.db")) == 1

    llm_server.stop()
    player = autorr.Player(recordings / "writer.db")
    b2 = autorr.StreamingLLMWrapper(openai.AsyncOpenAI(base_url=llm_server.openai_base_url, api_key="k"),
                                    recorder=player)
    assert asyncio.run(b2.chat.completions.create(model="m", messages=[{"role": "user", "content": "write"}])
                       ).choices[0].message.content == written


def test_stream_helpers_that_send_on_entry_go_to_the_bound_session(llm_server, recordings):
    """`.stream()` and `with_streaming_response` return context managers whose request
    goes out on entry, after the wrapped call returned: recorded, and replayed offline."""
    messages = [{"role": "user", "content": "helpers"}]

    def agent(session):
        client = autorr.StreamingLLMWrapper(openai.OpenAI(base_url=llm_server.openai_base_url, api_key="k"),
                                            recorder=session)
        with client.chat.completions.stream(model="m", messages=messages) as stream:
            helper = stream.get_final_completion().choices[0].message.content
        with client.chat.completions.with_streaming_response.create(model="m", messages=messages) as raw:
            streamed = raw.parse().choices[0].message.content

        async def aagent():
            aclient = autorr.StreamingLLMWrapper(openai.AsyncOpenAI(base_url=llm_server.openai_base_url,
                                                                    api_key="k"), recorder=session)
            async with aclient.chat.completions.stream(model="m", messages=messages) as s:
                return (await s.get_final_completion()).choices[0].message.content

        return helper, streamed, asyncio.run(aagent())

    recorder = autorr.Recorder("helpers", directory=recordings)
    live = agent(recorder)
    assert recorder.stop().total_events == 3 and all(live)
    llm_server.stop()
    player = autorr.Player(recordings / "helpers.db")
    assert agent(player) == live
    assert player.statistics()["matched"] == 3
