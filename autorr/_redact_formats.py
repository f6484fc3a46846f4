"""More secret shapes for `_redact` (from ``moderate``): providers' key formats, and
credentials written the ways configuration files, connection strings and forms write them.

Each entry is ``(pattern, literals, group)`` as in `_redact._PATTERNS`: every match
contains one of the literals (lower case), and ``group`` is 0 to mask the whole match or
the group masked alone, whose value is then learned. A prefix is only listed when it is
distinctive enough that prose or code does not carry it followed by a long token: a
false positive masks part of an answer the replay then serves changed.
"""

from __future__ import annotations

__all__ = ["FORM_PATTERNS", "PROVIDER_PATTERNS"]

# Where a key may begin: not inside a longer word, but right after a JSON escape, as
# in a stored text's "...\\nglpat-..." (where `\\b` sees no boundary between "n" and "g").
_B = rb"(?:(?<![A-Za-z0-9])|(?<=\\[nrt]))"

PROVIDER_PATTERNS = (
    (_B + rb"[rs]k_(?:live|test)_[0-9A-Za-z]{16,}", (b"k_live_", b"k_test_"), 0),  # Stripe (and Clerk) secret keys
    (_B + rb"whsec_[A-Za-z0-9+/=]{24,}", (b"whsec_",), 0),  # Stripe webhook secret
    (_B + rb"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}", (b"sg.",), 0),  # SendGrid
    (_B + rb"gl(?:pat|dt|rt|ptt|soat|cbt)-[A-Za-z0-9_\-]{20,}", (b"glpat-", b"gldt-", b"glrt-", b"glptt-", b"glsoat-",
                                                             b"glcbt-"), 0),  # GitLab
    (_B + rb"gl(?:c|sa)_[A-Za-z0-9_=+/\-]{32,}", (b"glc_", b"glsa_"), 0),  # Grafana
    (_B + rb"npm_[A-Za-z0-9]{36}", (b"npm_",), 0),
    (_B + rb"pypi-AgE[A-Za-z0-9_\-]{50,}", (b"pypi-age",), 0),
    (_B + rb"dckr_pat_[A-Za-z0-9_\-]{20,}", (b"dckr_pat_",), 0),  # Docker Hub
    # Webhook URLs whose path is the credential: the path goes, the host stays.
    (rb"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9/_\-]{20,})", (b"hooks.slack.com/",), 1),
    (rb"discord(?:app)?\.com/api/webhooks/([0-9]+/[A-Za-z0-9_\-]{30,})", (b"/api/webhooks/",), 1),
    (_B + rb"ya29\.[0-9A-Za-z_\-]{20,}", (b"ya29.",), 0),  # Google OAuth access token
    (_B + rb"1//0[0-9A-Za-z_\-]{30,}", (b"1//0",), 0),  # Google OAuth refresh token
    (_B + rb"GOCSPX-[A-Za-z0-9_\-]{20,}", (b"gocspx-",), 0),  # Google OAuth client secret
    (_B + rb"gsk_[A-Za-z0-9]{40,}", (b"gsk_",), 0),  # Groq
    (_B + rb"r8_[A-Za-z0-9]{30,}", (b"r8_",), 0),  # Replicate
    (_B + rb"pplx-[A-Za-z0-9]{40,}", (b"pplx-",), 0),  # Perplexity
    (_B + rb"xai-[A-Za-z0-9]{50,}", (b"xai-",), 0),  # xAI
    (_B + rb"nvapi-[A-Za-z0-9_\-]{40,}", (b"nvapi-",), 0),  # NVIDIA
    (_B + rb"csk-[A-Za-z0-9]{40,}", (b"csk-",), 0),  # Cerebras
    (_B + rb"jina_[A-Za-z0-9_\-]{40,}", (b"jina_",), 0),
    (_B + rb"tgp_v1_[A-Za-z0-9_\-]{30,}", (b"tgp_v1_",), 0),  # Together
    (_B + rb"fw_[A-Za-z0-9]{20,}", (b"fw_",), 0),  # Fireworks
    (_B + rb"fc-[0-9a-f]{32}\b", (b"fc-",), 0),  # Firecrawl
    (_B + rb"tvly-[A-Za-z0-9_\-]{20,}", (b"tvly-",), 0),  # Tavily
    (_B + rb"lsv2_(?:pt|sk)_[A-Za-z0-9_]{30,}", (b"lsv2_",), 0),  # LangSmith
    (_B + rb"pcsk_[A-Za-z0-9_]{40,}", (b"pcsk_",), 0),  # Pinecone
    (_B + rb"key-[0-9a-f]{32}\b", (b"key-",), 0),  # Mailgun
    (_B + rb"shp(?:at|ss|ca|pa)_[0-9a-fA-F]{32}", (b"shpat_", b"shpss_", b"shpca_", b"shppa_"), 0),  # Shopify
    (_B + rb"do[opr]_v1_[0-9a-f]{64}", (b"_v1_",), 0),  # DigitalOcean
    (_B + rb"lin_api_[A-Za-z0-9]{32,}", (b"lin_api_",), 0),  # Linear
    (_B + rb"(?:secret|ntn)_[A-Za-z0-9]{40,}", (b"secret_", b"ntn_"), 0),  # Notion
    (_B + rb"sbp_[0-9a-f]{40}", (b"sbp_",), 0),  # Supabase
    (_B + rb"sb_secret_[A-Za-z0-9_\-]{20,}", (b"sb_secret_",), 0),
    (_B + rb"PMAK-[0-9a-f]{24}-[0-9a-f]{34}", (b"pmak-",), 0),  # Postman
    (_B + rb"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}", (b"dp.pt.", b"dp.st.", b"dp.sa.", b"dp.ct.", b"dp.scim.",
                                                              b"dp.audit."), 0),  # Doppler
    (_B + rb"sq0(?:atp|csp)-[0-9A-Za-z_\-]{22,}", (b"sq0atp-", b"sq0csp-"), 0),  # Square
    (_B + rb"sk\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]{20,}", (b"sk.eyj",), 0),  # Mapbox secret token
    (_B + rb"dapi[0-9a-f]{32}(?:-[0-9]+)?", (b"dapi",), 0),  # Databricks
    (_B + rb"AGE-SECRET-KEY-1[0-9A-Z]{58}", (b"age-secret-key-1",), 0),
    (_B + rb"hv[sb]\.[A-Za-z0-9_\-]{24,}", (b"hvs.", b"hvb."), 0),  # HashiCorp Vault
    (_B + rb"ATATT3[A-Za-z0-9_=\-]{40,}", (b"atatt3",), 0),  # Atlassian
    (_B + rb"NRAK-[A-Z0-9]{27}", (b"nrak-",), 0),  # New Relic
    (_B + rb"sntry[su]_[A-Za-z0-9_=+/\-]{40,}", (b"sntrys_", b"sntryu_"), 0),  # Sentry
    (_B + rb"figd_[A-Za-z0-9_\-]{30,}", (b"figd_",), 0),  # Figma
    (_B + rb"ops_eyJ[A-Za-z0-9+/=_\-]{40,}", (b"ops_eyj",), 0),  # 1Password service account
    # Telegram bot token: the bot's id, a colon, 35 characters starting "AA" (also in a
    # URL path: api.telegram.org/bot<token>/sendMessage).
    (rb"(?<![0-9])[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}(?![A-Za-z0-9_\-])", (b":aa",), 0),
)

