// openai-node against a running localchat: one streamed and one whole Responses API call.
// Prints one JSON line that tests/integration/test_responses_node.py checks.
// Usage: node responses_stream.mjs <base-url ending in /v1> <model>
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const request = { model, input: "Once upon a time", max_output_tokens: 16, temperature: 0 };

const events = [];
let deltas = "";
let doneText = null;
let final = null;
const stream = await client.responses.create({ ...request, stream: true });
for await (const event of stream) {
  events.push({ type: event.type, sequence_number: event.sequence_number });
  if (event.type === "response.output_text.delta") deltas += event.delta;
  if (event.type === "response.output_text.done") doneText = event.text;
  if (["response.completed", "response.incomplete", "response.failed"].includes(event.type)) {
    final = event.response;
  }
}
const whole = await client.responses.create(request);
console.log(
  JSON.stringify({
    node: process.version,
    events,
    deltas,
    doneText,
    final: final && {
      status: final.status,
      output_text: final.output_text ?? final.output?.[0]?.content?.[0]?.text,
      incomplete_details: final.incomplete_details,
      usage: final.usage,
    },
    whole: { id: whole.id, output_text: whole.output_text, status: whole.status },
  }),
);
