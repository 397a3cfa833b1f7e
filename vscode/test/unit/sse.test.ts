import assert from "node:assert/strict";
import { test } from "node:test";

import { readEvents, type ServerEvent } from "../../src/sse";

async function read(...pieces: string[]): Promise<ServerEvent[]> {
  async function* body(): AsyncGenerator<Uint8Array> {
    for (const piece of pieces) yield new TextEncoder().encode(piece);
  }
  const events: ServerEvent[] = [];
  for await (const event of readEvents(body())) events.push(event);
  return events;
}

test("events split anywhere across chunks come out whole, with their names", async () => {
  const text = 'event: swap_started\ndata: {"tier":"fast"}\n\n: keep-alive\n\ndata: {"a":1}\n\n';
  const whole = await read(text);
  assert.deepEqual(whole, [{ event: "swap_started", data: '{"tier":"fast"}' }, { event: "message", data: '{"a":1}' }]);
  for (let cut = 1; cut < text.length; cut++) {
    assert.deepEqual(await read(text.slice(0, cut), text.slice(cut)), whole, `cut at ${cut}`);
  }
});

test("CRLF and CR line ends, multi-line data and a field without a space all parse", async () => {
  const events = await read("data:one\r\ndata: two\r\n\r", "\nevent: x\rdata: 3\r\r");
  assert.deepEqual(events, [{ event: "message", data: "one\ntwo" }, { event: "x", data: "3" }]);
});

test("an event without data and an unterminated last event are dropped", async () => {
  assert.deepEqual(await read("event: empty\n\ndata: cut off"), []);
});

test("multi-byte characters split between chunks are decoded", async () => {
  const bytes = new TextEncoder().encode("data: héllo…\n\n");
  async function* body(): AsyncGenerator<Uint8Array> {
    for (const byte of bytes) yield Uint8Array.of(byte);
  }
  const events: ServerEvent[] = [];
  for await (const event of readEvents(body())) events.push(event);
  assert.deepEqual(events, [{ event: "message", data: "héllo…" }]);
});
