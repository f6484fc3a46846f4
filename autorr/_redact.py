"""Keep secrets off the disk.

Always (whatever the level): credential headers are replaced, credential query
parameters are masked, and the exact values of the process's API keys (``*_API_KEY``,
``*_TOKEN``, ... environment variables, and every credential header seen) are
scrubbed from every stored byte. ``moderate`` adds well-known key formats
(detect-secrets style patterns); ``strict`` adds e-mail addresses and card-like
numbers. Matching is unaffected: fingerprints are taken before redaction and never
include headers or credential query parameters.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from typing import Any, Iterable, Mapping

from ._config import RedactionLevel

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

# (pattern, literals one of which every match contains, in lower case). A body is
# searched with a pattern only when one of its literals is in it. The literals are all
# looked for in one pass (Aho-Corasick, see `_Anchors`): one `find` per literal cost
# ~15 ns a byte for these thirty, a regex alternation as much (it tries every branch
# at every byte).
_PATTERNS = (
    (rb"sk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_\-]{16,}", (b"sk-",)),  # OpenAI / Anthropic
    (rb"(?:AKIA|ASIA)[0-9A-Z]{16}", (b"akia", b"asia")),  # AWS access key id
    (rb"gh[pousr]_[A-Za-z0-9]{30,}", (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_")),  # GitHub
    (rb"github_pat_[A-Za-z0-9_]{30,}", (b"github_pat_",)),
    (rb"xox[abposr]-[A-Za-z0-9-]{10,}", (b"xox",)),  # Slack
    (rb"AIza[0-9A-Za-z_\-]{35}", (b"aiza",)),  # Google
    (rb"hf_[A-Za-z0-9]{30,}", (b"hf_",)),  # Hugging Face
    (rb"(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{16,}", (b"bearer",)),
    (rb"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", (b"eyj",)),  # JWT
    (rb"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----", (b"-----begin",)),
)
# Values under credential-like names, in JSON ("api_key": "...") and in KEY=value text.
# Narrow on purpose: response bodies are scrubbed too, and a logprobs "token" or a
# "MAX_TOKENS=4096" in generated code must replay unchanged.
_NAMED_JSON = (b'key"', b'password"', b'passwd"', b'secret"', b'credential"', b'token"')
_NAMED_TEXT = (b"_key", b"_token", b"_secret", b"_password", b"_passwd")  # and an "="
# What the KEY=value form needs before `_NAMED` is worth running over a text: such a
# name right before an "=". "input_tokens" (every usage record) and a "charset=" (every
# SSE content type) in one row would otherwise cost a full `_NAMED` pass (~100 µs a KB).
_ASSIGNED = re.compile(rb"(?i)_(?:key|token|secret|password|passwd)\s*=")
_NAMED = re.compile(
    rb'(?i)("[a-z0-9_-]*(?:api[_-]?key|password|passwd|secret|private[_-]?key|credential'
    rb'|(?:access|refresh|auth|id|session|bearer)[_-]?token)"\s*:\s*")([^"\\]{4,})(")'
    rb"|(^|[\s;])([A-Z0-9_]*(?:_KEY|_TOKEN|_SECRET|_PASSWORD|_PASSWD)\s*=\s*)(?![0-9]+\b)([^\s\"']{4,})",
    re.M,
)


def _mask_named(match: re.Match[bytes]) -> bytes:
    if match.group(1) is not None:
        if match.group(2).startswith(MASK.encode()):
            return match.group(0)
        return match.group(1) + MASK.encode() + match.group(3)
    return match.group(4) + match.group(5) + MASK.encode()


_STRICT_PATTERNS = (
    (rb"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", (b"@",)),  # e-mail
    (rb"\b(?:\d[ -]?){13,19}\b", (b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9")),  # card-like
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


def _header_secret(value: str) -> str:
    # "Bearer sk-..." -> "sk-..."; a bare key stays as it is.
    parts = value.split(None, 1)
    return parts[1] if len(parts) == 2 and parts[0].lower() in ("bearer", "basic", "token") else value


class Redactor:
    """Scrubs bytes and text; learns credential values as it sees them (thread-safe)."""

    def __init__(self, level: RedactionLevel = RedactionLevel.MODERATE, *, patterns: bool = True,
                 environ: Mapping[str, str] | None = None) -> None:
        self.level = RedactionLevel(level)
        self._lock = threading.Lock()
        self._known: set[bytes] = set()
        sources = list(_PATTERNS) if patterns and self.level != RedactionLevel.MINIMAL else []
        if patterns and self.level == RedactionLevel.STRICT:
            sources += _STRICT_PATTERNS
        # Patterns whose literals are single characters (digits) would match nearly
        # every text: they are checked on their own, not through the anchors.
        self._patterns = [(re.compile(p), literals) for p, literals in sources]
        self._anchored = [i for i, (_, literals) in enumerate(self._patterns) if min(map(len, literals)) > 1]
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
            self.learn(v for k, v in list(env.items()) if _SECRET_ENV.search(k))

    def learn(self, values: Iterable[str]) -> None:
        added = False
        with self._lock:
            for value in values:
                value = (value or "").strip()
                if len(value) >= _MIN_SECRET_LEN:
                    raw = value.encode()
                    if raw not in self._known:
                        self._known.add(raw)
                        added = True
            if added:
                # Longest first, so a key that contains another is masked whole.
                alternatives = sorted(self._known, key=len, reverse=True)
                self._known_list = tuple(alternatives)
                self._known_re = re.compile(b"|".join(re.escape(v) for v in alternatives))
                self._anchors = self._build_anchors()  # read without the lock by `scrub`

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
            if is_secret_header(name):
                learned.append(_header_secret(value))
                learned.append(value)
                out.append((name, MASK))
            else:
                out.append((name, value))
        if learned:
            self.learn(learned)
        return out

    def scrub(self, data: bytes) -> bytes:
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
        if known is not None and self._KNOWN in found:
            data = known.sub(_MASK_B, data)
        for i in sorted(found):  # the patterns found, in their order (groups are negative)
            if i >= 0:
                data = self._patterns[i][0].sub(_MASK_B, data)
        if self._JSON in found or (self._TEXT in found and _ASSIGNED.search(data)):
            data = _NAMED.sub(_mask_named, data)
        return data

    def scrub_chunked(self, body: bytes, chunks: list[tuple[int, int]] | None) -> tuple[bytes, Any]:
        """``body`` scrubbed, and its (size, offset) chunk list still true to it."""
        scrubbed = self.scrub(body)
        if scrubbed == body or not chunks:
            return scrubbed, chunks
        # Lengths changed: scrub chunk by chunk so the boundaries stay right.
        parts, pos, out = [], 0, []
        for size, offset in chunks:
            part = self.scrub(body[pos:pos + size])
            pos += size
            parts.append(part)
            out.append((len(part), offset))
        joined = b"".join(parts)
        if self.leaks(joined):  # a secret split across chunks: give up the boundaries
            return scrubbed, [(len(scrubbed), chunks[-1][1])]
        return joined, out

    def scrub_text(self, text: str) -> str:
        return self.scrub(text.encode()).decode("utf-8", "replace")

    def leaks(self, data: bytes) -> bool:
        """True when a known credential is still in ``data`` (e.g. split across chunks)."""
        known = self._known_re
        return bool(known is not None and known.search(data))
