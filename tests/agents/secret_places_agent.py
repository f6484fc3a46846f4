"""An agent that puts credentials where no header or env variable says they are: a
checkpoint's name, a tool's positional argument, a YAML config it reads, a login
redirect's Set-Cookie and Location. It imports autorr only for the checkpoint and tool."""

import os
from pathlib import Path

import httpx

import autorr

url = os.environ["FAKE_SERVER_URL"]
# From variables whose names say nothing: only where they are used can tell.
slack, password, yaml_password = os.environ["PART_A"], os.environ["PART_B"], os.environ["PART_C"]


@autorr.tool
def login(user, password):
    return f"welcome {user}, your password {password} is fine"


print(login("bob", password))
autorr.checkpoint(f"after-login-{slack}", state={"step": 1})
Path("config.yaml").write_text(f"db:\n  host: db\n  password: {yaml_password}\n")
print(len(Path("config.yaml").read_text()))
print(httpx.get(url + "/login", follow_redirects=True).status_code)
