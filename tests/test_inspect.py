"""`autorr show`'s table (autorr/_inspect.py)."""

from __future__ import annotations

from autorr._inspect import format_description


def _event(model):
    return {"id": 1, "kind": "llm", "call": "POST api.anthropic.com/v1/messages", "status": "ok", "model": model,
            "duration_ms": 812.5, "ttft_ms": 301.2, "chunks": 9, "input_tokens": 1200, "output_tokens": 80,
            "cost_usd": 0.0048, "http_status": 200}


def test_long_model_ids_are_shown_whole():
    info = {"recording_id": "r", "path": "r.db", "size_bytes": 2048, "total_events": 2, "total_chunks": 9,
            "meta": {}, "checkpoints": [], "events": [_event("claude-sonnet-4-5-20250929"), _event(None)]}
    lines = format_description(info).splitlines()
    header = next(line for line in lines if "tokens in/out" in line)
    long, short = lines[lines.index(header) + 1:lines.index(header) + 3]
    assert "claude-sonnet-4-5-20250929 " in long
    # the columns after the model stay aligned
    assert long.index("812.5") == short.index("812.5") and header.index("ms") < long.index("812.5") + 5


def _row(id, model, cost, kind="llm", tokens=1200, http_status=200):
    return dict(_event(model), id=id, kind=kind, cost_usd=cost, input_tokens=tokens, http_status=http_status)


def _info(*events):
    return {"recording_id": "r", "path": "r.db", "size_bytes": 2048, "total_events": len(events), "total_chunks": 0,
            "meta": {}, "checkpoints": [], "events": list(events)}


def test_unpriced_calls_are_counted_next_to_the_total():
    from autorr._inspect import cost_summary

    events = [_row(1, "claude-3-5-haiku", 0.0048), _row(2, "model-x", None), _row(3, "model-x", None),
              _row(4, "gpt-4o-mini", None, tokens=None),  # a stream without its usage event
              _row(5, "gpt-4o", None, tokens=None, http_status=500),  # refused: not billed
              _row(6, None, None, kind="http", tokens=None)]
    lines = format_description(_info(*events)).splitlines()
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0].isdigit()}
    assert rows["1"].endswith("0.004800") and rows["2"].endswith("?") and rows["4"].endswith("?")
    assert not rows["5"].rstrip().endswith("?") and not rows["6"].rstrip().endswith("?")
    assert "  total cost $0.004800 (3 calls with no price: model-x, gpt-4o-mini (no usage reported))" in lines
    assert cost_summary(events) == {"total_usd": 0.0048, "priced_calls": 1, "unpriced_calls": 3,
                                    "unpriced": ["model-x", "gpt-4o-mini (no usage reported)"]}
    assert "  total cost unknown (1 call with no price: model-x)" in format_description(_info(events[1])).splitlines()
    assert "  total cost $0.004800" in format_description(_info(events[0])).splitlines()


def test_show_names_the_unpriced_calls_of_a_real_recording(llm_server, recordings, capsys):
    import json

    import pytest

    openai = pytest.importorskip("openai")
    import autorr
    from autorr.cli import main

    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="sk-test-x")
    with autorr.recording(recordings / "costs.db"):
        for model in ("gpt-4o-mini", "local-llama", "local-llama"):
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert main(["show", "costs", "--dir", str(recordings)]) == 0
    out = capsys.readouterr().out
    assert "(2 calls with no price: local-llama)" in out and "total cost $" in out
    assert main(["show", "costs", "--dir", str(recordings), "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)["cost"]
    assert (cost["priced_calls"], cost["unpriced_calls"], cost["unpriced"]) == (1, 2, ["local-llama"])
    assert cost["total_usd"] > 0


def test_list_and_show_print_the_labels_agents_recorded_with(recordings, capsys):
    import autorr
    from autorr.cli import main

    with autorr.recording(recordings / "a.db", agent_id="planner", session_id="s1"):
        pass
    assert main(["list", "--dir", str(recordings)]) == 0
    assert "session_id=s1  agent_id=planner" in capsys.readouterr().out
    assert main(["show", "a", "--dir", str(recordings)]) == 0
    assert "  labels: session_id=s1, agent_id=planner" in capsys.readouterr().out


def test_show_says_whether_a_file_was_read_or_written(recordings, tmp_path, monkeypatch):
    import autorr
    from autorr._inspect import describe

    monkeypatch.chdir(tmp_path)
    with autorr.recording(recordings / "f.db"):
        with open("notes.txt", "w") as f:
            f.write("x")
        with open("notes.txt") as f:
            f.read()
    assert [e["call"] for e in describe("f", recordings)["events"]] == ["FILE notes.txt (write)", "FILE notes.txt (read)"]
