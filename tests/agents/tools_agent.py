"""An agent whose tools are a subprocess, files and three HTTP clients; no autorr imports."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import httpx
import openai
import requests

url = os.environ["FAKE_SERVER_URL"]
marker = Path(os.environ["MARKER"])

client = openai.OpenAI()
task = Path("task.txt").read_text().strip()
plan = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": task}])
print("plan:", plan.id, plan.choices[0].message.content[:40])

made = subprocess.run([sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ran'); print('tool ran')"],
                      capture_output=True, text=True, check=True)
print("subprocess:", made.stdout.strip(), made.returncode)
print("git-like:", subprocess.check_output(["echo", "abc123"]).decode().strip())

print("requests:", requests.post(url + "/echo", json={"tool": "search", "q": task}).json())
print("httpx:", httpx.get(url + "/lookup", params={"id": "7"}).json())


async def fetch():
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/echo", json={"tool": "fetch"}) as r:
            return await r.json()


print("aiohttp:", asyncio.run(fetch()))
Path("report.json").write_text(json.dumps({"task": task, "plan_id": plan.id}))
print("report:", Path("report.json").read_text())
