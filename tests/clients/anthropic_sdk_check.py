"""Drives the official `anthropic` Python SDK against GATEWAY_URL (the gateway, or the
mock upstream directly) and checks every answer. Run by tests/tests/python_sdk.rs.

Exit 0 when every check passes; prints one line per check and a JSON summary last.
"""

import json
import os
import sys

import anthropic

BASE_URL = os.environ["GATEWAY_URL"]
EXPECTED = "Hello from the mock upstream."
MODEL = os.environ.get("TEST_MODEL", "claude-sonnet-5-5")

summary = {}


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok   {name}", flush=True)


client = anthropic.Anthropic(base_url=BASE_URL, api_key="sk-ant-test", max_retries=0, timeout=30)

# messages.create
message = client.messages.create(
    model=MODEL,
    max_tokens=64,
    messages=[{"role": "user", "content": "Say hello"}],
)
check("create: text", message.content[0].text == EXPECTED, repr(message.content))
check("create: model", message.model == MODEL, message.model)
check("create: stop_reason", message.stop_reason == "end_turn", message.stop_reason)
check("create: id", message.id.startswith("msg_"), message.id)
check("create: usage", message.usage.input_tokens > 0 and message.usage.output_tokens > 0, message.usage)
summary["create"] = {"id": message.id, "usage": message.usage.model_dump()}

# messages.stream
with client.messages.stream(
    model=MODEL,
    max_tokens=64,
    messages=[{"role": "user", "content": "Say hello, streamed"}],
) as stream:
    pieces = list(stream.text_stream)
    final = stream.get_final_message()
check("stream: several text deltas", len(pieces) >= 2, pieces)
check("stream: text", "".join(pieces) == EXPECTED, pieces)
check("stream: final text", final.content[0].text == EXPECTED, final.content)
check("stream: final usage", final.usage.input_tokens > 0 and final.usage.output_tokens > 0, final.usage)
check("stream: stop_reason", final.stop_reason == "end_turn", final.stop_reason)
summary["stream"] = {"pieces": len(pieces), "usage": final.usage.model_dump()}

# streaming with extended thinking: the thinking block and its signature survive
with client.messages.stream(
    model=MODEL,
    max_tokens=2048,
    thinking={"type": "enabled", "budget_tokens": 1024},
    messages=[{"role": "user", "content": "Think, then say hello"}],
) as stream:
    final = stream.get_final_message()
kinds = [block.type for block in final.content]
check("thinking: blocks", kinds == ["thinking", "text"], kinds)
check("thinking: signature", bool(final.content[0].signature), final.content[0])
check("thinking: text", final.content[1].text == EXPECTED, final.content)

# streaming tool use: the tool input JSON arrives in pieces and is reassembled
tools = [{
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
}]
with client.messages.stream(
    model=MODEL,
    max_tokens=1024,
    tools=tools,
    messages=[{"role": "user", "content": "Run the marker TOLLGATE_TOOL_TEST"}],
) as stream:
    final = stream.get_final_message()
tool_uses = [block for block in final.content if block.type == "tool_use"]
check("tool: stop_reason", final.stop_reason == "tool_use", final.stop_reason)
check("tool: one tool_use", len(tool_uses) == 1, final.content)
check("tool: input", tool_uses[0].input.get("command") == "echo tollgate-roundtrip-ok", tool_uses[0].input)
answer = client.messages.create(
    model=MODEL,
    max_tokens=1024,
    tools=tools,
    messages=[
        {"role": "user", "content": "Run the marker TOLLGATE_TOOL_TEST"},
        {"role": "assistant", "content": final.content},
        {"role": "user", "content": [{
            "type": "tool_result",
            "tool_use_id": tool_uses[0].id,
            "content": "tollgate-roundtrip-ok",
        }]},
    ],
)
check("tool: result answer", answer.content[0].text == "Tool said: tollgate-roundtrip-ok", answer.content)

# count_tokens
counted = client.messages.count_tokens(
    model=MODEL,
    messages=[{"role": "user", "content": "How many tokens is this?"}],
)
check("count_tokens", counted.input_tokens >= 1, counted)
summary["count_tokens"] = counted.input_tokens

# models.list
models = list(client.models.list())
check("models.list", len(models) >= 1 and all(m.id for m in models), models)
summary["models"] = [m.id for m in models]

# errors reach the SDK as the right exception types
try:
    client.messages.create(
        model="mock-error-429",
        max_tokens=16,
        messages=[{"role": "user", "content": "hi"}],
    )
    check("error 429", False, "no exception raised")
except anthropic.RateLimitError as err:
    check("error 429: RateLimitError", err.status_code == 429, err)
    body = err.body if isinstance(err.body, dict) else {}
    check("error 429: body", body.get("error", {}).get("type") == "rate_limit_error", err.body)

try:
    client.messages.create(
        model="mock-error-500",
        max_tokens=16,
        messages=[{"role": "user", "content": "hi"}],
    )
    check("error 500", False, "no exception raised")
except anthropic.InternalServerError as err:
    check("error 500: InternalServerError", err.status_code == 500, err)

print(json.dumps(summary), flush=True)
