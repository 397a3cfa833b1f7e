/**
 * Variet's MCP servers as VS Code starts them: the installed console scripts (`variet-<server>`), with
 * `VARIET_CONFIG` and, for the two servers that talk to the engine, its URL and (added only when a server
 * starts, from secret storage) its key. This replaces a hand-written `.vscode/mcp.json`.
 *
 * The scripts are looked up in the `variet.serversPath` setting's folder, else on PATH, else in
 * `~/.local/bin` (pipx). The file system is passed in, so this module does no I/O of its own.
 */

export const SERVERS = ["inference", "router", "search", "calendar", "gmail"] as const;
export type Server = (typeof SERVERS)[number];
/** Servers that call the engine, so they need its URL and key. */
export const ENGINE_SERVERS: ReadonlySet<string> = new Set(["inference", "router"]);

export interface McpSettings {
  engineUrl: string;
  /** A folder holding the console scripts; empty to search. */
  serversPath: string;
  /** The `variet.toml` to pass as VARIET_CONFIG; empty for the environment's or the servers' default. */
  configFile: string;
  servers: readonly string[];
}

export interface Host {
  /** The extension host's environment (PATH, HOME, VARIET_CONFIG). */
  env: Record<string, string | undefined>;
  platform: string;
  /** Whether `path` is an executable file. */
  isExecutable(path: string): boolean;
}

export interface ServerDefinition {
  server: string;
  label: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Changes whenever the command or environment does, so VS Code offers to refresh the server's tools. */
  version: string;
}

export interface Definitions {
  definitions: ServerDefinition[];
  /** What could not be found, each saying what to do. */
  problems: string[];
}

export function serverDefinitions(settings: McpSettings, host: Host): Definitions {
  const definitions: ServerDefinition[] = [];
  const problems: string[] = [];
  const config = settings.configFile.trim() || host.env.VARIET_CONFIG || "";
  for (const server of settings.servers) {
    if (!(SERVERS as readonly string[]).includes(server)) {
      problems.push(`unknown Variet server ${JSON.stringify(server)} in variet.mcpServers: use ${SERVERS.join(", ")}`);
      continue;
    }
    const name = `variet-${server}`;
    const command = findScript(name, settings.serversPath, host);
    if (!command) {
      const where = settings.serversPath.trim() ? `in ${settings.serversPath}` : "on PATH or in ~/.local/bin";
      problems.push(`${name} was not found ${where}: install Variet (pip install variet) and set variet.serversPath ` +
        "to the folder holding its scripts (the bin folder of its virtual environment)");
      continue;
    }
    const env: Record<string, string> = {};
    if (config) env.VARIET_CONFIG = expandHome(config, host);
    if (ENGINE_SERVERS.has(server)) env.VARIET_ENGINE_URL = settings.engineUrl.replace(/\/+$/, "");
    definitions.push({ server, label: name, command, args: [], env, version: fingerprint(command, env) });
  }
  return { definitions, problems };
}

/** The definition with the engine key set, for a server that talks to the engine; a copy, never in place. */
export function withEngineKey(definition: ServerDefinition, key: string | undefined): ServerDefinition {
  if (!key || !ENGINE_SERVERS.has(definition.server)) return definition;
  return { ...definition, env: { ...definition.env, VARIET_ENGINE_API_KEY: key } };
}

function findScript(name: string, serversPath: string, host: Host): string | undefined {
  const windows = host.platform === "win32";
  const sep = windows ? "\\" : "/";
  const folders = serversPath.trim()
    ? [expandHome(serversPath.trim(), host)]
    : [...(host.env.PATH ?? "").split(windows ? ";" : ":").filter(Boolean), expandHome("~/.local/bin", host)];
  const names = windows ? [`${name}.exe`, name] : [name];
  for (const folder of folders) {
    for (const file of names) {
      const path = `${folder.replace(/[\\/]+$/, "")}${sep}${file}`;
      if (host.isExecutable(path)) return path;
    }
  }
  return undefined;
}

function expandHome(path: string, host: Host): string {
  const home = host.env.HOME ?? host.env.USERPROFILE;
  return home && (path === "~" || path.startsWith("~/")) ? home + path.slice(1) : path;
}

/** FNV-1a of the command and environment, as 8 hex digits. */
function fingerprint(command: string, env: Record<string, string>): string {
  const text = JSON.stringify([command, Object.entries(env).sort()]);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}