# A name a credential goes under, in the `name: value` and form-field forms below. Whole
# names ("client_secret", "db_password", "aws_secret_access_key"), never a bare "key" or
# "token": "primary_key: id", "max_tokens: 4096" and a logprobs "token" are no secrets.
_NAME = (rb"(?:[a-z0-9_.\-]*(?:api[_\-]?key|apikey|access[_\-]?key|secret[_\-]?key|private[_\-]?key|signing[_\-]?key"
         rb"|encryption[_\-]?key|master[_\-]?key|account[_\-]?key|password|passwd|secret|credentials?"
         rb"|(?:access|refresh|auth|id|session|bearer|api|bot|github|gitlab|slack|client|personal[_\-]?access)"
         rb"[_\-]?token))")

FORM_PATTERNS = (
    # YAML, .properties with ":", HTTP-like text: "password: value", "- client_secret:
    # value", "{api_key: value}", at the start of a line, also inside a JSON string (a
    # file's content as stored: "...\n  password: ..."). Not after a quote: JSON
    # ("password":) and Python reprs ('password':) have their own forms. Left alone: a
    # placeholder ("${DB_PASSWORD}", "<your key>"), a flag (true/false/null), a bare
    # number, and a lower-case word (prose: "Secret: keep it between us").
    (rb"(?im)(?:^|\\[nrt]|[{,])[ \t]*(?:-[ \t]+)?" + _NAME + rb"[ \t]*:[ \t]*['\"]?"
     rb"(?![0-9]+\b|(?-i:[a-z]+)\b|(?:true|false|null|none|yes|no)\b)([^\s\"'\\,}{<>$\[\]]{4,})",
     (b"key:", b"token:", b"secret:", b"password:", b"passwd:", b"credential:", b"credentials:"), 1),
    # An "Authorization: Basic ..." (or Bearer, Token, Digest) header written as text:
    # a curl -H argument, a logged request.
    (rb"(?i)authorization\\?\"?[ \t]*[:=][ \t]*\\?\"?(?:basic|bearer|token|digest|apikey)[ \t]+([A-Za-z0-9._~+/=\-]{6,})",
     (b"authorization",), 1),
    # Connection strings (ADO.NET, ODBC, Azure): "Pwd=...;", "AccountKey=...;",
    # "SharedAccessKey=...". ("Password=" is `_redact._NAMED`'s.)
    (rb"(?i)(?:^|[;\s\"'?&]|\\[nrt])(?:pwd|account[_\-]?key|shared[_\-]?access[_\-]?(?:key|signature))[ \t]*=[ \t]*"
     rb"([^;\s\"'&\\]{4,})", (b"pwd", b"accountkey", b"account_key", b"account-key", b"sharedaccess",
                              b"shared_access", b"shared-access"), 1),
    # A multipart form field under a credential name: its value, after the blank line
    # that ends the part's headers (CRLFs, or their JSON escapes in a stored body).
    (rb"(?i)form-data;[ \t]*name=\\?\"" + _NAME + rb"\\?\"(?:\r\n|\\r\\n){2}([^\r\n\\]{1,})", (b"form-data",), 1),
)
