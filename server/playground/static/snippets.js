// A pane's request as code a user can paste: curl, openai-python, openai-node. Non-streaming, so the
// snippet prints one answer. A stored key is never copied: snippets read it from LOCALCHAT_API_KEY.

// Request fields the openai SDKs take as named arguments; anything else is a localchat extension.
const SDK_FIELDS = {
  chat: new Set([
    "model", "messages", "temperature", "top_p", "max_tokens", "seed", "stop", "response_format",
    "tools", "tool_choice", "parallel_tool_calls", "stream",
  ]),
  completion: new Set(["model", "prompt", "temperature", "top_p", "max_tokens", "seed", "stop", "stream"]),
};

function shellQuote(text) {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

export function curlSnippet({ baseURL, route, body, hasKey }) {
  const lines = [`curl ${baseURL}${route}`, `  -H "Content-Type: application/json"`];
  if (hasKey) lines.push(`  -H "Authorization: Bearer $LOCALCHAT_API_KEY"`);
  lines.push(`  -d ${shellQuote(JSON.stringify(body, null, 2))}`);
  return lines.join(" \\\n");
}

function pythonLiteral(value, indent) {
  const pad = "    ".repeat(indent + 1);
  const close = "    ".repeat(indent);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value); // a JSON string is a valid Python str
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((item) => pad + pythonLiteral(item, indent + 1)).join(",\n")},\n${close}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  const items = entries.map(([key, item]) => `${pad}${JSON.stringify(key)}: ${pythonLiteral(item, indent + 1)}`);
  return `{\n${items.join(",\n")},\n${close}}`;
}

function splitExtensions(mode, body) {
  const known = {};
  const extra = {};
  for (const [key, value] of Object.entries(body)) {
    (SDK_FIELDS[mode].has(key) ? known : extra)[key] = value;
  }
  return { known, extra };
}

function printedPython(mode, body) {
  if (mode === "completion") return "print(response.choices[0].text)";
  if (body.tools) return "message = response.choices[0].message\nprint(message.tool_calls or message.content)";
  return "print(response.choices[0].message.content)";
}

export function pythonSnippet({ baseURL, mode, body, hasKey }) {
  const { known, extra } = splitExtensions(mode, body);
  const args = Object.entries(known).map(([key, value]) => `    ${key}=${pythonLiteral(value, 1)},`);
  if (Object.keys(extra).length) args.push(`    extra_body=${pythonLiteral(extra, 1)},`);
  const method = mode === "chat" ? "client.chat.completions.create" : "client.completions.create";
  const key = hasKey ? `os.environ["LOCALCHAT_API_KEY"]` : `"not-needed"`;
  return [
    ...(hasKey ? ["import os", ""] : []),
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url=${JSON.stringify(baseURL + "/v1")}, api_key=${key})`,
    `response = ${method}(`,
    ...args,
    ")",
    printedPython(mode, body),
  ].join("\n");
}

export function nodeSnippet({ baseURL, mode, body, hasKey }) {
  const method = mode === "chat" ? "client.chat.completions.create" : "client.completions.create";
  const key = hasKey ? "process.env.LOCALCHAT_API_KEY" : `"not-needed"`;
  let printed = "console.log(response.choices[0].message.content);";
  if (mode === "completion") printed = "console.log(response.choices[0].text);";
  else if (body.tools) printed = "console.log(response.choices[0].message.tool_calls ?? response.choices[0].message.content);";
  // The SDK passes fields it does not know (top_k, ...) through to the server unchanged.
  const argument = JSON.stringify(body, null, 2);
  return [
    `import OpenAI from "openai";`,
    "",
    `const client = new OpenAI({ baseURL: ${JSON.stringify(baseURL + "/v1")}, apiKey: ${key} });`,
    `const response = await ${method}(${argument});`,
    printed,
  ].join("\n");
}
