"""Drives a running Switchyard with the official `openai` Python SDK.

    python openai_conformance.py BASE_URL API_KEY

The gateway must serve two things: the alias `local` (a real llama.cpp model) and the provider
`fake` (a scripted OpenAI-compatible upstream addressed as `fake/<model>`, whose answer depends
on the model name; see tests/it/sdk_openai.rs). Prints one line per check and exits non-zero if
any check failed.
"""

from __future__ import annotations

import json
import sys

import checks
import openai
from openai import OpenAI
from pydantic import BaseModel

BASE_URL, API_KEY = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=60)
CHECKS, check = checks.registry()


WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Local time in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
]


@check
def models_list():
    ids = [m.id for m in client.models.list()]
    assert "local" in ids, ids
    one = client.models.retrieve("local")
    assert one.id == "local" and one.object == "model", one


@check
def chat_real_model():
    resp = client.chat.completions.create(
        model="local",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Name a colour."},
        ],
        max_tokens=12,
        temperature=0,
    )
    assert resp.object == "chat.completion", resp
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content.strip(), resp
    assert choice.finish_reason in ("stop", "length"), choice
    assert 0 < resp.usage.completion_tokens <= 12, resp.usage
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


@check
def stream_real_model_with_usage():
    stream = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "Count to five."}],
        max_tokens=16,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, chunks = "", None, None, 0
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == [], chunk
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    assert chunks >= 3, chunks
    assert text.strip(), "no streamed text"
    assert finish in ("stop", "length"), finish
    assert usage is not None and 0 < usage.completion_tokens <= 16, usage


@check
def stream_helper_accumulates():
    with client.chat.completions.stream(
        model="local", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
    ) as stream:
        for _ in stream:
            pass
        try:
            final = stream.get_final_completion()
        except openai.LengthFinishReasonError as e:  # the tiny model may run to max_tokens
            final = e.completion
    assert final.choices[0].message.content, final
    assert final.choices[0].finish_reason in ("stop", "length"), final


@check
def parallel_tool_calls_and_results():
    messages = [{"role": "user", "content": "Weather and time in Paris?"}]
    resp = client.chat.completions.create(
        model="fake/gpt-tools", messages=messages, tools=WEATHER_TOOLS, parallel_tool_calls=True
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"], calls
    assert all(json.loads(c.function.arguments) == {"city": "Paris"} for c in calls), calls
    assert len({c.id for c in calls}) == 2, calls

    messages.append(choice.message.model_dump(exclude_none=True))
    for c in calls:
        messages.append({"role": "tool", "tool_call_id": c.id, "content": json.dumps({"ok": c.function.name})})
    follow = client.chat.completions.create(model="fake/gpt-tools", messages=messages, tools=WEATHER_TOOLS)
    assert follow.choices[0].message.content == "It is 21C and 14:00 in Paris.", follow


@check
def streamed_tool_calls_reassemble():
    stream = client.chat.completions.create(
        model="fake/gpt-tools",
        messages=[{"role": "user", "content": "Weather and time in Paris?"}],
        tools=WEATHER_TOOLS,
        stream=True,
    )
    calls, finish = {}, None
    for chunk in stream:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            slot["id"] = tc.id or slot["id"]
            if tc.function:
                slot["name"] += tc.function.name or ""
                slot["arguments"] += tc.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls", finish
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_time"], calls
    assert all(json.loads(c["arguments"]) == {"city": "Paris"} for c in calls.values()), calls
    assert all(c["id"] for c in calls.values()), calls


class Weather(BaseModel):
    city: str
    temp_c: int


@check
def structured_output_parse():
    resp = client.chat.completions.parse(
        model="fake/gpt-json",
        messages=[{"role": "user", "content": "Weather in Paris as JSON"}],
        response_format=Weather,
    )
    parsed = resp.choices[0].message.parsed
    assert parsed == Weather(city="Paris", temp_c=21), parsed


@check
def embeddings_default_base64_and_float():
    # The SDK asks for base64 by default and decodes it to floats.
    resp = client.embeddings.create(model="local", input=["The sky is blue.", "Grass is green."])
    assert [d.index for d in resp.data] == [0, 1], resp.data
    assert all(len(d.embedding) == 576 for d in resp.data)
    assert resp.usage.prompt_tokens > 0
    floats = client.embeddings.create(model="local", input="The sky is blue.", encoding_format="float")
    a, b = resp.data[0].embedding, floats.data[0].embedding
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-4


@check
def wrong_key_is_authentication_error():
    bad = OpenAI(base_url=BASE_URL, api_key="sk-wrong", max_retries=0)
    try:
        bad.models.list()
    except openai.AuthenticationError as e:
        assert e.status_code == 401
        return
    raise AssertionError("no AuthenticationError")


@check
def unknown_model_is_not_found():
    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    except openai.NotFoundError as e:
        assert e.status_code == 404 and e.code == "model_not_found", (e.code, e.body)
        return
    raise AssertionError("no NotFoundError")


@check
def upstream_rate_limit_is_rate_limit_error_with_retry_after():
    try:
        client.chat.completions.create(model="fake/gpt-limited", messages=[{"role": "user", "content": "x"}])
    except openai.RateLimitError as e:
        assert e.status_code == 429
        assert e.response.headers.get("retry-after") == "7", dict(e.response.headers)
        assert e.code == "rate_limit_exceeded", e.body
        assert "sk-upstream" not in e.response.text
        return
    raise AssertionError("no RateLimitError")


@check
def bad_request_is_bad_request_error():
    try:
        client.chat.completions.create(model="local", messages=[])
    except openai.BadRequestError as e:
        assert e.status_code == 400, e
        assert "messages" in str(e.message), e.message
    else:
        raise AssertionError("empty messages accepted")
    try:
        client.chat.completions.create(model="fake/gpt-badreq", messages=[{"role": "user", "content": "x"}])
    except openai.BadRequestError as e:
        assert e.param == "temperature" and e.type == "invalid_request_error", e.body
        return
    raise AssertionError("upstream 400 not raised as BadRequestError")



if __name__ == "__main__":
    sys.exit(checks.run(CHECKS, f"openai {openai.__version__}"))
