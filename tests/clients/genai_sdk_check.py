"""Drives the official `google-genai` Python SDK against GATEWAY_URL (the gateway, or the
mock upstream directly) and checks every answer: generate_content,
generate_content_stream, a function declaration round trip (plain and streamed), both
API versions (v1 and v1beta), and typed errors. Run by tests/tests/genai_sdk.rs.

Exit 0 when every check passes; prints one line per check and a JSON summary last
(the function call ids the SDK saw, for the Rust side to compare with what the
upstream got).
"""

import json
import os
import sys

from google import genai
from google.genai import errors, types

BASE_URL = os.environ["GATEWAY_URL"]
MODEL = os.environ.get("TEST_MODEL", "gemini-2.5-flash")
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


def make_client(api_version=None):
    return genai.Client(
        api_key="g-test-key",
        http_options=types.HttpOptions(
            base_url=BASE_URL,
            api_version=api_version,
            timeout=30_000,
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )


client = make_client()  # the SDK's default API version
beta = make_client("v1beta")

# generate_content
response = client.models.generate_content(model=MODEL, contents="Say hello")
check("generate: text", response.text == EXPECTED, response)
candidate = response.candidates[0]
check("generate: role", candidate.content.role == "model", candidate.content)
check("generate: finish_reason", candidate.finish_reason == types.FinishReason.STOP, candidate.finish_reason)
usage = response.usage_metadata
check(
    "generate: usage",
    usage is not None and (usage.prompt_token_count or 0) > 0 and (usage.candidates_token_count or 0) > 0,
    usage,
)
summary["generate"] = {"usage": usage.model_dump(exclude_none=True), "model_version": response.model_version}

response = beta.models.generate_content(
    model=MODEL,
    contents=[types.Content(role="user", parts=[types.Part(text="Say hello via v1beta")])],
    config=types.GenerateContentConfig(system_instruction="Be brief.", max_output_tokens=64, temperature=0.2),
)
check("generate v1beta: text", response.text == EXPECTED, response)

# generate_content_stream
pieces, last = [], None
for chunk in client.models.generate_content_stream(model=MODEL, contents="Say hello, streamed"):
    last = chunk
    if chunk.text:
        pieces.append(chunk.text)
check("stream: several chunks", len(pieces) >= 2, pieces)
check("stream: text", "".join(pieces) == EXPECTED, pieces)
check("stream: finish_reason", last.candidates[0].finish_reason == types.FinishReason.STOP, last)
check(
    "stream: usage",
    last.usage_metadata is not None and (last.usage_metadata.candidates_token_count or 0) > 0,
    last.usage_metadata,
)
summary["stream"] = {"pieces": len(pieces), "usage": last.usage_metadata.model_dump(exclude_none=True)}

# function declaration round trip
tool = types.Tool(function_declarations=[
    types.FunctionDeclaration(
        name="run_shell_command",
        description="Run a shell command and return its output",
        parameters_json_schema={
            "type": "object",
            "properties": {"command": {"type": "string", "description": "The command line"}},
            "required": ["command"],
        },
    ),
])
config = types.GenerateContentConfig(
    tools=[tool],
    automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
)
ask = types.Content(role="user", parts=[types.Part(text=f"Run the marker command. {MARKER}")])

called = client.models.generate_content(model=MODEL, contents=[ask], config=config)
calls = called.function_calls or []
check("tool: one function call", len(calls) == 1, called)
check("tool: name", calls[0].name == "run_shell_command", calls[0])
check("tool: args", (calls[0].args or {}).get("command") == COMMAND, calls[0])

streamed_calls = []
for chunk in beta.models.generate_content_stream(model=MODEL, contents=[ask], config=config):
    streamed_calls.extend(chunk.function_calls or [])
check("tool stream: one function call", len(streamed_calls) == 1, streamed_calls)
check("tool stream: name and args",
      streamed_calls[0].name == "run_shell_command"
      and (streamed_calls[0].args or {}).get("command") == COMMAND, streamed_calls)

answer = client.models.generate_content(
    model=MODEL,
    config=config,
    contents=[
        ask,
        called.candidates[0].content,
        types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
            id=calls[0].id, name=calls[0].name, response={"output": OUTPUT},
        ))]),
    ],
)
check("tool: result answer", answer.text == RESULT, answer)
summary["call_id"] = calls[0].id
summary["stream_call_id"] = streamed_calls[0].id

# models.list
models = list(client.models.list())
check("models.list", len(models) >= 1 and all(m.name for m in models), models)
summary["models"] = [m.name for m in models]

# errors reach the SDK as its own exception types
try:
    client.models.generate_content(model="mock-error-429", contents="hi")
    check("error 429", False, "no exception raised")
except errors.ClientError as err:
    check("error 429: ClientError", err.code == 429, err)
    check("error 429: status", err.status == "RESOURCE_EXHAUSTED", err)

try:
    client.models.generate_content(model="mock-error-500", contents="hi")
    check("error 500", False, "no exception raised")
except errors.ServerError as err:
    check("error 500: ServerError", err.code == 500, err)

try:
    for _ in client.models.generate_content_stream(model="mock-error-503", contents="hi"):
        pass
    check("stream error 503", False, "no exception raised")
except errors.ServerError as err:
    check("stream error 503: ServerError", err.code == 503, err)

print(json.dumps(summary), flush=True)
