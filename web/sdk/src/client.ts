// The tickwire browser client: one WebSocket connection to a tickwire
// server, typed messages in and out, login, RTT and traffic counters, and
// error shipping. Messages are decoded as they arrive and queued; update()
// hands them to the handlers once per frame, like the Go client's Poll.

import {
  DecodeError,
  FrameReader,
  decode,
  encodeJSON,
  encodeMsgPack,
  encodeText,
  validate,
  type Encoding,
  type Envelope,
  type Message,
  type Name,
} from "./messages.js";
import { defaultAuthBase, login as authLogin, register as authRegister, type AuthOptions, type LoginResult, type RegisterResult } from "./auth.js";
import { RateCounter, RttEstimator } from "./stats.js";
import { Model, type DesyncReport } from "./model.js";
import { Interpolator } from "./interp.js";
import type { AckResult, Predictor } from "./predict.js";

/** The part of the WebSocket API the client uses (browser or the `ws` package). */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** The negotiated subprotocol. */
  readonly protocol: string;
  /** Set to "arraybuffer" by the client. */
  binaryType: string;
  /** Sends a text (string) or binary message. */
  send(data: string | Uint8Array): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Called when the connection opens. */
  onopen: ((ev: unknown) => void) | null;
  /** Called with each received message. */
  onmessage: ((ev: { data: unknown }) => void) | null;
  /** Called when the connection is closed. */
  onclose: ((ev: { code?: number; reason?: string; wasClean?: boolean }) => void) | null;
  /** Called on a connection error (always followed by onclose). */
  onerror: ((ev: unknown) => void) | null;
}

/** A WebSocket constructor: the browser's, or `ws` from npm in Node. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/**
 * Where the connection is: `idle` before connect(), `connecting`, `open`
 * (connected, not logged in), `joined` (WELCOME received), `reconnecting`
 * (the connection dropped while the server holds the seat: the client is
 * getting it back, see {@link ClientEvents}), `closed`.
 */
export type ConnectionState = "idle" | "connecting" | "open" | "joined" | "reconnecting" | "closed";

/**
 * The client's own events, for {@link Client.on} with their lower-case
 * names (message names are upper case). Unlike message handlers, which run
 * from update(), these run at once, when the event happens.
 *
 * Automatic reconnect: after WELCOME the server sends `SEAT <token>
 * <hold_ms>`, and keeps the player's seat (same id, same entity) for
 * hold_ms after the connection drops without a BYE, or with `BYE timeout`
 * or `BYE slow_consumer`. The client then emits `reconnecting`, opens a new
 * WebSocket with the same subprotocol after a jittered exponential back-off
 * (full jitter: a random delay up to 100 ms, then up to 200, 400, ... at
 * most 2 s; options reconnectDelay, reconnectMaxDelay) and sends `RESUME
 * <name> <token>`; on WELCOME it emits `resumed` and carries on. It stops
 * with `lost` when the hold is over, when RESUME is refused (`ERR resume
 * ...`: no retry, the token is gone), or when the server ends the session
 * for good (`BYE quit`, `kicked` or another game kick reason, `banned`,
 * `shutdown`, `too_long`, `resumed`, `seat_expired`, `join_refused`).
 *
 * While reconnecting, send() drops the message and returns false (so
 * {@link Predicted.input} predicts nothing), request() rejects with
 * {@link ClosedError}, requests that were waiting for an answer when the
 * connection dropped reject with ClosedError too, and log() lines wait for
 * the resume. On resume the server sends a fresh snapshot: its ZONE makes
 * the {@link Model} drop everything it held and the interpolator forget
 * every entity, and the {@link Predictor} of {@link Client.predict} has
 * already dropped the inputs that were in flight (they may never have
 * arrived), so it reconciles to the first ACK without replaying them.
 */
export interface ClientEvents {
  /**
   * The connection dropped while the seat is held (attempt 1), or an
   * attempt to resume failed (attempt 2, 3, ...): attempt number attempt
   * starts in delay ms. reason is why the connection dropped; error why
   * the previous attempt failed ("" for attempt 1).
   */
  reconnecting: { attempt: number; reason: string; error: string; delay: number };
  /**
   * The seat was taken back on a new connection (WELCOME); downtime is ms
   * since the drop. moved is true when that connection is to another
   * server of a cluster (`moved` came just before): id is then that
   * server's player id.
   */
  resumed: { id: number; name: string; attempts: number; downtime: number; moved: boolean };
  /**
   * The player continues on another server of a cluster
   * (docs/PROTOCOL.md §5.3): the client followed the server's `MOVED` (or
   * reached one of options.seeds after its server died) and resumed the
   * seat there; `resumed` follows at once. A `MOVED` followed at once emits
   * no `reconnecting`: show nothing, it is seamless. url is the server's
   * WebSocket URL (now {@link Client.url}), id the new player id (ids are
   * per server).
   */
  moved: { url: string; id: number; name: string };
  /**
   * The session is over and the client will not reconnect: the seat hold
   * ended, RESUME was refused, the server ended the session for good, or
   * the connection dropped with no seat held. Not emitted for quit() and
   * close(). The state becomes `closed` right after.
   */
  lost: { reason: string };
  /**
   * The server dropped messages of type name for coming too fast
   * (`ERR rate_limited <NAME>`, at most one a second). The ERR is also
   * dispatched to ERR handlers, and a request() it answers rejects with
   * ServerError code `rate_limited`.
   */
  rate_limited: { name: string };
  /**
   * The server announced its settings (`LIMITS`, after `WELCOME` and
   * `SEAT` at every login and resume): see {@link Client.limits}. Emitted
   * when the message arrives, after the client has adopted them.
   */
  limits: Limits;
}

/** The settings a server announces in `LIMITS` at every login and resume. */
export interface Limits {
  /**
   * The server's ticks per second: a predicting client steps its
   * simulation once per tick period (1 / tickRate seconds).
   */
  tickRate: number;
  /**
   * The largest message the server accepts, in bytes (the payload: a text
   * or JSON line without its newline, a MessagePack frame without its
   * length prefix). send() refuses longer ones with {@link TooLongError}:
   * the server would answer `ERR too_long`, strike the address and close
   * the connection with `BYE too_long`, which releases the seat.
   */
  maxMessage: number;
}

/**
 * DEFAULT_MAX_MESSAGE is the cap send() applies until the server's
 * `LIMITS` arrives (before login, and with a server that sends none):
 * 4096 bytes, the server's default `--max-message` (Go
 * `frame.DefaultMaxMessage`, `client.DefaultMaxMessage`). Option
 * `maxMessage` changes it; `LIMITS` replaces it.
 */
export const DEFAULT_MAX_MESSAGE = 4096;

/**
 * DEFAULT_MAX_RECEIVE is the largest message the frame reader accepts from
 * the server before `LIMITS` (64 KiB, as the Go client's
 * `DefaultMaxReceive`), and the least it accepts after: the server
 * announces only what it accepts, and its own messages are bounded by the
 * schema, not by that cap (a server run with `--max-message 64` still
 * sends longer TILES and INFO lines). Once `LIMITS` says the server takes
 * more than this, the reader accepts as much. A longer message ends the
 * connection (`bad frame from server`). Option `maxReceive` changes it.
 */
export const DEFAULT_MAX_RECEIVE = 65536;

/** The smallest message cap a server may have, bytes (Go `frame.MinMessageLimit`). */
export const MIN_MESSAGE_LIMIT = 64;
/** The largest message cap a server may have, bytes: 1 MiB (Go `frame.MaxMessageLimit`). */
export const MAX_MESSAGE_LIMIT = 1 << 20;

/** The name of one of the {@link ClientEvents}. */
export type ClientEventName = keyof ClientEvents;

/**
 * BYE reasons after which the server still holds the seat (with a plain
 * drop, no BYE at all): the client resumes. Every other BYE reason releases it.
 */
export const SEAT_HELD_REASONS: readonly string[] = ["timeout", "slow_consumer"];

/** The most `MOVED` the client follows within {@link MOVE_WINDOW_MS}; one more ends the session (`lost`). */
export const MAX_MOVES = 8;
/** The window of {@link MAX_MOVES}, ms. */
export const MOVE_WINDOW_MS = 10000;
/**
 * How long, ms, a `MOVED` to a server the client has just failed to reach
 * is not followed while reconnecting: a cluster that has not yet noticed
 * that a node died redirects to it until the node's lease lapses and
 * another claims its zones (docs/CLUSTER.md: about 3 s). The client asks
 * again after its back-off instead, rather than spend {@link MAX_MOVES}.
 */
