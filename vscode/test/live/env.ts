/**
 * What the live tests talk to, from the environment tests/vscode/test_extension.py sets: a real engine
 * on tiny tiers (with an API key), a second one with a resident fill-in-the-middle tier, the scripted
 * OpenAI-compatible stub, and a loopback URL that refuses connections. A missing variable fails the test: these tests never skip.
 */

import { EngineClient } from "../../src/engine";

export function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through tests/vscode/test_extension.py`);
  return value;
}

export const engineUrl = (): string => need("VARIET_TEST_ENGINE_URL");
export const engineKey = (): string => need("VARIET_TEST_ENGINE_KEY");
export const stubUrl = (): string => need("VARIET_TEST_STUB_URL");
export const closedUrl = (): string => need("VARIET_TEST_CLOSED_URL");
/** An engine (no key) whose tiers include `coder`, a resident fill-in-the-middle tier. */
export const fimUrl = (): string => need("VARIET_TEST_FIM_URL");

export function engine(key: string = engineKey()): EngineClient {
  return new EngineClient({ url: engineUrl(), key });
}

/** Resolves when `check()` holds, polling every 20 ms; rejects after `seconds` with `what`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, seconds = 20): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
