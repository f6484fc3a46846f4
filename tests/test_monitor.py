"""Monitoring functions of the user guide, during a real recording."""

from __future__ import annotations

import autorr


def test_status_metrics_and_storage_while_recording(echo_server, recordings):
    import httpx2

    url, _ = echo_server
    assert autorr.get_recording_status()["active"] is False
    autorr.start_recording(recording_id="mon", directory=recordings, agent_id="a1")
    try:
        with httpx2.Client() as client:
            for i in range(5):
                client.get(f"{url}/item/{i}")
            with client.stream("POST", url + "/sse", json={"n": 3}) as r:
                chunks = r.iter_raw()
                next(chunks)  # the stream is open, half read
                autorr.checkpoint("half-way")  # queued like an event, but none
                status = autorr.get_recording_status()
                assert status["active"] and status["recording_id"] == "mon" and status["active_streams"] == 1
                assert status["events_count"] == 5  # the finished calls, not the stream nor the checkpoint
                assert status["labels"] == {"agent_id": "a1"}
        autorr._session.get_default().flush()
        status = autorr.get_recording_status()
        assert status["events_count"] == 6 and status["active_streams"] == 0 and status["duration_seconds"] >= 0
        metrics = autorr.get_performance_metrics()
        assert metrics["events_per_second"] > 0 and metrics["memory_mb"] > 10 and metrics["queue_depth"] == 0
        storage = autorr.get_storage_info()
        assert storage["recordings"] == 1 and storage["current_recording_bytes"] > 0
    finally:
        autorr.stop_recording()
    assert autorr.get_storage_info(recordings)["total_bytes"] > 0
