"""JSON columns as stored: serialised, then scrubbed of secrets (see `_redact`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import orjson

from .._redact import MASK

__all__ = ["masked_response", "scrubbed_json", "scrubbed_jsons", "scrubbed_labels"]

# Response headers whose value is a URL, whose query may carry a credential.
_URL_HEADERS = frozenset({"location", "content-location"})


def scrubbed_json(redactor: Any, value: Any) -> str:
    return redactor.scrub_text(orjson.dumps(value, default=str).decode())


def scrubbed_jsons(redactor: Any, *values: Any) -> list[str | None]:
    """Several JSON columns of a row (None stays None), scrubbed in one pass: each pass
    costs a dozen substring searches whatever the length. orjson never writes a raw
    newline, so one joins them; a redaction spanning two would change their count."""
    parts = [None if value is None else orjson.dumps(value, default=str) for value in values]
    present = [part for part in parts if part is not None]
    pieces = redactor.scrub(b"\n".join(present)).split(b"\n")
    if len(pieces) != len(present):
        pieces = [redactor.scrub(part) for part in present]
    texts = iter(pieces)
    return [None if part is None else next(texts).decode("utf-8", "replace") for part in parts]


def scrubbed_labels(redactor: Any, labels: dict[str, Any], cache: dict) -> str:
    """``labels`` as stored; the same few labels are on every event of a recording, so
    their text is kept in ``cache`` (the writer's per-segment cache)."""
    try:
        key = ("labels", tuple(labels.items()))
        text = cache.get(key)
    except TypeError:  # an unhashable label value
        return scrubbed_json(redactor, labels)
    if text is None:
        text = cache[key] = scrubbed_json(redactor, labels)
    return text


def masked_url(redactor: Any, url: str, secret_params: frozenset[str]) -> str:
    """``url`` with its credential query parameters and ``user:password@`` masked (and
    learned), as a request's own URL is (see `Redactor.url`), but otherwise as it was:
    replay serves a ``Location`` an agent may follow itself, so its other parameters keep
    their percent-encoding and order, and the URL its ``#fragment``."""
    try:
        query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:  # not a URL after all: the scrub of the whole row still runs
        return url
    masked, masked_query = redactor.url(url, query, secret_params)
    if masked == url:
        return url
    secret = {name for (name, before), (_, after) in zip(query, masked_query) if after != before}
    base, _, rest = url.partition("?")
    if not secret:  # only the user:password@ of the part before the query
        return masked.partition("?")[0] + url[len(base):]
    raw, hash_, fragment = rest.partition("#")
    fields = [f"{name}={MASK}" if unquote_plus(name) in secret else field
              for field in raw.split("&") for name, _, _ in (field.partition("="),)]
    return masked.partition("?")[0] + "?" + "&".join(fields) + hash_ + fragment


def _headers(redactor: Any, headers: Any, secret_params: frozenset[str]) -> list:
    out = redactor.headers(headers)
    if any(name.lower() in _URL_HEADERS for name, _ in out):
        out = [(name, masked_url(redactor, value, secret_params) if name.lower() in _URL_HEADERS else value)
               for name, value in out]
    return out


def masked_response(redactor: Any, response: dict[str, Any], secret_params: frozenset[str]) -> dict[str, Any]:
    """A response record with its credentials masked (and learned): its headers (cookies
    keep their names), a redirect's ``Location``, and the redirects a client followed,
    each hop's headers and URL and the URL it ended at: a login's 302 sets the session
    cookie, an OAuth callback's Location carries ``?code=``."""
    response["headers"] = _headers(redactor, response["headers"], secret_params)
    hops = response.get("redirects")
    if hops:
        response["redirects"] = [dict(hop, url=masked_url(redactor, hop.get("url") or "", secret_params),
                                      headers=_headers(redactor, hop.get("headers") or (), secret_params))
                                 for hop in hops]
    final = response.get("final")
    if final and len(final) == 2:
        response["final"] = [final[0], masked_url(redactor, final[1], secret_params)]
    return response
