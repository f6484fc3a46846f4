"""A long conversation (AGENT_TURNS turns, every other one streamed): prints each reply.

Run with AGENT_POOL=1, it also fans tool calls out to a fork pool in the middle; with
AGENT_HANG=1 it waits to be killed once its calls are done.
"""

import multiprocessing
import os

import httpx2
import openai

client = openai.OpenAI()
turns = int(os.environ.get("AGENT_TURNS", "40"))
history = []


def tool(i):
    return httpx2.post(os.environ["FAKE_SERVER_URL"] + "/v1/embeddings",
                       json={"model": "text-embedding-3-small", "input": f"tool {i}"}).status_code


for turn in range(turns):
    # Each turn says something new: a conversation whose history keeps growing.
    history.append({"role": "user", "content": f"Step {turn}: " + f"check item {turn} of the plan. " * 12})
    if turn % 2:
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="gpt-4o-mini", messages=history, stream=True) if c.choices)
    else:
        text = client.chat.completions.create(model="gpt-4o-mini", messages=history).choices[0].message.content
    history.append({"role": "assistant", "content": text})
    print(turn, text, flush=True)
    if os.environ.get("AGENT_POOL") and turn == turns // 2:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            print("tools", pool.map(tool, range(8)), flush=True)

if os.environ.get("AGENT_HANG"):
    import time

    print("CALLS DONE", flush=True)
    time.sleep(60)
