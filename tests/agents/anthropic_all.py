"""The anthropic SDK paths: messages, stream=True, the .stream() helper, a tool round trip."""

import sys

import anthropic

client = anthropic.Anthropic(max_retries=2)
prompt = sys.argv[1] if len(sys.argv) > 1 else "Tell me about Rome"
model = "claude-3-5-haiku-latest"

m = client.messages.create(model=model, max_tokens=200, messages=[{"role": "user", "content": prompt}])
print("message:", m.id, m.content[0].text, m.usage.output_tokens)

parts = []
for event in client.messages.create(model=model, max_tokens=200, stream=True,
                                    messages=[{"role": "user", "content": "stream " + prompt}]):
    if event.type == "content_block_delta" and event.delta.type == "text_delta":
        parts.append(event.delta.text)
print("stream:", "".join(parts))

with client.messages.stream(model=model, max_tokens=200, messages=[{"role": "user", "content": "helper"}]) as s:
    text = "".join(s.text_stream)
    final = s.get_final_message()
print("stream helper:", text, final.stop_reason)

tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                                  "required": ["city"]}}]
messages = [{"role": "user", "content": "weather in Rome"}]
m = client.messages.create(model=model, max_tokens=200, messages=messages, tools=tools)
use = next(b for b in m.content if b.type == "tool_use")
print("tool use:", use.name, use.input)
messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "19C"}]}]
m = client.messages.create(model=model, max_tokens=200, messages=messages, tools=tools)
print("after tool:", m.content[0].text)
