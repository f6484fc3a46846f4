"""Providers' key formats and the config-file / connection-string / form forms of credentials."""

import json

import pytest

from autorr._config import RedactionLevel
from autorr._redact import MASK, Redactor

KEYS = [
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "rk_test_51HValueKey0123456789abcdefXYZ", "whsec_0123456789abcdefghijABCDEFGH",
    "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", "glpat-xXxXxXxXxXxXxXxXxXxX",
    "npm_1234567890abcdefghijABCDEFGHIJ123456", "pypi-AgEIcHlwaS5vcmcCJGE0ZmY0ZDc2LTVhYzAtNDE4Ni04NTRhLTljMzc5YTNh",
    "ya29.a0AfH6SMBexampleGoogleOAuthAccessToken0123", "GOCSPX-CredsClientSecret_0123456789",
    "gsk_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP", "r8_abcdefghijklmnopqrstuvwxyz0123456789AB",
    "pplx-0123456789abcdef0123456789abcdef0123456789abcdef",
    "xai-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWX", "key-0123456789abcdef0123456789abcdef",
    "shpat_0123456789abcdef0123456789abcdef", "dop_v1_" + "0123456789abcdef" * 4,
    "lin_api_0123456789abcdefghijABCDEFGHIJ0123456789", "secret_0123456789abcdefghijABCDEFGHIJ0123456789a",
    "ntn_0123456789abcdefghijABCDEFGHIJ0123456789abcd", "tvly-0123456789abcdefghijABCDEFGHIJ",
    "lsv2_pt_0123456789abcdef0123456789abcdef_0123456789", "pcsk_2ABCDE_0123456789abcdefghijABCDEFGHIJ0123456789abc",
    "fw_0123456789abcdefghijABCD", "fc-0123456789abcdef0123456789abcdef", "sbp_0123456789abcdef0123456789abcdef01234567",
    "PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01",
    "dp.pt.0123456789abcdefghijABCDEFGHIJ0123456789ab", "sq0atp-0123456789abcdefghijAB",
    "sk.eyJ1IjoibWFwYm94IiwiYSI6ImNrMTIzNDU2Nzg5MCJ9.abcdefghij0123456789AB", "dapi0123456789abcdef0123456789abcdef",
    "AGE-SECRET-KEY-1" + "Q" * 58, "hvs.CAESIJ0123456789abcdefghijABCDEFGHIJklmnopqrst",
    "ATATT3xFfGF0123456789abcdefghijABCDEFGHIJ0123456789abcdefghij",
    "5512345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",  # Telegram bot
]


@pytest.mark.parametrize("level", [RedactionLevel.MODERATE, RedactionLevel.STRICT])
def test_provider_keys_are_masked_wherever_they_stand(level):
    """In prose, in a JSON value, on a line of a file stored as a JSON string (right after
    a "\\n" escape, where a word boundary does not fall), and JSON-escaped twice."""
    r = Redactor(level, environ={})
    for key in KEYS:
        for text in (f"see {key} here", json.dumps({"x": key}), json.dumps(f"a\n{key}\nb"),
                     json.dumps(json.dumps(f"a\n{key}")), f"/v1/keys/{key}/rotate"):
            scrubbed = r.scrub(text.encode())
            assert key.encode() not in scrubbed and MASK.encode() in scrubbed, (key, text)


def test_webhook_urls_lose_their_path_and_keep_their_host():
    r = Redactor(environ={})
    hook = b"https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
    assert r.scrub(hook) == f"https://hooks.slack.com/services/{MASK}".encode()
    assert r.scrub(b"https://discord.com/api/webhooks/123456/abcdefghijklmnopqrstuvwxyz0123456789") == \
        f"https://discord.com/api/webhooks/{MASK}".encode()