export const UNREACHABLE_MS = 5000;
/** How long a `MOVED` with a ticket is followed when the client holds no seat (the server's least arrival hold), ms. */
export const DEFAULT_MOVE_HOLD_MS = 30000;

/**
 * checkWebSocketURL returns why s is not a ws:// or wss:// URL with a host
 * (printable ASCII only), or "" when it is one.
 */
export function checkWebSocketURL(s: string): string {
  if (!s) return "empty";
  if (!/^[\x21-\x7e]+$/.test(s)) return "not printable ASCII";
  if (!/^wss?:\/\/[^/?#@]/i.test(s)) return "want ws[s]://host[:port]/path";
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return "not a URL";
  }
  if (u.protocol !== "ws:" && u.protocol !== "wss:") return `scheme ${u.protocol} is not ws: or wss:`;
  if (!u.host || u.username || u.password) return "want ws[s]://host[:port]/path";
  return "";
}

/** Options of a {@link Client}; every one has a default. */
export interface ClientOptions {
  /**
   * The WebSocket URL. Default: `/ws` on the page's own host, `wss:` when
   * the page came over https.
   */
  url?: string;
  /** The encoding to speak, chosen by subprotocol. Default `msgpack`. */
  encoding?: Encoding;
  /** Base URL of the auth service. Default: the page's own origin. */
  authBase?: string;
  /** Milliseconds between RTT pings; 0 disables them. Default 1000. */
  pingInterval?: number;
  /**
   * Milliseconds between STATS requests, whose SERVERSTATS answers (the
   * server's tick time, tick rate and connection count) appear in
   * {@link NetStats}; 0 disables them. Default 1000.
   */
  statsInterval?: number;
  /**
   * The largest message send() lets out until the server's `LIMITS`
   * replaces it, bytes (64 to 1 MiB). Default {@link DEFAULT_MAX_MESSAGE}.
   */
  maxMessage?: number;
  /**
   * The largest message accepted from the server before `LIMITS`, and the
   * least accepted after it, bytes (64 to 1 MiB). Default
   * {@link DEFAULT_MAX_RECEIVE}.
   */
  maxReceive?: number;
  /** Queued messages past which update() runs by itself (a hidden tab stops requestAnimationFrame). Default 20000. */
  maxQueued?: number;
  /** LOG lines per second the client ships at most. Default 1. */
  logRate?: number;
  /** LOG lines the client may ship in a burst. Default 5. */
  logBurst?: number;
  /**
   * Keep a {@link Model} of the replicated world (docs/SYNC.md): update()
   * applies every replica message to it before the handlers run, sends the
   * DESYNC reports it produces, and feeds the {@link Interpolator}. Default true.
   */
  replica?: boolean;
  /** How far behind the newest data remote entities are drawn, ms. Default 100. */
  interpDelay?: number;
  /** A position jump longer than this (position units) is drawn as a jump, not a glide. Default Infinity. */
  snapDistance?: number;
  /** The WebSocket constructor. Default: the global WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** The fetch used for the auth service. Default: the global fetch. */
  fetch?: typeof fetch;
  /** Clock in milliseconds. Default: performance.now(). */
  now?: () => number;
  /** Resume the seat automatically after a dropped connection (see {@link ClientEvents}). Default true. */
  reconnect?: boolean;
  /** The first reconnect delay's upper bound, ms; each further attempt doubles it. Default 100. */
  reconnectDelay?: number;
  /** The largest reconnect delay bound, ms. Default 2000. */
  reconnectMaxDelay?: number;
  /** How long one resume attempt may take, from opening the socket to WELCOME, ms. Default 5000. */
  resumeTimeout?: number;
  /** Random numbers in [0, 1) for the reconnect jitter. Default Math.random. */
  random?: () => number;
  /**
   * Other servers of a cluster, as WebSocket URLs: when the first two
   * attempts to reach the current server fail (it died), the attempts go,
   * one each with the same back-off, to every seed in turn and the current
   * server again, sending RESUME with the own seat token; a server that
   * does not hold the seat answers `MOVED` to the one that does. Default
   * none. An invalid URL makes the constructor throw.
   */
  seeds?: string[];
}

/** A typed message handler: the message and the request id it carried (0 if none). */
export type Handler<N extends Name> = (msg: Message<N>, rid: number) => void;

/** Live connection figures for a net graph. Rates are per second over the last second. */
export interface NetStats {
  /** Newest round-trip time, ms (NaN before the first PONG). */
  rtt: number;
  /** Smoothed round-trip time, ms. */
  rttSmoothed: number;
  /** Round-trip jitter (smoothed mean deviation), ms. */
  rttJitter: number;
  /** Lowest round-trip time seen, ms. */
  rttMin: number;
  /** Bytes received per second (WebSocket payload bytes). */
  bytesInPerSec: number;
  /** Bytes sent per second. */
  bytesOutPerSec: number;
  /** Messages received per second. */
  msgsInPerSec: number;
  /** Messages sent per second. */
  msgsOutPerSec: number;
  /** Bytes received since connect. */
  bytesIn: number;
  /** Bytes sent since connect. */
  bytesOut: number;
  /** Messages waiting for update(). */
  queued: number;
  /** LOG lines the client-side limit dropped. */
  logsDropped: number;
  /** How long the server's last tick took, microseconds (SERVERSTATS; NaN before the first). */
  serverTickUs: number;
  /** The server's tick rate, ticks per second (SERVERSTATS; NaN before the first). */
  serverTickRate: number;
  /** The server's open connections (SERVERSTATS; NaN before the first). */
  serverConns: number;
  /** DESYNC reports sent. */
  desyncsSent: number;
  /** DESYNC reports over MAX_DESYNC_PER_UPDATE, dropped. */
  desyncsDropped: number;
  /** `ERR rate_limited` answers from the server (each stands for at least one dropped message). */
  rateLimited: number;
  /** Times the client resumed its seat after a dropped connection or a move. */
  resumes: number;
  /** Times the client resumed its seat on another server (`moved`). */
  moves: number;
}

/** The most DESYNC reports one update() sends (like the Go client's MaxDesyncPerPoll); the rest are counted and dropped. */
export const MAX_DESYNC_PER_UPDATE = 16;

/** What a {@link Predicted}'s onAck hook is told about one ACK. */
export interface PredictedAck<S> extends AckResult<S> {
  /** The ACK's sequence number. */
  seq: number;
  /** The authoritative state the ACK carried. */
  server: S;
  /** The ACK was not after the last one, so the predictor ignored it (the server re-acknowledged an input, e.g. after moving the entity itself). */
  stale: boolean;
}

/**
 * Predicted couples a {@link Predictor} with a {@link Client} for the
 * player's own entity, like the Go client's Predicted: input() numbers an
 * input, sends it and applies it locally at once; every ACK that update()
 * dispatches reconciles the prediction (before the ACK handlers run).
 * While the client is reconnecting input() sends and predicts nothing
 * (it returns null); when the connection drops, the inputs in flight are
 * dropped from the predictor, whose state stays where it was until the
 * first ACK after the resume. Create it with {@link Client.predict}.
 */
export class Predicted<S, I> {
  private lastSeq = 0;
  /** Called after every ACK has been applied to the predictor. */
  onAck: ((r: PredictedAck<S>) => void) | null = null;

  /** Use {@link Client.predict}. */
  constructor(
    private readonly client: Client,
    /** The coupled predictor. */
    readonly predictor: Predictor<S, I>,
    private readonly encode: (seq: number, input: I) => Message,
    private readonly state: (ack: Message<"ACK">) => S,
  ) {}

  /**
   * input numbers in with the next sequence number, sends encode(seq, in)
   * and, once sent, applies in to the prediction. It returns the predicted
   * state, or null when the message could not be sent (then nothing was
   * predicted either).
   */
  input(input: I): S | null {
    const seq = this.lastSeq + 1;
    if (!this.client.send(this.encode(seq, input))) return null;
    this.lastSeq = seq;
    return this.predictor.input(seq, input);
  }

  /** seq is the sequence number of the last input sent. */
  get seq(): number {
    return this.lastSeq;
  }

  /** ack is called by the client for each ACK. */
  ack(m: Message<"ACK">): void {
    const server = this.state(m);
    const stale = m.seq <= this.predictor.lastAcked && this.predictor.lastAcked !== 0;
    const r = this.predictor.ack(m.seq, server);
    this.onAck?.({ ...r, seq: m.seq, server, stale });
  }
}

/** A received message and the time it arrived (ms, the client's clock). */
interface Arrival {
  env: Envelope;
  at: number;
}

/** An ERR answer to a request, or a refused login. */
export class ServerError extends Error {
  /** The ERR code: `auth`, `bad_field`, `not_logged_in`, a game code, ... */
  readonly code: string;
  /** Creates a ServerError from an ERR's code and text. */
  constructor(code: string, text: string) {
    super(text ? `${code}: ${text}` : code);
    this.name = "ServerError";
    this.code = code;
  }
}

/** The connection closed (or failed to open) before an answer came. */
export class ClosedError extends Error {
  /** The BYE reason if the server sent one, else the WebSocket close reason or "closed". */
  readonly reason: string;
  /** Creates a ClosedError with the reason the connection ended. */
  constructor(reason: string) {
    super(`connection closed: ${reason}`);
    this.name = "ClosedError";
    this.reason = reason;
  }
}

/**
 * A message longer than the server accepts ({@link Client.maxMessage}):
 * send() throws it before anything is sent.
 */
export class TooLongError extends Error {
  /** Always `too_long`, the code the server would answer with. */
  readonly code = "too_long";
  /** The message's encoded length, bytes (the payload, as the server counts it). */
  readonly size: number;
  /** The cap it broke, bytes. */
  readonly limit: number;
  /** Creates a TooLongError for a message of type name. */
  constructor(name: string, size: number, limit: number) {
    super(`${name}: ${size} bytes is longer than the server accepts (${limit})`);
    this.name = "TooLongError";
    this.size = size;
    this.limit = limit;
  }
}

/** What the client learned from WELCOME. */
export interface Welcome {
  /** The player's id (also the id of its entity in the arena). */
  id: number;
  /** The player's name (`guest-N` for guests). */
  name: string;
}

interface Pending {
  resolve: (env: Envelope) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** One WebSocket and what the client learned on it. */
interface Sock {
  ws: WebSocketLike;
  opened: boolean;
  /** Its end has been handled (or it was abandoned): ignore its events. */
  done: boolean;
  /** The BYE reason it carried, "" if none. */
  bye: string;
  /** A `MOVED` it carried, to follow when it ends. */
  moved: MoveTarget | null;
  /** The URL it was opened to. */
  url: string;
  /** "error" after an error event. */
  error: string;
}

/** A `MOVED` to follow: the server's WebSocket URL and RESUME's token ("" for the own seat token). */
interface MoveTarget {
  url: string;
  ticket: string;
}

/** A reconnect in progress. */
interface Reconnect {
  /** The server the seat is on (or the last MOVED's), and that MOVED's ticket ("" for the own token). */
  home: string;
  ticket: string;
  /** Attempts made since the last move, for the choice among home and the seeds. */
  tries: number;
  attempt: number;
  /** Why the joined connection dropped. */
  reason: string;
  /** When it dropped, and when the server's hold of the seat ends (client clock). */
  since: number;
  deadline: number;
  /** The back-off timer before the next attempt. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The running attempt's timeout. */
  attemptTimer: ReturnType<typeof setTimeout> | undefined;
  /** The request id of the running attempt's RESUME. */
  rid: number;
  /** Servers an attempt could not reach, and when (client clock), for {@link UNREACHABLE_MS}. */
  unreachable: Map<string, number>;
}

const textEncoder = new TextEncoder();

/** utf8Length returns the number of bytes s takes in UTF-8. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** uvarintLength returns the length of the uvarint that starts b (a MessagePack frame's length prefix). */
function uvarintLength(b: Uint8Array): number {
  let i = 0;
  while (i < b.length && b[i] & 0x80) i++;
  return Math.min(i + 1, b.length);
}

/** messageCap checks a message cap option: a whole number of bytes a server may have. */
function messageCap(name: string, v: number): number {
  if (!Number.isInteger(v) || v < MIN_MESSAGE_LIMIT || v > MAX_MESSAGE_LIMIT) {
    throw new RangeError(`tickwire: option ${name} ${v} out of range ${MIN_MESSAGE_LIMIT}-${MAX_MESSAGE_LIMIT}`);
  }
  return v;
}

/** truncateUTF8 cuts s to at most max UTF-8 bytes without splitting a character. */
export function truncateUTF8(s: string, max: number): string {
  if (utf8Length(s) <= max) return s;
  let n = 0;
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const w = c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? 4 : 3;
    if (n + w > max) break;
    n += w;
    if (w === 4) i++;
  }
  return s.slice(0, i);
}

/**
 * defaultWebSocketURL returns `ws(s)://<page host>/ws`, or
 * `ws://127.0.0.1:8080/ws` outside a browser.
 */
export function defaultWebSocketURL(): string {
  const loc = (globalThis as { location?: { protocol?: string; host?: string } }).location;
  if (!loc?.host) return "ws://127.0.0.1:8080/ws";
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/ws`;
}

const PING_PREFIX = "t";

/**
 * Client is one connection to a tickwire server over WebSocket.
 *
 * ```ts
 * const c = new Client();                 // ws(s)://<page host>/ws, msgpack
 * c.on("CHAT", (m) => show(m.from, m.text));
 * await c.connect();
 * await c.loginGuest();                   // or c.login(name, password)
 * requestAnimationFrame(function frame(t) { c.update(t); draw(); requestAnimationFrame(frame); });
 * c.send({ type: "SAY", text: "hello" });
 * ```
 */
export class Client {
  /** The WebSocket URL of the server the client talks to: options.url, then where `MOVED` sent it. */
  get url(): string {
    return this.curURL;
  }
  private curURL: string;
  private readonly seeds: string[];
  /** When the recent moves were followed, for MAX_MOVES. */
  private moveTimes: number[] = [];
  private moves = 0;
  /** Base URL of the auth service (default: the page's origin). */
  authBase: string;
  /** The encoding the client sends in; receiving follows the server's USING. */
  encoding: Encoding;
  /** Connection state; see {@link ConnectionState}. */
  state: ConnectionState = "idle";
  /** Set by WELCOME: who the server says we are. */
  welcome: Welcome | null = null;
  /** Why the connection ended: BYE reason, close reason or error; "" while open or reconnecting. */
  closeReason = "";

  private readonly opts: Required<
    Pick<
      ClientOptions,
      "pingInterval" | "statsInterval" | "maxMessage" | "maxReceive" | "maxQueued" | "logRate" | "logBurst" | "reconnect" | "reconnectDelay" | "reconnectMaxDelay" | "resumeTimeout" | "random"
    >
  >;
  private readonly WS: WebSocketConstructor;
  private readonly fetchFn: typeof fetch | undefined;
  /** The clock, in milliseconds. */
  readonly now: () => number;
  private ws: WebSocketLike | null = null;
  /** The current socket's bookkeeping; events of any other socket are ignored. */
  private sock: Sock | null = null;
  /** The encoding the first connection settled on; a resume offers its subprotocol again. */
  private baseEncoding: Encoding;
  private inEncoding: Encoding;
  private textFrames: FrameReader;
  private binFrames: FrameReader;
  private inbox: Arrival[] = [];
  /** The seat from SEAT: a credential, never logged, never dispatched. */
  #seat: { user: string; token: string; holdMs: number } | null = null;
  private rc: Reconnect | null = null;
  /** quit() or close() was called: whatever ends the connection now is final. */
  private ending = false;
  private readonly beforeLogin = new WeakSet<object>();
  private readonly handlers = new Map<string, Set<Handler<Name>>>();
  private readonly eventHandlers = new Map<string, Set<(ev: never) => void>>();
  private readonly anyHandlers = new Set<(env: Envelope, at: number) => void>();
  private readonly stateHandlers = new Set<(s: ConnectionState, reason: string) => void>();
  private readonly pending = new Map<number, Pending>();
  private welcomeWaiters: Pending[] = [];
  private nextRID = 1;
  private authRID = 0;
  private lastPing = -Infinity;
  private lastStats = -Infinity;
  private server = { tickUs: NaN, tickRate: NaN, conns: NaN };
  /** What the server announced in LIMITS (kept across a resume: the same server). */
  #limits: Limits | null = null;
  private logTokens: number;
  private logStamp = 0;
  private logsDropped = 0;
  private logQueue: Message<"LOG">[] = [];
  private rateLimited = 0;
  private resumes = 0;
  private inLog = false;
  private uninstallErrors: (() => void) | null = null;
  private readonly bytesIn = new RateCounter();
  private readonly bytesOut = new RateCounter();
  private readonly msgsIn = new RateCounter();
  private readonly msgsOut = new RateCounter();
  /** Round-trip time measured with PING/PONG. */
  readonly rtt = new RttEstimator();
  /** Frames from the server that did not decode (a version mismatch, usually). */
  decodeErrors = 0;
  /** The replicated world, kept by update(); null with options.replica false. */
  readonly model: Model | null;
  /** Where to draw remote entities; null with options.replica false. */
  readonly interp: Interpolator | null;
  private readonly lerpKinds = new Map<string, { fields: string[]; wrap: Record<string, number> }>();
  private desyncsSent = 0;
  private desyncsDropped = 0;
  private desyncBudget = MAX_DESYNC_PER_UPDATE;
  private predicted: Predicted<unknown, unknown> | null = null;

  /** Creates a client; nothing happens until {@link connect}. */
  constructor(options: ClientOptions = {}) {
    this.curURL = options.url ?? defaultWebSocketURL();
    this.seeds = [];
    for (const u of options.seeds ?? []) {
      const bad = checkWebSocketURL(u);
      if (bad) throw new RangeError(`tickwire: option seeds: ${JSON.stringify(u)}: ${bad}`);
      if (!this.seeds.includes(u)) this.seeds.push(u);
    }
    this.authBase = options.authBase ?? defaultAuthBase();
    this.encoding = options.encoding ?? "msgpack";
    this.inEncoding = this.encoding;
    this.opts = {
      pingInterval: options.pingInterval ?? 1000,
      statsInterval: options.statsInterval ?? 1000,
      maxMessage: messageCap("maxMessage", options.maxMessage ?? DEFAULT_MAX_MESSAGE),
      maxReceive: messageCap("maxReceive", options.maxReceive ?? DEFAULT_MAX_RECEIVE),
      maxQueued: options.maxQueued ?? 20000,
      logRate: options.logRate ?? 1,
      logBurst: options.logBurst ?? 5,
      reconnect: options.reconnect ?? true,
      reconnectDelay: options.reconnectDelay ?? 100,
      reconnectMaxDelay: options.reconnectMaxDelay ?? 2000,
      resumeTimeout: options.resumeTimeout ?? 5000,
      random: options.random ?? Math.random,
    };
    this.baseEncoding = this.encoding;
    this.logTokens = this.opts.logBurst;
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) throw new Error("tickwire: no WebSocket implementation; pass options.WebSocket (e.g. the ws package)");
    this.WS = WS;
    this.fetchFn = options.fetch;
    this.now = options.now ?? (() => performance.now());
    const rep = options.replica ?? true;
    this.model = rep ? new Model() : null;
    this.interp = rep ? new Interpolator({ delay: options.interpDelay ?? 100, snapDistance: options.snapDistance }) : null;
    this.textFrames = new FrameReader(false, this.receiveCap);
    this.binFrames = new FrameReader(true, this.receiveCap);
  }

  // ---- connection ----

  /**
   * connect opens the WebSocket, offering the subprotocol of the chosen
   * encoding, and resolves once it is open. It rejects with
   * {@link ClosedError} if the connection fails.
   */
  connect(): Promise<void> {
    if (this.ws || this.state !== "idle") return Promise.reject(new Error("tickwire: connect called twice"));
    return new Promise((resolve, reject) => {
      this.setState("connecting", "");
      try {
        this.openSocket(this.encoding, {
          opened: () => {
            this.baseEncoding = this.encoding;
            this.setState("open", "");
            this.lastPing = this.lastStats = -Infinity;
            this.maybePing(this.now());
            resolve();
          },
          failed: (reason) => reject(new ClosedError(reason)),
        });
      } catch (e) {
        this.setState("closed", String((e as Error)?.message ?? e));
        reject(e);
      }
    });
  }

  /**
   * openSocket opens a WebSocket offering enc's subprotocol and makes it
   * the current one. hooks.opened runs when it opens; hooks.failed when it
   * closes without having opened (after the close has been handled).
   */
  private openSocket(enc: Encoding, hooks: { opened: () => void; failed?: (reason: string) => void }, url = this.curURL): Sock {
    const ws = new this.WS(url, [`tickwire.${enc}`]);
    const sk: Sock = { ws, opened: false, done: false, bye: "", error: "", moved: null, url };
    this.ws = ws;
    this.sock = sk;
    this.textFrames = new FrameReader(false, this.receiveCap);
    this.binFrames = new FrameReader(true, this.receiveCap);
    this.encoding = this.inEncoding = enc;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      if (sk !== this.sock || sk.done) return;
      sk.opened = true;
      if (ws.protocol && ws.protocol !== `tickwire.${enc}`) {
        // The server chose another subprotocol; follow it.
        const got = ws.protocol.replace(/^tickwire\./, "") as Encoding;
        if (got === "text" || got === "json" || got === "msgpack") this.encoding = this.inEncoding = got;
      } else if (!ws.protocol) {
        this.encoding = this.inEncoding = "text"; // no subprotocol means text
      }
      hooks.opened();
    };
    ws.onmessage = (ev) => {
      if (sk === this.sock && !sk.done) this.receive(ev.data);
    };
    ws.onerror = () => {
      if (!sk.error) sk.error = "error";
    };
    ws.onclose = (ev) => {
      if (sk !== this.sock || sk.done) return;
      // The server sends BYE, then a close frame whose reason is the BYE
      // reason ("closed" when the peer closed first): the latter stands in
      // for a BYE that did not arrive.
      const fromFrame = ev.reason && ev.reason !== "closed" && ev.code !== 1006 ? ev.reason : "";
      const bye = sk.bye || fromFrame;
      const reason = bye || (!sk.opened ? "connection failed" : ev.reason || (sk.error || ev.code === 1006 ? "connection lost" : "closed"));
      const opened = sk.opened;
      this.socketEnded(sk, reason, bye);
      if (!opened) hooks.failed?.(this.closeReason || reason);
    };
    return sk;
  }

  /**
   * socketEnded handles the end of the current socket sk: reason is why
   * it ended, bye the server's BYE reason ("" if none came).
   */
  private socketEnded(sk: Sock, reason: string, bye: string): void {
    sk.done = true;
    if (this.ending || this.state === "closed") {
      this.finish(reason);
      return;
    }
    if (this.state === "reconnecting") {
      if (!sk.opened && this.rc) this.rc.unreachable.set(sk.url, this.now());
      this.attemptFailed(reason, bye && !SEAT_HELD_REASONS.includes(bye) && bye !== "moved" ? bye : "");
      return;
    }
    if (this.state === "joined") {
      if (sk.moved && this.opts.reconnect && (this.#seat || sk.moved.ticket)) {
        this.startReconnect(reason, sk.moved);
        return;
      }
      // After BYE moved without a usable MOVED, the seat lives elsewhere:
      // reconnect as after a drop; the server reached sends the client on.
      const held = !bye || SEAT_HELD_REASONS.includes(bye) || bye === "moved";
      if (held && this.#seat && this.opts.reconnect) {
        this.startReconnect(reason);
        return;
      }
      if (bye !== "quit") {
        this.giveUp(reason);
        return;
      }
    }
    this.finish(reason);
  }

  /** true while the WebSocket is open. */
  get connected(): boolean {
    return this.ws !== null && this.ws.readyState === 1;
  }

  /** seatHoldMs is how long the server holds this player's seat after a drop (from SEAT), 0 if it does not. */
  get seatHoldMs(): number {
    return this.#seat?.holdMs ?? 0;
  }

  /**
   * limits is what the server announced in `LIMITS` after the last login
   * or resume, or null before the first (and with a server that sends
   * none). It stays after the connection closes.
   */
  get limits(): Limits | null {
    return this.#limits ? { ...this.#limits } : null;
  }

  /**
   * tickRate is the server's ticks per second from `LIMITS`, NaN before
   * it: a predicting client steps once per tick period, 1000 / tickRate ms.
   */
  get tickRate(): number {
    return this.#limits?.tickRate ?? NaN;
  }

  /**
   * maxMessage is the largest message send() lets out, bytes: the
   * server's from `LIMITS`, before it option maxMessage
   * ({@link DEFAULT_MAX_MESSAGE}).
   */
  get maxMessage(): number {
    return this.#limits?.maxMessage ?? this.opts.maxMessage;
  }

  /** receiveCap is the frame reader's cap: option maxReceive, or the server's cap when larger. */
  private get receiveCap(): number {
    return Math.max(this.opts.maxReceive, this.#limits?.maxMessage ?? 0);
  }

  /**
   * close closes the connection at once (without QUIT). It also stops a
   * reconnect in progress (no `lost` event); the server then holds the
   * seat until its hold ends.
   */
  close(reason = "client closed"): void {
    this.ending = true;
    if (!this.closeReason) this.closeReason = reason;
    this.stopReconnect();
    if (this.sock) this.sock.done = true;
    this.ws?.close(1000, reason.slice(0, 100));
    this.finish(this.closeReason);
  }

  /**
   * quit sends QUIT and resolves when the server's BYE closes the
   * connection (or after timeoutMs, closing it then). While reconnecting
   * it stops the reconnect, as close() does.
   */
  quit(timeoutMs = 2000): Promise<void> {
    if (this.state === "reconnecting") {
      this.close("quit");
      return Promise.resolve();
    }
    if (!this.connected) return Promise.resolve();
    this.ending = true;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        off();
        resolve();
      };
      const off = this.onState((s) => s === "closed" && done());
      const t = setTimeout(() => {
        this.close("quit timeout");
        done();
      }, timeoutMs);
      this.write({ type: "QUIT" }, 0);
    });
  }

  /**
   * debugDropConnection drops the WebSocket as a network failure would:
   * no QUIT, no BYE (the server sees the connection end and holds the
   * seat). The client reacts as to any drop: it reconnects when it holds
   * a seat. For tests; returns false when there was no open socket.
   */
  debugDropConnection(): boolean {
    const sk = this.sock;
    if (!sk || sk.done || sk.ws.readyState > 1) return false;
    sk.done = true; // its close event, whenever it comes, is handled here
    sk.ws.onmessage = null;
    try {
      sk.ws.close(4000, "debug drop");
    } catch {
      // already closing
    }
    this.socketEnded(sk, "dropped (debug)", "");
    return true;
  }

  private rejectPending(err: Error): void {
    for (const p of this.pending.values()) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private finish(reason: string): void {
    if (this.state === "closed") return;
    this.stopReconnect();
    if (!this.closeReason) this.closeReason = reason;
    const err = new ClosedError(this.closeReason);
    this.rejectPending(err);
    for (const w of this.welcomeWaiters) {
      if (w.timer !== undefined) clearTimeout(w.timer);
      w.reject(err);
    }
    this.welcomeWaiters = [];
    this.#seat = null;
    this.logQueue = [];
    this.setState("closed", this.closeReason);
  }

  private setState(s: ConnectionState, reason: string): void {
    this.state = s;
    for (const fn of [...this.stateHandlers]) fn(s, reason);
  }

  /** onState calls fn on every connection state change; returns a function that removes it. */
  onState(fn: (state: ConnectionState, reason: string) => void): () => void {
    this.stateHandlers.add(fn);
    return () => this.stateHandlers.delete(fn);
  }

  private emit<E extends ClientEventName>(name: E, ev: ClientEvents[E]): void {
    const set = this.eventHandlers.get(name);
    if (!set) return;
    for (const h of [...set]) this.safely(() => (h as (ev: ClientEvents[E]) => void)(ev));
  }

  // ---- reconnect ----

  /**
   * startReconnect begins getting the seat back after the joined
   * connection dropped for reason; with mv, the connection ended with
   * that MOVED, followed at once (no `reconnecting` event).
   */
  private startReconnect(reason: string, mv?: MoveTarget): void {
    const now = this.now();
    const hold = this.#seat?.holdMs ?? DEFAULT_MOVE_HOLD_MS;
    this.rc = { home: this.curURL, ticket: "", tries: 0, attempt: 0, reason, since: now, deadline: now + hold, timer: undefined, attemptTimer: undefined, rid: 0, unreachable: new Map() };
    this.closeReason = ""; // not closed: dropped, and coming back
    // Nothing sent on the old connection will be answered now.
    this.rejectPending(new ClosedError(reason));
    // Inputs in flight may never have reached the server: forget them, and
    // let the first ACK after the resume say where the entity is.
    const pr = this.predicted;
    if (pr) this.safely(() => pr.predictor.reset(pr.predictor.state));
    this.setState("reconnecting", reason);
    if (mv) this.follow(this.rc, mv);
    else this.schedule("");
  }

  /** follow tries the server a MOVED named at once, with its ticket. */
  private follow(rc: Reconnect, mv: MoveTarget): void {
    const now = this.now();
    this.moveTimes = this.moveTimes.filter((t) => now - t < MOVE_WINDOW_MS);
    if (this.moveTimes.length >= MAX_MOVES) {
      this.giveUp(`moved more than ${MAX_MOVES} times within ${MOVE_WINDOW_MS / 1000} s: the servers send the client in circles`);
      return;
    }
    this.moveTimes.push(now);
    rc.home = mv.url;
    rc.ticket = mv.ticket;
    rc.tries = 0;
    rc.deadline = Math.max(rc.deadline, now + (this.#seat?.holdMs ?? DEFAULT_MOVE_HOLD_MS));
    this.attempt(rc, mv.url);
  }

  /** pick chooses an attempt's server: home twice, then each seed and home in turn. */
  private pick(rc: Reconnect): string {
    const n = rc.tries++;
    if (n < 2 || this.seeds.length === 0) return rc.home;
    const ring = [rc.home, ...this.seeds.filter((u) => u !== rc.home)];
    return ring[(n - 1) % ring.length];
  }

  /** schedule plans the next attempt after a jittered back-off, or gives up when the hold is over. */
  private schedule(error: string): void {
    const rc = this.rc;
    if (!rc) return;
    const left = rc.deadline - this.now();
    if (left <= 0) {
      this.giveUp(`seat hold expired (${rc.reason}${error ? `; last attempt: ${error}` : ""})`);
      return;
    }
    rc.attempt++;
    const bound = Math.min(this.opts.reconnectMaxDelay, this.opts.reconnectDelay * 2 ** Math.min(rc.attempt - 1, 30));
    const delay = Math.min(Math.floor(this.opts.random() * bound), Math.ceil(left));
    rc.timer = setTimeout(() => {
      rc.timer = undefined;
      this.attempt(rc, this.pick(rc));
    }, delay);
    this.emit("reconnecting", { attempt: rc.attempt, reason: rc.reason, error, delay });
  }

  /** attempt opens a new socket to url and sends RESUME on it: with the last MOVED's ticket at its server, else the own seat token. */
  private attempt(rc: Reconnect, url: string): void {
    const token = rc.ticket && url === rc.home ? rc.ticket : this.#seat?.token;
    const user = this.#seat?.user ?? this.welcome?.name;
    if (this.rc !== rc || this.state !== "reconnecting") return;
    if (!token || !user) {
      this.giveUp("no seat token to resume with");
      return;
    }
    let sk: Sock;
    try {
      sk = this.openSocket(
        this.baseEncoding,
        {
          opened: () => {
            if (this.rc !== rc) return;
            rc.rid = this.nextRID;
            this.nextRID = this.nextRID >= 0xffffffff ? 1 : this.nextRID + 1;
            try {
              this.write({ type: "RESUME", user, token }, rc.rid);
            } catch (e) {
              this.giveUp(`resume: ${(e as Error).message}`); // the server could not take it either
            }
          },
        },
        url,
      );
    } catch (e) {
      this.attemptFailed(String((e as Error)?.message ?? e), "");
      return;
    }
    rc.attemptTimer = setTimeout(() => {
      rc.attemptTimer = undefined;
      if (this.rc !== rc || this.sock !== sk || sk.done) return;
      if (!sk.opened) rc.unreachable.set(url, this.now());
      this.abandon(sk);
      this.attemptFailed(`no answer to RESUME in ${this.opts.resumeTimeout} ms`, "");
    }, this.opts.resumeTimeout);
  }

  /** abandon closes sk and ignores whatever it does from now on. */
  private abandon(sk: Sock): void {
    sk.done = true;
    sk.ws.onmessage = null;
    try {
      sk.ws.close(1000, "");
    } catch {
      // already closed
    }
  }

  /**
   * attemptFailed: the attempt's socket ended (or was refused) for reason;
   * released is a BYE reason that releases the seat, "" otherwise.
   */
  private attemptFailed(reason: string, released: string): void {
    const rc = this.rc;
    if (!rc) return;
    if (rc.attemptTimer !== undefined) clearTimeout(rc.attemptTimer);
    rc.attemptTimer = undefined;
    if (this.sock && !this.sock.done) this.abandon(this.sock);
    if (released) {
      this.giveUp(released);
      return;
    }
    this.schedule(reason);
  }

  /** resumed: WELCOME arrived on an attempt's socket. */
  private resumed(id: number, name: string): void {
    const rc = this.rc!;
    const url = this.sock?.url ?? this.curURL;
    const moved = url !== this.curURL;
    this.stopReconnect();
    this.resumes++;
    this.closeReason = "";
    if (moved) {
      this.curURL = url;
      this.moves++;
    }
    this.setState("joined", "");
    this.lastPing = this.lastStats = -Infinity;
    if (moved) this.emit("moved", { url, id, name });
    this.emit("resumed", { id, name, attempts: rc.attempt, downtime: this.now() - rc.since, moved });
  }

  /** moveTarget checks a MOVED: the WebSocket URL to follow, or why not. */
  private moveTarget(m: Message<"MOVED">): MoveTarget | string {
    const bad = checkWebSocketURL(m.ws);
    if (bad) return `unusable MOVED: ws ${JSON.stringify(m.ws)}: ${bad}`;
    if (!/^[\x21-\x7e]+$/.test(m.ticket)) return "unusable MOVED: no ticket";
    return { url: m.ws, ticket: m.ticket === "-" ? "" : m.ticket };
  }

  /** giveUp ends the session for reason: `lost`, then the state closed. */
  private giveUp(reason: string): void {
    this.stopReconnect();
    this.#seat = null;
    if (this.sock && !this.sock.done) this.abandon(this.sock);
    this.closeReason = reason;
    this.emit("lost", { reason });
    this.finish(reason);
  }

  private stopReconnect(): void {
    const rc = this.rc;
    if (!rc) return;
    this.rc = null;
    if (rc.timer !== undefined) clearTimeout(rc.timer);
    if (rc.attemptTimer !== undefined) clearTimeout(rc.attemptTimer);
  }

  /**
   * adoptLimits takes the server's settings from LIMITS: the tick rate, and
   * its message cap for send() and (when larger than option maxReceive)
   * for the frame readers. A value outside what a server may have is
   * ignored, keeping the one before.
   */
  private adoptLimits(tickRate: number, maxMessage: number): void {
    const prev = this.#limits;
    const next: Limits = {
      tickRate: tickRate >= 1 ? tickRate : prev?.tickRate ?? NaN,
      maxMessage: maxMessage >= MIN_MESSAGE_LIMIT && maxMessage <= MAX_MESSAGE_LIMIT ? maxMessage : prev?.maxMessage ?? this.opts.maxMessage,
    };
    this.#limits = next;
    this.textFrames.maxMessage = this.binFrames.maxMessage = this.receiveCap;
    this.emit("limits", { ...next });
  }

  // ---- login ----

  /**
   * auth sends `AUTH user secret` and resolves with the WELCOME once the
   * game admits the player. It rejects with {@link ServerError} (code
   * `auth`, `join_refused`, `already_logged_in`) or {@link ClosedError}.
   */
  auth(user: string, secret = "", timeoutMs = 10000): Promise<Welcome> {
    const welcome = new Promise<Welcome>((resolve, reject) => {
      const w: Pending = {
        resolve: (env) => resolve({ id: (env.msg as Message<"WELCOME">).id, name: (env.msg as Message<"WELCOME">).name }),
        reject,
        timer: setTimeout(() => {
          this.welcomeWaiters = this.welcomeWaiters.filter((x) => x !== w);
          this.pending.delete(this.authRID);
          reject(new ServerError("timeout", "no WELCOME from the server"));
        }, timeoutMs),
      };
      this.welcomeWaiters.push(w);
    });
    const m: Message<"AUTH"> = secret ? { type: "AUTH", user, secret } : { type: "AUTH", user };
    // A refusal is an ERR carrying our rid; success is WELCOME (no rid),
    // which also drops the request (see early).
    this.authRID = this.nextRID;
    this.request(m, 0).then(
      () => undefined,
      (err: Error) => {
        for (const w of this.welcomeWaiters.splice(0)) {
          if (w.timer !== undefined) clearTimeout(w.timer);
          w.reject(err);
        }
      },
    );
    return welcome;
  }

  /** loginGuest logs in as a guest (`AUTH guest`) and resolves with the WELCOME. */
  loginGuest(): Promise<Welcome> {
    return this.auth("guest");
  }

  /**
   * login logs in with an account: it asks the auth service
   * (`POST {authBase}/v1/login`) for a one-time token, then sends
   * `AUTH name token` on this connection. Rejects with
   * {@link AuthError} (wrong password, rate limited, service unreachable)
   * or {@link ServerError} (the game server refused the token).
   */
  async login(name: string, password: string): Promise<Welcome> {
    const res: LoginResult = await authLogin(this.authBase, name, password, this.authOptions());
    return this.auth(res.name, res.token);
  }

  /**
   * register creates an account with the auth service
   * (`POST {authBase}/v1/register`), then logs in as with {@link login}.
   */
  async register(name: string, password: string): Promise<Welcome> {
    const r: RegisterResult = await authRegister(this.authBase, name, password, this.authOptions());
    return this.login(r.name, password);
  }

  private authOptions(): AuthOptions {
    return this.fetchFn ? { fetch: this.fetchFn } : {};
  }

  // ---- sending ----

  /**
   * send validates m against the schema and sends it (with request id rid
   * when not 0). It returns false, and drops m, if the connection is not
   * open or the client is reconnecting (see {@link ClientEvents}). It
   * throws, before anything is sent, a DecodeError if m breaks a field
   * limit and a {@link TooLongError} if m is longer than the server
   * accepts ({@link maxMessage}: the server's `LIMITS`, or option
   * maxMessage before it).
   */
  send(m: Message, rid = 0): boolean {
    validate(m);
    if (this.state === "reconnecting") return false;
    return this.write(m, rid);
  }

  /**
   * write encodes and sends m (already valid) on the current socket; false
   * if it is not open. It throws {@link TooLongError}, sending nothing,
   * when m is longer than the server accepts.
   */
  private write(m: Message, rid: number): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1 || !this.sock || this.sock.done) return false;
    let n: number;
    let data: string | Uint8Array;
    let payload: number;
    if (this.encoding === "msgpack") {
      data = encodeMsgPack(m, rid);
      n = data.length;
      payload = n - uvarintLength(data);
    } else {
      data = this.encoding === "json" ? encodeJSON(m, rid) : encodeText(m, rid);
      n = utf8Length(data);
      payload = n - 1; // the newline
    }
    const max = this.maxMessage;
    if (payload > max) throw new TooLongError(m.type, payload, max);
    ws.send(data);
    const now = this.now();
    this.bytesOut.add(n, now);
    this.msgsOut.add(1, now);
    if (m.type === "USE") {
      // Everything after our USE frame is read in the new encoding.
      const enc = (m as Message<"USE">).encoding;
      if (enc === "text" || enc === "json" || enc === "msgpack") this.encoding = enc;
    }
    return true;
  }

  /**
   * request sends m with a fresh request id and resolves with the first
   * message that carries that id back (PONG for PING, INFO for HELP, ...).
   * An ERR with the id rejects with {@link ServerError}. The answer is
   * still queued for the handlers too.
   */
  request(m: Message, timeoutMs = 10000): Promise<Envelope> {
    const rid = this.nextRID;
    this.nextRID = this.nextRID >= 0xffffffff ? 1 : this.nextRID + 1;
    return new Promise((resolve, reject) => {
      const p: Pending = {
        resolve,
        reject,
        timer:
          timeoutMs > 0
            ? setTimeout(() => {
                this.pending.delete(rid);
                reject(new ServerError("timeout", `no answer to ${m.type} in ${timeoutMs} ms`));
              }, timeoutMs)
            : undefined,
      };
      this.pending.set(rid, p);
      let sent = false;
      try {
        sent = this.send(m, rid);
      } catch (e) {
        this.pending.delete(rid);
        if (p.timer !== undefined) clearTimeout(p.timer);
        reject(e);
        return;
      }
      if (!sent) {
        this.pending.delete(rid);
        if (p.timer !== undefined) clearTimeout(p.timer);
        reject(new ClosedError(this.state === "reconnecting" ? "reconnecting" : this.closeReason || "not connected"));
      }
    });
  }

  /**
   * use switches the connection's encoding with `USE enc`; it resolves
   * when the server's USING arrives.
   */
  async use(enc: Encoding): Promise<void> {
    await this.request({ type: "USE", encoding: enc });
  }

  // ---- receiving ----

  private receive(data: unknown): void {
    const now = this.now();
    let bytes: Uint8Array;
    let binary: boolean;
    if (typeof data === "string") {
      bytes = textEncoder.encode(data);
      binary = false;
    } else if (data instanceof ArrayBuffer) {
      bytes = new Uint8Array(data);
      binary = true;
    } else if (ArrayBuffer.isView(data)) {
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      binary = true;
    } else {
      this.decodeErrors++;
      return;
    }
    this.bytesIn.add(bytes.length, now);
    let frames: Uint8Array[];
    try {
      // A WebSocket message holds whole frames: lines in a text message,
      // length-prefixed frames in a binary one; maybe several.
      frames = (binary ? this.binFrames : this.textFrames).push(bytes);
      // The generated reader bounds binary frames and unfinished lines;
      // a finished line is bounded here.
      const max = this.receiveCap;
      if (!binary && frames.some((f) => f.length > max)) throw new Error("message too long");
    } catch (e) {
      this.decodeErrors++;
      this.close(`bad frame from server: ${(e as Error).message}`);
      return;
    }
    for (const f of frames) {
      let env: Envelope;
      try {
        env = decode(binary ? "msgpack" : this.inEncoding === "msgpack" ? "text" : this.inEncoding, f);
      } catch (e) {
        this.decodeErrors++;
        if (e instanceof DecodeError) this.log("warn", `cannot decode a server frame: ${e.code} ${e.message}`);
        continue;
      }
      this.msgsIn.add(1, now);
      if (this.state !== "joined" && env.msg.type !== "WELCOME") this.beforeLogin.add(env.msg);
      if (!this.early(env, now)) continue;
      this.inbox.push({ env, at: now });
    }
    if (this.inbox.length > this.opts.maxQueued) this.update(now);
  }

  /**
   * early handles what must not wait for update(): RTT, answers, login,
   * the seat, BYE. It returns false for a message that is not to be
   * dispatched (SEAT: its token is a credential).
   */
  private early(env: Envelope, now: number): boolean {
    const m = env.msg;
    const rc = this.rc;
    switch (m.type) {
      case "PONG": {
        const tok = m.token ?? "";
        if (tok.startsWith(PING_PREFIX)) {
          const sent = Number(tok.slice(PING_PREFIX.length));
          if (Number.isFinite(sent)) this.rtt.add(now - sent);
        }
        break;
      }
      case "SERVERSTATS":
        this.server = { tickUs: m.tick_us, tickRate: m.tick_rate, conns: m.conns };
        break;
      case "USING": {
        const enc = m.encoding;
        if (enc === "text" || enc === "json" || enc === "msgpack") this.inEncoding = enc;
        break;
      }
      case "WELCOME": {
        this.welcome = { id: m.id, name: m.name };
        if (rc && this.state === "reconnecting") {
          this.resumed(m.id, m.name);
        } else {
          this.pending.delete(this.authRID);
          this.setState("joined", "");
          for (const w of this.welcomeWaiters.splice(0)) {
            if (w.timer !== undefined) clearTimeout(w.timer);
            w.resolve(env);
          }
        }
        this.flushLogs();
        break;
      }
      case "MOVED": {
        // The ticket is a credential: never dispatched. A MOVED that
        // cannot be followed is not dialled: the connection counts as
        // lost when it ends.
        const mv = this.moveTarget(m);
        if (rc && this.state === "reconnecting" && this.sock) {
          const sk = this.sock;
          if (rc.attemptTimer !== undefined) clearTimeout(rc.attemptTimer);
          rc.attemptTimer = undefined;
          this.abandon(sk);
          const gone = typeof mv === "string" ? undefined : rc.unreachable.get(mv.url);
          if (typeof mv === "string") this.attemptFailed(mv, "");
          else if (gone !== undefined && this.now() - gone < UNREACHABLE_MS) {
            // The server the cluster still names is the one just found
            // dead: ask again after the back-off instead of following.
            this.attemptFailed(`MOVED to ${mv.url}, unreachable ${this.now() - gone} ms ago`, "");
          } else this.follow(rc, mv);
        } else if (this.sock && typeof mv !== "string") {
          this.sock.moved = mv;
        } else if (typeof mv === "string") {
          this.safely(() => console.warn(`tickwire: ${mv}`));
        }
        return false;
      }
      case "SEAT":
        this.#seat = m.hold_ms > 0 && this.welcome ? { user: this.welcome.name, token: m.token, holdMs: m.hold_ms } : null;
        return false;
      case "LIMITS":
        this.adoptLimits(m.tick_rate, m.max_message);
        break;
      case "BYE":
        if (this.sock) this.sock.bye = m.reason;
        if (this.state !== "reconnecting") this.closeReason = m.reason;
        break;
      case "ERR":
        if (m.code === "rate_limited") {
          this.rateLimited++;
          this.emit("rate_limited", { name: (m.text ?? "").trim() });
        }
        if (rc && this.state === "reconnecting" && (m.code === "resume" || (env.rid !== 0 && env.rid === rc.rid))) {
          // Refused: the token is spent or was never good; trying again
          // would only be struck. A rate limit is worth another attempt, and
          // so is `ERR resume unavailable`: the seat is between two servers.
          if (m.code === "rate_limited") this.attemptFailed("rate_limited", "");
          else if (m.code === "resume" && (m.text ?? "").startsWith("unavailable")) this.attemptFailed(`resume unavailable${m.text ? ": " + m.text : ""}`, "");
          else this.giveUp(`resume refused: ${m.code}${m.text ? " " + m.text : ""}`);
          return true;
        }
        if (m.code === "join_refused") {
          for (const w of this.welcomeWaiters.splice(0)) {
            if (w.timer !== undefined) clearTimeout(w.timer);
            w.reject(new ServerError(m.code, m.text ?? ""));
          }
        }
        break;
    }
    if (env.rid) {
      const p = this.pending.get(env.rid);
      if (p) {
        this.pending.delete(env.rid);
        if (p.timer !== undefined) clearTimeout(p.timer);
        if (m.type === "ERR") p.reject(new ServerError(m.code, m.text ?? ""));
        else p.resolve(env);
      }
    }
    return true;
  }

  /**
   * arrivedBeforeLogin reports whether message m (as passed to a handler)
   * arrived on its connection before WELCOME: the server's banner and
   * other pre-login notices, on the first connection and on each resume.
   */
  arrivedBeforeLogin(m: object): boolean {
    return this.beforeLogin.has(m);
  }

  // ---- dispatch ----

  /**
   * on registers a handler for one of the client's own events (lower case:
   * `reconnecting`, `resumed`, `lost`, `rate_limited`, `limits`; see
   * {@link ClientEvents}), which runs when the event happens, or for
   * messages named name (upper case), which runs from {@link update}.
   * Returns a function that removes it.
   *
   * ```ts
   * c.on("reconnecting", (e) => banner(`reconnecting (attempt ${e.attempt})…`));
   * c.on("resumed", () => banner(null));
   * c.on("lost", (e) => showLost(e.reason));
   * c.on("CHAT", (m) => show(m.from, m.text));
   * ```
   */
  on<E extends ClientEventName>(event: E, handler: (ev: ClientEvents[E]) => void): () => void;
  on<N extends Name>(name: N, handler: Handler<N>): () => void;
  on(name: string, handler: (...args: never[]) => void): () => void {
    const map = /^[a-z]/.test(name) ? this.eventHandlers : this.handlers;
    let set = map.get(name) as Set<unknown> | undefined;
    if (!set) map.set(name, (set = new Set()) as never);
    set.add(handler);
    return () => set!.delete(handler);
  }

  /**
   * onAny registers a handler for every message, run from {@link update}
   * after the model and before the named handlers; at is the time the
   * message arrived.
   */
  onAny(handler: (env: Envelope, at: number) => void): () => void {
    this.anyHandlers.add(handler);
    return () => this.anyHandlers.delete(handler);
  }

  /**
   * update dispatches every message that arrived since the last call to
   * the handlers, in arrival order, and sends an RTT ping when one is due.
   * Call it once per frame with the frame's timestamp. It returns how many
   * messages it dispatched. A handler that throws does not stop the others;
   * the error is reported with LOG error.
   */
  update(now: number = this.now()): number {
    const batch = this.inbox;
    this.inbox = [];
    this.desyncBudget = MAX_DESYNC_PER_UPDATE;
    for (const a of batch) this.dispatch(a.env, a.at);
    this.interp?.prune(now);
    this.maybePing(now);
    return batch.length;
  }

  /**
   * interpolate sets how the {@link Interpolator} blends entities of the
   * kind called kindName: the named fields are blended linearly (x and y
   * always are), and those in wrap are angles with the given period, e.g.
   * `interpolate("tank", ["angle"], { angle: 360 })`. Fields not named
   * step from sample to sample.
   */
  interpolate(kindName: string, fields: string[], wrap: Record<string, number> = {}): void {
    this.lerpKinds.set(kindName, { fields, wrap });
  }

  private track(id: number, at: number): void {
    const model = this.model!;
    const e = model.entity(id);
    if (!e) return;
    const interp = this.interp!;
    const kind = model.kind(e.kind);
    if (!interp.has(id) && kind) {
      const cfg = this.lerpKinds.get(kind.name);
      if (cfg) {
        let mask = 0b11;
        const wrap = new Map<number, number>();
        for (const f of cfg.fields) {
          const i = kind.fields.indexOf(f);
          if (i >= 0) mask |= 1 << i;
        }
        for (const [f, period] of Object.entries(cfg.wrap)) {
          const i = kind.fields.indexOf(f);
          if (i >= 0) wrap.set(i, period);
        }
        interp.configure(id, mask, wrap);
      }
    }
    interp.push(id, at, e.vals.subarray(0, kind ? kind.fields.length : e.vals.length));
  }

  private replicate(env: Envelope, at: number): void {
    const model = this.model!;
    const interp = this.interp!;
    const m = env.msg;
    const reports = model.apply(m);
    switch (m.type) {
      case "ZONE":
        interp.clear();
        break;
      case "ENTER":
      case "DELTA":
      case "STATE":
      case "ACK":
        this.track(m.id, at);
        break;
      case "REMOVE":
        interp.remove(m.id, at);
        break;
    }
    if (reports) {
      for (const r of reports) {
        if (r.reason === "extra") interp.remove(r.id, at);
        this.sendDesync(r);
      }
    }
  }

  private sendDesync(r: DesyncReport): void {
    if (this.desyncBudget <= 0) {
      this.desyncsDropped++;
      return;
    }
    this.desyncBudget--;
    try {
      if (this.send({ type: "DESYNC", id: r.id, mask: r.mask, reason: r.reason })) this.desyncsSent++;
      else this.desyncsDropped++;
    } catch {
      this.desyncsDropped++;
    }
  }

  /**
   * predict couples predictor with this client for the player's own
   * entity (see {@link Predicted}): encode builds the game's input message
   * for input number seq (e.g. `{ type: "DRIVE", seq, x, y }`), state
   * extracts the authoritative state from an ACK (usually from its vals).
   * A client has one prediction: a second call replaces the first.
   */
  predict<S, I>(predictor: Predictor<S, I>, encode: (seq: number, input: I) => Message, state: (ack: Message<"ACK">) => S): Predicted<S, I> {
    const p = new Predicted(this, predictor, encode, state);
    this.predicted = p as unknown as Predicted<unknown, unknown>;
    return p;
  }

  /** dispatch runs the model, the prediction and the handlers for one message that arrived at time at. */
  protected dispatch(env: Envelope, at: number = this.now()): void {
    if (this.model) this.safely(() => this.replicate(env, at));
    if (this.predicted && env.msg.type === "ACK") {
      const p = this.predicted;
      this.safely(() => p.ack(env.msg as Message<"ACK">));
    }
    for (const h of this.anyHandlers) this.safely(() => h(env, at));
    const set = this.handlers.get(env.msg.type);
    if (set) for (const h of set) this.safely(() => h(env.msg, env.rid));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.reportError(e);
      if (typeof console !== "undefined") console.warn("tickwire: a message handler threw", e);
    }
  }

  private maybePing(now: number): void {
    if (!this.connected || this.state === "reconnecting") return;
    if (this.opts.pingInterval > 0 && now - this.lastPing >= this.opts.pingInterval) {
      this.lastPing = now;
      this.send({ type: "PING", token: PING_PREFIX + now.toFixed(1) });
    }
    if (this.opts.statsInterval > 0 && now - this.lastStats >= this.opts.statsInterval) {
      this.lastStats = now;
      this.send({ type: "STATS" });
    }
  }

  // ---- stats ----

  /** stats returns the RTT and traffic figures for a net graph. */
  stats(now: number = this.now()): NetStats {
    return {
      rtt: this.rtt.last,
      rttSmoothed: this.rtt.smoothed,
      rttJitter: this.rtt.jitter,
      rttMin: this.rtt.min,
      bytesInPerSec: this.bytesIn.rate(now),
      bytesOutPerSec: this.bytesOut.rate(now),
      msgsInPerSec: this.msgsIn.rate(now),
      msgsOutPerSec: this.msgsOut.rate(now),
      bytesIn: this.bytesIn.total,
      bytesOut: this.bytesOut.total,
      queued: this.inbox.length,
      logsDropped: this.logsDropped,
      serverTickUs: this.server.tickUs,
      serverTickRate: this.server.tickRate,
      serverConns: this.server.conns,
      desyncsSent: this.desyncsSent,
      desyncsDropped: this.desyncsDropped,
      rateLimited: this.rateLimited,
      resumes: this.resumes,
      moves: this.moves,
    };
  }

  // ---- client logs ----

  /**
   * log ships a line to the server log (`LOG level text`), limited on the
   * client to logRate lines a second (burst logBurst). The server takes
   * LOG only from a logged-in connection: lines logged before WELCOME, or
   * while reconnecting, wait (at most logBurst of them) and go out on
   * WELCOME. Lines over the limit, past the wait queue or logged after the
   * connection closed are dropped and counted. Returns whether the line
   * was sent or queued.
   */
  log(level: "debug" | "info" | "warn" | "error", text: string): boolean {
    if (this.inLog) return false;
    const now = this.now();
    this.logTokens = Math.min(this.opts.logBurst, this.logTokens + ((now - this.logStamp) / 1000) * this.opts.logRate);
    this.logStamp = now;
    const waits = this.state !== "joined" && this.state !== "closed";
    if (this.logTokens < 1 || this.state === "closed" || (waits && this.logQueue.length >= Math.max(1, this.opts.logBurst))) {
      this.logsDropped++;
      return false;
    }
    this.logTokens -= 1;
    const clean = text.replace(/\s+/g, " ").trim() || "(empty)";
    const m: Message<"LOG"> = { type: "LOG", level, text: truncateUTF8(clean, 512) };
    if (waits) {
      this.logQueue.push(m);
      return true;
    }
    return this.sendLog(m);
  }

  private sendLog(m: Message<"LOG">): boolean {
    this.inLog = true;
    try {
      if (this.send(m)) return true;
      this.logsDropped++;
      return false;
    } catch {
      this.logsDropped++;
      return false;
    } finally {
      this.inLog = false;
    }
  }

  private flushLogs(): void {
    for (const m of this.logQueue.splice(0)) this.sendLog(m);
  }

  /** reportError ships an error (or anything thrown) as `LOG error ...`. */
  reportError(e: unknown, context = ""): boolean {
    let text: string;
    if (e instanceof Error) {
      text = `${e.name}: ${e.message}`;
      const frame = e.stack?.split("\n").find((l) => /:\d+:\d+/.test(l));
      if (frame) text += ` at ${frame.trim().replace(/^at /, "")}`;
    } else {
      try {
        text = typeof e === "string" ? e : JSON.stringify(e);
      } catch {
        text = String(e);
      }
    }
    return this.log("error", context ? `${context}: ${text}` : text);
  }

  /**
   * captureErrors ships the page's uncaught errors, unhandled promise
   * rejections and console.error calls to the server with `LOG error`,
   * through the client's rate limit. Returns a function that undoes it.
   * target defaults to globalThis (the window).
   */
  captureErrors(target: {
    addEventListener?: (t: string, fn: (ev: never) => void) => void;
    removeEventListener?: (t: string, fn: (ev: never) => void) => void;
    console?: Console;
  } = globalThis as never): () => void {
    this.uninstallErrors?.();
    const onError = (ev: { message?: string; error?: unknown; filename?: string; lineno?: number }) => {
      if (ev.error !== undefined && ev.error !== null) this.reportError(ev.error, "uncaught");
      else this.log("error", `uncaught: ${ev.message ?? "error"}${ev.filename ? ` at ${ev.filename}:${ev.lineno ?? 0}` : ""}`);
    };
    const onRejection = (ev: { reason?: unknown }) => this.reportError(ev.reason, "unhandled rejection");
    target.addEventListener?.("error", onError as never);
    target.addEventListener?.("unhandledrejection", onRejection as never);
    const con = target.console;
    const orig = con?.error;
    if (con && orig) {
      con.error = (...args: unknown[]) => {
        orig.apply(con, args);
        if (this.inLog) return;
        const text = args
          .map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : typeof a === "string" ? a : safeJSON(a)))
          .join(" ");
        this.log("error", `console: ${text}`);
      };
    }
    const undo = () => {
      target.removeEventListener?.("error", onError as never);
      target.removeEventListener?.("unhandledrejection", onRejection as never);
      if (con && orig) con.error = orig;
      if (this.uninstallErrors === undo) this.uninstallErrors = null;
    };
    this.uninstallErrors = undo;
    return undo;
  }
}

function safeJSON(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

