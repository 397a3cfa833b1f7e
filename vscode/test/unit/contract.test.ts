import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const root = join(__dirname, "..", "..", "..");

test("src/contract.ts is what the generator makes of contract/openapi.json today", () => {
  const run = spawnSync(process.execPath, [join(root, "tools", "contract-types.mjs"), "--check"], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
});

test("every schema in contract/openapi.json has a TypeScript declaration with the same properties", () => {
  const schemas = JSON.parse(readFileSync(join(root, "..", "contract", "openapi.json"), "utf8")).components.schemas;
  const source = readFileSync(join(root, "src", "contract.ts"), "utf8");
  for (const [name, schema] of Object.entries<{ properties?: Record<string, unknown> }>(schemas)) {
    const body = new RegExp(`export (?:interface ${name} \\{([^}]*)\\}|type ${name} = )`).exec(source);
    assert.ok(body, `no declaration for ${name}`);
    const declared = [...(body[1] ?? "").matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]).sort();
    assert.deepEqual(declared, Object.keys(schema.properties ?? {}).sort(), name);
  }
});

test("only extension.ts imports vscode: the logic runs, and is tested, under plain Node", () => {
  const src = join(root, "src");
  const importers = readdirSync(src).filter((file) => /from "vscode"|require\("vscode"\)/.test(readFileSync(join(src, file), "utf8")));
  assert.deepEqual(importers, ["extension.ts"]);
  // and the compiled plain modules load without it
  execFileSync(process.execPath, ["-e", "for (const m of ['chat','engine','feed','mcp','models','provider','report','sse','status']) require('./out/src/' + m)"], { cwd: root });
});
