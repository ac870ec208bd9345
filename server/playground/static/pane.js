// One side of the comparison: a model, its parameters, the prompt it will see and the answer it gives.

import { APIError, postJSON, postStream, storedKey } from "./api.js";
import { h } from "./dom.js";
import { curlSnippet, nodeSnippet, pythonSnippet } from "./snippets.js";

const NUMBER_PARAMS = ["temperature", "top_p", "top_k", "max_tokens", "seed"];

// "\n" typed in a stop field means a newline: stops such as "\nUser:" are common.
function parseStops(text) {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => line.replace(/\\n/g, "\n").replace(/\\t/g, "\t"));
}

function routes(mode) {
  return mode === "chat"
    ? { generate: "/v1/chat/completions", render: "/v1/chat/render" }
    : { generate: "/v1/completions", render: "/v1/completions/render" };
}

function seconds(milliseconds) {
  return milliseconds < 1000 ? `${Math.round(milliseconds)} ms` : `${(milliseconds / 1000).toFixed(2)} s`;
}

export class Pane {
  constructor(letter, { onUnauthorized, onAppend, onModelChange }) {
    this.letter = letter;
    this.onUnauthorized = onUnauthorized;
    this.onAppend = onAppend;
    this.element = document.getElementById("pane-template").content.firstElementChild.cloneNode(true);
    this.element.dataset.pane = letter.toLowerCase();
    this.element.setAttribute("aria-label", `Pane ${letter}`);
    this.$ = (selector) => this.element.querySelector(selector);
    this.$(".pane-letter").textContent = letter;
    this.select = this.$(".model-select");
    this.select.setAttribute("aria-label", `Model of pane ${letter}`);
    this.select.addEventListener("change", () => {
      this.drawBadges();
      onModelChange();
    });
    this.models = [];
    this.controller = null;
    this.renderSequence = 0;
    this.answer = "";
    this.$('[data-param="response_format"]').addEventListener("change", (event) => {
      this.$(".schema").hidden = event.target.value !== "json_schema";
    });
    this.$(".append").addEventListener("click", () => this.onAppend(this.answer));
    this.setState("idle");
  }

  get model() {
    return this.select.value;
  }

  get isRunning() {
    return this.controller !== null;
  }

  setState(state) {
    this.element.dataset.state = state;
  }

  setModels(models, preferred) {
    const current = this.model || preferred;
    this.models = models;
    this.select.replaceChildren(
      ...models.map((card) => h("option", { value: card.id }, `${card.id} · ${card.kind}`)),
    );
    if (models.some((card) => card.id === current)) this.select.value = current;
    this.drawBadges();
  }

  choose(modelId) {
    this.select.value = modelId;
    this.drawBadges();
  }

  drawBadges() {
    const card = this.models.find((item) => item.id === this.model);
    const badges = this.$(".badges");
    if (!card) {
      badges.replaceChildren();
      return;
    }
    badges.replaceChildren(...modelBadges(card));
  }

  // -- parameters ---------------------------------------------------------------------------------

  readParams() {
    const params = {};
    for (const name of NUMBER_PARAMS) {
      const text = this.$(`[data-param="${name}"]`).value.trim();
      if (text !== "") params[name] = Number(text);
    }
    const stops = parseStops(this.$('[data-param="stop"]').value);
    if (stops.length) params.stop = stops;
    const grammar = this.$('[data-param="grammar"]').value;
    if (grammar.trim()) params.grammar = grammar;
    const format = this.$('[data-param="response_format"]').value;
    if (format === "json_object") params.response_format = { type: "json_object" };
    if (format === "json_schema") {
      let schema;
      try {
        schema = JSON.parse(this.$('[data-param="schema"]').value);
      } catch (error) {
        throw new Error(`The JSON schema is not valid JSON: ${error.message}`);
      }
      params.response_format = { type: "json_schema", json_schema: { name: "answer", schema } };
    }
    return params;
  }

  saveState() {
    const params = {};
    for (const input of this.element.querySelectorAll("[data-param]")) params[input.dataset.param] = input.value;
    return { model: this.model, params };
  }

  restoreState(saved) {
    if (!saved) return;
    for (const [name, value] of Object.entries(saved.params || {})) {
      const input = this.$(`[data-param="${name}"]`);
      if (input) input.value = value;
    }
    this.$(".schema").hidden = this.$('[data-param="response_format"]').value !== "json_schema";
    if (saved.model && this.models.some((card) => card.id === saved.model)) this.choose(saved.model);
  }

