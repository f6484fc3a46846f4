"""A tool-style agent on plain httpx2 and httpx (no SDK): prints every answer."""

import os
import sys

import httpx
import httpx2

url = os.environ["FAKE_SERVER_URL"]
question = sys.argv[1] if len(sys.argv) > 1 else "q1"
print("AGENT RAN")
with httpx2.Client() as client:
    print(client.post(url + "/echo", json={"q": question}, headers={"authorization": f"Bearer {os.environ.get('OPENAI_API_KEY')}"}).json())
    with client.stream("POST", url + "/sse", json={"n": 3}) as r:
        print([line for line in r.iter_lines() if line])
print(httpx.get(url + "/plain?x=1").json())
if os.environ.get("AGENT_URLLIB3"):  # as botocore calls: a pool, signed headers, the body streamed
    import urllib3

    pool = urllib3.PoolManager().connection_from_url(url)
    r = pool.urlopen("POST", "/echo", body=b'{"bedrock": 1}', preload_content=False, decode_content=False,
                     headers={"X-Amz-Security-Token": os.environ["AGENT_URLLIB3"], "content-type": "application/json"})
    print(b"".join(r.stream(1024)).decode()[:20], r.status)
if os.environ.get("AGENT_SPAWN_CHILD"):
    import subprocess

    code = "import httpx2, os; print(httpx2.get(os.environ['FAKE_SERVER_URL'] + '/child').json())"
    print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip())
if os.environ.get("AGENT_SWALLOW"):
    try:
        httpx2.post(url + "/echo", json={"q": "never recorded"})
    except Exception as exc:  # what agent frameworks do
        print("swallowed", type(exc).__name__)
if os.environ.get("AGENT_HANG"):
    import time

    print("CALLS DONE", flush=True)
    time.sleep(60)
