"""cassetter 0.16.1, default settings (record mode "once", YAML, match on method + URI).

cassetter patches httpx2 itself (cassetter/intercept/_httpx2.py): entering a cassette
saves httpx2.HTTPTransport.handle_request and replaces it with its interceptor. So the
inner timer goes on the real method before the cassette is entered, the outer one on
cassetter's replacement after.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import wrapt

from peers import Peer


def install(phase: str, path: Path, own) -> Peer:
    import cassetter

    wrapt.wrap_function_wrapper(httpx2, "HTTPTransport.handle_request", own.real_transport())
    cassette = cassetter.use_cassette(path / "cassette.yaml")
    cassette.__enter__()  # loads the cassette (replay) and patches, saving the timed real method
    wrapt.wrap_function_wrapper(httpx2, "HTTPTransport.handle_request", own.timer("outer"))
    return Peer(finish=lambda: cassette.__exit__(None, None, None))  # writes the YAML
