"""Drives the official `openai` Python SDK against GATEWAY_URL (the gateway, or the mock
upstream directly) and checks every answer: Chat Completions (create, stream with
include_usage, a tool round trip) and Responses (create, stream, a function tool round
trip), and typed errors. Run by tests/tests/openai_sdk.rs.

Exit 0 when every check passes; prints one line per check and a JSON summary last
(the tool call ids the SDK saw, for the Rust side to compare with what the upstream got).
"""

import json
import os
import sys

import openai

BASE_URL = os.environ["GATEWAY_URL"].rstrip("/") + "/v1"
MODEL = os.environ.get("TEST_MODEL", "gpt-5.2")
EXPECTED = "Hello from the mock upstream."
MARKER = "TOLLGATE_TOOL_TEST"
COMMAND = "echo tollgate-roundtrip-ok"
OUTPUT = "tollgate-roundtrip-ok"
RESULT = "Tool said: " + OUTPUT

summary = {}


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok   {name}", flush=True)


client = openai.OpenAI(base_url=BASE_URL, api_key="sk-openai-test", max_retries=0, timeout=30)

# --- Chat Completions ----------------------------------------------------------------

completion = client.chat.completions.create(
    model=MODEL,
    max_completion_tokens=64,
    messages=[{"role": "user", "content": "Say hello"}],
)
choice = completion.choices[0]
check("chat create: text", choice.message.content == EXPECTED, repr(choice.message))
check("chat create: role", choice.message.role == "assistant", choice.message.role)
check("chat create: finish_reason", choice.finish_reason == "stop", choice.finish_reason)
check("chat create: object", completion.object == "chat.completion", completion.object)
check("chat create: model", bool(completion.model), completion.model)
usage = completion.usage
check(
    "chat create: usage",
    usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens,
    usage,
)
summary["chat_create"] = {"id": completion.id, "model": completion.model, "usage": usage.model_dump()}

stream = client.chat.completions.create(
    model=MODEL,
    max_completion_tokens=64,
    messages=[{"role": "user", "content": "Say hello, streamed"}],
    stream=True,
    stream_options={"include_usage": True},
)
pieces, finish, stream_usage, roles = [], None, None, []
for chunk in stream:
    if chunk.usage is not None:
        stream_usage = chunk.usage
    for c in chunk.choices:
        if c.delta.role:
            roles.append(c.delta.role)
        if c.delta.content:
            pieces.append(c.delta.content)
        if c.finish_reason:
            finish = c.finish_reason
check("chat stream: several deltas", len(pieces) >= 2, pieces)
check("chat stream: text", "".join(pieces) == EXPECTED, pieces)
check("chat stream: role", roles[:1] == ["assistant"], roles)
check("chat stream: finish_reason", finish == "stop", finish)
check(
    "chat stream: usage chunk",
    stream_usage is not None and stream_usage.prompt_tokens > 0 and stream_usage.completion_tokens > 0,
    stream_usage,
)
summary["chat_stream"] = {"pieces": len(pieces), "usage": stream_usage.model_dump()}

chat_tools = [{
    "type": "function",
    "function": {
        "name": "run_shell",
        "description": "Run a shell command and return its output",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string", "description": "The command line"}},
            "required": ["command"],
        },
    },
}]
ask = [{"role": "user", "content": f"Run the marker command. {MARKER}"}]

call_completion = client.chat.completions.create(
    model=MODEL, max_completion_tokens=256, messages=ask, tools=chat_tools,
)
choice = call_completion.choices[0]
calls = choice.message.tool_calls or []
check("chat tool: finish_reason", choice.finish_reason == "tool_calls", choice.finish_reason)
check("chat tool: one call", len(calls) == 1, choice.message)
check("chat tool: name", calls[0].function.name == "run_shell", calls[0])
check("chat tool: arguments", json.loads(calls[0].function.arguments).get("command") == COMMAND, calls[0])
check("chat tool: id", bool(calls[0].id), calls[0])

