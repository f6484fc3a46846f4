"""tracefork 1.0.0 (Python >= 3.12), default settings (in-memory tape, saved at the end).

tracefork does not patch anything: it hands the agent a client whose httpx2 transport is
a TraceforkTransport. Recording uses tracefork's own Recorder, which works on the openai
client too (it reads `client._client._transport` and calls `client.copy(http_client=...)`);
replay builds the client as tracefork's ReplayVerifier does, with a replay-mode
TraceforkTransport over the loaded tape. Outer timer: TraceforkTransport.handle_request;
inner: the real httpx2.HTTPTransport.handle_request it forwards to when recording.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import wrapt

from peers import Peer


def install(phase: str, path: Path, own) -> Peer:
    import tracefork
    import tracefork.transport

    wrapt.wrap_function_wrapper(httpx2, "HTTPTransport.handle_request", own.real_transport())
    wrapt.wrap_function_wrapper(tracefork.transport, "TraceforkTransport.handle_request", own.timer("outer"))
    tape_file = path / "tape.sqlite"
    if phase == "record":
        session = {}

        def client(sdk_client):
            session["recorder"] = tracefork.Recorder(sdk_client, agent_name="bench").__enter__()
            return session["recorder"].client

        def finish():
            session["recorder"].__exit__(None, None, None)
            session["recorder"].tape.save(str(tape_file))

        return Peer(client=client, finish=finish)
    tape = tracefork.Tape.load(str(tape_file))
    transport = tracefork.TraceforkTransport("replay", tape)
    return Peer(client=lambda sdk_client: sdk_client.copy(http_client=httpx2.Client(transport=transport),
                                                            max_retries=0))
