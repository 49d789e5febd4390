// The Vercel AI SDK against the gateway: the default OpenAI provider (which speaks the
// Responses API) with one tool, generateText and streamText, stopping after three steps so the
// tool's result goes back to the model.
//
// usage: node vercel_ai.mjs BASE_URL API_KEY MODEL   (run from a directory whose node_modules
// has ai, @ai-sdk/openai and zod)
// Prints one JSON object: each call's final text, steps and tool results.
import { generateText, streamText, tool, stepCountIs } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { z } from 'zod';

const [baseURL, apiKey, modelName] = process.argv.slice(2);
const openai = createOpenAI({ baseURL, apiKey });
const tools = {
  get_weather: tool({
    description: 'The weather in a city.',
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `The weather in ${city} is sunny-marker-42.`,
  }),
};
const prompt = "What's the weather in Paris?";
const summary = (text, steps) => ({
  text,
  steps: steps.length,
  toolResults: steps.flatMap((s) => s.toolResults.map((r) => r.output)),
});

const generated = await generateText({ model: openai(modelName), prompt, tools, stopWhen: stepCountIs(3) });
const streamed = streamText({ model: openai(modelName), prompt, tools, stopWhen: stepCountIs(3) });
let deltas = '';
for await (const piece of streamed.textStream) deltas += piece;
console.log(JSON.stringify({
  generate: summary(generated.text, generated.steps),
  stream: { ...summary(await streamed.text, await streamed.steps), deltas },
}));
