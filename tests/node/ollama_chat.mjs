// The `ollama` JavaScript library against a running localchat: one streamed chat, one whole chat,
// the model list and the version. Prints one JSON line that tests/integration/test_ollama_node.py
// checks; any error exits non-zero.
// Usage: node ollama_chat.mjs <server-url> <model>
import { Ollama } from "ollama";

const host = process.argv[2];
const model = process.argv[3];
if (!host || !model) throw new Error("usage: node ollama_chat.mjs <server-url> <model>");
const ollama = new Ollama({ host });
const request = {
  model,
  messages: [{ role: "user", content: "Name a colour." }],
  options: { temperature: 0, num_predict: 12, seed: 3 },
};

const chunks = [];
for await (const chunk of await ollama.chat({ ...request, stream: true })) {
  chunks.push({ content: chunk.message.content, done: chunk.done, done_reason: chunk.done_reason ?? null });
}
const whole = await ollama.chat(request);
const list = await ollama.list();
const version = await ollama.version();
console.log(
  JSON.stringify({
    node: process.version,
    chunks,
    streamed: chunks.map((chunk) => chunk.content).join(""),
    whole: whole.message.content,
    wholeDone: whole.done,
    evalCount: whole.eval_count,
    models: list.models.map((entry) => entry.model),
    version: version.version,
  }),
);
