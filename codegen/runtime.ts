// ---- runtime: the same for every registry ----

export type Name = keyof Messages;
/** A message of the given name(s): its fields plus `type`. */
export type Message<N extends Name = Name> = { [K in N]: { type: K } & Messages[K] }[N];
/** A decoded message and the request id it carried (0 if none). */
export interface Envelope<N extends Name = Name> { msg: Message<N>; rid: number }
/** The three wire encodings. */
export type Encoding = "text" | "json" | "msgpack";

export interface FieldSchema {
  name: string;
  kind: "bool" | "int" | "uint" | "float" | "string" | "slice";
  elem?: "bool" | "int" | "uint" | "float";
  bits?: number;
  min?: number;
  max?: number;
  maxLen?: number;
  optional?: boolean;
  rest?: boolean;
}
export interface TypeSchema {
  id: number;
  name: string;
  dir: "to_server" | "to_client" | "both";
  latest: boolean;
  causes: string[];
  fields: FieldSchema[];
}

/** A message that could not be decoded; code is as in the server's ERR. */
export class DecodeError extends Error {
  constructor(public code: "bad_syntax" | "unknown_message" | "bad_field", message: string, public field = "") {
    super(message);
  }
}

const byID = new Map<number, TypeSchema>();
for (const t of Object.values(schema)) byID.set(t.id, t);

function typeOf(name: string): TypeSchema {
  const t = (schema as Record<string, TypeSchema>)[name.toUpperCase()];
  if (!t) throw new DecodeError("unknown_message", `unknown command "${name}"`);
  return t;
}

// ---- limits ----

