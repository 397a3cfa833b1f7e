/**
 * Server-sent events read from a fetch body: the engine's `/variet/events` and streamed completions.
 *
 * Follows the WHATWG event-stream rules the engine and llama-server use: lines end in LF, CRLF or CR;
 * `data:` lines of one event are joined with LF; a line starting with `:` is a comment (keep-alive);
 * an event is dispatched at a blank line, and one without data is dropped.
 */

export interface ServerEvent {
  /** The `event:` field; "message" when absent. */
  event: string;
  data: string;
}

export async function* readEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<ServerEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  let skipLf = false; // a CR ended the last line; an LF right after it belongs to the same line break
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    if (skipLf && buffer.startsWith("\n")) buffer = buffer.slice(1);
    skipLf = false;
    let start = 0;
    for (;;) {
      const end = lineEnd(buffer, start);
      if (end < 0) break;
      const line = buffer.slice(start, end);
      start = end + 1;
      if (buffer[end] === "\r") {
        if (start === buffer.length) skipLf = true;
        else if (buffer[start] === "\n") start += 1;
      }
      if (line === "") {
        if (data.length > 0) yield { event: event || "message", data: data.join("\n") };
        event = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
    }
    buffer = buffer.slice(start);
  }
}

function lineEnd(text: string, from: number): number {
  const lf = text.indexOf("\n", from);
  const cr = text.indexOf("\r", from);
  if (cr < 0) return lf;
  if (lf < 0) return cr;
  return Math.min(lf, cr);
}
