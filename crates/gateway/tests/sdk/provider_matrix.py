"""Both official SDKs against every provider kind the gateway fronts.

    python provider_matrix.py BASE_URL API_KEY MODEL [MODEL ...]

Each MODEL (e.g. `bedrock/eu.anthropic.claude-...`) reaches a fake provider that plays one tool
conversation in its own wire protocol (tests/it/common/tool_turns.rs): without tools it answers
"Bonjour."; with tools it calls get_weather and get_time for Paris; given their results it answers
"It is 21C and 14:00 in Paris.". For each model, the `openai` SDK (Chat Completions) and the
`anthropic` SDK (Messages) run that conversation plain and streamed. Prints one line per check;
exits non-zero if any failed.
"""

from __future__ import annotations

import json
import sys
import traceback

import anthropic
import openai

BASE_URL, API_KEY, MODELS = sys.argv[1], sys.argv[2], sys.argv[3:]
oa = openai.OpenAI(base_url=f"{BASE_URL}/v1", api_key=API_KEY, max_retries=0, timeout=30)
an = anthropic.Anthropic(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=30)
HELLO, FINAL = "Bonjour.", "It is 21C and 14:00 in Paris."
NAMES = ["get_weather", "get_time"]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OA_TOOLS = [{"type": "function", "function": {"name": n, "parameters": SCHEMA}} for n in NAMES]
AN_TOOLS = [{"name": n, "input_schema": SCHEMA} for n in NAMES]
ASK = "Weather and time in Paris?"


def openai_text(model):
    r = oa.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=50)
    assert r.choices[0].message.content == HELLO, r
    assert r.choices[0].finish_reason == "stop" and r.usage.completion_tokens > 0, r
    chunks = list(oa.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=50, stream=True,
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == HELLO, chunks
    assert chunks[-1].usage is not None and chunks[-1].choices == [], chunks[-1]


def openai_tools(model):
    messages = [{"role": "user", "content": ASK}]
    r = oa.chat.completions.create(model=model, messages=messages, tools=OA_TOOLS, max_tokens=200)
    calls = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls", r
    assert [c.function.name for c in calls] == NAMES, calls
    assert all(json.loads(c.function.arguments) == {"city": "Paris"} for c in calls), calls
    messages.append(r.choices[0].message.model_dump(exclude_none=True))
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in calls]
    follow = oa.chat.completions.create(model=model, messages=messages, tools=OA_TOOLS, max_tokens=200)
    assert follow.choices[0].message.content == FINAL, follow

    acc, finish = {}, None
    for c in oa.chat.completions.create(model=model, messages=messages[:1], tools=OA_TOOLS, max_tokens=200, stream=True):
        if not c.choices:
            continue
        for tc in c.choices[0].delta.tool_calls or []:
            slot = acc.setdefault(tc.index, {"name": "", "args": "", "id": None})
            slot["id"] = tc.id or slot["id"]
            slot["name"] += (tc.function.name or "") if tc.function else ""
            slot["args"] += (tc.function.arguments or "") if tc.function else ""
        finish = c.choices[0].finish_reason or finish
    assert finish == "tool_calls", finish
    assert [acc[i]["name"] for i in sorted(acc)] == NAMES, acc
    assert all(json.loads(s["args"]) == {"city": "Paris"} and s["id"] for s in acc.values()), acc


def anthropic_text(model):
    m = an.messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": "Hi"}])
    assert m.content[0].text == HELLO and m.stop_reason == "end_turn", m
    with an.messages.stream(model=model, max_tokens=50, messages=[{"role": "user", "content": "Hi"}]) as s:
        assert "".join(s.text_stream) == HELLO
        final = s.get_final_message()
    assert final.usage.output_tokens > 0, final.usage


def anthropic_tools(model):
    messages = [{"role": "user", "content": ASK}]
    m = an.messages.create(model=model, max_tokens=200, tools=AN_TOOLS, messages=messages)
    uses = [b for b in m.content if b.type == "tool_use"]
    assert m.stop_reason == "tool_use" and [u.name for u in uses] == NAMES, m
    assert all(u.input == {"city": "Paris"} for u in uses), uses
    messages.append({"role": "assistant", "content": m.content})
    messages.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": u.id, "content": "ok"} for u in uses]})
    follow = an.messages.create(model=model, max_tokens=200, tools=AN_TOOLS, messages=messages)
    assert follow.content[0].text == FINAL, follow
    with an.messages.stream(model=model, max_tokens=200, tools=AN_TOOLS, messages=messages[:1]) as s:
        final = s.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [u.name for u in uses] == NAMES and all(u.input == {"city": "Paris"} for u in uses), final


def main() -> int:
    failed = total = 0
    for model in MODELS:
        for check in (openai_text, openai_tools, anthropic_text, anthropic_tools):
            total += 1
            try:
                check(model)
                print(f"ok   {model} {check.__name__}", flush=True)
            except Exception:  # noqa: BLE001 - report every failing check, then fail
                failed += 1
                print(f"FAIL {model} {check.__name__}\n{traceback.format_exc()}", flush=True)
    print(f"{total - failed}/{total} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
