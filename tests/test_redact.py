from typing import Any

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


def test_every_known_format_is_found_whatever_its_case_or_place():
    # The scrubber only runs a pattern where one of its anchors occurs: each anchor must
    # be one every match contains, in any case the pattern allows.
    r = Redactor(environ={})
    secrets = [b"sk-proj-abcdefghijklmnopqrstuv", b"ASIAABCDEFGHIJKLMNOP", b"ghp_" + b"a" * 36,
               b"github_pat_" + b"b" * 40, b"xoxb-1234567890-abc", b"AIza" + b"c" * 35, b"hf_" + b"d" * 34,
               b"BEARER abcdefghijklmnop1234", b"eyJabcdefghij.eyJabcdefghij.abcdefghijkl",
               b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"]
    for secret in secrets:
        scrubbed = r.scrub(b'data: {"content": "see ' + secret + b' here"}\n\n')
        assert secret not in scrubbed and MASK.encode() in scrubbed, secret
    assert r.scrub(b'{"Refresh_Token": "abcdef1234"}') == f'{{"Refresh_Token": "{MASK}"}}'.encode()
    assert r.scrub(b"export Github_Token=abcdef1234") == f"export Github_Token={MASK}".encode()
    # plain LLM traffic passes through unchanged
    body = b'data: {"usage": {"completion_tokens": 5, "total_tokens": 9}, "choices": [{"delta": {"content": "hi"}}]}'
    assert r.scrub(body) == body


def test_secrets_learned_while_scrubbing_on_another_thread():
    import threading

    r = Redactor(environ={})
    stop = threading.Event()

    def learn():
        i = 0
        while not stop.is_set():
            r.learn([f"learned-secret-{i:08d}"])
            i += 1

    thread = threading.Thread(target=learn)
    thread.start()
    try:
        for _ in range(2000):
            r.scrub(b"learned-secret-00000001 and more text")
    finally:
        stop.set()
        thread.join()
    assert r.scrub(b"learned-secret-00000001") == MASK.encode()


def _scrub_unanchored(r: Redactor, data: bytes, known_before: Any = ...) -> bytes:
    """The reference: every pattern run on every text, in the scrubber's order. With
    ``known_before`` (the learned values' regex before the scrub being checked), values
    that scrub learned go at the end, as it masks them."""
    from autorr import _redact

    known = r._known_re if known_before is ... else known_before
    if known is not None:
        data = known.sub(MASK.encode(), data)
    for pattern, _, group in r._patterns:
        data = pattern.sub(_redact._mask_group(group), data)
    if r._patterns:
        data = _redact._NAMED.sub(_redact._mask_named, data)
    if r._known_re is not known and r._known_re is not None:
        data = r._known_re.sub(MASK.encode(), data)
    return data


def test_anchored_scrub_equals_running_every_pattern_everywhere():
    """Patterns run only where one-pass anchor search found one of their literals: on
    random mixes of secrets, near misses and noise that must change nothing."""
    import random

    fragments = [
        b"sk-proj-abcdefghijklmnopqrstuv", b"AKIAABCDEFGHIJKLMNOP", b"ghs_" + b"x" * 36, b"xoxp-12345-abcdefgh",
        b"Bearer abcdefghijklmnopqrstu", b"eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeK", b'"client_api_key": "v4lue-1"',
        b'"Password":"p4ssw0rd!"', b"APP_SECRET=s3cr3t-value", b"KNOWN-secret-value-1", b"known-secret-value-1",
        b"4111 1111 1111 1111", b"x@example.org", b"sk-", b"_key", b"=", b'key"', b"aiza", b"hf_", b"\n", b" ",
        b"MY_TOKEN = abcdefgh", b"x_Key\t=\tvalue1234", b'"input_tokens": 3, "charset=utf-8"', b";DB_PASSWD=",
        b"-----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----", b"lorem ipsum", b'{"a": 1}',
        b"postgres://app:pw_123456@db/x", b"http://host:8080/a@b", b"password=Tr0ub4dor3", b"?secret=abc12345&q=1",
        b"\\npassword = hunter22x", b"://", b"@", b"--token abcd1234", b'"--api-key","k3y-12345"', b"--",
        b"-u admin:pw12345", b"{'api_key': 'v4lue-12'}", b"'", b"eyJhbGciOiJI.eyJz",
    ]
    for level in (RedactionLevel.MINIMAL, RedactionLevel.MODERATE, RedactionLevel.STRICT):
        r = Redactor(level, environ={"SERVICE_TOKEN": "known-secret-value-1"})
        for seed in (f"redact-{level.value}", f"redact-RedactionLevel.{level.name}"):  # as 3.11+ and 3.10 format it
            rng = random.Random(seed)
            for _ in range(400):
                text = b"".join(rng.choice(fragments) for _ in range(rng.randint(1, 12)))
                before = r._known_re
                assert r.scrub(text) == _scrub_unanchored(r, text, before), (level, text)


def test_overlapping_anchors_each_count():
    # `_key` (KEY=value text) and `key"` (JSON) overlap in `api_key"`: both must be seen.
    r = Redactor(environ={})
    assert r.scrub(b'{"my_api_key": "abcdefgh"}') == f'{{"my_api_key": "{MASK}"}}'.encode()
    assert r.scrub(b"4111 1111 1111 1111") == b"4111 1111 1111 1111"
    assert Redactor(RedactionLevel.STRICT, environ={}).scrub(b"card 4111 1111 1111 1111") == f"card {MASK}".encode()


def test_header_lists_without_credentials_pass_whole_and_others_pair_by_pair():
    import random

    names = ["Authorization", "content-type", "X-Api-Key", "x-request-id", "cookie", "x-ratelimit-tokens",
             "x-service-key", "token", "a\ntoken", "Date"]
    rng = random.Random(11)
    for _ in range(2000):
        headers = [(rng.choice(names), f"value-{rng.randint(10000000, 99999999)}") for _ in range(rng.randint(0, 6))]
        want = [(k, MASK if is_secret_header(k) else v) for k, v in headers]
        assert Redactor(environ={}).headers(headers) == want, headers


def test_a_secret_split_across_chunks_is_masked_and_the_other_boundaries_stay():
    r = Redactor(environ={})
    token = b"ghp_" + b"aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"
    parts = [b"data: one\n\n", b"data: token " + token[:10], token[10:] + b" end\n\n", b"data: [DONE]\n\n"]
    chunks = [(len(p), 1000 * i) for i, p in enumerate(parts)]
    body, out = r.scrub_chunked(b"".join(parts), chunks)
    assert token not in body and body == b"data: one\n\ndata: token " + MASK.encode() + b" end\n\ndata: [DONE]\n\n"
    pieces, pos = [], 0
    for size, _ in out:
        pieces.append(body[pos:pos + size])
        pos += size
    # the mask goes out with the chunk that completed the secret, at that chunk's time
    assert pieces == [b"data: one\n\n", b"data: token ", MASK.encode() + b" end\n\n", b"data: [DONE]\n\n"]
    assert [offset for _, offset in out] == [0, 1000, 2000, 3000]
    # a chunk that held nothing but a piece of a secret is dropped, not left empty
    body, out = r.scrub_chunked(b"x " + token, [(6, 0), (10, 1), (len(token) - 14, 2)])
    assert body == b"x " + MASK.encode() and out == [(2, 0), (len(MASK), 2)]


def test_passwords_in_urls_and_assignments_from_moderate_on():
    r = Redactor(environ={})
    assert r.scrub(b'{"db": "postgres://app:DbUrlPw_5566778899@db/x"}') == \
        f'{{"db": "postgres://app:{MASK}@db/x"}}'.encode()
    assert r.scrub(b"login with password=Tr0ub4dorAnd3horse") == f"login with password={MASK}".encode()
    # a file read stored as a JSON string: its line breaks are escapes
    assert r.scrub(b'"[db]\\npassword = FilePassw0rd_24680\\nhost = x"') == \
        f'"[db]\\npassword = {MASK}\\nhost = x"'.encode()
    assert r.scrub(b"GET /cb?secret=qsec_ZXCV12345&q=weather") == f"GET /cb?secret={MASK}&q=weather".encode()
    for harmless in (b"http://host:8080/a@b", b"ssh://git@github.com/x", b"password_hint=none"):
        assert r.scrub(harmless) == harmless
    assert r.scrub(b"DbUrlPw_5566778899 Tr0ub4dorAnd3horse") == f"{MASK} {MASK}".encode()  # learned
    minimal = Redactor(RedactionLevel.MINIMAL, environ={})
    assert minimal.scrub(b"password=Tr0ub4dorAnd3horse") == b"password=Tr0ub4dorAnd3horse"


def test_values_under_credential_names_are_learned_when_they_look_like_secrets():
    r = Redactor(environ={})
    r.scrub(b'{"api_key": "bk_body_api_7H6G5F4E3D2C1B0A", "nested": {"client_secret": "bcl_0987poiuytrewq"}}')
    r.scrub(b'API_KEY = os.getenv("KEY")\nSECRET=YOUR_SECRET_HERE')  # code and placeholders: not learned
    echo = b"echo bk_body_api_7H6G5F4E3D2C1B0A bcl_0987poiuytrewq os.getenv( YOUR_SECRET_HERE"
    assert r.scrub(echo) == f"echo {MASK} {MASK} os.getenv( YOUR_SECRET_HERE".encode()
    # learned while scrubbing a text: an occurrence before the name in that text goes too
    assert r.scrub(b"s3cr3t-value-42 APP_SECRET=s3cr3t-value-42") == f"{MASK} APP_SECRET={MASK}".encode()


def test_credential_query_parameters_and_url_passwords_are_masked_and_learned_at_every_level():
    r = Redactor(RedactionLevel.MINIMAL, environ={})
    query = [("key", "AIzaSyD-9tSrke72Pou"), ("secret", "qsec_ZXCVBNM1234"), ("page_token", "p2"), ("q", "weather")]
    url, masked = r.url("http://admin:Sup3rS3cretPw42@h/echo?key=AIzaSyD-9tSrke72Pou&secret=qsec_ZXCVBNM1234"
                        "&page_token=p2&q=weather", query, frozenset({"key"}))
    assert masked == [("key", MASK), ("secret", MASK), ("page_token", "p2"), ("q", "weather")]
    assert url == f"http://admin:{MASK}@h/echo?key={MASK}&secret={MASK}&page_token=p2&q=weather"
    assert r.scrub(b"echo AIzaSyD-9tSrke72Pou qsec_ZXCVBNM1234 Sup3rS3cretPw42") == \
        f"echo {MASK} {MASK} {MASK}".encode()


def test_credentials_handed_to_a_subprocess_are_learned():
    r = Redactor(environ={})
    r.learn_environ({"DB_PASSWORD": "SubEnvPw_1357924680", "HOME": "/home/someone"})
    assert r.scrub(b"SubEnvPw_1357924680 /home/someone") == f"{MASK} /home/someone".encode()


def test_cookies_keep_their_names_and_attributes_and_lose_their_values():
    r = Redactor(environ={})
    headers = [("Set-Cookie", "a=first-value-1; Path=/, b=2; Path=/; HttpOnly"),  # two, joined by requests
               ("set-cookie", "sid=abc123456789; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure"),
               ("Cookie", "x=1; y=2"), ("cookie", "no-pairs-here-12345")]
    assert r.headers(headers) == [
        ("Set-Cookie", f"a={MASK}; Path=/, b={MASK}; Path=/; HttpOnly"),
        ("set-cookie", f"sid={MASK}; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure"),
        ("Cookie", f"x={MASK}; y={MASK}"), ("cookie", MASK)]
    assert r.scrub(b"echo abc123456789 first-value-1") == b"echo [REDACTED] [REDACTED]"  # learned


def test_named_values_in_json_inside_a_json_string_are_masked():
    """A tool call's arguments are JSON inside a JSON string: its quotes are escaped."""
    r = Redactor(environ={})
    body = b'{"tool_calls": [{"function": {"arguments": "{\\"api_key\\": \\"abcd1234efgh\\", \\"n\\": 1}"}}]}'
    assert r.scrub(body) == body.replace(b"abcd1234efgh", MASK.encode())
    assert r.scrub(b'{"api_key": "abcd1234efgh"}') == b'{"api_key": "[REDACTED]"}'
    assert r.scrub(b"later: abcd1234efgh") == b"later: [REDACTED]"  # learned


def test_credential_flags_on_a_command_line_are_masked_and_learned():
    """`os.system("aws configure --aws-secret-access-key ...")`, a shell=True string, a child's
    output echoing its argv: the flag names what follows it."""
    r = Redactor(environ={})
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYz8Kq2Lm0Pq"
    assert r.scrub(f"aws configure --aws-secret-access-key {secret} --region eu".encode()) == \
        f"aws configure --aws-secret-access-key {MASK} --region eu".encode()
    assert r.scrub(b"gh --token=opaque0123456789abcdef x") == f"gh --token={MASK} x".encode()
    assert r.scrub(b"tool --api-key 'qq11ww22ee33'") == f"tool --api-key '{MASK}'".encode()
    # an argv as JSON, also inside a JSON string (a child that prints its argv)
    assert r.scrub(b'["srv", "--password", "pw-9876abcd"]') == f'["srv", "--password", "{MASK}"]'.encode()
    assert r.scrub(b'{"out": "[\\"--secret\\", \\"s3cr3t-xyz1\\"]"}') == \
        f'{{"out": "[\\"--secret\\", \\"{MASK}\\"]"}}'.encode()
    assert r.scrub(secret.encode() + b" again") == f"{MASK} again".encode()  # learned
    # what is no credential stays
    for text in (b"--max-tokens 4096 --token-limit 10", b"--max-token 77", b"--password-file /etc/pw",
                 b"--key-file k.pem", b"a -- b", b"pip install -U pkg", b"use --token with care",
                 b'add_argument("--api-key", default=None)'):
        assert r.scrub(text) == text, text


def test_curl_user_and_password_lose_the_password():
    r = Redactor(environ={})
    assert r.scrub(b"curl -u admin:Upp7JS6fk5cg5ar7 https://x") == f"curl -u admin:{MASK} https://x".encode()
    assert r.scrub(b'["curl", "--user", "admin:Upp7JS6fk5"]') == f'["curl", "--user", "admin:{MASK}"]'.encode()
    assert r.scrub(b"later Upp7JS6fk5cg5ar7") == f"later {MASK}".encode()


def test_values_under_credential_names_in_a_python_repr_are_masked():
    """`raise ValueError(f"bad config {cfg}")`, a tool result kept as its repr: a dict's str()."""
    r = Redactor(environ={})
    text = b"ValueError: bad config {'api_key': 'gs-t24VhodWT2BOZ66', 'Password': 'pw-1234abcd', 'user': 'bob'}"
    assert r.scrub(text) == f"ValueError: bad config {{'api_key': '{MASK}', 'Password': '{MASK}', 'user': 'bob'}}".encode()
    assert r.scrub(b"gs-t24VhodWT2BOZ66 bare") == f"{MASK} bare".encode()  # learned
    assert r.scrub(b"{'max_tokens': 100, 'token': 'abc'}") == b"{'max_tokens': 100, 'token': 'abc'}"


def test_a_jwt_cut_short_is_masked_too():
    r = Redactor(environ={})
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    for cut in (len(jwt), len(jwt) - 40, 30, 25):  # a repr kept to its first 500 characters
        assert r.scrub(f"['{jwt[:cut]}".encode()) == f"['{MASK}".encode(), cut


def test_scrubbing_a_scrubbed_text_changes_nothing():
    """A pickle is checked by scrubbing it again (`_calls._pickle`) and the writer scrubs it
    once more: a mask followed by a pickle opcode must not grow into a longer mask (the
    length in front of the string would no longer be true)."""
    r = Redactor(environ={})
    for text in (b"\x8c'export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG\x94C\x10token",
                 b"\x8c\x1frun --token opaque0123456789abc\x94\x8c\x01x",
                 b"\x8c\x1e{'password': 'pw-1234abcd'}\x94", b"x://u:p4ssw0rd-1@h\x94y"):
        once = r.scrub(text)
        assert once != text and r.scrub(once) == once, text
