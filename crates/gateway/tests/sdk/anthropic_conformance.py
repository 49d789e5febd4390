"""Drives a running Switchyard's /v1/messages with the official `anthropic` Python SDK.

    python anthropic_conformance.py BASE_URL API_KEY

The gateway must serve the alias `local` (a real llama.cpp model, OpenAI dialect upstream), the
provider `fake` (a scripted OpenAI-compatible upstream, `fake/<model>`) and the provider `claude`
(a scripted Anthropic upstream, `claude/<model>`); see tests/it/sdk_anthropic.rs. Prints one line
per check and exits non-zero if any check failed.
"""

from __future__ import annotations

import sys

import checks
import anthropic
from anthropic import Anthropic

BASE_URL, API_KEY = sys.argv[1], sys.argv[2]
client = Anthropic(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=60)
CHECKS, check = checks.registry()


TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
    {
        "name": "get_time",
        "description": "Local time in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
]


@check
def create_on_a_real_model():
    msg = client.messages.create(
        model="local",
        max_tokens=16,
        system="You are terse.",
        messages=[{"role": "user", "content": "Name a colour."}],
    )
    assert msg.type == "message" and msg.role == "assistant", msg
    assert msg.content[0].type == "text" and msg.content[0].text.strip(), msg
    assert msg.stop_reason in ("end_turn", "max_tokens"), msg.stop_reason
    assert msg.id.startswith("msg_"), msg.id
    assert 0 < msg.usage.output_tokens <= 16 and msg.usage.input_tokens > 0, msg.usage


@check
def stream_helper_on_a_real_model():
    with client.messages.stream(
        model="local", max_tokens=16, messages=[{"role": "user", "content": "Count to five."}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.strip(), "no streamed text"
    assert final.content[0].text == text, (final.content, text)
    assert final.stop_reason in ("end_turn", "max_tokens"), final.stop_reason
    assert 0 < final.usage.output_tokens <= 16, final.usage


@check
def raw_stream_event_order():
    names = [
        e.type
        for e in client.messages.create(
            model="local", max_tokens=8, stream=True, messages=[{"role": "user", "content": "Hi"}]
        )
    ]
    assert names[0] == "message_start" and names[-1] == "message_stop", names
    assert names[1] == "content_block_start", names
    assert names[-2] == "message_delta" and names[-3] == "content_block_stop", names
    assert set(names[2:-3]) <= {"content_block_delta", "ping"}, names


@check
def tool_use_and_tool_results():
    messages = [{"role": "user", "content": "Weather and time in Paris?"}]
    msg = client.messages.create(model="fake/gpt-tools", max_tokens=256, tools=TOOLS, messages=messages)
    assert msg.stop_reason == "tool_use", msg
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_time"], uses
    assert all(u.input == {"city": "Paris"} for u in uses), uses
    messages.append({"role": "assistant", "content": msg.content})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": u.id, "content": f"ok {u.name}"} for u in uses],
        }
    )
    follow = client.messages.create(model="fake/gpt-tools", max_tokens=256, tools=TOOLS, messages=messages)
    assert follow.content[0].text == "It is 21C and 14:00 in Paris.", follow


@check
def streamed_tool_use_reassembles():
    with client.messages.stream(
        model="fake/gpt-tools",
        max_tokens=256,
        tools=TOOLS,
        messages=[{"role": "user", "content": "Weather and time in Paris?"}],
    ) as stream:
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_time"], final.content
    assert all(u.input == {"city": "Paris"} for u in uses), uses
    assert final.stop_reason == "tool_use", final.stop_reason


@check
def anthropic_upstream_plain_and_streamed():
    msg = client.messages.create(
        model="claude/claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
    )
    assert msg.content[0].text == "Bonjour.", msg
    with client.messages.stream(
        model="claude/claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        assert "".join(stream.text_stream) == "Bonjour."


@check
def count_tokens():
    small = client.messages.count_tokens(model="local", messages=[{"role": "user", "content": "Hi"}])
    big = client.messages.count_tokens(model="local", messages=[{"role": "user", "content": "word " * 500}])
    assert 0 < small.input_tokens < big.input_tokens, (small, big)


@check
def errors_raise_the_sdk_classes():
    try:
        Anthropic(base_url=BASE_URL, api_key="sk-wrong", max_retries=0).messages.create(
            model="local", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
        raise AssertionError("wrong key accepted")
    except anthropic.AuthenticationError as e:
        assert e.status_code == 401
    try:
        client.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("unknown model accepted")
    except anthropic.NotFoundError as e:
        assert e.body["error"]["type"] == "not_found_error", e.body
    try:
        client.messages.create(model="local", max_tokens=8, messages=[])
        raise AssertionError("empty messages accepted")
    except anthropic.BadRequestError as e:
        assert e.body["error"]["type"] == "invalid_request_error", e.body
    try:
        client.messages.create(model="fake/gpt-limited", max_tokens=8, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("429 not raised")
    except anthropic.RateLimitError as e:
        assert e.response.headers.get("retry-after") == "7", dict(e.response.headers)
        assert e.body["error"]["type"] == "rate_limit_error", e.body
    try:
        client.messages.create(
            model="claude/claude-overloaded", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
        raise AssertionError("529 not raised")
    except anthropic.OverloadedError as e:
        assert e.status_code == 529 and e.body["error"]["type"] == "overloaded_error", e.body



if __name__ == "__main__":
    sys.exit(checks.run(CHECKS, f"anthropic {anthropic.__version__}"))
