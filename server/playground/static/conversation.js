// The conversation editor: turns with a role and text; add, delete, move up and down.

import { h } from "./dom.js";

const ROLES = ["system", "user", "assistant"];

export class Conversation {
  constructor(list, onChange) {
    this.list = list;
    this.onChange = onChange;
    this.messages = [];
  }

  set(messages) {
    this.messages = messages.map(({ role, content }) => ({ role, content }));
    this.draw();
  }

  add(role, content = "", { focus = true } = {}) {
    this.messages.push({ role, content });
    this.changed();
    if (focus) this.list.querySelectorAll("textarea")[this.messages.length - 1].focus();
  }

  // The next turn alternates with the last one, as a conversation does.
  nextRole() {
    const last = this.messages.at(-1);
    return last && last.role === "user" ? "assistant" : "user";
  }

  changed() {
    this.draw();
    this.onChange();
  }

  move(index, offset) {
    const target = index + offset;
    if (target < 0 || target >= this.messages.length) return;
    const [message] = this.messages.splice(index, 1);
    this.messages.splice(target, 0, message);
    this.changed();
    this.list.querySelectorAll(".message")[target].querySelector(offset < 0 ? ".up" : ".down")?.focus();
  }

  draw() {
    this.list.replaceChildren(...this.messages.map((message, index) => this.row(message, index)));
  }

  row(message, index) {
    const last = this.messages.length - 1;
    const label = `turn ${index + 1}`;
    const role = h(
      "select",
      {
        class: "role",
        "aria-label": `Role of ${label}`,
        onchange: (event) => {
          message.role = event.target.value;
          event.target.closest(".message").className = `message role-${message.role}`;
          this.onChange();
        },
      },
      ROLES.map((name) => h("option", { value: name, selected: name === message.role }, name)),
    );
    const text = h("textarea", {
      rows: Math.min(8, Math.max(2, message.content.split("\n").length)),
      "aria-label": `Text of ${label}`,
      spellcheck: "false",
      value: message.content,
      oninput: (event) => {
        message.content = event.target.value;
        this.onChange();
      },
    });
    return h(
      "li",
      { class: `message role-${message.role}` },
      h(
        "div",
        { class: "message-head" },
        role,
        h("button", { class: "icon up", "aria-label": `Move ${label} up`, disabled: index === 0, onclick: () => this.move(index, -1) }, "↑"),
        h("button", { class: "icon down", "aria-label": `Move ${label} down`, disabled: index === last, onclick: () => this.move(index, 1) }, "↓"),
        h("button", {
          class: "icon delete",
          "aria-label": `Delete ${label}`,
          onclick: () => {
            this.messages.splice(index, 1);
            this.changed();
          },
        }, "✕"),
      ),
      text,
    );
  }
}
