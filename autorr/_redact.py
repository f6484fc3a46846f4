"""Keep secrets off the disk.

Always (whatever the level): credential headers are replaced, credential query
parameters and a URL's ``user:password@`` are masked, and the exact values of the
process's API keys (``*_API_KEY``, ``*_TOKEN``, ... environment variables, also those
handed to a subprocess), of every credential header and credential query parameter
seen are scrubbed from every stored byte. ``moderate`` adds well-known key formats
(detect-secrets style patterns, providers' in `_redact_formats`), passwords in URLs and
values under credential names
(``"api_key": ...``, ``password=...``, ``{'api_key': ...}``, ``--token ...`` on a command
line, ``curl -u user:...``), and learns those values too, so an echo of
them elsewhere is masked; ``strict`` adds e-mail addresses and card-like numbers. Matching is unaffected: fingerprints are taken before redaction and never
include headers or credential query parameters.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from typing import Any, Iterable, Mapping

from ._config import RedactionLevel
from ._redact_formats import FORM_PATTERNS, PROVIDER_PATTERNS

__all__ = ["MASK", "Redactor", "is_secret_header"]

MASK = "[REDACTED]"
_MASK_B = MASK.encode()

# Whole words, not substrings: "anthropic-ratelimit-tokens-reset" is no secret, "x-custom-token" is.
_SECRET_HEADER = re.compile(
    r"authorization|cookie|api[-_]?key|secret|password|passwd|credential|signature"
    r"|(?:^|[-_])(?:token|key)$",
    re.I,
)
_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.I)
_MIN_SECRET_LEN = 8

# (pattern, literals one of which every match contains, in lower case, group to mask:
# 0 the whole match; another group is masked alone and its value learned). A body is
# searched with a pattern only when one of its literals is in it. The literals are all
# looked for in one pass (Aho-Corasick, see `_Anchors`): one `find` per literal cost
# ~15 ns a byte for these thirty, a regex alternation as much (it tries every branch
# at every byte).
_PATTERNS = (
    (rb"sk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_\-]{16,}", (b"sk-",), 0),  # OpenAI / Anthropic
    (rb"(?:AKIA|ASIA)[0-9A-Z]{16}", (b"akia", b"asia"), 0),  # AWS access key id
    (rb"gh[pousr]_[A-Za-z0-9]{30,}", (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"), 0),  # GitHub
    (rb"github_pat_[A-Za-z0-9_]{30,}", (b"github_pat_",), 0),
    (rb"xox[abposr]-[A-Za-z0-9-]{10,}", (b"xox",), 0),  # Slack
    (rb"AIza[0-9A-Za-z_\-]{35}", (b"aiza",), 0),  # Google
    (rb"hf_[A-Za-z0-9]{30,}", (b"hf_",), 0),  # Hugging Face
    (rb"(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{16,}", (b"bearer",), 0),
    # JWT; its signature (or more) may be cut off by a truncated text (a repr kept to 500
    # characters): what is left of it goes too.
    (rb"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]*)?", (b"eyj",), 0),
    # A private key (PEM, OpenSSH, PGP's "KEY BLOCK"); one cut before its END (a file
    # read in part, a truncated text) goes to the end of the text.
    (rb"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
     (b"-----begin",), 0),
    # scheme://user:password@host (a database URL in a config, a proxy URL): the password
    # alone, also with no user ("redis://:password@host"). Anchored on its "@": every
    # stored request holds a "://" (its URL), few an "@".
    (rb"://[^\s/?#@:\"'<>\\]{0,256}:([^\s/?#@\"'<>\\]{1,256})@", (b"@",), 1),
    # A command line's credential flag and its value: "--token VALUE", "--api-key=VALUE",
    # "--aws-secret-access-key VALUE" in a shell string, '"--token","VALUE"' in a stored
    # argv (a JSON list, maybe inside a JSON string: a child echoing its argv). The flag
    # names its value's kind ("--max-tokens 4096": no "token" right before the value, and a
    # bare number is no secret). After a space the value needs a digit: prose that explains
    # a flag ("pass --token with the request") is no command line.
    (rb"--(?:[a-z0-9]+-)*(?:token|api-?key|apikey|access-key|secret-key|private-key|secret|password|passwd)"
     rb"(?:\\?\"\s*,\s*\\?\"|\s*=\s*['\"]?|\s+['\"]?(?=[^\s\"'\\]*[0-9]))(?![0-9]+\b)([^\s\"'\\]{4,})",
     (b"-token", b"-key", b"-apikey", b"-secret", b"-password", b"-passwd"), 1),
    # curl's "-u user:password" / "--user user:password": the password alone.
    (rb"(?<![\w-])(?:-u|--user)(?:\s*=\s*|\s+|\\?\"\s*,\s*\\?\")['\"]?[^\s:\"'\\]+:([^\s\"'\\]{4,})",
     (b"-u ", b'-u"', b"-u\\", b"--user"), 1),
    # Values under credential names in a Python repr ({'api_key': '...'}: a dict in an
    # exception's message, a tool result kept as its repr); JSON's form is `_NAMED`'s.
    (rb"'[A-Za-z0-9_-]*(?i:api[_-]?key|password|passwd|secret|private[_-]?key|credential"
     rb"|(?:access|refresh|auth|id|session|bearer)[_-]?token)'\s*:\s*'([^'\\]{4,})'",
     (b"key'", b"password'", b"passwd'", b"secret'", b"credential'", b"token'"), 1),
)
# Values under credential-like names, in JSON ("api_key": "...") and in KEY=value text.
# Narrow on purpose: response bodies are scrubbed too, and a logprobs "token" or a
# "MAX_TOKENS=4096" in generated code must replay unchanged.
# ... and in JSON inside a JSON string (a tool call's "arguments": "{\"api_key\": ...}").
_NAMED_JSON = tuple(name + quote for quote in (b'"', b'\\"')
                    for name in (b"key", b"password", b"passwd", b"secret", b"credential", b"token"))
_NAMED_TEXT = (b"_key", b"_token", b"secret", b"password", b"passwd")  # and an "="
# What the KEY=value form needs before `_NAMED` is worth running over a text: such a
# name right before an "=". "input_tokens" (every usage record) and a "charset=" (every
# SSE content type) in one row would otherwise cost a full `_NAMED` pass (~100 µs a KB).


def _assigned(lowered: bytes) -> bool:
    """Whether one of the `_NAMED_TEXT` names stands right before an "=" in ``lowered``.

    Finds over the lowered text: a case-insensitive regex alternation with no common
    prefix tries every branch at every byte (~100 instructions a byte, the writer's
    largest single cost on a plain chat once "secret" and "password" joined the names).
    """
    for name in _NAMED_TEXT:
        at = lowered.find(name)
        while at != -1:
            after = at + len(name)
            if lowered[after:after + 64].lstrip()[:1] == b"=":
                return True
            at = lowered.find(name, after)
    return False


# The KEY=value form starts a line, a word, a query parameter, a JSON string (an argv
# item) or follows a JSON-escaped line break (a file or a command's output stored as a
# JSON string: "[db]\npassword = ..."); its value ends at a space, a quote, an "&" or a
# backslash (the next escape).
_NAMED = re.compile(
    rb'(?i)(\\?"[a-z0-9_-]*(?:api[_-]?key|password|passwd|secret|private[_-]?key|credential'
    rb'|(?:access|refresh|auth|id|session|bearer)[_-]?token)\\?"\s*:\s*\\?")([^"\\]{4,})(\\?")'
    rb"|(^|[\s;?&\"]|\\[nrt])((?:[A-Z0-9_]*(?:_KEY|_TOKEN|_SECRET|_PASSWORD|_PASSWD)|PASSWORD|PASSWD|SECRET)\s*=\s*)"
    rb"(?![0-9]+\b)([^\s\"'&\\]{4,})",
    re.M,
)
# Query parameter names whose values are credentials, beyond the fingerprint's list
# (those are also left out of fingerprints): "?secret=", "?client_secret=", "?id_token=".
_SECRET_PARAM = re.compile(
    r"secret|passw(?:or)?d|api[-_]?key|credential|signature|(?:access|refresh|auth|id|session|bearer)[-_]?token",
    re.I,
)
_USERINFO = re.compile(r"(?<=://)([^\s/?#@:]*):([^\s/?#@]+)@")
# A value found under a credential name is learned (masked wherever it shows up later)
# only when it looks like a secret: a name assigned code ("API_KEY = os.getenv(") or a
# placeholder ("YOUR_API_KEY") would otherwise be masked in every later body.
_NOT_SECRET_CHARS = re.compile(rb"[()\[\]{}<>$%]")
_DIGIT, _LETTER = re.compile(rb"[0-9]"), re.compile(rb"[A-Za-z]")


def _learnable(value: bytes) -> bool:
    return (len(value) >= _MIN_SECRET_LEN and _MASK_B not in value and not _NOT_SECRET_CHARS.search(value)
            and bool(_DIGIT.search(value)) and bool(_LETTER.search(value)))


def _mask_named(match: re.Match[bytes], caught: list[bytes] | None = None) -> bytes:
    if match.group(1) is not None:
        if match.group(2).startswith(_MASK_B):
            return match.group(0)
        if caught is not None:
            caught.append(match.group(2))
        return match.group(1) + _MASK_B + match.group(3)
    if match.group(6).startswith(_MASK_B):
        # Masked already ("KEY=[REDACTED]" and what follows it with no space: a pickle's next
        # opcode). Scrubbing stays idempotent: a pickle checked again keeps its lengths.
        return match.group(0)
    if caught is not None:
        caught.append(match.group(6))
    return match.group(4) + match.group(5) + _MASK_B


def _mask_group(group: int, caught: list[bytes] | None = None) -> Any:
    """The replacement for a pattern: a mask for the whole match, or for ``group`` alone
    (its value then goes to ``caught``, to be learned)."""
    if not group:
        return _MASK_B

    def mask(match: re.Match[bytes]) -> bytes:
        if match.group(group).startswith(_MASK_B):  # masked already (see `_mask_named`)
            return match.group(0)
        if caught is not None:
            caught.append(match.group(group))
        whole, start = match.group(0), match.start()
        return whole[:match.start(group) - start] + _MASK_B + whole[match.end(group) - start:]

    return mask


_STRICT_PATTERNS = (
    (rb"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", (b"@",), 0),  # e-mail
    (rb"\b(?:\d[ -]?){13,19}\b", (b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9"), 0),  # card-like
)


class _Anchors:
    """Which groups of literals occur in a (lower-cased) text, in one pass over it.

    Built once per set of secrets: ``groups[i]`` holds the literals of group ``i``.
    Overlapping matches are all reported, so ``api_key"`` shows both ``_key`` and
    ``key"``.
    """

    __slots__ = ("_search", "_owner")

    def __init__(self, groups: list[tuple[bytes, ...]]) -> None:
        import ahocorasick_rs

        literals = [literal for group in groups for literal in group]
        self._owner = [i for i, group in enumerate(groups) for _ in group]
        self._search = ahocorasick_rs.BytesAhoCorasick(literals).find_matches_as_indexes if literals else None

    def found(self, lowered: bytes) -> set[int]:
        if self._search is None:
            return set()
        owner = self._owner
        return {owner[i] for i, _, _ in self._search(lowered, overlapping=True)}


def _has_any(data: bytes, literals: tuple[bytes, ...]) -> bool:
    # find, not `in`: on bytes, `in` first tries its argument as an int and formats a
    # TypeError for every bytes needle (CPython 3.11), which cost more than the search.
    find = data.find
    for literal in literals:
        if find(literal) != -1:
            return True
    return False


@functools.lru_cache(maxsize=1024)  # a client sends the same few header names every call
def is_secret_header(name: str) -> bool:
    return bool(_SECRET_HEADER.search(name))


# Cookies keep their names and attributes, their values masked: a client's cookie jar
# then takes a replayed Set-Cookie as it took the live one (a bare mask is no cookie).
_COOKIE_HEADERS = ("set-cookie", "cookie")
_COOKIE_ATTRIBUTES = frozenset({"path", "expires", "max-age", "domain", "samesite", "priority", "version", "comment"})
# Between cookies: ";", or the ", " requests joins Set-Cookie headers with (not the one
# inside an Expires date: a name and "=" must follow).
_COOKIE_SPLIT = re.compile(r"(;|,(?=\s*[^;,=\s]+=))")


def _mask_cookies(value: str, learned: list[str]) -> str:
    """``a=1; b=2`` (Cookie), ``sid=abc; Path=/; HttpOnly`` (Set-Cookie), several Set-Cookie
    joined by ", " (requests): each cookie's value masked, attributes kept. A value with
    no ``name=`` in it is masked whole."""
    pieces = _COOKIE_SPLIT.split(value)
    masked = False
    for i in range(0, len(pieces), 2):  # the separators sit at the odd places
        name, eq, secret = pieces[i].partition("=")
        if eq and secret.strip() and name.strip().lower() not in _COOKIE_ATTRIBUTES:
            learned.append(secret.strip())
            pieces[i] = f"{name}={MASK}"
            masked = True
    if not masked:
        learned.append(value)
        return MASK if value.strip() else value
    return "".join(pieces)


def _header_secret(value: str) -> str:
    # "Bearer sk-..." -> "sk-..."; a bare key stays as it is.
    parts = value.split(None, 1)
    return parts[1] if len(parts) == 2 and parts[0].lower() in ("bearer", "basic", "token") else value


class _Kept:
    """Which parts of a text one scrub left as they were, for `Redactor.scrub_chunked`:
    ``(original offset, offset now, length)`` of each, in order. A pass's matches are cut
    out of them; what lies between two kept parts was replaced."""

    __slots__ = ("parts",)

    def __init__(self, size: int) -> None:
        self.parts = [(0, 0, size)] if size else []

    def sub(self, regex: re.Pattern[bytes], repl: Any, data: bytes) -> bytes:
        hits: list[tuple[int, int, int]] = []

        def record(match: re.Match[bytes]) -> bytes:
            out = repl if isinstance(repl, bytes) else repl(match)
            if out != match.group(0):
                hits.append((match.start(), match.end(), len(out)))
            return out

        data = regex.sub(record, data)
        if hits:
            self.cut(hits)
        return data

    def cut(self, hits: list[tuple[int, int, int]]) -> None:
        """Take ``hits`` out of the kept parts: (start, end, new length) each, in order,
        in the text as it is now."""
        parts, growth, h = [], 0, 0  # growth: how much the hits before a point lengthened the text
        for orig, now, size in self.parts:
            a, b = now, now + size
            while a < b:
                while h < len(hits) and hits[h][1] <= a:
                    start, end, length = hits[h]
                    growth += length - (end - start)
                    h += 1
                if h < len(hits) and hits[h][0] < b:  # a hit begins in what is left of this part
                    if hits[h][0] > a:
                        parts.append((orig + a - now, a + growth, hits[h][0] - a))
                    a = hits[h][1]
                else:
                    parts.append((orig + a - now, a + growth, b - a))
                    a = b
        self.parts = parts

    def positions(self, offsets: Iterable[int]) -> Iterable[int]:
        """Where increasing original ``offsets`` are now. One inside a replaced stretch
        moves to its start: the replacement goes with what follows, never earlier than
        the secret's end arrived."""
        parts, i, before = self.parts, 0, 0  # before: the end (now) of the kept part before
        for x in offsets:
            while i < len(parts) and x > parts[i][0] + parts[i][2]:
                before = parts[i][1] + parts[i][2]
                i += 1
            if i < len(parts) and x >= parts[i][0]:
                yield parts[i][1] + x - parts[i][0]
            else:
                yield before