def test_credentials_in_config_files_connection_strings_and_forms():
    r = Redactor(environ={})
    yaml = "database:\n  host: db\n  password: Yaml9Passw0rd\n- api_key: abcd1234\n{client_secret: Abcdefgh1, x: 1}\n"
    assert r.scrub(yaml.encode()).decode() == (f"database:\n  host: db\n  password: {MASK}\n- api_key: {MASK}\n"
                                               f"{{client_secret: {MASK}, x: 1}}\n")
    # as a file's content is stored: one JSON string
    assert "Yaml9Passw0rd" not in r.scrub(json.dumps(yaml).encode()).decode()
    conn = b"Server=db;User Id=sa;Pwd=ConnPwd_7788aa;AccountKey=AzureAcctKey0123456789abcdef=="
    assert r.scrub(conn) == f"Server=db;User Id=sa;Pwd={MASK};AccountKey={MASK}".encode()
    part = 'Content-Disposition: form-data; name="password"\r\n\r\nMultipartPw_0123\r\n--b'
    assert r.scrub(part.encode()) == part.replace("MultipartPw_0123", MASK).encode()
    assert b"MultipartPw_0123" not in r.scrub(json.dumps(part).encode())
    assert r.scrub(b'curl -H "Authorization: Basic YWxpY2U6c2VjcmV0cGFzcw==" x') == \
        f'curl -H "Authorization: Basic {MASK}" x'.encode()
    assert r.scrub(b"redis://:RedisOnlyPw_a1b2c3@cache:6379/0") == f"redis://:{MASK}@cache:6379/0".encode()
    for key in (b"-----BEGIN PGP PRIVATE KEY BLOCK-----\nxyz\n-----END PGP PRIVATE KEY BLOCK-----",
                b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"):  # the second cut short
        assert r.scrub(b"key: " + key) == f"key: {MASK}".encode()
    # values found under a name are learned: the same password elsewhere goes too
    assert r.scrub(b"echo Yaml9Passw0rd") == f"echo {MASK}".encode()


def test_what_only_looks_like_a_credential_stays():
    r = Redactor(environ={})
    for text in (b"max_tokens: 4096\nprimary_key: id\nsecret: true\npassword: ${DB_PASSWORD}\ntoken_type: bearer",
                 b"The idea, in short. Secret: keep it between us", b"sort_key: created_at",
                 b'data: {"usage": {"completion_tokens": 5}, "choices": [{"delta": {"content": "ask the task"}}]}',
                 b"use the fw_ prefix and npm_ scripts", b"version 1.2:AA"):
        assert r.scrub(text) == text, text


def test_scrubbing_twice_changes_nothing_more():
    r = Redactor(environ={})
    for text in (b"password: Yaml9Passw0rd\x94x", b"Pwd=ConnPwd_7788aa\x94", b"/bot5512345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0/x"):
        once = r.scrub(text)
        assert once != text and r.scrub(once) == once


def test_a_models_answer_about_configs_replays_unchanged():
    """What a model writes about credentials, with no credential in it: type hints, code
    that names a variable, placeholders, a doc's header example, an `env` listing. Each was
    masked, and replay served "[REDACTED]" where the live answer had the text."""
    r = Redactor(environ={})
    for text in ("class Settings(BaseModel):\n    api_key: Optional[str] = None\n    password: SecretStr\n",
                 "interface Config {\n  secret: Buffer;\n}\nconst o = {secret: Buffer.from(x), password: hashed,}",
                 "api_key: YOUR_API_KEY\nclient_secret: YOUR_CLIENT_SECRET\npassword: ****\npassword: !vault |\n",
                 "Password: Required. Must be 8+ characters\nrefresh_token: Required for offline access",
                 "set the header `Authorization: Bearer YOUR_TOKEN` (or `Authorization: Basic base64(user:pass)`)",
                 "HOME=/home/user1\nPWD=/home/user1/project7\nSHELL=/bin/bash\n"):
        for stored in (text.encode(), json.dumps({"content": text}).encode()):
            assert r.scrub(stored) == stored, stored
    # and a path it kept is not learned and masked later either
    assert r.scrub(b"cd /home/user1/project7") == b"cd /home/user1/project7"


def test_provider_patterns_start_with_their_prefix():
    """A pattern that starts with a lookbehind is tried at every byte of a body (~10 ms for
    200 KB) once its literal is anywhere in it ("key-value", "msg."); a literal first is
    searched for. The boundary is still checked: a prefix inside a word is no key."""
    from autorr._redact_formats import PROVIDER_PATTERNS

    for pattern, _, _ in PROVIDER_PATTERNS:
        assert not pattern.startswith((b"(?<", b"(?:(?<")), pattern
    r = Redactor(environ={})
    assert r.scrub(b"Xwhsec_0123456789abcdefghijABCDEFGH") == b"Xwhsec_0123456789abcdefghijABCDEFGH"
    longer_id = b"bot12345678901:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"  # 11 digits: no Telegram bot id
    assert r.scrub(longer_id) == longer_id


def test_line_patterns_match_as_a_scan_of_the_whole_text_would():
    """`_OnLines` searches only the lines holding a literal (a scan of a long history with
    one "key:" in it was ~20x slower): on texts mixing every shape, it masks the same."""
    import random

    from autorr._redact_formats import FORM_PATTERNS, _OnLines

    pieces = [b"password: abc123x", b"  api_key: sk12345678", b"\\n  client_secret: Zz9aaaaaaa", b"{api_key: A1b2c3d4}",
              b", token: 1234", b"key: value9", b"- db_password: P4ssword!", b"Password: Required 8 chars",
              b"\\n", b"\n", b"\\\"", b" ", b",", b"{", b"}", b"some words", b"Pwd=Secr3t;", b"PWD=/home/u1/p",
              b";AccountKey=abc123==;", b"\\nSharedAccessKey=XyZ12345", b"\\t password:  q1w2e3r4",
              b"secret:\t\"abc12345\"", b"auth_token :abcd1234", b"\\\\n", b"password   : s3cret99",
              b"api_key\t: Ab12cd34", b"token \t:\tZ9y8x7w6", b"\r\n", b"\\r"]
    line_patterns = [pattern for pattern, _, _ in FORM_PATTERNS if isinstance(pattern, _OnLines)]
    assert len(line_patterns) == 2
    rng = random.Random(7)
    for _ in range(3000):
        text = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        for pattern in line_patterns:
            assert pattern.sub(b"[M]", text) == pattern.regex.sub(b"[M]", text), text


def test_aligned_yaml_keys_are_masked():
    """Keys aligned with blanks or tabs before the colon: the literals a line is found by
    cover every "name[ \\t]*:"."""
    text = b"user     : admin\npassword : s3cret99x\napi_key\t: Ab12cd34ef\nsecret   : Zz9yy8xx7\n"
    scrubbed = Redactor().scrub(text)
    assert b"s3cret99x" not in scrubbed and b"Ab12cd34ef" not in scrubbed and b"Zz9yy8xx7" not in scrubbed
    assert b"admin" in scrubbed


def test_line_patterns_look_at_each_byte_a_bounded_number_of_times():
    """A JSON body holds no newline: the lines around 2,000 "key:" were each searched for
    from the start and to the end of the whole text (quadratic: 45 ms a scrub in 300 KB)."""
    from autorr._redact_formats import FORM_PATTERNS

    class Counted(bytes):
        looked = 0

        def find(self, sub, start=0, end=None):
            found = bytes.find(self, sub, start, len(self) if end is None else end)
            Counted.looked += (len(self) if found == -1 else found) - start
            return found

        def rfind(self, sub, start=0, end=None):
            end = len(self) if end is None else end
            found = bytes.rfind(self, sub, start, end)
            Counted.looked += end - (start if found == -1 else found)
            return found

    content = "".join(f"- key: app{i}\n  value: web\n" for i in range(2000))
    body = Counted(json.dumps({"messages": [{"role": "user", "content": content}]}).encode())
    yaml = FORM_PATTERNS[0][0]
    assert b"\n" not in body and len(yaml._lines(body)) == 2000
    assert Counted.looked < 10 * len(body)
