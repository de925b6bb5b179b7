// Checks the generated message module against vectors written by the Go
// codecs (go run ./cmd/tickwire gen vectors): every message must decode to
// the same value and encode to the same bytes, in every encoding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as m from "../dist/messages.js";

const vectors = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url)));

function payloadOf(bytes) {
  // Drop the varint length prefix of a single binary frame.
  let i = 0;
  while (bytes[i] & 0x80) i++;
  return bytes.subarray(i + 1);
}

test("vectors exist for every message in the schema", () => {
  const names = new Set(vectors.map((v) => v.name));
  for (const name of Object.keys(m.schema)) assert.ok(names.has(name), `no vector for ${name}`);
});

for (const v of vectors) {
  const want = { type: v.name, ...v.value };
  test(`${v.name} rid=${v.rid} text`, () => {
    assert.equal(m.encodeText(want, v.rid), v.text);
    const env = m.decodeText(v.text.slice(0, -1));
    assert.deepEqual(env, { msg: want, rid: v.rid });
  });
  test(`${v.name} rid=${v.rid} json`, () => {
    assert.equal(m.encodeJSON(want, v.rid), v.json);
    assert.deepEqual(m.decodeJSON(v.json.slice(0, -1)), { msg: want, rid: v.rid });
  });
  test(`${v.name} rid=${v.rid} msgpack`, () => {
    const bytes = Uint8Array.from(Buffer.from(v.msgpack, "base64"));
    assert.deepEqual(Array.from(m.encodeMsgPack(want, v.rid)), Array.from(bytes));
    assert.deepEqual(m.decodeMsgPack(payloadOf(bytes)), { msg: want, rid: v.rid });
    const frames = new m.FrameReader(true).push(bytes);
    assert.equal(frames.length, 1);
  });
}

test("decoders refuse bad input with the server's error codes", () => {
  assert.throws(() => m.decodeText("NOPE 1"), { code: "unknown_message" });
  assert.throws(() => m.decodeText("PING a b"), { code: "bad_syntax" });
  assert.throws(() => m.decodeText("PING caf\u00e9"), { code: "bad_syntax" });
  assert.throws(() => m.decodeJSON('{"type":"PING","token":1}'), { code: "bad_field" });
  assert.throws(() => m.decodeJSON('{"type":"PING","nope":1}'), { code: "bad_field" });
  assert.throws(() => m.decodeMsgPack(Uint8Array.of(0xfe, 0x7f)), { code: "unknown_message" });
  assert.throws(() => m.decodeMsgPack(Uint8Array.of(4, 0xdb, 0xff, 0xff, 0xff, 0xff)), { code: "bad_field" });
});

test("FrameReader splits lines, CRLF, keepalives and binary frames across chunks", () => {
  const r = new m.FrameReader(false);
  const enc = new TextEncoder();
  assert.deepEqual(r.push(enc.encode("PO")).length, 0);
  const got = r.push(enc.encode("NG a\r\n\nPONG b\n"));
  assert.deepEqual(got.map((b) => new TextDecoder().decode(b)), ["PONG a", "PONG b"]);
  const b = new m.FrameReader(true);
  const frame = m.encodeMsgPack({ type: "PONG", token: "z" });
  assert.equal(b.push(frame.subarray(0, 2)).length, 0);
  assert.equal(b.push(Uint8Array.of(...frame.subarray(2), 0)).length, 1);
});

test("formatFloat matches Go's shortest 'g' format", () => {
  assert.equal(m.formatFloat(1e6), "1e+06");
  assert.equal(m.formatFloat(123456), "123456");
  assert.equal(m.formatFloat(0.0001), "0.0001");
  assert.equal(m.formatFloat(0.00001), "1e-05");
  assert.equal(m.formatFloat(-1.5), "-1.5");
  assert.equal(m.formatFloat(Math.fround(0.1), 32), "0.1");
  assert.equal(m.formatFloat(1234567.25), "1.23456725e+06");
});