# The same, streamed: the arguments arrive in pieces.
stream = client.chat.completions.create(
    model=MODEL, max_completion_tokens=256, messages=ask, tools=chat_tools,
    stream=True, stream_options={"include_usage": True},
)
streamed = {}
finish = None
for chunk in stream:
    for c in chunk.choices:
        for tc in c.delta.tool_calls or []:
            entry = streamed.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            if tc.id:
                entry["id"] = tc.id
            if tc.function and tc.function.name:
                entry["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                entry["arguments"] += tc.function.arguments
        if c.finish_reason:
            finish = c.finish_reason
check("chat tool stream: one call", list(streamed) == [0], streamed)
check("chat tool stream: name", streamed[0]["name"] == "run_shell", streamed)
check("chat tool stream: arguments", json.loads(streamed[0]["arguments"]).get("command") == COMMAND, streamed)
check("chat tool stream: id", bool(streamed[0]["id"]), streamed)
check("chat tool stream: finish_reason", finish == "tool_calls", finish)

answer = client.chat.completions.create(
    model=MODEL,
    max_completion_tokens=256,
    tools=chat_tools,
    messages=ask + [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": OUTPUT},
    ],
)
check("chat tool: result answer", answer.choices[0].message.content == RESULT, answer.choices[0].message)
summary["chat_tool_id"] = calls[0].id
summary["chat_tool_stream_id"] = streamed[0]["id"]

# --- Responses -------------------------------------------------------------------------

response = client.responses.create(model=MODEL, input="Say hello", max_output_tokens=64)
check("responses create: text", response.output_text == EXPECTED, response.output)
check("responses create: status", response.status == "completed", response.status)
check("responses create: object", response.object == "response", response.object)
check(
    "responses create: usage",
    response.usage is not None and response.usage.input_tokens > 0 and response.usage.output_tokens > 0,
    response.usage,
)
summary["responses_create"] = {"id": response.id, "model": response.model, "usage": response.usage.model_dump()}

events = list(client.responses.create(
    model=MODEL,
    input=[{"role": "user", "content": [{"type": "input_text", "text": "Say hello, streamed"}]}],
    instructions="Be brief.",
    stream=True,
))
types = [e.type for e in events]
deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
check("responses stream: starts with response.created", types[:1] == ["response.created"], types)
check("responses stream: ends with response.completed", types[-1:] == ["response.completed"], types)
check("responses stream: several deltas", len(deltas) >= 2, types)
check("responses stream: text", "".join(deltas) == EXPECTED, deltas)
final = events[-1].response
check("responses stream: final text", final.output_text == EXPECTED, final.output)
check("responses stream: final usage", final.usage is not None and final.usage.output_tokens > 0, final.usage)
seq = [e.sequence_number for e in events]
check("responses stream: sequence numbers increase", seq == sorted(seq) and len(set(seq)) == len(seq), seq)
summary["responses_stream"] = {"events": types, "usage": final.usage.model_dump()}

resp_tools = [{
    "type": "function",
    "name": "run_shell",
    "description": "Run a shell command and return its output",
    "parameters": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
        "additionalProperties": False,
    },
    "strict": True,
}]
resp_ask = [{"role": "user", "content": f"Run the marker command. {MARKER}"}]
called = client.responses.create(model=MODEL, input=resp_ask, tools=resp_tools)
fcalls = [item for item in called.output if item.type == "function_call"]
check("responses tool: one function_call", len(fcalls) == 1, called.output)
check("responses tool: name", fcalls[0].name == "run_shell", fcalls[0])
check("responses tool: arguments", json.loads(fcalls[0].arguments).get("command") == COMMAND, fcalls[0])
check("responses tool: call_id", bool(fcalls[0].call_id), fcalls[0])

events = list(client.responses.create(model=MODEL, input=resp_ask, tools=resp_tools, stream=True))
arg_deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
done_items = [e.item for e in events if e.type == "response.output_item.done" and e.item.type == "function_call"]
check("responses tool stream: argument deltas", json.loads(arg_deltas or "{}").get("command") == COMMAND, arg_deltas)
check("responses tool stream: function_call item", len(done_items) == 1 and done_items[0].name == "run_shell", done_items)
check("responses tool stream: completed", events[-1].type == "response.completed", events[-1].type)

answer = client.responses.create(
    model=MODEL,
    tools=resp_tools,
    input=resp_ask
    + [item.model_dump(exclude_none=True) for item in called.output]
    + [{"type": "function_call_output", "call_id": fcalls[0].call_id, "output": OUTPUT}],
)
check("responses tool: result answer", answer.output_text == RESULT, answer.output)
summary["responses_call_id"] = fcalls[0].call_id
summary["responses_stream_call_id"] = done_items[0].call_id

# --- models.list -------------------------------------------------------------------------

models = list(client.models.list())
check("models.list", len(models) >= 1 and all(m.id for m in models), models)
summary["models"] = [m.id for m in models]

# --- errors reach the SDK as its own exception types ----------------------------------

try:
    client.chat.completions.create(model="mock-error-429", messages=[{"role": "user", "content": "hi"}])
    check("chat error 429", False, "no exception raised")
except openai.RateLimitError as err:
    check("chat error 429: RateLimitError", err.status_code == 429, err)
    body = err.body if isinstance(err.body, dict) else {}
    check("chat error 429: message", bool(body.get("message")), err.body)

try:
    client.chat.completions.create(model="mock-error-500", messages=[{"role": "user", "content": "hi"}])
    check("chat error 500", False, "no exception raised")
except openai.InternalServerError as err:
    check("chat error 500: InternalServerError", err.status_code == 500, err)

try:
    client.responses.create(model="mock-error-429", input="hi")
    check("responses error 429", False, "no exception raised")
except openai.RateLimitError as err:
    check("responses error 429: RateLimitError", err.status_code == 429, err)

try:
    client.responses.create(model="mock-error-500", input="hi", stream=True)
    check("responses stream error 500", False, "no exception raised")
except openai.InternalServerError as err:
    check("responses stream error 500: InternalServerError", err.status_code == 500, err)

print(json.dumps(summary), flush=True)
