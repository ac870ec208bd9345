// openai-node against a running localchat: one streamed and one whole Responses API call.
// Prints one JSON line that tests/integration/test_responses_node.py checks; any error exits non-zero.
// Usage: node responses_stream.mjs [base-url ending in /v1] [model]
//   (or LOCALCHAT_BASE_URL / LOCALCHAT_MODEL in the environment)
import OpenAI from "openai";

const baseURL = process.argv[2] ?? process.env.LOCALCHAT_BASE_URL;
const model = process.argv[3] ?? process.env.LOCALCHAT_MODEL;
if (!baseURL || !model) throw new Error("usage: node responses_stream.mjs <base-url> <model>");
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const request = { model, input: "Once upon a time", max_output_tokens: 16, temperature: 0 };

// The SDK adds output_text only to non-streamed responses; this is its rule for a streamed one.
const outputText = (response) =>
  response.output
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content)
    .filter((part) => part.type === "output_text")
    .map((part) => part.text)
    .join("");

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
if (final === null) throw new Error("the stream ended without a terminal response event");
const whole = await client.responses.create(request);
console.log(
  JSON.stringify({
    node: process.version,
    events,
    deltas,
    doneText,
    final: {
      status: final.status,
      output_text: outputText(final),
      incomplete_details: final.incomplete_details,
      usage: final.usage,
    },
    whole: { id: whole.id, output_text: whole.output_text, status: whole.status },
  }),
);