function intRange(bits: number, unsigned: boolean): [number, number] {
  if (unsigned) return [0, bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1];
  if (bits >= 53) return [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
  return [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
}

function checkScalar(f: FieldSchema, kind: string, v: unknown): void {
  const fail = (why: string) => { throw new DecodeError("bad_field", `${f.name}: ${why}`, f.name); };
  if (kind === "bool") { if (typeof v !== "boolean") fail("want true or false"); return; }
  if (typeof v !== "number" || !Number.isFinite(v)) fail("want a finite number");
  const n = v as number;
  if (kind === "int" || kind === "uint") {
    if (!Number.isInteger(n)) fail(`want an integer, got ${n}`);
    const [lo, hi] = intRange(f.bits ?? 64, kind === "uint");
    if (n < lo || n > hi) fail(`${n} overflows ${kind}${f.bits}`);
  }
  if (f.min !== undefined && n < f.min) fail(`must be >= ${f.min}`);
  if (f.max !== undefined && n > f.max) fail(`must be <= ${f.max}`);
}

function checkField(f: FieldSchema, v: unknown): void {
  if (f.kind === "string") {
    if (typeof v !== "string") throw new DecodeError("bad_field", `${f.name}: want a string`, f.name);
    if (utf8.encode(v).length > (f.maxLen ?? 256)) throw new DecodeError("bad_field", `${f.name}: longer than ${f.maxLen} bytes`, f.name);
    return;
  }
  if (f.kind === "slice") {
    if (!Array.isArray(v)) throw new DecodeError("bad_field", `${f.name}: want an array`, f.name);
    if (v.length > (f.maxLen ?? 64)) throw new DecodeError("bad_field", `${f.name}: longer than ${f.maxLen} elements`, f.name);
    for (const e of v) checkScalar(f, f.elem!, e);
    return;
  }
  checkScalar(f, f.kind, v);
}

/** Validate checks every field of m against its schema and throws DecodeError. */
export function validate(m: Message): void {
  const t = typeOf(m.type);
  for (const f of t.fields) {
    const v = (m as unknown as Record<string, unknown>)[f.name];
    if (v === undefined) {
      if (f.optional) continue;
      throw new DecodeError("bad_field", `${t.name} ${f.name}: missing`, f.name);
    }
    checkField(f, v);
  }
}

function zeroOf(f: FieldSchema): unknown {
  switch (f.kind) {
    case "bool": return false;
    case "string": return "";
    case "slice": return [];
  }
  return 0;
}

function isZero(f: FieldSchema, v: unknown): boolean {
  if (v === undefined) return true;
  if (f.kind === "slice") return (v as unknown[]).length === 0;
  return v === zeroOf(f);
}

// ---- number formatting identical to Go's strconv 'g' with shortest precision ----

function shortestDigits(x: number, bits: number): [string, number] {
  // Returns the shortest decimal digits and the decimal exponent such that
  // x = 0.d1d2d3... * 10^exp, for a float64 or (bits 32) a float32.
  let s = "";
  if (bits === 32) {
    for (let p = 1; p <= 9; p++) {
      s = Math.abs(x).toExponential(p - 1);
      if (Math.fround(parseFloat(s)) === Math.fround(Math.abs(x))) break;
    }
  } else {
    s = Math.abs(x).toExponential();
  }
  const [mant, e] = s.split("e");
  return [mant.replace(".", ""), parseInt(e, 10) + 1];
}

/** formatFloat formats x as Go's strconv.FormatFloat(x, 'g', -1, bits). */
export function formatFloat(x: number, bits = 64): string {
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  let digits: string, dp: number;
  [digits, dp] = shortestDigits(x, bits);
  digits = digits.replace(/0+$/, "") || "0";
  const sign = x < 0 ? "-" : "";
  const exp = dp - 1;
  // Go switches to exponent form below 1e-4 and, for shortest output, at 1e6.
  if (exp < -4 || exp >= 6) {
    let m = digits[0];
    if (digits.length > 1) m += "." + digits.slice(1);
    const es = Math.abs(exp) < 10 ? "0" + Math.abs(exp) : String(Math.abs(exp));
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${es}`;
  }
  if (dp <= 0) return `${sign}0.${"0".repeat(-dp)}${digits}`;
  if (dp >= digits.length) return sign + digits + "0".repeat(dp - digits.length);
  return `${sign}${digits.slice(0, dp)}.${digits.slice(dp)}`;
}

function formatScalar(kind: string, bits: number | undefined, v: unknown): string {
  if (kind === "bool") return v ? "true" : "false";
  if (kind === "float") return formatFloat(v as number, bits);
  return String(v);
}

// ---- UTF-8 ----

const utf8 = { enc: new TextEncoder(), dec: new TextDecoder("utf-8", { fatal: false }),
  encode(s: string): Uint8Array { return this.enc.encode(s); },
  decode(b: Uint8Array): string { return this.dec.decode(b); } };

// ---- text encoding ----

const HEX = "0123456789abcdef";

function isBare(s: string): boolean {
  if (s === "") return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

function quote(s: string): string {
  let out = '"';
  for (const c of utf8.encode(s)) {
    if (c === 0x22 || c === 0x5c) out += "\\" + String.fromCharCode(c);
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c < 0x20 || c > 0x7e) out += "\\x" + HEX[c >> 4] + HEX[c & 15];
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

function restText(s: string): string {
  let ok = s !== "" && s[0] !== '"' && s[0] !== " " && s[s.length - 1] !== " ";
  for (let i = 0; ok && i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) ok = false;
  }
  return ok ? s : quote(s);
}

/** encodeText returns the text line for m, with its "\n". */
export function encodeText(m: Message, rid = 0): string {
  const t = typeOf(m.type);
  const rec = m as unknown as Record<string, unknown>;
  let line = rid ? `@${rid} ${t.name}` : t.name;
  let last = t.fields.length - 1;
  while (last >= 0 && t.fields[last].optional && isZero(t.fields[last], rec[t.fields[last].name])) last--;
  for (let i = 0; i <= last; i++) {
    const f = t.fields[i];
    const v = rec[f.name] ?? zeroOf(f);
    line += " ";
    if (f.kind === "string") line += f.rest ? restText(v as string) : (isBare(v as string) ? v : quote(v as string));
    else if (f.kind === "slice") {
      const a = v as unknown[];
      line += a.length === 0 ? "-" : a.map((e) => formatScalar(f.elem!, f.bits, e)).join(",");
    } else line += formatScalar(f.kind, f.bits, v);
  }
  return line + "\n";
}

class Scanner {
  pos = 0;
  constructor(public line: string) {}
  skip(): void { while (this.pos < this.line.length && this.line[this.pos] === " ") this.pos++; }
  done(): boolean { this.skip(); return this.pos >= this.line.length; }
  token(): [string, boolean] {
    this.skip();
    if (this.line[this.pos] === '"') return [this.quoted(), true];
    const start = this.pos;
    while (this.pos < this.line.length && this.line[this.pos] !== " ") {
      if (this.line[this.pos] === '"') throw new DecodeError("bad_syntax", "a quote may only start an argument");
      this.pos++;
    }
    return [this.line.slice(start, this.pos), false];
  }
  quoted(): string {
    this.pos++;
    const bytes: number[] = [];
    while (this.pos < this.line.length) {
      const c = this.line[this.pos];
      if (c === '"') {
        this.pos++;
        if (this.pos < this.line.length && this.line[this.pos] !== " ")
          throw new DecodeError("bad_syntax", "a quoted string must be followed by a space or the end of the line");
        return utf8.decode(new Uint8Array(bytes));
      }
      if (c === "\\") {
        const e = this.line[this.pos + 1];
        this.pos += 2;
        if (e === '"' || e === "\\") bytes.push(e.charCodeAt(0));
        else if (e === "n") bytes.push(10);
        else if (e === "r") bytes.push(13);
        else if (e === "t") bytes.push(9);
        else if (e === "x" && /^[0-9a-fA-F]{2}$/.test(this.line.slice(this.pos, this.pos + 2))) {
          bytes.push(parseInt(this.line.slice(this.pos, this.pos + 2), 16));
          this.pos += 2;
        } else throw new DecodeError("bad_syntax", e === undefined ? "unterminated quoted string" : "bad escape in quoted string");
        continue;
      }
      bytes.push(c.charCodeAt(0));
      this.pos++;
    }
    throw new DecodeError("bad_syntax", "unterminated quoted string");
  }
}

function parseScalar(f: FieldSchema, kind: string, tok: string): unknown {
  let v: unknown;
  if (kind === "bool") {
    if (tok === "true" || tok === "1") v = true;
    else if (tok === "false" || tok === "0") v = false;
    else throw new DecodeError("bad_field", `${f.name}: want true or false, got "${tok}"`, f.name);
  } else if (kind === "float") {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(tok)) throw new DecodeError("bad_field", `${f.name}: want a number, got "${tok}"`, f.name);
    v = f.bits === 32 ? Math.fround(parseFloat(tok)) : parseFloat(tok);
  } else {
    if (!(kind === "uint" ? /^\+?\d+$/ : /^[+-]?\d+$/).test(tok)) throw new DecodeError("bad_field", `${f.name}: want an integer, got "${tok}"`, f.name);
    v = parseInt(tok, 10);
  }
  checkScalar(f, kind, v);
  return v;
}

/** decodeText decodes one text line (without its line terminator). */
export function decodeText(line: string): Envelope {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) throw new DecodeError("bad_syntax", "text lines must be printable ASCII");
  }
  const s = new Scanner(line);
  let [name] = s.token();
  let rid = 0;
  if (name.startsWith("@")) {
    rid = Number(name.slice(1));
    if (!Number.isInteger(rid) || rid < 1 || rid > 0xffffffff) throw new DecodeError("bad_syntax", `bad request id "${name}"`);
    [name] = s.token();
  }
  if (name === "") throw new DecodeError("bad_syntax", "missing message name");
  const t = typeOf(name);
  const m: Record<string, unknown> = { type: t.name };
  for (const f of t.fields) {
    if (s.done()) {
      if (f.optional) { m[f.name] = zeroOf(f); continue; }
      throw new DecodeError("bad_field", `${t.name} ${f.name}: missing`, f.name);
    }
    if (f.rest) {
      let v: string;
      if (s.line[s.pos] === '"') {
        v = s.quoted();
        if (!s.done()) throw new DecodeError("bad_field", `${f.name}: unexpected text after the quoted string`, f.name);
      } else {
        v = s.line.slice(s.pos).replace(/ +$/, "");
        s.pos = s.line.length;
      }
      checkField(f, v);
      m[f.name] = v;
      continue;
    }
    const [tok, quoted] = s.token();
    if (f.kind === "string") {
      checkField(f, tok);
      m[f.name] = tok;
    } else if (f.kind === "slice") {
      if (quoted) throw new DecodeError("bad_field", `${f.name}: a list is not quoted`, f.name);
      const a = tok === "-" ? [] : tok.split(",").map((e) => parseScalar(f, f.elem!, e));
      checkField(f, a);
      m[f.name] = a;
    } else {
      if (quoted) throw new DecodeError("bad_field", `${f.name}: a ${f.kind} is not quoted`, f.name);
      m[f.name] = parseScalar(f, f.kind, tok);
    }
  }
  if (!s.done()) throw new DecodeError("bad_syntax", `${t.name}: too many arguments`);
  return { msg: m as unknown as Message, rid };
}

// ---- JSON encoding ----

function jsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += "\\" + s[i];
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += "\\u00" + HEX[c >> 4] + HEX[c & 15];
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s[i] + s[i + 1];
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += "\\ufffd";
    else out += s[i];
  }
  return out + '"';
}

/** encodeJSON returns the JSON line for m, with its "\n". */
export function encodeJSON(m: Message, rid = 0): string {
  const t = typeOf(m.type);
  const rec = m as unknown as Record<string, unknown>;
  let out = `{"type":"${t.name}"`;
  if (rid) out += `,"rid":${rid}`;
  for (const f of t.fields) {
    const v = rec[f.name] ?? zeroOf(f);
    out += `,"${f.name}":`;
    if (f.kind === "string") out += jsonString(v as string);
    else if (f.kind === "slice") out += "[" + (v as unknown[]).map((e) => formatScalar(f.elem!, f.bits, e)).join(",") + "]";
    else out += formatScalar(f.kind, f.bits, v);
  }
  return out + "}\n";
}

/** decodeJSON decodes one JSON line. */
export function decodeJSON(line: string): Envelope {
  let obj: Record<string, unknown>;
  try { obj = JSON.parse(line); } catch (e) { throw new DecodeError("bad_syntax", `invalid JSON: ${(e as Error).message}`); }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) throw new DecodeError("bad_syntax", "want a JSON object");
  let rid = 0;
  if (obj.rid !== undefined) {
    rid = obj.rid as number;
    if (!Number.isInteger(rid) || rid < 1 || rid > 0xffffffff) throw new DecodeError("bad_syntax", "rid must be an integer 1..4294967295");
  }
  if (typeof obj.type !== "string" || obj.type === "") throw new DecodeError("bad_syntax", 'missing or non-string "type"');
  const t = typeOf(obj.type);
  const m: Record<string, unknown> = { type: t.name };
  for (const f of t.fields) {
    const v = obj[f.name];
    if (v === undefined) {
      if (f.optional) { m[f.name] = zeroOf(f); continue; }
      throw new DecodeError("bad_field", `${t.name} ${f.name}: missing`, f.name);
    }
    checkField(f, v);
    m[f.name] = v;
  }
  for (const k of Object.keys(obj)) {
    if (k !== "type" && k !== "rid" && !t.fields.some((f) => f.name === k)) throw new DecodeError("bad_field", `${k}: unknown field`, k);
  }
  return { msg: m as unknown as Message, rid };
}

// ---- MessagePack encoding ----

class Out {
  buf = new Uint8Array(64);
  n = 0;
  room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  byte(b: number): void { this.room(1); this.buf[this.n++] = b; }
  bytes(b: Uint8Array): void { this.room(b.length); this.buf.set(b, this.n); this.n += b.length; }
  uvarint(v: number): void { while (v >= 0x80) { this.byte((v % 0x80) | 0x80); v = Math.floor(v / 0x80); } this.byte(v); }
  be(v: number | bigint, size: number): void {
    this.room(size);
    const dv = new DataView(this.buf.buffer, this.n, size);
    if (size === 1) dv.setUint8(0, Number(v));
    else if (size === 2) dv.setUint16(0, Number(v));
    else if (size === 4) dv.setUint32(0, Number(v));
    else dv.setBigUint64(0, BigInt.asUintN(64, BigInt(v)));
    this.n += size;
  }
  f32(x: number): void { this.room(4); new DataView(this.buf.buffer, this.n, 4).setFloat32(0, x); this.n += 4; }
  f64(x: number): void { this.room(8); new DataView(this.buf.buffer, this.n, 8).setFloat64(0, x); this.n += 8; }
}

function mpUint(o: Out, n: number): void {
  if (n <= 0x7f) o.byte(n);
  else if (n <= 0xff) { o.byte(0xcc); o.be(n, 1); }
  else if (n <= 0xffff) { o.byte(0xcd); o.be(n, 2); }
  else if (n <= 0xffffffff) { o.byte(0xce); o.be(n, 4); }
  else { o.byte(0xcf); o.be(BigInt(n), 8); }
}

function mpInt(o: Out, n: number): void {
  if (n >= 0) return mpUint(o, n);
  if (n >= -32) o.byte(n & 0xff);
  else if (n >= -128) { o.byte(0xd0); o.be(n & 0xff, 1); }
  else if (n >= -32768) { o.byte(0xd1); o.be(n & 0xffff, 2); }
  else if (n >= -2147483648) { o.byte(0xd2); o.be(n >>> 0, 4); }
  else { o.byte(0xd3); o.be(BigInt(n), 8); }
}

function mpScalar(o: Out, kind: string, bits: number | undefined, v: unknown): void {
  if (kind === "bool") o.byte(v ? 0xc3 : 0xc2);
  else if (kind === "int") mpInt(o, v as number);
  else if (kind === "uint") mpUint(o, v as number);
  else if (bits === 32) { o.byte(0xca); o.f32(v as number); }
  else { o.byte(0xcb); o.f64(v as number); }
}

/** encodeMsgPack returns m as one binary frame, length prefix included. */
export function encodeMsgPack(m: Message, rid = 0): Uint8Array {
  const t = typeOf(m.type);
  const rec = m as unknown as Record<string, unknown>;
  const o = new Out();
  o.uvarint(t.id * 2 + (rid ? 1 : 0));
  if (rid) o.uvarint(rid);
  for (const f of t.fields) {
    const v = rec[f.name] ?? zeroOf(f);
    if (f.kind === "string") {
      const b = utf8.encode(v as string);
      if (b.length < 32) o.byte(0xa0 | b.length);
      else if (b.length <= 0xff) { o.byte(0xd9); o.be(b.length, 1); }
      else if (b.length <= 0xffff) { o.byte(0xda); o.be(b.length, 2); }
      else { o.byte(0xdb); o.be(b.length, 4); }
      o.bytes(b);
    } else if (f.kind === "slice") {
      const a = v as unknown[];
      if (a.length < 16) o.byte(0x90 | a.length);
      else if (a.length <= 0xffff) { o.byte(0xdc); o.be(a.length, 2); }
      else { o.byte(0xdd); o.be(a.length, 4); }
      for (const e of a) mpScalar(o, f.elem!, f.bits, e);
    } else mpScalar(o, f.kind, f.bits, v);
  }
  const payload = o.buf.subarray(0, o.n);
  const framed = new Out();
  framed.uvarint(payload.length);
  framed.bytes(payload);
  return framed.buf.slice(0, framed.n);
}

class In {
  pos = 0;
  dv: DataView;
  constructor(public b: Uint8Array) { this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength); }
  need(k: number): void { if (this.pos + k > this.b.length) throw new DecodeError("bad_syntax", "truncated message"); }
  byte(): number { this.need(1); return this.b[this.pos++]; }
  uvarint(): number {
    let v = 0, mul = 1;
    for (let i = 0; i < 5; i++) {
      const c = this.byte();
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 0x80;
    }
    throw new DecodeError("bad_syntax", "bad varint");
  }
  u(size: number): number {
    this.need(size);
    const p = this.pos;
    this.pos += size;
    if (size === 1) return this.dv.getUint8(p);
    if (size === 2) return this.dv.getUint16(p);
    if (size === 4) return this.dv.getUint32(p);
    return Number(this.dv.getBigUint64(p));
  }
  i(size: number): number {
    this.need(size);
    const p = this.pos;
    this.pos += size;
    if (size === 1) return this.dv.getInt8(p);
    if (size === 2) return this.dv.getInt16(p);
    if (size === 4) return this.dv.getInt32(p);
    return Number(this.dv.getBigInt64(p));
  }
}

function mpReadNumber(r: In, f: FieldSchema, kind: string): unknown {
  const c = r.byte();
  if (kind === "bool") {
    if (c === 0xc2) return false;
    if (c === 0xc3) return true;
    throw new DecodeError("bad_field", `${f.name}: want a bool`, f.name);
  }
  let v: number;
  if (c <= 0x7f) v = c;
  else if (c >= 0xe0) v = c - 0x100;
  else if (c === 0xcc) v = r.u(1);
  else if (c === 0xcd) v = r.u(2);
  else if (c === 0xce) v = r.u(4);
  else if (c === 0xcf) v = r.u(8);
  else if (c === 0xd0) v = r.i(1);
  else if (c === 0xd1) v = r.i(2);
  else if (c === 0xd2) v = r.i(4);
  else if (c === 0xd3) v = r.i(8);
  else if (kind === "float" && c === 0xca) { r.need(4); v = r.dv.getFloat32(r.pos); r.pos += 4; }
  else if (kind === "float" && c === 0xcb) { r.need(8); v = r.dv.getFloat64(r.pos); r.pos += 8; }
  else throw new DecodeError("bad_field", `${f.name}: want a number`, f.name);
  checkScalar(f, kind, v);
  return v;
}

function mpLen(r: In, c: number, fix: [number, number], codes: number[]): number {
  if (c >= fix[0] && c <= fix[1]) return c - fix[0];
  const i = codes.indexOf(c);
  if (i < 0) return -1;
  return r.u([1, 2, 4][i]);
}

/** decodeMsgPack decodes one binary frame payload (without its length prefix). */
export function decodeMsgPack(payload: Uint8Array): Envelope {
  const r = new In(payload);
  const head = r.uvarint();
  const rid = head % 2 ? r.uvarint() : 0;
  const t = byID.get(Math.floor(head / 2));
  if (!t) throw new DecodeError("unknown_message", `unknown message id ${Math.floor(head / 2)}`);
  const m: Record<string, unknown> = { type: t.name };
  for (const f of t.fields) {
    if (r.pos >= payload.length) throw new DecodeError("bad_field", `${t.name} ${f.name}: missing`, f.name);
    if (f.kind === "string") {
      const n = mpLen(r, r.byte(), [0xa0, 0xbf], [0xd9, 0xda, 0xdb]);
      if (n < 0) throw new DecodeError("bad_field", `${f.name}: want a string`, f.name);
      if (n > (f.maxLen ?? 256)) throw new DecodeError("bad_field", `${f.name}: longer than ${f.maxLen} bytes`, f.name);
      r.need(n);
      m[f.name] = utf8.decode(payload.subarray(r.pos, r.pos + n));
      r.pos += n;
    } else if (f.kind === "slice") {
      const n = mpLen(r, r.byte(), [0x90, 0x9f], [-1, 0xdc, 0xdd]);
      if (n < 0) throw new DecodeError("bad_field", `${f.name}: want an array`, f.name);
      if (n > (f.maxLen ?? 64)) throw new DecodeError("bad_field", `${f.name}: longer than ${f.maxLen} elements`, f.name);
      const a: unknown[] = [];
      for (let i = 0; i < n; i++) a.push(mpReadNumber(r, f, f.elem!));
      m[f.name] = a;
    } else m[f.name] = mpReadNumber(r, f, f.kind);
  }
  if (r.pos !== payload.length) throw new DecodeError("bad_syntax", `${t.name}: ${payload.length - r.pos} trailing bytes`);
  return { msg: m as unknown as Message, rid };
}

// ---- framing helpers for stream transports ----

/**
 * FrameReader splits a byte stream into frames: lines in text and JSON
 * modes, length-prefixed frames in msgpack mode. Feed it bytes as they come;
 * it returns the complete frames (keepalives dropped) and keeps the rest.
 */
export class FrameReader {
  private buf = new Uint8Array(0);
  constructor(public binary = false, public maxMessage = 4096) {}
  push(chunk: Uint8Array): Uint8Array[] {
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf);
    b.set(chunk, this.buf.length);
    const out: Uint8Array[] = [];
    let p = 0;
    for (;;) {
      if (!this.binary) {
        const nl = b.indexOf(10, p);
        if (nl < 0) break;
        let end = nl;
        if (end > p && b[end - 1] === 13) end--;
        if (end > p) out.push(b.slice(p, end));
        p = nl + 1;
        continue;
      }
      let n = 0, mul = 1, w = 0, done = false;
      while (p + w < b.length && w < 3) {
        const c = b[p + w++];
        n += (c & 0x7f) * mul;
        mul *= 0x80;
        if (c < 0x80) { done = true; break; }
      }
      if (!done) { if (w >= 3) throw new DecodeError("bad_syntax", "malformed length prefix"); break; }
      if (n > this.maxMessage) throw new DecodeError("bad_syntax", "message too long");
      if (p + w + n > b.length) break;
      if (n > 0) out.push(b.slice(p + w, p + w + n));
      p += w + n;
    }
    this.buf = b.slice(p);
    if (!this.binary && this.buf.length > this.maxMessage + 1) throw new DecodeError("bad_syntax", "message too long");
    return out;
  }
  /** Remaining bytes after a mode switch are parsed in the new mode. */
  setBinary(binary: boolean): void { this.binary = binary; }
}

/** encode returns m in the given encoding as bytes ready to send. */
export function encode(enc: Encoding, m: Message, rid = 0): Uint8Array {
  if (enc === "msgpack") return encodeMsgPack(m, rid);
  return utf8.encode(enc === "json" ? encodeJSON(m, rid) : encodeText(m, rid));
}

/** decode decodes one frame payload in the given encoding. */
export function decode(enc: Encoding, frame: Uint8Array): Envelope {
  if (enc === "msgpack") return decodeMsgPack(frame);
  const line = utf8.decode(frame);
  return enc === "json" ? decodeJSON(line) : decodeText(line);
}
