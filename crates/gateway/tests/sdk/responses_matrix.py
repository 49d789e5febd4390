"""The official `openai` SDK's Responses API against every provider kind the gateway fronts.

    python responses_matrix.py BASE_URL API_KEY OTHER_KEY MODEL [MODEL ...]

Each MODEL reaches a fake provider that plays one tool conversation in its own wire protocol
(tests/it/common/tool_turns.rs): without tools it answers "Bonjour."; with tools it calls
get_weather and get_time for Paris; given their results it answers "It is 21C and 14:00 in
Paris.". For each model: `responses.create` and `responses.stream`, the function-call round trip
plain and streamed, and a stored conversation continued with `previous_response_id` on the next
model in the list (another provider kind). Then `responses.parse`, retrieve, input items, delete,
and OTHER_KEY (another virtual key) getting 404s for the first key's responses. Prints one line per
check; exits non-zero if any failed.
"""

from __future__ import annotations

import json
import sys
import traceback

import openai
from pydantic import BaseModel

BASE_URL, API_KEY, OTHER_KEY, MODELS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
client = openai.OpenAI(base_url=f"{BASE_URL}/v1", api_key=API_KEY, max_retries=0, timeout=30)
other = openai.OpenAI(base_url=f"{BASE_URL}/v1", api_key=OTHER_KEY, max_retries=0, timeout=30)
HELLO, FINAL = "Bonjour.", "It is 21C and 14:00 in Paris."
NAMES = ["get_weather", "get_time"]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "name": n, "parameters": SCHEMA, "strict": False} for n in NAMES]
ASK = "Weather and time in Paris?"


def text(model):
    r = client.responses.create(model=model, input="Hi", max_output_tokens=50)
    assert r.object == "response" and r.status == "completed", r
    assert r.output_text == HELLO, r
    assert r.usage.output_tokens > 0 and r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens, r
    assert r.id.startswith("resp_"), r.id
    with client.responses.stream(model=model, input="Hi", max_output_tokens=50) as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "".join(deltas) == HELLO, deltas
    assert final.output_text == HELLO and final.status == "completed", final
    assert final.usage is not None and final.usage.output_tokens > 0, final.usage


def tools(model):
    r = client.responses.create(model=model, input=ASK, tools=TOOLS, max_output_tokens=200)
    calls = [o for o in r.output if o.type == "function_call"]
    assert [c.name for c in calls] == NAMES, r.output
    assert all(json.loads(c.arguments) == {"city": "Paris"} for c in calls), calls
    history = [{"role": "user", "content": ASK}] + [c.model_dump(exclude_none=True) for c in calls]
    history += [{"type": "function_call_output", "call_id": c.call_id, "output": "ok"} for c in calls]
    follow = client.responses.create(model=model, input=history, tools=TOOLS, max_output_tokens=200)
    assert follow.output_text == FINAL, follow

    with client.responses.stream(model=model, input=ASK, tools=TOOLS, max_output_tokens=200) as s:
        argument_deltas = [e for e in s if e.type == "response.function_call_arguments.delta"]
        final = s.get_final_response()
    calls = [o for o in final.output if o.type == "function_call"]
    assert [c.name for c in calls] == NAMES, final.output
    assert all(json.loads(c.arguments) == {"city": "Paris"} and c.call_id for c in calls), calls
    assert argument_deltas, "arguments are streamed as deltas"


def continued(model, next_model):
    first = client.responses.create(model=model, input="Hi", max_output_tokens=50)
    second = client.responses.create(
        model=next_model, previous_response_id=first.id, input="And again?", max_output_tokens=50)
    assert second.output_text == HELLO and second.previous_response_id == first.id, second
    # A function-call round trip continued by id: only the outputs are sent the second time.
    asked = client.responses.create(model=model, input=ASK, tools=TOOLS, max_output_tokens=200)
    outputs = [{"type": "function_call_output", "call_id": o.call_id, "output": "ok"}
               for o in asked.output if o.type == "function_call"]
    answered = client.responses.create(
        model=next_model, previous_response_id=asked.id, input=outputs, tools=TOOLS, max_output_tokens=200)
    assert answered.output_text == FINAL, answered


class City(BaseModel):
    city: str


def parse():
    r = client.responses.parse(model="json", input="Which city?", text_format=City)
    assert r.output_parsed == City(city="Paris"), r


def stored():
    r = client.responses.create(model=MODELS[0], input="Remember me", max_output_tokens=50)
    again = client.responses.retrieve(r.id)
    assert again.id == r.id and again.output_text == HELLO, again
    items = client.responses.input_items.list(r.id)
    assert [i.content[0].text for i in items.data] == ["Remember me"], items
    for call in (lambda: other.responses.retrieve(r.id), lambda: other.responses.delete(r.id),
                 lambda: other.responses.input_items.list(r.id)):
        try:
            call()
            raise AssertionError("another key saw a stored response")
        except openai.NotFoundError:
            pass
    try:
        other.responses.create(model=MODELS[0], previous_response_id=r.id, input="x")
        raise AssertionError("another key continued a stored response")
    except openai.BadRequestError as e:
        assert e.body["param"] == "previous_response_id", e.body
    client.responses.delete(r.id)
    try:
        client.responses.retrieve(r.id)
        raise AssertionError("a deleted response was found")
    except openai.NotFoundError:
        pass


def main() -> int:
    checks = []
    for i, model in enumerate(MODELS):
        next_model = MODELS[(i + 1) % len(MODELS)]
        checks += [(f"{model} text", lambda m=model: text(m)), (f"{model} tools", lambda m=model: tools(m)),
                   (f"{model} continued on {next_model}", lambda m=model, n=next_model: continued(m, n))]
    checks += [("parse", parse), ("stored", stored)]
    failed = 0
    for name, check in checks:
        try:
            check()
            print(f"ok   {name}", flush=True)
        except Exception:  # noqa: BLE001 - report every failing check, then fail
            failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
    print(f"{len(checks) - failed}/{len(checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
