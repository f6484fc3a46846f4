"""More secret shapes for `_redact` (from ``moderate``): providers' key formats, and
credentials written the ways configuration files, connection strings and forms write them.

Each entry is ``(pattern, literals, group)`` as in `_redact._PATTERNS`: every match
contains one of the literals (lower case), and ``group`` is 0 to mask the whole match or
the group masked alone, whose value is then learned. A prefix is only listed when it is
distinctive enough that prose or code does not carry it followed by a long token: a
false positive masks part of an answer the replay then serves changed.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FORM_PATTERNS", "PROVIDER_PATTERNS"]


def _key(*prefixes: bytes) -> bytes:
    """One of ``prefixes`` where a key may begin: not inside a longer word, but right after
    a JSON escape, as in a stored text's "...\\nglpat-..." (where `\\b` sees no boundary
    between "n" and "g"). The prefix comes first and the boundary is checked behind it: a
    pattern that starts with a lookbehind is tried at every byte (~10 ms on a 200 KB
    history that merely holds "key-value"), one that starts with a literal is searched for."""
    return b"(?:" + b"|".join(re.escape(p) + rb"(?:(?<![A-Za-z0-9]" + re.escape(p) + rb")|(?<=\\[nrt]"
                               + re.escape(p) + b"))" for p in prefixes) + b")"


def _provider(prefixes: tuple[bytes, ...], rest: bytes) -> tuple[bytes, tuple[bytes, ...], int]:
    """A key that starts with one of ``prefixes`` (as `_key`), masked whole."""
    return _key(*prefixes) + rest, tuple(p.lower() for p in prefixes), 0


PROVIDER_PATTERNS = (
    # Stripe (and Clerk) secret keys
    _provider((b"sk_live_", b"sk_test_", b"rk_live_", b"rk_test_"), rb"[0-9A-Za-z]{16,}"),
    _provider((b"whsec_",), rb"[A-Za-z0-9+/=]{24,}"),  # Stripe webhook secret
    _provider((b"SG.",), rb"[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"),  # SendGrid
    _provider((b"glpat-", b"gldt-", b"glrt-", b"glptt-", b"glsoat-", b"glcbt-"), rb"[A-Za-z0-9_\-]{20,}"),  # GitLab
    _provider((b"glc_", b"glsa_"), rb"[A-Za-z0-9_=+/\-]{32,}"),  # Grafana
    _provider((b"npm_",), rb"[A-Za-z0-9]{36}"),
    _provider((b"pypi-AgE",), rb"[A-Za-z0-9_\-]{50,}"),
    _provider((b"dckr_pat_",), rb"[A-Za-z0-9_\-]{20,}"),  # Docker Hub
    # Webhook URLs whose path is the credential: the path goes, the host stays.
    (rb"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9/_\-]{20,})", (b"hooks.slack.com/",), 1),
    (rb"discord(?:app)?\.com/api/webhooks/([0-9]+/[A-Za-z0-9_\-]{30,})", (b"/api/webhooks/",), 1),
    _provider((b"ya29.",), rb"[0-9A-Za-z_\-]{20,}"),  # Google OAuth access token
    _provider((b"1//0",), rb"[0-9A-Za-z_\-]{30,}"),  # Google OAuth refresh token
    _provider((b"GOCSPX-",), rb"[A-Za-z0-9_\-]{20,}"),  # Google OAuth client secret
    _provider((b"gsk_",), rb"[A-Za-z0-9]{40,}"),  # Groq
    _provider((b"r8_",), rb"[A-Za-z0-9]{30,}"),  # Replicate
    _provider((b"pplx-",), rb"[A-Za-z0-9]{40,}"),  # Perplexity
    _provider((b"xai-",), rb"[A-Za-z0-9]{50,}"),  # xAI
    _provider((b"nvapi-",), rb"[A-Za-z0-9_\-]{40,}"),  # NVIDIA
    _provider((b"csk-",), rb"[A-Za-z0-9]{40,}"),  # Cerebras
    _provider((b"jina_",), rb"[A-Za-z0-9_\-]{40,}"),
    _provider((b"tgp_v1_",), rb"[A-Za-z0-9_\-]{30,}"),  # Together
    _provider((b"fw_",), rb"[A-Za-z0-9]{20,}"),  # Fireworks
    _provider((b"fc-",), rb"[0-9a-f]{32}\b"),  # Firecrawl
    _provider((b"tvly-",), rb"[A-Za-z0-9_\-]{20,}"),  # Tavily
    _provider((b"lsv2_pt_", b"lsv2_sk_"), rb"[A-Za-z0-9_]{30,}"),  # LangSmith
    _provider((b"pcsk_",), rb"[A-Za-z0-9_]{40,}"),  # Pinecone
    _provider((b"key-",), rb"[0-9a-f]{32}\b"),  # Mailgun
    _provider((b"shpat_", b"shpss_", b"shpca_", b"shppa_"), rb"[0-9a-fA-F]{32}"),  # Shopify
    _provider((b"doo_v1_", b"dop_v1_", b"dor_v1_"), rb"[0-9a-f]{64}"),  # DigitalOcean
    _provider((b"lin_api_",), rb"[A-Za-z0-9]{32,}"),  # Linear
    _provider((b"secret_", b"ntn_"), rb"[A-Za-z0-9]{40,}"),  # Notion
    _provider((b"sbp_",), rb"[0-9a-f]{40}"),  # Supabase
    _provider((b"sb_secret_",), rb"[A-Za-z0-9_\-]{20,}"),
    _provider((b"PMAK-",), rb"[0-9a-f]{24}-[0-9a-f]{34}"),  # Postman
    _provider((b"dp.pt.", b"dp.st.", b"dp.sa.", b"dp.ct.", b"dp.scim.", b"dp.audit."), rb"[A-Za-z0-9]{40,}"),  # Doppler
    _provider((b"sq0atp-", b"sq0csp-"), rb"[0-9A-Za-z_\-]{22,}"),  # Square
    _provider((b"sk.eyJ",), rb"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]{20,}"),  # Mapbox secret token
    _provider((b"dapi",), rb"[0-9a-f]{32}(?:-[0-9]+)?"),  # Databricks
    _provider((b"AGE-SECRET-KEY-1",), rb"[0-9A-Z]{58}"),
    _provider((b"hvs.", b"hvb."), rb"[A-Za-z0-9_\-]{24,}"),  # HashiCorp Vault
    _provider((b"ATATT3",), rb"[A-Za-z0-9_=\-]{40,}"),  # Atlassian
    _provider((b"NRAK-",), rb"[A-Z0-9]{27}"),  # New Relic
    _provider((b"sntrys_", b"sntryu_"), rb"[A-Za-z0-9_=+/\-]{40,}"),  # Sentry
    _provider((b"figd_",), rb"[A-Za-z0-9_\-]{30,}"),  # Figma
    _provider((b"ops_eyJ",), rb"[A-Za-z0-9+/=_\-]{40,}"),  # 1Password service account
    # Telegram bot token: the bot's id, a colon, 35 characters starting "AA" (also in a
    # URL path: api.telegram.org/bot<token>/sendMessage). A digit first, not the lookbehind
    # on it: see `_key`.
    (rb"[0-9](?<![0-9][0-9])[0-9]{7,9}:AA[A-Za-z0-9_\-]{33}(?![A-Za-z0-9_\-])", (b":aa",), 0),
)

# A name a credential goes under, in the `name: value` and form-field forms below. Whole
# names ("client_secret", "db_password", "aws_secret_access_key"), never a bare "key" or
# "token": "primary_key: id", "max_tokens: 4096" and a logprobs "token" are no secrets.
_NAME = (rb"(?:[a-z0-9_.\-]*(?:api[_\-]?key|apikey|access[_\-]?key|secret[_\-]?key|private[_\-]?key|signing[_\-]?key"
         rb"|encryption[_\-]?key|master[_\-]?key|account[_\-]?key|password|passwd|secret|credentials?"
         rb"|(?:access|refresh|auth|id|session|bearer|api|bot|github|gitlab|slack|client|personal[_\-]?access)"
         rb"[_\-]?token))")

class _OnLines:
    """A pattern searched only on the lines that hold one of its literals.

    `re` tries a pattern at every position of the text, and these two may start at any
    line start, comma, brace or blank: one "key:" in a 230 KB history made the scrub of
    every later turn take 39 ms instead of 1.3. Their matches hold no newline and no
    backslash but the first character (a JSON escape such as ``\\n``), so a match that
    contains a literal lies between the newline or backslash before it and the one after
    it. Searched with ``pos``/``endpos`` on the whole text, ``^`` and lookarounds see what
    they would see in a full scan, and match offsets stay the text's own (`_redact._Kept`).
    """

    __slots__ = ("regex", "literals")

    def __init__(self, pattern: bytes, literals: tuple[bytes, ...]) -> None:
        self.regex = re.compile(pattern)
        self.literals = literals

    def _lines(self, data: bytes) -> list[tuple[int, int]]:
        lowered, size, spans = data.lower(), len(data), set()
        for literal in self.literals:
            at, low, newline, backslash = lowered.find(literal), 0, -1, -1
            while at != -1:
                # Each search bounded by the last line's end, and the next newline / backslash
                # kept until passed: a JSON body holds no newline, and searching the whole
                # text around each of 10,000 "key:" took 45 ms in 300 KB (linear now).
                start = max(data.rfind(b"\n", low, at), data.rfind(b"\\", low, at), low)
                if newline < at:
                    newline = data.find(b"\n", at) % (size + 1)  # -1 (none): the end
                if backslash < at:
                    backslash = data.find(b"\\", at) % (size + 1)
                low = min(newline, backslash)
                spans.add((start, low))
                at = lowered.find(literal, low)
        return sorted(spans)

    def sub(self, repl: Any, data: bytes) -> bytes:
        out, last = [], 0
        for start, end in self._lines(data):
            for match in self.regex.finditer(data, start, end):
                out += (data[last:match.start()], repl if isinstance(repl, bytes) else repl(match))
                last = match.end()
        return b"".join(out) + data[last:] if out else data


# Every "name[ \t]*:" holds one of these: no blank ("name:"), or a tab, or a blank and
# then ":", a blank or a tab (aligned keys: "password   : s3cret99").
_YAML_NAMES = tuple(name + gap for name in (b"key", b"token", b"secret", b"password", b"passwd", b"credential",
                                             b"credentials") for gap in (b":", b" :", b"\t", b"  ", b" \t"))
_CONNECTION_NAMES = (b"pwd", b"accountkey", b"account_key", b"account-key", b"sharedaccess", b"shared_access",
                     b"shared-access")

FORM_PATTERNS = (
    # YAML, .properties with ":", HTTP-like text: "password: value", "- client_secret:
    # value", "{api_key: value}", at the start of a line, also inside a JSON string (a
    # file's content as stored: "...\n  password: ..."). Not after a quote: JSON
    # ("password":) and Python reprs ('password':) have their own forms. Left alone: a
    # placeholder ("${DB_PASSWORD}", "<your key>"), a flag (true/false/null), a bare
    # number, a lower-case word (prose: "Secret: keep it between us"), and a value with no
    # digit: a type ("api_key: Optional[str]", "password: string;"), a name in code
    # ("secret: JWT_SECRET,"), a placeholder ("YOUR_API_KEY", "****"), prose ("Password:
    # Required."), a YAML tag ("!vault"): the shapes of a model's answer about configs.
    (_OnLines(rb"(?im)(?:^|\\[nrt]|[{,])[ \t]*(?:-[ \t]+)?" + _NAME + rb"[ \t]*:[ \t]*['\"]?"
     rb"(?![0-9]+\b|(?-i:[a-z]+)\b|(?:true|false|null|none|yes|no)\b)(?=[^\s\"'\\,}{<>$\[\]]*[0-9])"
     rb"([^\s\"'\\,}{<>$\[\]]{4,})", _YAML_NAMES), _YAML_NAMES, 1),
    # An "Authorization: Basic ..." (or Bearer, Token, Digest) header written as text:
    # a curl -H argument, a logged request. Not a placeholder of the docs a model quotes:
    # "Bearer YOUR_TOKEN", "Token abcdef", "Basic base64(user:pass)".
    (rb"(?i)authorization\\?\"?[ \t]*[:=][ \t]*\\?\"?(?:basic|bearer|token|digest|apikey)[ \t]+"
     rb"(?!(?-i:[A-Z_]+|[a-z]+)(?![A-Za-z0-9._~+/=\-]))(?![A-Za-z0-9._~+/=\-]*\()([A-Za-z0-9._~+/=\-]{6,})",
     (b"authorization",), 1),
    # Connection strings (ADO.NET, ODBC, Azure): "Pwd=...;", "AccountKey=...;",
    # "SharedAccessKey=...". ("Password=" is `_redact._NAMED`'s.) Not a path or a variable:
    # "PWD=/home/me/project" is in every `env` a tool prints.
    (_OnLines(rb"(?i)(?:^|[;\s\"'?&]|\\[nrt])(?:pwd|account[_\-]?key|shared[_\-]?access[_\-]?(?:key|signature))"
              rb"[ \t]*=[ \t]*(?![/~$])([^;\s\"'&\\]{4,})", _CONNECTION_NAMES), _CONNECTION_NAMES, 1),
    # A multipart form field under a credential name: its value, after the blank line
    # that ends the part's headers (CRLFs, or their JSON escapes in a stored body).
    (rb"(?i)form-data;[ \t]*name=\\?\"" + _NAME + rb"\\?\"(?:\r\n|\\r\\n){2}([^\r\n\\]{1,})", (b"form-data",), 1),
)