class Redactor:
    """Scrubs bytes and text; learns credential values as it sees them (thread-safe)."""

    def __init__(self, level: RedactionLevel = RedactionLevel.MODERATE, *, patterns: bool = True,
                 environ: Mapping[str, str] | None = None) -> None:
        self.level = RedactionLevel(level)
        self._lock = threading.Lock()
        self._known: set[bytes] = set()
        sources = [*_PATTERNS, *PROVIDER_PATTERNS, *FORM_PATTERNS] \
            if patterns and self.level != RedactionLevel.MINIMAL else []
        if patterns and self.level == RedactionLevel.STRICT:
            sources += _STRICT_PATTERNS
        # Patterns whose literals are single characters (digits) would match nearly
        # every text: they are checked on their own, not through the anchors.
        # A pattern may come compiled, or as an object with re's `sub` (`_redact_formats._OnLines`).
        self._patterns = [(p if hasattr(p, "sub") else re.compile(p), literals, group)
                          for p, literals, group in sources]
        self._anchored = [i for i, (_, literals, _) in enumerate(self._patterns) if min(map(len, literals)) > 1]
        self._loose = [i for i in range(len(self._patterns)) if i not in self._anchored]
        self._known_re: re.Pattern[bytes] | None = None
        self._known_list: tuple[bytes, ...] = ()
        self._anchors = self._build_anchors()
        self._environ = os.environ if environ is None else environ
        self._env_size = -1
        self.refresh()

    def refresh(self) -> None:
        """Learn secrets the process put in its environment since (e.g. from a .env file)."""
        env = self._environ
        if len(env) != self._env_size:
            self._env_size = len(env)
            self.learn_environ(env)

    @property
    def learned(self) -> int:
        """How many values it has learned: a text scrubbed since the count last moved is
        still clean (the writer keeps the scrubbed summaries of an agent's few endpoints)."""
        return len(self._known_list)

    def known(self) -> re.Pattern[bytes] | None:
        """The values learned so far as one pattern (longest first); None before the first."""
        return self._known_re

    def learn_environ(self, env: Mapping[str, str]) -> None:
        """Learn the values of an environment's credential variables (one handed to a subprocess)."""
        self.learn(v for k, v in list(env.items()) if _SECRET_ENV.search(k))

    def learn(self, values: Iterable[str | bytes]) -> bool:
        """Scrub these values wherever they appear from now on; True when one is new."""
        added = False
        with self._lock:
            for value in values:
                raw = (value or "").strip()
                raw = raw.encode() if isinstance(raw, str) else raw
                if len(raw) >= _MIN_SECRET_LEN and raw not in self._known:
                    self._known.add(raw)
                    added = True
            if added:
                # Longest first, so a key that contains another is masked whole.
                alternatives = sorted(self._known, key=len, reverse=True)
                self._known_list = tuple(alternatives)
                self._known_re = re.compile(b"|".join(re.escape(v) for v in alternatives))
                self._anchors = self._build_anchors()  # read without the lock by `scrub`
        return added

    # Anchor groups: the known secrets (lower-cased: the search is on lowered text, a
    # superset of exact matches), each anchored pattern, then the named-value forms.
    _KNOWN, _JSON, _TEXT = -1, -2, -3

    def _build_anchors(self) -> tuple[_Anchors, list[int]]:
        ids = [self._KNOWN] + self._anchored + [self._JSON, self._TEXT]
        groups = [tuple(v.lower() for v in self._known_list)]
        groups += [self._patterns[i][1] for i in self._anchored] if self._patterns else []
        groups += [_NAMED_JSON, _NAMED_TEXT] if self._patterns else []
        return _Anchors(groups), ids

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Mask credential headers (and remember their values for `scrub`)."""
        out, learned = [], []
        for name, value in headers:
            if name.lower() in _COOKIE_HEADERS:
                out.append((name, _mask_cookies(value, learned)))
            elif is_secret_header(name):
                learned.append(_header_secret(value))
                learned.append(value)
                out.append((name, MASK))
            else:
                out.append((name, value))
        if learned:
            self.learn(learned)
        return out

    def url(self, url: str, query: list[tuple[str, str]],
            secret_params: frozenset[str] = frozenset()) -> tuple[str, list[tuple[str, str]]]:
        """A request's URL and query as stored: credential parameters (those named in
        ``secret_params`` and any under a credential-like name) and a ``user:password@``
        masked, their values learned so that an echo of them (a server that returns its
        request, a redirect) is masked too."""
        learned, masked = [], []
        for k, v in query:
            if k.lower() in secret_params or _SECRET_PARAM.search(k):
                learned.append(v)
                v = MASK
            masked.append((k, v))
        if learned:
            query = masked
            url = url.split("?", 1)[0] + "?" + "&".join(f"{k}={v}" for k, v in query)
        if "@" in url:
            match = _USERINFO.search(url.split("?", 1)[0])
            if match:
                learned.append(match.group(2))
                url = url[:match.start(2)] + MASK + url[match.end(2):]
        if learned:
            self.learn(learned)
        return url, query

    def scrub(self, data: bytes) -> bytes:
        return self._scrub(data, None)

    def _scrub(self, data: bytes, kept: _Kept | None) -> bytes:
        # A mask ("[REDACTED]") holds no literal and cannot make one with its neighbours
        # (brackets are in none), so the literals found before any substitution are all
        # the patterns that can still match after it.
        known, (anchors, ids) = self._known_re, self._anchors
        lowered = data.lower()
        found = {ids[i] for i in anchors.found(lowered)}
        if self._loose:
            found.update(i for i in self._loose if _has_any(lowered, self._patterns[i][1]))
        if not found:
            return data
        sub = _sub if kept is None else kept.sub
        if known is not None and self._KNOWN in found:
            data = sub(known, _MASK_B, data)
        caught: list[bytes] = []  # values under credential names: learned once scrubbed
        for i in sorted(found):  # the patterns found, in their order (groups are negative)
            if i >= 0:
                pattern, _, group = self._patterns[i]
                data = sub(pattern, _mask_group(group, caught), data)
        if self._JSON in found or (self._TEXT in found and _assigned(lowered)):
            data = sub(_NAMED, functools.partial(_mask_named, caught=caught), data)
        if caught and self.learn(v for v in caught if _learnable(v)):
            # Learned just now: its occurrences earlier in this same text go too.
            data = sub(self._known_re, _MASK_B, data)
        return data

    def scrub_chunked(self, body: bytes, chunks: list[tuple[int, int]] | None) -> tuple[bytes, Any]:
        """``body`` scrubbed, and its (size, offset) chunk list still true to it.

        The whole body is scrubbed, so a secret split across two chunks (a stream cut
        by the network in mid-token) is found; each chunk boundary then moves with the
        text around it, and one that fell inside a replaced secret moves to its start
        (the mask goes out with the chunk that completed the secret). A chunk left
        empty is dropped: an empty read means end of stream to most readers.
        """
        kept = _Kept(len(body)) if chunks else None
        scrubbed = self._scrub(body, kept)
        if scrubbed == body or not chunks:
            return scrubbed, chunks
        return scrubbed, rechunk(kept, chunks, len(body), len(scrubbed))

    def scrub_text(self, text: str) -> str:
        return self.scrub(text.encode()).decode("utf-8", "replace")


def rechunk(kept: _Kept, chunks: list[tuple[int, int]], before: int, after: int) -> list[tuple[int, int]]:
    """A body's (size, offset) chunk list after the edits ``kept`` tracked took it from
    ``before`` bytes to ``after``: each boundary moves with the text around it."""
    ends, end = [], 0
    for size, _ in chunks:
        end += size
        ends.append(end)
    if end != before:  # a chunk list not true to the body: keep its last time only
        return [(after, chunks[-1][1])]
    out, pos = [], 0
    cuts = [*kept.positions(ends[:-1]), after]  # the last chunk takes all that is left
    for (_, offset), cut in zip(chunks, cuts):
        if cut > pos:
            out.append((cut - pos, offset))
            pos = cut
    return out


def _sub(regex: re.Pattern[bytes], repl: Any, data: bytes) -> bytes:
    return regex.sub(repl, data)