  requestBody(shared, { stream }) {
    if (shared.toolsError) throw new Error(shared.toolsError);
    const body = { model: this.model };
    if (shared.mode === "chat") {
      body.messages = shared.messages;
      if (shared.tools) {
        body.tools = shared.tools;
        body.tool_choice = shared.toolChoice;
        // Only a change from the default is sent, so copied snippets stay short.
        if (!shared.parallelTools) body.parallel_tool_calls = false;
      }
    } else {
      body.prompt = shared.prompt;
    }
    Object.assign(body, this.readParams());
    if (stream) {
      body.stream = true;
      body.stream_options = { include_usage: true };
    }
    return body;
  }

  // -- the prompt the model sees --------------------------------------------------------------------

  async renderPrompt(shared) {
    const sequence = ++this.renderSequence;
    const view = this.$(".prompt-view");
    if (!this.model) return;
    if (shared.mode === "completion" && !shared.prompt) {
      this.showPrompt({ segments: [], num_tokens: 0, path: ["raw prompt"], note: "(empty prompt)" });
      return;
    }
    view.classList.add("stale");
    const card = this.models.find((item) => item.id === this.model);
    // Rendering needs the model's vocabulary, so the first render of an unloaded model loads it.
    if (card && card.status !== "loaded") this.$(".prompt-path").textContent = "loading the model…";
    let rendered;
    try {
      const body = this.requestBody(shared, { stream: false });
      rendered = await postJSON(routes(shared.mode).render, body);
    } catch (error) {
      if (sequence !== this.renderSequence) return;
      view.classList.remove("stale");
      if (error instanceof APIError && error.status === 401) this.onUnauthorized();
      this.showPromptError(error.message);
      return;
    }
    if (sequence !== this.renderSequence) return; // a newer edit is already on its way
    this.showPrompt({ ...rendered, path: promptPath(shared.mode, rendered) });
  }

  showPrompt({ segments, num_tokens, path, note }) {
    const view = this.$(".prompt-view");
    view.classList.remove("stale", "error");
    view.replaceChildren(
      ...segments.map((segment) =>
        segment.special ? h("span", { class: "special", title: "special token" }, segment.text) : segment.text,
      ),
      h("span", { class: "continue", title: "the model continues here" }, note || ""),
    );
    this.$(".prompt-path").replaceChildren(...path);
    this.$(".prompt-count").textContent = `${num_tokens} tokens`;
  }

  showPromptError(message) {
    const view = this.$(".prompt-view");
    view.classList.add("error");
    view.textContent = message;
    this.$(".prompt-count").textContent = "";
  }

  // -- running ------------------------------------------------------------------------------------

  clearOutput() {
    this.answer = "";
    this.reasoning = "";
    this.calls = [];
    this.$(".content").textContent = "";
    this.$(".reasoning").hidden = true;
    this.$(".reasoning-text").textContent = "";
    this.$(".tool-calls").hidden = true;
    this.$(".tool-calls").replaceChildren();
    this.$(".output .error").hidden = true;
    this.$(".append").hidden = true;
    for (const stat of this.element.querySelectorAll("[data-stat]")) stat.textContent = "";
  }

  showError(message) {
    const error = this.$(".output .error");
    error.textContent = message;
    error.hidden = false;
  }

  // Returns whether the delta carried generated text of any kind.
  applyChatDelta(delta) {
    let got = false;
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (reasoning) {
      this.reasoning += reasoning;
      this.$(".reasoning").hidden = false;
      this.$(".reasoning-text").textContent = this.reasoning;
      got = true;
    }
    if (delta.content) {
      this.appendContent(delta.content);
      got = true;
    }
    for (const call of delta.tool_calls || []) {
      const known = (this.calls[call.index] ||= { id: "", name: "", arguments: "" });
      if (call.id) known.id = call.id;
      if (call.function?.name) known.name += call.function.name;
      if (call.function?.arguments) known.arguments += call.function.arguments;
      got = true;
    }
    if (delta.tool_calls) this.drawCalls();
    return got;
  }

  appendContent(text) {
    this.answer += text;
    this.$(".content").textContent = this.answer;
  }

