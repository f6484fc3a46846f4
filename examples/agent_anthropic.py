"""The same tool-using agent on the anthropic SDK (ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY).

    AUTORR_MODE=record python examples/agent_anthropic.py
    AUTORR_MODE=replay python examples/agent_anthropic.py
"""

import argparse
import json

import anthropic


def get_weather(city: str) -> dict:
    return {"city": city, "temp_c": 19, "sky": "cloudy"}


def add(a: float, b: float) -> float:
    return a + b


FUNCTIONS = {"get_weather": get_weather, "add": add}
TOOLS = [{"name": "get_weather", "description": "Current weather in a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
         {"name": "add", "description": "Add two numbers",
          "input_schema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                           "required": ["a", "b"]}}]


def run(prompt: str, model: str) -> None:
    client = anthropic.Anthropic()
    messages = [{"role": "user", "content": prompt}]
    for turn in range(1, 6):
        reply = client.messages.create(model=model, max_tokens=512, messages=messages, tools=TOOLS)
        uses = [block for block in reply.content if block.type == "tool_use"]
        if not uses:
            break
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]})
        results = []
        for use in uses:
            result = FUNCTIONS[use.name](**use.input)
            print(f"turn {turn}: {reply.id} asked for {use.name}({use.input}) -> {result}")
            results.append({"type": "tool_result", "tool_use_id": use.id, "content": json.dumps(result)})
        messages.append({"role": "user", "content": results})

    print("final answer (streamed): ", end="", flush=True)
    # The API wants the tools declared whenever the history holds tool_use blocks.
    with client.messages.stream(model=model, max_tokens=512, messages=messages, tools=TOOLS) as stream:
        for text in stream.text_stream:
            print(text, end="", flush=True)
        final = stream.get_final_message()
    print(f"\n  tokens: {final.usage.input_tokens} in, {final.usage.output_tokens} out ({final.id})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prompt", nargs="?", default="What is the weather in Rome?")
    parser.add_argument("--model", default="claude-3-5-haiku-latest")
    args = parser.parse_args()
    run(args.prompt, args.model)
