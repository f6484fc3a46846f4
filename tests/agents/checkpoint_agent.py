"""Three LLM calls, a checkpoint, two more LLM calls and a tool (a subprocess)."""

import os
import subprocess
import sys

import openai

import autorr

client = openai.OpenAI()
model = os.environ.get("AGENT_MODEL", "gpt-4o-mini")


def ask(text):
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content


notes = [ask(f"research step {i}") for i in range(3)]
print("research:", [n[:30] for n in notes])
autorr.checkpoint("research_done", state={"notes": notes})
draft = ask("draft from " + notes[-1][:20])
final = ask("polish " + draft[:20])
tool = subprocess.run([sys.executable, "-c", f"open({os.environ['MARKER']!r}, 'a').write('x'); print('tool ok')"],
                      capture_output=True, text=True).stdout.strip()
print("draft:", draft[:60])
print("final:", final[:60])
print("tool:", tool)
