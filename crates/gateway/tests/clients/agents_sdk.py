"""The OpenAI Agents SDK against the gateway: one agent with one function tool and the SDK's
DEFAULT model (no model named here), run plain (Runner.run) and streamed (Runner.run_streamed).

usage: agents_sdk.py BASE_URL API_KEY
Prints one JSON object: the default model's name, each run's final output, the text the
streamed run's deltas added up to, and the tool calls the agent made.
"""
import asyncio
import json
import os
import sys

os.environ["OPENAI_BASE_URL"] = sys.argv[1]
os.environ["OPENAI_API_KEY"] = sys.argv[2]
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"  # traces would be sent to OpenAI

from agents import Agent, Runner, function_tool  # noqa: E402
from agents.models import get_default_model  # noqa: E402
from openai.types.responses import ResponseTextDeltaEvent  # noqa: E402

calls = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    calls.append(city)
    return f"The weather in {city} is sunny-marker-42."


async def main():
    agent = Agent(name="Assistant", instructions="Answer with the tool's result.", tools=[get_weather])
    plain = await Runner.run(agent, "What's the weather in Paris?")
    streamed = Runner.run_streamed(agent, "What's the weather in Paris?")
    deltas = []
    async for event in streamed.stream_events():
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
            deltas.append(event.data.delta)
    print(json.dumps({
        "default_model": get_default_model(),
        "run": plain.final_output,
        "streamed": streamed.final_output,
        "streamed_deltas": "".join(deltas),
        "tool_calls": calls,
    }))


asyncio.run(main())
