import assert from "node:assert/strict";
import { test } from "node:test";

import { type Host, SERVERS, serverDefinitions, withEngineKey } from "../../src/mcp";

function host(files: string[], env: Record<string, string> = {}): Host {
  const present = new Set(files);
  return { env: { PATH: "/usr/bin:/opt/variet/bin", HOME: "/home/u", ...env }, platform: "linux", isExecutable: (p) => present.has(p) };
}

const settings = { engineUrl: "http://192.168.1.10:8000/", serversPath: "", configFile: "", servers: SERVERS };
const installed = SERVERS.map((s) => `/opt/variet/bin/variet-${s}`);

test("the five servers are found on PATH; the engine's two get its URL, all get VARIET_CONFIG", () => {
  const { definitions, problems } = serverDefinitions({ ...settings, configFile: "~/variet.toml" }, host(installed));
  assert.deepEqual(problems, []);
  assert.deepEqual(definitions.map((d) => [d.label, d.command]), SERVERS.map((s) => [`variet-${s}`, `/opt/variet/bin/variet-${s}`]));
  const byName = Object.fromEntries(definitions.map((d) => [d.server, d.env]));
  assert.deepEqual(byName.inference, { VARIET_CONFIG: "/home/u/variet.toml", VARIET_ENGINE_URL: "http://192.168.1.10:8000" });
  assert.deepEqual(byName.search, { VARIET_CONFIG: "/home/u/variet.toml" });
  for (const d of definitions) assert.ok(!("VARIET_ENGINE_API_KEY" in d.env), "the key is added only when a server starts");
});

test("the servers path setting wins over PATH, and VARIET_CONFIG falls back to the environment's", () => {
  const files = [...installed, "/venv/bin/variet-router"];
  const { definitions } = serverDefinitions({ ...settings, serversPath: "/venv/bin/", servers: ["router"] },
                                            host(files, { VARIET_CONFIG: "/etc/variet.toml" }));
  assert.equal(definitions[0]!.command, "/venv/bin/variet-router");
  assert.equal(definitions[0]!.env.VARIET_CONFIG, "/etc/variet.toml");
});

test("pipx's ~/.local/bin is searched after PATH", () => {
  const { definitions } = serverDefinitions({ ...settings, servers: ["gmail"] }, host(["/home/u/.local/bin/variet-gmail"]));
  assert.equal(definitions[0]!.command, "/home/u/.local/bin/variet-gmail");
});

test("missing scripts and unknown names are reported with what to do", () => {
  const { definitions, problems } = serverDefinitions({ ...settings, servers: ["search", "mail"] }, host([]));
  assert.deepEqual(definitions, []);
  assert.match(problems[0]!, /variet-search was not found on PATH .*set variet.serversPath/);
  assert.match(problems[1]!, /unknown Variet server "mail"/);
});

test("the key is added to the engine's servers only, and the version follows the command and environment", () => {
  const { definitions } = serverDefinitions(settings, host(installed));
  const inference = definitions.find((d) => d.server === "inference")!;
  const search = definitions.find((d) => d.server === "search")!;
  assert.equal(withEngineKey(inference, "sk-1").env.VARIET_ENGINE_API_KEY, "sk-1");
  assert.equal(inference.env.VARIET_ENGINE_API_KEY, undefined, "not changed in place");
  assert.equal(withEngineKey(search, "sk-1"), search);
  assert.equal(withEngineKey(inference, undefined), inference);
  const moved = serverDefinitions({ ...settings, engineUrl: "http://10.0.0.2:8000" }, host(installed)).definitions;
  assert.notEqual(moved.find((d) => d.server === "inference")!.version, inference.version);
  assert.equal(moved.find((d) => d.server === "search")!.version, search.version);
});

test("on Windows the .exe scripts are found on a ;-separated PATH", () => {
  const windows: Host = { env: { PATH: "C:\\Python\\Scripts;C:\\Windows" }, platform: "win32",
                          isExecutable: (p) => p === "C:\\Python\\Scripts\\variet-router.exe" };
  const { definitions } = serverDefinitions({ ...settings, servers: ["router"] }, windows);
  assert.equal(definitions[0]!.command, "C:\\Python\\Scripts\\variet-router.exe");
});
