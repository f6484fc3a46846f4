"""vcrpy 9.4.2, default settings (record_mode "once", YAML, match on method + URL).

vcrpy 9.x patches httpx2 itself: vcr/patch.py saves httpx2.HTTPTransport.handle_request
when vcr.patch is imported and replaces it with its stub while a cassette is active
(vcr/stubs/httpx_stubs.py serves httpx and httpx2). So no aliasing is needed: the inner
timer goes on the real method before `import vcr`, the outer one on vcrpy's stub after
the cassette is entered.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import wrapt

from peers import Peer


def install(phase: str, path: Path, own) -> Peer:
    wrapt.wrap_function_wrapper(httpx2, "HTTPTransport.handle_request", own.real_transport())
    import vcr  # saves the (timed) real method

    cassette = vcr.use_cassette(str(path / "cassette.yaml"))
    cassette.__enter__()  # record: the file does not exist yet; replay: it does
    wrapt.wrap_function_wrapper(httpx2, "HTTPTransport.handle_request", own.timer("outer"))
    return Peer(finish=lambda: cassette.__exit__(None, None, None))  # writes the YAML
