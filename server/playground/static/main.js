// Wiring: the catalog, the shared conversation or prompt, two panes, the run/stop buttons, dialogs.

import { APIError, getJSON, storedKey, storeKey } from "./api.js";
import { Conversation } from "./conversation.js";
import { debounce, h } from "./dom.js";
import { modelBadges, Pane } from "./pane.js";

const STATE_STORAGE = "localchat.playground";
// While a model loads, its status is checked this often until it is ready.
const LOADING_REFRESH_MS = 2000;
const EXAMPLE_TOOLS = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather in a city",
      parameters: {
        type: "object",
        properties: { city: { type: "string" } },
        required: ["city"],
      },
    },
  },
];
const DEFAULT_STATE = {
  mode: "chat",
  compare: true,
  messages: [
    { role: "system", content: "You are a helpful assistant. Answer briefly." },
    { role: "user", content: "Why is the sky blue?" },
  ],
  prompt: "The three primary colors are",
  tools: "",
  toolChoice: "auto",
  parallelTools: true,
  panes: {},
};

const $ = (selector) => document.querySelector(selector);

function loadState() {
  try {
    return { ...DEFAULT_STATE, ...JSON.parse(localStorage.getItem(STATE_STORAGE) || "{}") };
  } catch {
    return { ...DEFAULT_STATE };
  }
}

class Playground {
  constructor() {
    this.state = loadState();
    this.models = [];
    this.scheduleRender = debounce(() => this.renderPrompts(), 250);
    this.scheduleSave = debounce(() => this.saveState(), 500);
    const callbacks = {
      onUnauthorized: () => this.askForKey(unauthorizedNote()),
      onAppend: (text) => this.conversation.add("assistant", text, { focus: false }),
      onModelChange: () => this.edited(),
    };
    this.panes = [new Pane("A", callbacks), new Pane("B", callbacks)];
    $("#panes").append(...this.panes.map((pane) => pane.element));
    this.conversation = new Conversation($("#messages"), () => this.edited());
    this.conversation.set(this.state.messages);
    $("#raw-prompt").value = this.state.prompt;
    $("#tools-json").value = this.state.tools;
    $("#tool-choice").value = this.state.toolChoice;
    $("#parallel-tools").checked = this.state.parallelTools !== false;
    $("#compare").checked = this.state.compare;
    for (const radio of document.querySelectorAll('input[name="mode"]')) radio.checked = radio.value === this.state.mode;
    this.bindControls();
    this.showMode();
    this.showCompare();
  }

  get mode() {
    return document.querySelector('input[name="mode"]:checked').value;
  }

  get activePanes() {
    return $("#compare").checked ? this.panes : this.panes.slice(0, 1);
  }

  // What every pane sends: the conversation or prompt, and the tools.
  shared() {
    const shared = {
      mode: this.mode,
      messages: this.conversation.messages,
      prompt: $("#raw-prompt").value,
      tools: null,
      toolChoice: $("#tool-choice").value,
      parallelTools: $("#parallel-tools").checked,
      toolsError: null,
    };
    const toolsText = $("#tools-json").value.trim();
    if (toolsText) {
      try {
        const tools = JSON.parse(toolsText);
        if (!Array.isArray(tools) || !tools.length) throw new Error("expected a non-empty array");
        shared.tools = tools;
      } catch (error) {
        shared.toolsError = `The tools are not valid: ${error.message}`;
      }
    }
    $("#tools-error").hidden = !shared.toolsError;
    $("#tools-error").textContent = shared.toolsError || "";
    return shared;
  }

