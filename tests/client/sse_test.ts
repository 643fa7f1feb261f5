import assert from "node:assert/strict";
import { SseParser } from "../../src/client/mod.ts";

Deno.test("sse: messages, fields, comments and line ends", () => {
  const p = new SseParser();
  assert.deepEqual(
    p.push('id: 7\nevent: put\ndata: {"a":1}\n\n: comment\n\ndata: x\n'),
    [{ event: "put", data: '{"a":1}', id: "7" }],
  );
  assert.deepEqual(p.push("data: y\n\n"), [{ event: "message", data: "x\ny" }]);
  // CRLF, CR, and a CRLF split across chunks.
  assert.deepEqual(p.push("event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r"), [
    { event: "a", data: "1" },
    { event: "b", data: "2" },
  ]);
  assert.deepEqual(p.push("data: 3\r"), []);
  assert.deepEqual(p.push("\n\r\n"), [{ event: "message", data: "3" }]);
  // Fields split anywhere.
  assert.deepEqual(p.push("ev"), []);
  assert.deepEqual(p.push("ent: progress\ndata:"), []);
  assert.deepEqual(p.push('{"revision":3}\nretry: 100\n\n'), [
    { event: "progress", data: '{"revision":3}', retry: 100 },
  ]);
  // A message without data is not dispatched.
  assert.deepEqual(p.push("event: empty\n\n"), []);
});
