"""Header helpers shared by the integrations and the writer."""

from __future__ import annotations

import random

from autorr._events import find_header, text_headers

NAMES = [b"Content-Type", b"content-length", b"X-Request-ID", b"Set-Cookie", b"set-cookie", b"Caf\xe9", b"a\nb", b""]
VALUES = [b"application/json", b"12", b"", b" spaced ", b"caf\xe9", b"two\nlines", b"\xff\x00"]


def _random_headers(rng: random.Random) -> list[tuple[bytes, bytes]]:
    return [(rng.choice(NAMES), rng.choice(VALUES)) for _ in range(rng.randint(0, 8))]


def test_text_headers_decodes_every_pair_as_latin1():
    rng = random.Random(3)
    for _ in range(3000):
        raw = _random_headers(rng)
        assert text_headers(raw) == [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw], raw
    assert text_headers([("a", "b")]) == [("a", "b")] and text_headers(None) == []


def test_find_header_is_the_first_value_of_that_name_whatever_its_case():
    rng = random.Random(4)
    for _ in range(3000):
        raw = _random_headers(rng)
        text = text_headers(raw)
        for name in (b"content-type", b"set-cookie", b"caf\xe9", b"missing"):
            want = next((v for k, v in raw if k.lower() == name), None)
            assert find_header(raw, name) == want, (raw, name)
            expected = None if want is None else want.decode("latin-1")
            assert find_header(text, name.decode("latin-1")) == expected, (text, name)
