from autorr._config import RedactionLevel
from autorr._redact import MASK, Redactor, is_secret_header


def test_credential_headers_are_masked_and_learned():
    r = Redactor(environ={})
    headers = r.headers([("Authorization", "Bearer abcdefgh12345678"), ("x-api-key", "k-123456789"),
                         ("anthropic-ratelimit-tokens-reset", "2026-01-01T00:00:00Z"), ("accept", "json")])
    assert headers == [("Authorization", MASK), ("x-api-key", MASK),
                       ("anthropic-ratelimit-tokens-reset", "2026-01-01T00:00:00Z"), ("accept", "json")]
    # the values seen in headers are scrubbed wherever else they appear
    assert r.scrub(b"echo abcdefgh12345678 and k-123456789") == f"echo {MASK} and {MASK}".encode()


def test_env_keys_and_known_formats_are_scrubbed():
    r = Redactor(environ={"MY_SERVICE_TOKEN": "tok_plain_value_99", "HOME": "/root"})
    text = b"tok_plain_value_99 AKIAABCDEFGHIJKLMNOP sk-ant-api03-abcdefghijklmnopqrstuv /root"
    assert r.scrub(text) == f"{MASK} {MASK} {MASK} /root".encode()


def test_minimal_level_scrubs_known_values_but_no_patterns():
    r = Redactor(RedactionLevel.MINIMAL, environ={"OPENAI_API_KEY": "sk-known-value-123456789012"})
    assert r.scrub(b"sk-known-value-123456789012 sk-other-abcdefghijklmnopqrst") == \
        f"{MASK} sk-other-abcdefghijklmnopqrst".encode()


def test_strict_level_adds_emails():
    assert MASK.encode() in Redactor(RedactionLevel.STRICT, environ={}).scrub(b"mail me: a.b@example.com")
    assert b"a.b@example.com" in Redactor(RedactionLevel.MODERATE, environ={}).scrub(b"a.b@example.com")


def test_secret_header_names():
    assert is_secret_header("Proxy-Authorization") and is_secret_header("X-Goog-Api-Key")
    assert not is_secret_header("x-stainless-retry-count") and not is_secret_header("content-type")


def test_values_under_credential_names_but_not_token_counts():
    r = Redactor(environ={})
    body = (b'{"api_key": "abc12345", "password": "hunter22", "access_token": "zzzzzz", "max_tokens": 4096, '
            b'"logprobs": [{"token": "Hello"}]}')
    assert r.scrub(body) == (f'{{"api_key": "{MASK}", "password": "{MASK}", "access_token": "{MASK}", '
                             f'"max_tokens": 4096, "logprobs": [{{"token": "Hello"}}]}}').encode()
    text = b"DB_PASSWORD=hunter2hunter\nMAX_TOKENS=4096\nCACHE_KEY=1234"
    assert r.scrub(text) == f"DB_PASSWORD={MASK}\nMAX_TOKENS=4096\nCACHE_KEY=1234".encode()


def test_custom_token_headers_are_masked():
    assert is_secret_header("X-Custom-Token") and is_secret_header("x-service-key")
    assert not is_secret_header("x-ratelimit-remaining-tokens") and not is_secret_header("x-request-id")
