"""Exercises every openai SDK path autorr must replay; prints what a user would see."""

import asyncio
import json
import sys

import openai

client = openai.OpenAI(max_retries=2)
prompt = sys.argv[1] if len(sys.argv) > 1 else "Tell me about Paris"
model = "gpt-4o-mini"

r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])
print("chat:", r.id, r.choices[0].message.content, r.usage.total_tokens)

parts = []
for chunk in client.chat.completions.create(model=model, messages=[{"role": "user", "content": "stream " + prompt}],
                                            stream=True, stream_options={"include_usage": True}):
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
print("stream:", "".join(parts))

tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
messages = [{"role": "user", "content": "weather in Paris"}]
r = client.chat.completions.create(model=model, messages=messages, tools=tools)
call = r.choices[0].message.tool_calls[0]
print("tool call:", call.function.name, call.function.arguments)
messages += [r.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 21})}]
r = client.chat.completions.create(model=model, messages=messages, tools=tools)
print("after tool:", r.choices[0].message.content)

with client.chat.completions.stream(model=model, messages=[{"role": "user", "content": "helper"}]) as s:
    text = "".join(e.delta for e in s if e.type == "content.delta")
print("stream helper:", text)

raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "raw"}])
print("raw:", raw.status_code, raw.headers.get("content-type"), raw.parse().choices[0].message.content)

r = client.responses.create(model=model, input="responses " + prompt)
print("responses:", r.output_text)
events = [e.type for e in client.responses.create(model=model, input="responses stream", stream=True)]
print("responses stream:", events[0], events[-1], len(events))

e = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
print("embeddings:", len(e.data), [round(x, 4) for x in e.data[0].embedding[:3]])


async def main():
    aclient = openai.AsyncOpenAI(max_retries=2)
    out = []
    stream = await aclient.chat.completions.create(model=model, messages=[{"role": "user", "content": "async"}],
                                                   stream=True)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            out.append(chunk.choices[0].delta.content)
    print("async stream:", "".join(out))


asyncio.run(main())