  drawCalls() {
    const list = this.$(".tool-calls");
    list.hidden = false;
    list.replaceChildren(
      ...this.calls.filter(Boolean).map((call) =>
        h("li", { class: "tool-call" }, h("span", { class: "call-name" }, call.name), h("code", {}, call.arguments)),
      ),
    );
  }

  showStats({ started, first, end, tokens, finish }) {
    const stat = (name, text) => {
      this.$(`[data-stat="${name}"]`).textContent = text;
    };
    stat("ttft", first !== null ? `TTFT ${seconds(first - started)}` : "");
    if (first !== null && tokens > 1 && end > first) {
      stat("tps", `${((tokens - 1) / ((end - first) / 1000)).toFixed(1)} tok/s`);
    }
    stat("tokens", tokens ? `${tokens} tokens` : "");
    stat("finish", finish ? `finish: ${finish}` : "");
  }

  async run(shared) {
    if (this.isRunning || !this.model) return;
    this.clearOutput();
    let body;
    try {
      body = this.requestBody(shared, { stream: true });
    } catch (error) {
      this.showError(error.message);
      this.setState("error");
      return;
    }
    const controller = new AbortController();
    this.controller = controller;
    this.setState("running");
    const timing = { started: performance.now(), first: null, end: null, tokens: 0, finish: null };
    let chunks = 0;
    let usage = null;
    try {
      for await (const event of postStream(routes(shared.mode).generate, body, controller.signal)) {
        const data = JSON.parse(event.data);
        if (event.event === "error") {
          this.showError(data.error?.message || "the stream ended with an error");
          timing.finish = "error";
          continue;
        }
        if (data.usage) usage = data.usage;
        for (const choice of data.choices || []) {
          const got = shared.mode === "chat" ? this.applyChatDelta(choice.delta || {}) : this.appendText(choice.text);
          if (got) {
            chunks += 1;
            timing.first ??= performance.now();
          }
          if (choice.finish_reason) timing.finish = choice.finish_reason;
        }
        timing.end = performance.now();
        timing.tokens = usage ? usage.completion_tokens : chunks;
        this.showStats(timing);
      }
    } catch (error) {
      if (error.name === "AbortError") {
        timing.finish = "stopped";
      } else {
        if (error instanceof APIError && error.status === 401) this.onUnauthorized();
        this.showError(error.message);
        timing.finish = "error";
      }
    } finally {
      this.controller = null;
    }
    timing.end ??= performance.now();
    timing.tokens = usage ? usage.completion_tokens : chunks;
    this.showStats(timing);
    this.setState(timing.finish === "stopped" || timing.finish === "error" ? timing.finish : "done");
    this.$(".append").hidden = shared.mode !== "chat" || !this.answer;
  }

  appendText(text) {
    if (!text) return false;
    this.appendContent(text);
    return true;
  }

  stop() {
    this.controller?.abort();
  }

  snippet(kind, shared) {
    const body = this.requestBody(shared, { stream: false });
    const context = {
      baseURL: window.location.origin,
      route: routes(shared.mode).generate,
      mode: shared.mode,
      body,
      hasKey: Boolean(storedKey()),
    };
    if (kind === "curl") return curlSnippet(context);
    if (kind === "python") return pythonSnippet(context);
    return nodeSnippet(context);
  }
}

export function modelBadges(card) {
  const template = card.template_error
    ? h("span", { class: "badge warn", title: card.template_error }, "template error")
    : h("span", { class: "badge" }, card.has_chat_template ? "template" : "no template");
  // What the model can do beyond plain completion (the same list /api/show reports).
  const abilities = (card.capabilities || [])
    .filter((word) => word !== "completion")
    .map((word) => h("span", { class: "badge capability" }, word));
  return [
    h("span", { class: `badge kind kind-${card.kind}` }, card.kind),
    template,
    ...abilities,
    h("span", { class: `badge status status-${card.status}` }, card.status),
  ];
}

// Which path made the prompt: the model's template (named), the base transcript, or raw text.
function promptPath(mode, rendered) {
  if (mode === "completion") return ["raw prompt, as sent"];
  if (rendered.uses_template) {
    const format = rendered.chat_format ? ` · ${rendered.chat_format} format` : "";
    return ["template ", h("code", {}, rendered.template || "chat template"), format];
  }
  const stops = rendered.stops.map((stop) => JSON.stringify(stop)).join(" ");
  return ["base transcript · stops ", h("code", {}, stops)];
}
