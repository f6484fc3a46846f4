"""Parsing a growing conversation by its new part only gives what a whole parse gives."""

from __future__ import annotations

import json
import random

import orjson
import pytest

from autorr.store._growth import Conversations

SORTED = orjson.OPT_SORT_KEYS


def check(conversations: Conversations, body: bytes):
    grown = conversations.parse(body)
    whole = orjson.loads(body)
    assert grown is not None
    # orjson.dumps tells 1 from 1.0 from true, which == does not
    assert orjson.dumps(grown.value) == orjson.dumps(whole)
    assert grown.canonical == orjson.dumps(whole, option=SORTED)
    return grown


def _element(rng: random.Random, turn: int) -> object:
    texts = ["plain", "é ☃ \U0001f600", 'quote " and \\ backslash', "brackets ] [ } {", "line\nbreak", ""]
    return rng.choice([
        {"role": rng.choice(["user", "assistant"]), "content": f"{rng.choice(texts)} {turn}"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": f"c{turn}", "function": {
            "name": "lookup", "arguments": json.dumps({"q": [1, 2.5, True, None]})}}]},
        {"role": "tool", "tool_call_id": f"c{turn}", "content": [{"type": "text", "text": "]}"}]},
        {"n": rng.choice([1, 1.0, 10**20, -0.5e-7, True, False])},
    ])


@pytest.mark.parametrize("seed", range(12))
def test_random_conversations_parse_as_a_whole_parse_does(seed):
    rng = random.Random(seed)
    separators = rng.choice([(",", ":"), (", ", ": ")])
    keys = ["model", "messages", "stream", "tools", "stop", "temperature"]
    rng.shuffle(keys)
    conversations, history, extended = Conversations(), [], 0
    # What comes before the list stays the same from turn to turn (else: parsed whole)
    temperature, ascii_only = rng.choice([0, 0.5, 1]), rng.random() < 0.5
    for turn in range(30):
        history.extend(_element(rng, turn) for _ in range(rng.randint(0, 2)))
        body = {k: {"model": "gpt-4o-mini", "messages": history, "stream": keys.index("stream") > keys.index("messages") and turn % 2 == 0,
                    "tools": [{"type": "function", "function": {"name": "lookup"}}],
                    "stop": ["]", "\n\n"], "temperature": temperature}[k] for k in keys}
        raw = json.dumps(body, separators=separators, ensure_ascii=ascii_only).encode()
        grown = check(conversations, raw)
        extended += grown.previous is not None
    assert extended == 29  # every turn but the first parsed from where the last one ended


def test_a_turn_extends_the_last_one_and_shares_its_elements():
    conversations = Conversations()
    history = [{"role": "system", "content": "be brief"}]
    tokens = []
    for turn in range(5):
        history.append({"role": "user", "content": f"turn {turn}"})
        grown = check(conversations, orjson.dumps({"messages": history, "model": "m"}))
        assert (grown.key, grown.shared) == ("messages", 0 if turn == 0 else len(history) - 2)
        assert grown.previous == (tokens[-1] if tokens else None)
        tokens.append(grown.token)
        history.append({"role": "assistant", "content": f"reply {turn}"})
    # the same body again: nothing new, every element shared
    again = check(conversations, orjson.dumps({"messages": history[:-1], "model": "m"}))
    assert again.shared == len(history) - 1 and again.previous == tokens[-1]


def test_interleaved_conversations_and_edited_histories():
    conversations = Conversations()
    a = [{"role": "user", "content": "agent a"}]
    b = [{"role": "user", "content": "agent b"}]
    for turn in range(4):
        a.append({"role": "assistant", "content": f"a{turn}"})
        b.append({"role": "assistant", "content": f"b{turn}"})
        assert check(conversations, orjson.dumps({"messages": a})).shared == (len(a) - 1 if turn else 0)
        assert check(conversations, orjson.dumps({"messages": b})).shared == (len(b) - 1 if turn else 0)
    edited = [dict(a[0], content="changed"), *a[1:]]
    assert check(conversations, orjson.dumps({"messages": edited})).previous is None  # parsed whole
    truncated = a[:2]
    assert check(conversations, orjson.dumps({"messages": truncated})).previous is None
    # a key before the list that changes: parsed whole
    assert check(conversations, orjson.dumps({"model": "x", "messages": a})).previous is None
    assert check(conversations, orjson.dumps({"model": "y", "messages": a})).previous is None
    # a trailing key that changes, and one that appears
    assert check(conversations, orjson.dumps({"messages": a, "model": "x"})).previous is not None
    assert check(conversations, orjson.dumps({"messages": a, "model": "y", "n": 2})).previous is not None


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"{}", b'{"a": 1}', b"not json", b"", b'{"a": [1}',
                                  b'{"messages": [1], "messages": [2]}'])
def test_bodies_without_a_growing_list_are_left_to_the_caller(body):
    conversations = Conversations()
    grown = conversations.parse(body)
    if grown is not None:  # a list there: parsed whole, all the same
        assert orjson.dumps(grown.value) == orjson.dumps(orjson.loads(body))


def test_a_duplicated_key_after_the_list_falls_back_to_a_whole_parse():
    conversations = Conversations()
    check(conversations, b'{"model":"m","messages":[1]}')
    body = b'{"model":"m","messages":[1,2],"model":"n"}'
    grown = conversations.parse(body)
    assert grown is not None and grown.previous is None and grown.value == orjson.loads(body)