  bindControls() {
    $("#run").addEventListener("click", () => this.run());
    $("#stop").addEventListener("click", () => this.stop());
    $("#add-message").addEventListener("click", () => this.conversation.add(this.conversation.nextRole()));
    $("#refresh-models").addEventListener("click", () => this.loadModels());
    $("#key-button").addEventListener("click", () => this.askForKey());
    $("#compare").addEventListener("change", () => {
      this.showCompare();
      this.edited();
    });
    for (const radio of document.querySelectorAll('input[name="mode"]')) {
      radio.addEventListener("change", () => {
        this.showMode();
        this.edited();
      });
    }
    for (const input of ["#raw-prompt", "#tools-json", "#tool-choice", "#parallel-tools"]) {
      $(input).addEventListener("input", () => this.edited());
    }
    $("#example-tool").addEventListener("click", () => {
      $("#tools-json").value = JSON.stringify(EXAMPLE_TOOLS, null, 2);
      this.edited();
    });
    for (const pane of this.panes) {
      // Parameters change the request (response_format, tools) but also need saving.
      pane.element.querySelector(".params").addEventListener("input", () => this.edited());
      for (const button of pane.element.querySelectorAll("[data-snippet]")) {
        button.addEventListener("click", () => this.showSnippet(pane, button.dataset.snippet));
      }
    }
    $("#snippet-copy").addEventListener("click", () => this.copySnippet());
    $("#key-dialog").addEventListener("close", () => this.keyDialogClosed());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.run();
      } else if (event.key === "Escape" && this.isRunning && !document.querySelector("dialog[open]")) {
        event.preventDefault();
        this.stop();
      }
    });
    // No steady polling (each call is an access-log line): refresh when the tab comes back into view.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !this.modelsFailed) this.loadModels();
    });
  }

  edited() {
    this.scheduleRender();
    this.scheduleSave();
  }

  showMode() {
    const isChat = this.mode === "chat";
    $("#conversation-card").hidden = !isChat;
    $("#prompt-card").hidden = isChat;
    document.body.dataset.mode = this.mode;
  }

  showCompare() {
    this.panes[1].element.hidden = !$("#compare").checked;
    $("#panes").classList.toggle("single", !$("#compare").checked);
  }

  saveState() {
    const shared = this.shared();
    const state = {
      mode: shared.mode,
      compare: $("#compare").checked,
      messages: shared.messages,
      prompt: shared.prompt,
      tools: $("#tools-json").value,
      toolChoice: shared.toolChoice,
      parallelTools: shared.parallelTools,
      panes: Object.fromEntries(this.panes.map((pane) => [pane.letter, pane.saveState()])),
    };
    localStorage.setItem(STATE_STORAGE, JSON.stringify(state));
  }

  // -- the catalog --------------------------------------------------------------------------------

  async loadModels() {
    let list;
    try {
      list = await getJSON("/v1/models");
    } catch (error) {
      this.modelsFailed = true;
      $("#catalog-error").textContent = `Could not list the models: ${error.message}`;
      $("#catalog-error").hidden = false;
      if (error instanceof APIError && error.status === 401) this.askForKey(unauthorizedNote());
      return;
    }
    this.modelsFailed = false;
    $("#catalog-error").hidden = true;
    const isFirstLoad = this.models.length === 0;
    this.models = list.data;
    this.drawCatalog();
    if (this.models.some((card) => card.status === "loading")) {
      clearTimeout(this.loadingTimer);
      this.loadingTimer = setTimeout(() => this.loadModels(), LOADING_REFRESH_MS);
    }
    const [first, second] = defaultPair(this.models);
    this.panes[0].setModels(this.models, first);
    this.panes[1].setModels(this.models, second);
    if (isFirstLoad) {
      for (const pane of this.panes) pane.restoreState(this.state.panes[pane.letter]);
      this.renderPrompts();
    }
  }

  drawCatalog() {
    const rows = this.models.map((card) =>
      h(
        "li",
        { class: "model", dataset: { model: card.id } },
        h("div", { class: "model-name" }, card.id),
        h("div", { class: "badges" }, ...modelBadges(card)),
        h(
          "div",
          { class: "model-use" },
          ...this.panes.map((pane) =>
            h(
              "button",
              {
                class: "small",
                "aria-label": `Use ${card.id} in pane ${pane.letter}`,
                onclick: () => {
                  pane.choose(card.id);
                  if (pane.element.hidden) {
                    $("#compare").checked = true;
                    this.showCompare();
                  }
                  this.edited();
                },
              },
              pane.letter,
            ),
          ),
        ),
      ),
    );
    $("#catalog").replaceChildren(...rows);
  }

  // -- prompts and runs ---------------------------------------------------------------------------

  async renderPrompts() {
    const shared = this.shared();
    const isLoading = (pane) => this.models.find((card) => card.id === pane.model)?.status !== "loaded";
    const loadsModel = this.activePanes.some(isLoading);
    await Promise.all(this.activePanes.map((pane) => pane.renderPrompt(shared)));
    if (loadsModel) this.loadModels(); // rendering loaded it: show the new status
  }

  get isRunning() {
    return this.panes.some((pane) => pane.isRunning);
  }

  async run() {
    if (this.isRunning) return;
    const shared = this.shared();
    $("#run").disabled = true;
    $("#stop").disabled = false;
    try {
      await Promise.all(this.activePanes.map((pane) => pane.run(shared)));
    } finally {
      $("#run").disabled = false;
      $("#stop").disabled = true;
    }
    this.loadModels();
  }

  stop() {
    for (const pane of this.panes) pane.stop();
  }

  // -- dialogs ------------------------------------------------------------------------------------

  showSnippet(pane, kind) {
    let text;
    try {
      text = pane.snippet(kind, this.shared());
    } catch (error) {
      pane.showError(error.message);
      return;
    }
    const names = { curl: "curl", python: "openai-python", node: "openai-node" };
    $("#snippet-title").textContent = `Pane ${pane.letter} as ${names[kind]}`;
    $("#snippet-text").textContent = text;
    $("#snippet-dialog").dataset.kind = kind;
    $("#snippet-note").textContent = storedKey()
      ? "The key is read from the LOCALCHAT_API_KEY environment variable; it is never copied."
      : "";
    $("#snippet-dialog").showModal();
    this.copySnippet();
  }

  async copySnippet() {
    const button = $("#snippet-copy");
    try {
      await navigator.clipboard.writeText($("#snippet-text").textContent);
      button.textContent = "Copied";
    } catch {
      // No clipboard permission (an http origin other than localhost): select it for Ctrl+C instead.
      const range = document.createRange();
      range.selectNodeContents($("#snippet-text"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
  }

  askForKey(note) {
    const dialog = $("#key-dialog");
    if (dialog.open) return;
    $("#key-note").textContent = note
      ? `${note} It is kept in this browser's local storage and sent as Authorization: Bearer.`
      : "The key is kept in this browser's local storage and sent as Authorization: Bearer.";
    $("#key-input").value = storedKey();
    dialog.returnValue = "";
    dialog.showModal();
    $("#key-input").focus();
  }

  keyDialogClosed() {
    const choice = $("#key-dialog").returnValue;
    if (choice === "save") storeKey($("#key-input").value.trim());
    else if (choice === "clear") storeKey("");
    else return;
    this.loadModels().then(() => this.renderPrompts());
  }
}

function unauthorizedNote() {
  return storedKey() ? "The server refused the stored key." : "This server needs an API key.";
}

// A base model against an instruct one shows the difference best; else the first two models.
function defaultPair(models) {
  const base = models.find((card) => card.kind === "base");
  const tuned = models.find((card) => card.kind !== "base" && card.kind !== "embedding");
  if (base && tuned) return [base.id, tuned.id];
  return [models[0]?.id, (models[1] || models[0])?.id];
}

const playground = new Playground();
playground.loadModels();
