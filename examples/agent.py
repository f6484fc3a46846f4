"""A small tool-using agent on the openai SDK. It knows nothing of autorr:

    AUTORR_MODE=record python examples/agent.py "What is the weather in Paris?"
    AUTORR_MODE=replay python examples/agent.py "What is the weather in Paris?"

It reads OPENAI_BASE_URL and OPENAI_API_KEY from the environment, as the SDK does.
"""

import argparse
import json

import openai


def get_weather(city: str) -> dict:
    return {"city": city, "temp_c": 21, "sky": "clear"}


def add(a: float, b: float) -> float:
    return a + b


TOOLS = {"get_weather": get_weather, "add": add}
SCHEMAS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "add", "description": "Add two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                       "required": ["a", "b"]}}},
]


def run(prompt: str, model: str) -> None:
    client = openai.OpenAI()
    messages = [{"role": "system", "content": "You are a helpful agent. Use tools when they help."},
                {"role": "user", "content": prompt}]
    for turn in range(1, 6):
        reply = client.chat.completions.create(model=model, messages=messages, tools=SCHEMAS)
        message = reply.choices[0].message
        if not message.tool_calls:
            break
        # Only the fields the API accepts back, not everything the response carried.
        messages.append({"role": "assistant", "content": message.content,
                         "tool_calls": [call.model_dump(exclude_none=True) for call in message.tool_calls]})
        for call in message.tool_calls:
            result = TOOLS[call.function.name](**json.loads(call.function.arguments))
            print(f"turn {turn}: {reply.id} asked for {call.function.name}({call.function.arguments}) -> {result}")
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})

    print("final answer (streamed): ", end="", flush=True)
    stream = client.chat.completions.create(model=model, messages=messages, stream=True,
                                            stream_options={"include_usage": True})
    usage = stream_id = None
    for chunk in stream:
        stream_id = chunk.id
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
        usage = chunk.usage or usage
    print(f"\n  tokens: {usage.prompt_tokens} in, {usage.completion_tokens} out ({stream_id})")

    embedding = client.embeddings.create(model="text-embedding-3-small", input=prompt)
    print(f"embedding: {len(embedding.data[0].embedding)} dims, first {embedding.data[0].embedding[0]:+.4f}")
    summary = client.responses.create(model=model, input=f"Summarise in one line: {prompt}")
    print(f"summary ({summary.id}): {summary.output_text}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompt", nargs="?", default="What is the weather in Paris?")
    parser.add_argument("--model", default="gpt-4o-mini")
    args = parser.parse_args()
    run(args.prompt, args.model)
