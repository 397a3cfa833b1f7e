/**
 * The VS Code boundary, and the only module that imports `vscode`: it registers the chat model provider,
 * the MCP server definitions, the status-bar item and the commands, and converts between VS Code's types
 * and the plain modules that hold the logic (provider, chat, status, feed, mcp, report).
 *
 * The engine key lives only in VS Code's secret storage (`variet.engineApiKey`), never in settings.
 */

import { accessSync, constants, statSync } from "node:fs";
import * as vscode from "vscode";

import { fromParts, type ChatMessage, type ResponsePart } from "./chat";
import { type CompleterState, DEFAULT_SETTINGS, InlineCompleter } from "./completion";
import { EngineAuthFailed, EngineClient, EngineError } from "./engine";
import { EventFeed } from "./feed";
import { type Host, type ServerDefinition, serverDefinitions, withEngineKey } from "./mcp";
import { ModelsWatch } from "./models";
import { VarietChat } from "./provider";
import { statusReport } from "./report";
import { StatusBoard } from "./status";

const KEY = "variet.engineApiKey";
const now = (): number => Date.now() / 1000;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Variet");
  const item = vscode.window.createStatusBarItem("variet.status", vscode.StatusBarAlignment.Left, 100);
  item.name = "Variet engine";
  item.command = "variet.manage";
  item.show();
  const modelsChanged = new vscode.EventEmitter<void>();
  const serversChanged = new vscode.EventEmitter<void>();
  context.subscriptions.push(output, item, modelsChanged, serversChanged);

  const settings = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration("variet");
  const url = (): string => settings().get<string>("engineUrl", "http://127.0.0.1:8000");
  let client = new EngineClient({ url: url() });
  const board = new StatusBoard(client.url);
  let feed: EventFeed | undefined;
  const picker = new ModelsWatch(); // when the model picker must be refreshed
  let warned = false;
  let ticker: NodeJS.Timeout | undefined;

  function render(): void {
    const view = board.view(now());
    item.text = view.text;
    item.tooltip = view.tooltip;
    item.backgroundColor = view.severity === "error" ? new vscode.ThemeColor("statusBarItem.errorBackground")
      : view.severity === "warning" ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
    if (view.swap && !ticker) ticker = setInterval(render, 1000); // the elapsed seconds
    if (!view.swap && ticker) ticker = void clearInterval(ticker);
  }

  function failed(error: EngineError): void {
    board.failed(error);
    render();
    if (warned) return;
    warned = true; // once per connection settings, not on every retry
    const fix = error instanceof EngineAuthFailed ? "Set API key" : "Change URL";
    void vscode.window.showWarningMessage(error.message, fix).then((choice) => {
      if (choice) void vscode.commands.executeCommand(choice === "Set API key" ? "variet.setApiKey" : "variet.manage");
    });
  }

  async function connect(): Promise<void> {
    await feed?.stop();
    client = new EngineClient({ url: url(), key: await context.secrets.get(KEY) });
    board.reset(client.url);
    picker.reset();
    warned = false;
    feed = new EventFeed(client, {
      connecting: () => (board.connecting(), render()),
      event: (event) => {
        board.apply(event, now());
        render();
        if (picker.event(event)) modelsChanged.fire();
      },
      status: (status) => {
        board.refresh(status, now());
        render();
        if (picker.status(status)) modelsChanged.fire();
      },
      failed,
    });
    feed.start();
    render();
  }

  const chat = new VarietChat(() => client, board, {
    notice: (text) => void vscode.window.setStatusBarMessage(text, 10_000),
  });

  const provider: vscode.LanguageModelChatProvider = {
    onDidChangeLanguageModelChatInformation: modelsChanged.event,
    async provideLanguageModelChatInformation(options, token) {
      try {
        return await chat.models(signal(token));
      } catch (error) {
        output.appendLine(`models: ${String(error)}`);
        if (!options.silent && error instanceof EngineError) failed(error);
        return [];
      }
    },
    async provideLanguageModelChatResponse(model, messages, options, progress, token) {
      const toolMode = options.toolMode === vscode.LanguageModelChatToolMode.Required ? "required" : "auto";
      const plain = { tools: options.tools, toolMode, modelOptions: options.modelOptions } as const;
      try {
        await chat.respond(model.id, messages.map(message), plain, (part) => progress.report(response(part)), signal(token));
      } catch (error) {
        if (!token.isCancellationRequested) throw error; // a cancelled request just ends
      }
    },
    provideTokenCount(model, text, token) {
      return chat.countTokens(model.id, typeof text === "string" ? text : message(text), signal(token));
    },
  };

  const suggesting = vscode.window.createStatusBarItem("variet.inline", vscode.StatusBarAlignment.Right, 100);
  suggesting.name = "Variet inline suggestions";
  suggesting.command = "variet.toggleInlineCompletions";
  const inline = (): typeof DEFAULT_SETTINGS => ({
    enabled: settings().get("inlineCompletions.enabled", DEFAULT_SETTINGS.enabled),
    tier: settings().get("inlineCompletions.tier", DEFAULT_SETTINGS.tier),
    debounceMs: settings().get("inlineCompletions.debounceMs", DEFAULT_SETTINGS.debounceMs),
    maxTokens: settings().get("inlineCompletions.maxTokens", DEFAULT_SETTINGS.maxTokens),
  });
  const showSuggesting = (state: CompleterState): void => {
    const tier = inline().tier || "FIM tier";
    suggesting.text = !inline().enabled ? "$(circle-slash) Variet suggest" : state.kind === "working"
      ? `$(loading~spin) Variet suggest: ${tier}` : state.kind === "failed" ? "$(warning) Variet suggest" : "$(sparkle) Variet suggest";
    suggesting.tooltip = state.kind === "failed" ? state.message : `Inline suggestions from ${tier}; click to turn them on or off`;
    suggesting.show();
  };
  const completer = new InlineCompleter(() => client, inline, { state: showSuggesting });
  showSuggesting({ kind: "idle" });
  context.subscriptions.push(suggesting, vscode.languages.registerInlineCompletionItemProvider({ pattern: "**" }, {
    async provideInlineCompletionItems(document, position, _context, token) {
      const offset = document.offsetAt(position);
      const text = document.getText();
      const at = { document: document.uri.toString(), line: position.line, character: position.character,
                   before: text.slice(0, offset), after: text.slice(offset) };
      const insert = await completer.complete(at, signal(token));
      return insert ? [new vscode.InlineCompletionItem(insert, new vscode.Range(position, position))] : [];
    },
  }));

  const host: Host = { env: process.env, platform: process.platform, isExecutable };
  let defined = new Map<string, ServerDefinition>();
  const servers: vscode.McpServerDefinitionProvider<vscode.McpStdioServerDefinition> = {
    onDidChangeMcpServerDefinitions: serversChanged.event,
    provideMcpServerDefinitions() {
      const mcp = { engineUrl: url(), serversPath: settings().get("serversPath", ""),
                    configFile: settings().get("configFile", ""), servers: settings().get<string[]>("mcpServers", []) };
      const { definitions, problems } = serverDefinitions(mcp, host);
      problems.forEach((problem) => output.appendLine(`MCP: ${problem}`));
      defined = new Map(definitions.map((d) => [d.label, d]));
      return definitions.map((d) => new vscode.McpStdioServerDefinition(d.label, d.command, d.args, d.env, d.version));
    },
    async resolveMcpServerDefinition(server) {
      const plain = defined.get(server.label);
      if (plain) server.env = withEngineKey(plain, await context.secrets.get(KEY)).env;
      return server;
    },
  };

  const commands: Record<string, () => Promise<unknown>> = {
    "variet.manage": async () => {
      const picks = ["Set the engine URL", "Set the engine API key", "Forget the engine API key", "Load a tier",
                     "Unload the loaded tier", "Show the engine's status"];
      const ids = ["variet.setUrl", "variet.setApiKey", "variet.clearApiKey", "variet.loadTier", "variet.unload",
                   "variet.showStatus"];
      const choice = await vscode.window.showQuickPick(picks, { placeHolder: board.view(now()).text.replace(/\$\([^)]*\) ?/g, "") });
      if (choice) await vscode.commands.executeCommand(ids[picks.indexOf(choice)]);
    },
    "variet.setUrl": async () => {
      const value = await vscode.window.showInputBox({ prompt: "The Variet engine's base URL", value: url(),
        validateInput: (v) => (/^https?:\/\/\S+$/.test(v) ? undefined : "Give a URL such as http://192.168.1.10:8000") });
      if (value) await settings().update("engineUrl", value, vscode.ConfigurationTarget.Global);
    },
    "variet.setApiKey": async () => {
      const value = await vscode.window.showInputBox({ prompt: "The Variet engine's API key (kept in VS Code's secret storage)",
                                                       password: true, ignoreFocusOut: true });
      if (value) await context.secrets.store(KEY, value.trim());
    },
    "variet.clearApiKey": () => context.secrets.delete(KEY) as Promise<void>,
    "variet.loadTier": async () => {
      const models = (await chat.models()).filter((m) => m.id !== "auto");
      const pick = await vscode.window.showQuickPick(models.map((m) => ({ label: m.id, description: m.detail })),
                                                     { placeHolder: "Load a tier (a swap; requests for it wait until it is loaded)" });
      if (pick) await client.load(pick.label);
    },
    "variet.unload": () => client.unload(),
    "variet.toggleInlineCompletions": async () => {
      await settings().update("inlineCompletions.enabled", !inline().enabled, vscode.ConfigurationTarget.Global);
    },
    "variet.showStatus": async () => {
      output.replace(statusReport(await client.status(), client.url));
      output.show(true);
    },
  };
  for (const [id, run] of Object.entries(commands)) {
    context.subscriptions.push(vscode.commands.registerCommand(id, () => run().catch((error: unknown) =>
      void vscode.window.showErrorMessage(error instanceof Error ? error.message : String(error)))));
  }

  context.subscriptions.push(
    vscode.lm.registerLanguageModelChatProvider("variet", provider),
    vscode.lm.registerMcpServerDefinitionProvider("variet.servers", servers),
    vscode.workspace.onDidChangeConfiguration((change) => {
      if (!change.affectsConfiguration("variet")) return;
      completer.reset();
      showSuggesting({ kind: "idle" });
      void connect().then(() => modelsChanged.fire());
      serversChanged.fire();
    }),
    context.secrets.onDidChange((change) => {
      if (change.key !== KEY) return;
      void connect().then(() => modelsChanged.fire());
      serversChanged.fire();
    }),
    { dispose: () => void feed?.stop().then(() => ticker && clearInterval(ticker)) },
  );
  await connect();
}

export function deactivate(): void {}

function message(m: vscode.LanguageModelChatRequestMessage): ChatMessage {
  const role = m.role === vscode.LanguageModelChatMessageRole.User ? "user"
    : m.role === vscode.LanguageModelChatMessageRole.Assistant ? "assistant" : "system"; // 3: System (proposed API)
  return { role, content: fromParts(m.content), ...(m.name ? { name: m.name } : {}) };
}

function response(part: ResponsePart): vscode.LanguageModelResponsePart {
  return part.kind === "text" ? new vscode.LanguageModelTextPart(part.text)
    : new vscode.LanguageModelToolCallPart(part.callId, part.name, part.input);
}

function signal(token: vscode.CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
