"""Values learned late masked at stop in what was stored before (`store._rescrub`)."""

from __future__ import annotations

from autorr._redact import MASK, Redactor
from autorr.store import Checkpoint, Reader, Writer
from autorr.store._rescrub import rescrub

from test_store import _event

SECRET = "Zq81xLmT55vbNw02RrKs"


def _files(path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.iterdir())


def test_a_streamed_body_keeps_chunks_that_add_up_and_every_place_loses_the_value(tmp_path):
    path = tmp_path / "r.db"
    redactor = Redactor(environ={})
    writer = Writer(path, redactor=redactor)
    body = f"data: tok {SECRET}\n\ndata: end\n\n".encode()
    # The value split across two chunks, as a network may cut a stream.
    cut = body.index(SECRET.encode()) + 5
    writer.put(_event(1, [{"role": "user", "content": f"my key is {SECRET}"}], body=body,
                      chunks=[(cut, 100), (len(body) - cut, 2_000)]))
    writer.put(_event(2, [{"role": "user", "content": "x" * 2000 + SECRET}]))  # a compressed blob
    writer.put(Checkpoint(name=f"after-{SECRET}", seq=2, created_at=1.0, state={"token": f"t {SECRET}"}))
    writer.set_meta(note=f"seen {SECRET}")
    writer.close()
    assert SECRET.encode() in _files(path)  # as stored while nobody knew

    redactor.learn([SECRET])
    assert rescrub(path, redactor) >= 4

    assert SECRET.encode() not in _files(path)
    with Reader(path) as reader:
        first, second = reader.events(with_body=True)
        assert first.body == f"data: tok {MASK}\n\ndata: end\n\n".encode()
        assert sum(size for size, _ in first.chunks) == len(first.body)
        assert [offset for _, offset in first.chunks] == [100, 2_000]
        assert reader.request(first)["json"]["messages"][0]["content"] == f"my key is {MASK}"
        assert reader.request(second)["json"]["messages"][0]["content"].endswith(MASK)
        assert reader.checkpoints()[0]["name"] == f"after-{MASK}"
        assert reader.meta()["note"] == f"seen {MASK}"


def test_nothing_learned_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}))
    writer.put(_event(1, [{"role": "user", "content": "hello"}]))
    writer.close()
    before = path.read_bytes()
    assert rescrub(path, Redactor(environ={})) == 0
    assert path.read_bytes() == before
