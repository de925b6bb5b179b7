// The tickwire arena demo page: sign up / log in / play as guest, then the
// arena on a canvas with keyboard and mouse controls, chat, the chest panel
// and a net graph. Plain DOM and canvas; the SDK does the networking, the
// replicated world, prediction and interpolation.
//
// Query parameters: ws=<WebSocket URL>, auth=<auth service base URL> (both
// default to this page's origin), enc=msgpack|json|text, delay=<ms>
// (interpolation delay, default 100).

import {
  AuthError,
  Client,
  ClosedError,
  Predictor,
  ServerError,
  type Predicted,
  type Encoding,
  type Message,
  type ModelEntity,
} from "../../sdk/src/index.js";
import { findPath, PathFollower } from "./path.js";
import { NetGraph } from "./netgraph.js";
import { ChestTracker } from "./chest.js";
import { Renderer, type DrawChest, type DrawTank, type Effect, type Scene } from "./render.js";
import { Pacer } from "./pace.js";
import * as R from "./rules.js";

const params = new URLSearchParams(location.search);
const ENCODINGS: Encoding[] = ["msgpack", "json", "text"];
const config = {
  ws: params.get("ws") || undefined,
  auth: params.get("auth") || undefined,
  encoding: (ENCODINGS.includes(params.get("enc") as Encoding) ? params.get("enc") : "msgpack") as Encoding,
  delay: Number(params.get("delay") ?? 100) || 100,
};

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

const ui = {
  login: $("login"),
  form: $<HTMLFormElement>("login-form"),
  name: $<HTMLInputElement>("name"),
  password: $<HTMLInputElement>("password"),
  guest: $<HTMLButtonElement>("guest"),
  loginError: $("login-error"),
  encoding: $<HTMLSelectElement>("encoding"),
  game: $("game"),
  stage: $("stage"),
  canvas: $<HTMLCanvasElement>("view"),
  overlay: $("overlay"),
  banner: $("banner"),
  status: $("status"),
  me: $("me"),
  chestPanel: $("chest"),
  chestTitle: $("chest-title"),
  chestSlots: $("chest-slots"),
  inventory: $("inventory"),
  chestHint: $("chest-hint"),
  chestOffline: $("chest-offline"),
  log: $<HTMLOListElement>("log"),
  chatForm: $<HTMLFormElement>("chat-form"),
  chatInput: $<HTMLInputElement>("say"),
  netCanvas: $<HTMLCanvasElement>("netgraph"),
  netText: $("nettext"),
  netLegend: $("netlegend"),
  quit: $<HTMLButtonElement>("quit"),
};

ui.encoding.value = config.encoding;
ui.name.value = localStorage.getItem("tickwire.name") ?? "";

// ---- the log: chat, server notices, errors ----

function addLine(kind: "chat" | "info" | "err" | "me", text: string, from = ""): void {
  const li = document.createElement("li");
  li.className = kind;
  if (from) {
    const b = document.createElement("b");
    b.textContent = from + ": ";
    li.append(b);
  }
  li.append(text);
  const atBottom = ui.log.scrollTop + ui.log.clientHeight >= ui.log.scrollHeight - 4;
  ui.log.append(li);
  while (ui.log.childElementCount > 200) ui.log.firstElementChild?.remove();
  if (atBottom) ui.log.scrollTop = ui.log.scrollHeight;
}

// ---- the game ----

type Pos = R.Pos;
type Control = R.Control;

/** How long an OPEN waits for the server to catch up with the predicted position, ms. */
const SETTLE_MS = 1500;

class Game {
  readonly client: Client;
  readonly renderer = new Renderer(ui.canvas);
  readonly net = new NetGraph(ui.netCanvas, ui.netText, ui.netLegend);
  /** The own tank's predicted position, reconciled on every ACK. */
  readonly predictor: Predictor<Pos, Control>;
  readonly predicted: Predicted<Pos, Control>;
  /** The predictor holds a real position (false until the tank is first seen, and after a reset is due). */
  ready = false;
  ownId = 0;
  needsReset = true;
  resetTo: Pos | null = null;
  /**
   * The server's tick rate (client.tickRate, from LIMITS): one input Step
   * per tick period. NaN until it is known; the page drives nothing before.
   */
  rate = NaN;
  /** Input steps and the movement allowance, at the server's tick rate. */
  pacer: Pacer | null = null;
  keys = new Set<string>();
  path: PathFollower | null = null;
  /** The chest the path leads to: it opens once the tank is within reach. */
  approach = 0;
  /** Where the player clicked: a chest seen there on the way (it may be out of sight at the click) is opened. */
  clickedAt: Pos | null = null;
  /** A chest to open as soon as the server has the tank where the page predicts it. */
  pendingOpen: { id: number; since: number } | null = null;
  stuck = 0;
  /** The chest the server has open for us, from the replicated world. */
  readonly chests = new ChestTracker();
  /** Set by the client's lost event: why the session is over. */
  lostReason = "";
  lastFire = -Infinity;
  localHeading = -1;
  localHeadingAt = -Infinity;
  effects: Effect[] = [];
  lastFrame = -Infinity;
  wasDead = false;
  timer: ReturnType<typeof setInterval> | undefined;

  constructor(client: Client) {
    this.client = client;
    client.interpolate("tank", ["heading"], { heading: 360 });
    client.on("CHAT", (m) => addLine("chat", m.text, m.from));
    // The server's banner (sent before login) speaks to netcat users: the
    // page has its own welcome.
    client.on("INFO", (m) => client.arrivedBeforeLogin(m) || addLine("info", m.text));
    client.on("ERR", (m) => {
      if (m.code !== "rate_limited") addLine("err", `${m.code}${m.text ? ": " + m.text : ""}`);
    });
    client.on("rate_limited", (e) => addLine("err", `slow down: the server dropped ${e.name || "messages"} sent too fast`));
    client.on("ZONE", () => {
      this.needsReset = true;
      this.ready = false;
      this.path = null;
      this.approach = 0;
      this.pendingOpen = null;
      this.chests.reset();
      this.effects = [];
    });
    client.on("reconnecting", (e) => {
      // The server closed our chest at the drop.
      this.chests.reset();
      this.pendingOpen = null;
      ui.banner.hidden = false;
      ui.banner.textContent = "Connection lost: reconnecting…" + (e.attempt > 1 ? ` (attempt ${e.attempt})` : "");
      ui.banner.title = e.error ? `${e.reason}; last attempt: ${e.error}` : e.reason;
    });
    client.on("resumed", (e) => {
      ui.banner.hidden = true;
      // A move to another server of a cluster is seamless: no banner came.
      if (!e.moved) addLine("me", `reconnected after ${(e.downtime / 1000).toFixed(1)} s`);
    });
    client.on("lost", (e) => {
      this.lostReason = e.reason;
      ui.banner.hidden = true;
    });
    this.setRate(client.tickRate);
    client.on("limits", (l) => this.setRate(l.tickRate));
    this.predictor = new Predictor<Pos, Control>({ x: 0, y: 0 }, (s, c) => R.step(this.model, s, c, this.rate));
    // DRIVE seq x y proposes where the Step takes the tank; the server
    // answers ACK seq with the tank's fields (x and y first).
    this.predicted = client.predict(
      this.predictor,
      (seq, c) => {
        const to = R.step(this.model, this.predictor.state, c, this.rate);
        return { type: "DRIVE", seq, x: to.x, y: to.y };
      },
      (a) => ({ x: a.vals[0] ?? 0, y: a.vals[1] ?? 0 }),
    );
    this.predicted.onAck = (r) => {
      // The same input acknowledged again: the server moved the tank
      // itself (a respawn). Start over from where it is.
      if (r.stale && this.predictor.pendingCount === 0) this.predictor.reset(r.server);
    };
    // SPAWN: our tank appeared (join, respawn, portal) at x, y.
    client.on("SPAWN", (m) => {
      this.ownId = m.id;
      this.resetTo = { x: m.x, y: m.y };
      this.needsReset = true;
      this.ready = false;
      this.path = null;
      this.approach = 0;
      this.pendingOpen = null;
    });
    client.on("GONE", () => {
      this.path = null;
      addLine("err", "your tank was destroyed");
    });
    client.onAny((env, at) => {
      if (env.msg.type === "EVENT") this.event(env.msg as Message<"EVENT">, at);
    });
    client.onState((s, reason) => {
      if (s === "closed") this.closed(reason);
    });
  }

  /**
   * setRate adopts the server's tick rate: input steps follow its period
   * and Step its length. A change (a server restarted with another rate)
   * starts the prediction afresh, since inputs in flight were stepped at
   * the old one.
   */
  setRate(rate: number): void {
    if (!(rate >= 1) || rate === this.rate) return;
    const changed = this.pacer !== null;
    this.rate = rate;
    this.pacer = new Pacer(rate);
    if (changed) {
      this.needsReset = true;
      this.ready = false;
    }
  }

  start(): void {
    ui.login.hidden = true;
    ui.game.hidden = false;
    ui.quit.hidden = false;
    ui.status.textContent = `${this.client.welcome?.name} · ${this.client.encoding}`;
    addLine("me", `logged in as ${this.client.welcome?.name}. WASD/arrows drive, click to drive there, Space fires, Shift+click aims and fires, E opens the nearest chest.`);
    const frame = (t: number) => {
      this.frame(t);
      if (this.client.state !== "closed") requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    // Hidden tabs get no animation frames: keep the connection served.
    this.timer = setInterval(() => {
      const now = performance.now();
      if (now - this.lastFrame > 250) this.tick(now);
    }, 100);
    this.fit();
    addEventListener("resize", () => this.fit());
  }

  fit(): void {
    const z = this.client.model!.zone;
    const w = z.w || 48;
    const h = z.h || 32;
    const box = ui.stage.getBoundingClientRect();
    this.renderer.fit(w, h, Math.max(320, box.width), Math.max(240, innerHeight - box.top - 24));
  }

  get model() {
    return this.client.model!;
  }

  /** own returns the player's tank entity: the ACK's id, else the tank named like the player. */
  own(): ModelEntity | undefined {
    const m = this.model;
    if (this.ownId) {
      const e = m.entity(this.ownId);
      if (e) return e;
    }
    const name = this.client.welcome?.name;
    const tank = m.kindByName("tank");
    if (!name || !tank) return undefined;
    for (const e of m.entities()) {
      if (e.kind === tank.num && e.name === name) {
        this.ownId = e.id;
        return e;
      }
    }
    return undefined;
  }

  event(m: Message<"EVENT">, at: number): void {
    const e = this.model.entity(m.id);
    if (!e) return;
    const kind = this.model.kind(e.kind);
    const name = kind?.events[m.event];
    // Remote entities are drawn interp.delay in the past: show their
    // events then too, so a shot leaves the barrel where it is drawn.
    const own = e.id === this.ownId;
    const start = own ? performance.now() : at + this.client.interp!.delay;
    const posOf = (id: number): Pos | null => this.drawPos(id, start);
    const p = posOf(e.id);
    if (!p) return;
    if (name === "fire") {
      let to: Pos | null = m.value ? posOf(m.value) : null;
      if (!to) {
        const h = (this.model.get(e, "heading") * Math.PI) / 180;
        to = { x: p.x + Math.cos(h) * R.FIRE_RANGE, y: p.y + Math.sin(h) * R.FIRE_RANGE };
      }
      this.effects.push({ kind: "tracer", start, dur: 250, from: p, to });
    } else if (name === "hit") {
      this.effects.push({ kind: "hit", start, dur: 600, from: p, to: p, text: `-${m.value}` });
    } else if (name === "die") {
      this.effects.push({ kind: "die", start, dur: 900, from: p, to: p });
    }
  }

  /** drawPos is where entity id is drawn at time t: predicted for the own tank, interpolated for others. */
  drawPos(id: number, t: number): Pos | null {
    if (id === this.ownId && this.ready) return this.predictor.state;
    const v = this.client.interp!.sample(id, t);
    if (v) return { x: v[0], y: v[1] };
    const e = this.model.entity(id);
    return e ? { x: e.vals[0], y: e.vals[1] } : null;
  }

  closed(reason: string): void {
    clearInterval(this.timer);
    ui.quit.hidden = true;
    // Whatever was open is closed now: no chest, nothing to click.
    this.chests.reset();
    this.pendingOpen = null;
    this.path = null;
    this.panels();
    ui.banner.hidden = true;
    ui.overlay.hidden = false;
    ui.overlay.replaceChildren();
    const h = document.createElement("p");
    const b = document.createElement("button");
    b.type = "button";
    b.onclick = () => location.reload();
    if (this.lostReason) {
      h.className = "lost";
      h.textContent = "Connection lost";
      const why = document.createElement("p");
      why.className = "why";
      why.textContent = lostText(this.lostReason);
      b.textContent = "Log in again";
      ui.overlay.append(h, why, b);
      addLine("err", `connection lost: ${this.lostReason}`);
    } else {
      h.textContent = `Disconnected: ${reason}`;
      b.textContent = "Back to login";
      ui.overlay.append(h, b);
      addLine("err", `disconnected: ${reason}`);
    }
    b.id = "relogin";
  }

  // ---- input ----

  keyControl(): Control {
    const k = this.keys;
    const dx = (k.has("d") || k.has("arrowright") ? 1 : 0) - (k.has("a") || k.has("arrowleft") ? 1 : 0);
    const dy = (k.has("s") || k.has("arrowdown") ? 1 : 0) - (k.has("w") || k.has("arrowup") ? 1 : 0);
    return { dx, dy };
  }

  /** stepInput runs one fixed input step: drive one Step and send it as MOVE with a sequence number. */
  stepInput(): void {
    const e = this.own();
    const p = this.predictor;
    const pacer = this.pacer;
    if (!e || !pacer || !this.ready || this.model.loading || this.model.get(e, "dead")) return;
    let ctl = this.keyControl();
    if (ctl.dx || ctl.dy) {
      this.path = null;
      this.approach = 0;
    } else if (this.path) {
      // Driving to a chest: stop as soon as it is within reach and in sight.
      if (!this.approach && this.clickedAt) this.approach = this.chestAt(this.clickedAt)?.id ?? 0;
      const chest = this.approach ? this.model.entity(this.approach) : undefined;
      if (chest && R.canReach(this.model, p.state, { x: chest.vals[0], y: chest.vals[1] }, this.reachMargin)) {
        this.path = null;
        this.approach = 0;
        this.openWhenSettled(chest.id);
        return;
      }
      ctl = this.path.control(p.state, R.stepUnits(pacer.rate));
      if (this.path.done) {
        this.path = null;
        if (this.approach) this.openWhenSettled(this.approach);
        this.approach = 0;
      }
    }
    if (!ctl.dx && !ctl.dy) return;
    if (p.pendingCount >= pacer.maxInFlight) return;
    const from = p.state;
    const next = R.step(this.model, from, ctl, pacer.rate);
    if (next.x === from.x && next.y === from.y) {
      if (this.path && ++this.stuck > 6) {
        this.path.abandon();
        this.path = null;
        addLine("err", "blocked");
      }
      return;
    }
    const dist = Math.hypot(next.x - from.x, next.y - from.y);
    if (pacer.bank < dist) return;
    if (!this.predicted.input(ctl)) return;
    pacer.spend(dist);
    this.localHeading = R.heading(from, next);
    this.localHeadingAt = performance.now();
  }

  fire(): void {
    const now = performance.now();
    if (now - this.lastFire < R.FIRE_COOLDOWN_MS) return;
    this.lastFire = now;
    this.client.send({ type: "FIRE" });
  }

  aimAndFire(at: Pos): void {
    if (!this.ready) return;
    const deg = R.heading(this.predictor.state, { x: Math.round(at.x), y: Math.round(at.y) });
    if (deg < 0) return;
    this.client.send({ type: "TURN", deg });
    this.localHeading = deg;
    this.localHeadingAt = performance.now();
    this.fire();
  }

  /** chestAt returns the chest held in the model at (or within 8 units of) p. */
  chestAt(p: Pos): ModelEntity | undefined {
    const chest = this.model.kindByName("chest");
    if (!chest) return undefined;
    for (const e of this.model.entities()) {
      if (e.kind === chest.num && Math.hypot(e.vals[0] - p.x, e.vals[1] - p.y) <= 8) return e;
    }
    return undefined;
  }

  /** nearestChest returns the nearest chest the tank can open from where it is predicted to be. */
  nearestChest(): ModelEntity | undefined {
    const chest = this.model.kindByName("chest");
    if (!chest || !this.ready) return undefined;
    const me = this.predictor.state;
    let best: ModelEntity | undefined;
    let bestD = Infinity;
    for (const e of this.model.entities()) {
      if (e.kind !== chest.num) continue;
      const at = { x: e.vals[0], y: e.vals[1] };
      const d = Math.hypot(at.x - me.x, at.y - me.y);
      if (d < bestD && R.canReach(this.model, me, at)) {
        best = e;
        bestD = d;
      }
    }
    return best;
  }

  /**
   * openWhenSettled opens chest id once the server has caught up with the
   * prediction (every input acknowledged), so the server checks the reach
   * from where the page sees the tank.
   */
  openWhenSettled(id: number): void {
    this.pendingOpen = { id, since: performance.now() };
  }

  /** settleOpen sends a pending OPEN when its moment has come. */
  settleOpen(now: number): void {
    const po = this.pendingOpen;
    if (!po || !this.ready) return;
    const own = this.own();
    const settled = this.predictor.pendingCount === 0 && !!own && own.vals[0] === this.predictor.state.x && own.vals[1] === this.predictor.state.y;
    if (!settled && now - po.since < SETTLE_MS) return;
    this.pendingOpen = null;
    if (this.chests.open === po.id) return;
    this.open(po.id);
  }

  open(id: number): void {
    this.chests.opening(id, performance.now());
    // Success is told by the replicated world (see ChestTracker); the
    // request is there to hear a refusal, which carries its id.
    this.client.request({ type: "OPEN", id }, 3000).catch((err) => {
      if (err instanceof ServerError && err.code !== "timeout") this.chests.refused(id);
    });
  }

  toggleChest(): void {
    if (this.chests.open) {
      this.client.send({ type: "CLOSE" });
      return;
    }
    const c = this.nearestChest();
    if (c) this.openWhenSettled(c.id);
    else addLine("info", "no chest within reach: click a chest to drive to it");
  }

  click(ev: MouseEvent): void {
    const at = this.renderer.toWorld(ev);
    if (ev.shiftKey) {
      this.aimAndFire(at);
      return;
    }
    const z = this.model.zone;
    if (!this.ready || z.w === 0) return;
    // A click on (or next to) a chest drives there and opens it.
    let target = at;
    const chest = this.chestAt(at);
    const chestId = chest?.id ?? 0;
    if (chest) target = { x: chest.vals[0], y: chest.vals[1] };
    this.approach = 0;
    this.clickedAt = at;
    if (chestId && R.canReach(this.model, this.predictor.state, target, this.reachMargin)) {
      this.path = null;
      this.openWhenSettled(chestId); // already there
      return;
    }
    const pts = findPath(this.model, z.w, z.h, this.predictor.state, target);
    if (!pts) {
      addLine("err", "no way there");
      return;
    }
    this.path = new PathFollower(pts);
    this.approach = chestId;
    this.stuck = 0;
  }

  /** reachMargin: click-to-open stops this many units inside the chest's reach, one Step of slack. */
  get reachMargin(): number {
    return this.rate >= 1 ? R.stepUnits(this.rate) : 0;
  }

  // ---- per frame ----

  /** tick runs the network and fixed input steps up to time now. */
  tick(now: number): void {
    this.client.update(now);
    const e = this.own();
    // Chests are open only on a live connection: the server closes them
    // when it drops, and the replica keeps the last contents it saw.
    if (this.client.state === "joined") this.chests.update(this.model, e, now);
    else this.chests.reset();
    if (e) {
      const dead = this.model.get(e, "dead") !== 0;
      if (this.wasDead && !dead) {
        this.needsReset = true; // respawned
        this.ready = false;
      }
      this.wasDead = dead;
    }
    if (this.needsReset && e && !this.model.loading) {
      const at = this.resetTo ?? { x: e.vals[0], y: e.vals[1] };
      this.predictor.reset(at);
      this.ready = true;
      this.resetTo = null;
      this.needsReset = false;
      this.pacer?.refill();
      this.fit();
    }
    for (let n = this.pacer?.due(now) ?? 0; n > 0; n--) this.stepInput();
    this.settleOpen(now);
  }

  frame(now: number): void {
    this.lastFrame = now;
    this.tick(now);
    this.effects = this.effects.filter((e) => now - e.start < e.dur);
    this.renderer.draw(this.scene(now), now);
    this.panels();
    this.net.add(this.client.stats(now), now);
  }

  scene(now: number): Scene {
    const m = this.model;
    const z = m.zone;
    const tankKind = m.kindByName("tank");
    const chestKind = m.kindByName("chest");
    const own = this.own();
    const tanks: DrawTank[] = [];
    const chests: DrawChest[] = [];
    let ownTank: DrawTank | null = null;
    const me = this.ready ? this.predictor.state : own ? { x: own.vals[0], y: own.vals[1] } : null;
    for (const e of m.entities()) {
      if (tankKind && e.kind === tankKind.num) {
        const d: DrawTank = {
          id: e.id,
          x: e.vals[0],
          y: e.vals[1],
          heading: m.get(e, "heading"),
          hp: m.get(e, "hp"),
          dead: m.get(e, "dead") !== 0,
          name: e.name,
          own: own?.id === e.id,
        };
        if (d.own && me) {
          d.x = me.x;
          d.y = me.y;
          if (now - this.localHeadingAt < 400 && this.localHeading >= 0) d.heading = this.localHeading;
          ownTank = d;
          continue;
        }
        const v = this.client.interp!.sample(e.id, now);
        if (v) {
          d.x = v[0];
          d.y = v[1];
          d.heading = v[tankKind.fields.indexOf("heading")] ?? d.heading;
        }
        tanks.push(d);
      } else if (chestKind && e.kind === chestKind.num) {
        chests.push({
          id: e.id,
          x: e.vals[0],
          y: e.vals[1],
          users: m.get(e, "users"),
          open: e.id === this.chests.open,
          inReach: !!me && Math.hypot(e.vals[0] - me.x, e.vals[1] - me.y) <= R.CHEST_REACH,
        });
      }
    }
    return {
      w: z.w,
      h: z.h,
      tiles: m.tiles,
      tilesVersion: m.tilesVersion,
      zoneId: z.id,
      loading: m.loading,
      own: ownTank,
      tanks,
      chests,
      effects: this.effects,
      path: this.path ? this.path.remaining() : null,
    };
  }

  private panelKey = "";

  /** panels updates the side panels (tank, chest, inventory) when what they show changed. */
  panels(): void {
    const m = this.model;
    const e = this.own();
    const chest = this.chests.open ? m.entity(this.chests.open) : undefined;
    const inv = e ? [0, 1, 2, 3].map((i) => m.get(e, `inv${i}`)) : [];
    const slots = chest ? [0, 1, 2, 3, 4, 5].map((i) => m.get(chest, `slot${i}`)) : [];
    const me = this.ready ? this.predictor.state : undefined;
    const state = this.client.state;
    const live = state === "joined";
    const key = JSON.stringify([e && [m.get(e, "hp"), m.get(e, "score"), m.get(e, "dead")], me, m.zone.id, this.chests.open, !!chest, inv, slots, state]);
    if (key === this.panelKey) return;
    this.panelKey = key;
    if (e) {
      ui.me.textContent =
        `tank ${e.id} · zone ${m.zone.id} · hp ${m.get(e, "hp")} · score ${m.get(e, "score")}` +
        (me ? ` · at ${me.x},${me.y}` : "") +
        (m.get(e, "dead") ? " · DESTROYED, respawning…" : "");
    }
    ui.chestPanel.classList.toggle("open", !!chest);
    ui.chestPanel.classList.toggle("offline", !live);
    ui.chestTitle.textContent = chest ? `Chest ${chest.id}` : "Chest";
    ui.chestHint.hidden = !!chest || !live;
    ui.chestOffline.hidden = live;
    ui.chestOffline.textContent =
      state === "reconnecting" ? "Reconnecting: the server closed the chest; open it again once back." : "Not connected: no chest is open.";
    ui.chestSlots.replaceChildren(
      ...slots.map((item, i) => slotButton(item, `take ${i}`, () => this.client.send({ type: "TAKE", slot: i }))),
    );
    ui.inventory.replaceChildren(
      ...inv.map((item, i) => slotButton(item, `put ${i}`, chest ? () => this.client.send({ type: "PUT", slot: i }) : null)),
    );
  }
}

/** lostText words why a session could not be kept, for the overlay. */
function lostText(reason: string): string {
  if (reason.startsWith("seat hold expired")) return "The server could not be reached again in time; your tank is gone.";
  if (reason.startsWith("resume refused")) return "The server no longer holds your seat.";
  const known: Record<string, string> = {
    shutdown: "The server is shutting down.",
    banned: "This address is banned.",
    kicked: "You were removed from the game.",
    resumed: "You are playing in another window.",
    seat_expired: "You were away too long; your tank is gone.",
  };
  return `${known[reason] ?? "The server ended the session."} (${reason})`;
}

function slotButton(item: number, label: string, onclick: (() => void) | null): HTMLElement {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "slot";
  const name = R.ITEM_NAMES[item] ?? `#${item}`;
  b.textContent = item ? name : "empty";
  b.title = item && onclick ? label : "";
  b.dataset.item = String(item);
  b.disabled = !item || !onclick;
  if (onclick) b.onclick = onclick;
  return b;
}

// ---- login ----

let client: Client | null = null;
let game: Game | null = null;

function newClient(): Client {
  const c = new Client({
    url: config.ws,
    authBase: config.auth,
    encoding: ui.encoding.value as Encoding,
    interpDelay: config.delay,
    // A tank moves at most SPEED / tick rate units a tick (3 at 20 Hz, 15
    // at 4 Hz): a longer jump is a respawn or a portal.
    snapDistance: 30,
  });
  c.captureErrors();
  return c;
}

async function connected(): Promise<Client> {
  if (client && client.state !== "closed" && client.state !== "idle") return client;
  client = newClient();
  await client.connect();
  return client;
}

function loginFailed(err: unknown): void {
  let text: string;
  if (err instanceof AuthError) {
    text = err.code === "not_found" ? "accounts are not available on this server: play as guest" : err.message;
    if (err.code === "rate_limited" && err.retryAfter) text += ` (retry in ${err.retryAfter} s)`;
  } else if (err instanceof ServerError) text = err.code === "auth" ? `login refused: ${err.message.replace(/^auth: /, "")}` : err.message;
  else if (err instanceof ClosedError) text = `cannot connect: ${err.reason}`;
  else text = String((err as Error)?.message ?? err);
  ui.loginError.textContent = text;
  setBusy(false);
}

function setBusy(busy: boolean): void {
  for (const b of ui.form.querySelectorAll("button")) b.disabled = busy;
  ui.form.classList.toggle("busy", busy);
}

function enter(c: Client): void {
  // The arena narrates to text connections, for people at nc; the page
  // wants the world-sync stream (docs/PROTOCOL.md §7). A resume keeps it.
  if (c.encoding === "text") c.send({ type: "MODE", mode: "sync" });
  game = new Game(c);
  (globalThis as Record<string, unknown>).tickwire = { client: c, game };
  game.start();
}

ui.form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const action = ((ev as SubmitEvent).submitter as HTMLButtonElement | null)?.value ?? "login";
  const name = ui.name.value.trim();
  const password = ui.password.value;
  ui.loginError.textContent = "";
  setBusy(true);
  try {
    const c = await connected();
    if (action === "register") await c.register(name, password);
    else await c.login(name, password);
    localStorage.setItem("tickwire.name", name);
    ui.password.value = "";
    enter(c);
  } catch (err) {
    loginFailed(err);
  }
});

ui.guest.addEventListener("click", async () => {
  ui.loginError.textContent = "";
  setBusy(true);
  try {
    const c = await connected();
    await c.loginGuest();
    enter(c);
  } catch (err) {
    loginFailed(err);
  }
});

// ---- game input ----

const GAME_KEYS = new Set(["w", "a", "s", "d", "arrowup", "arrowdown", "arrowleft", "arrowright", " ", "e"]);

addEventListener("keydown", (ev) => {
  if (!game || ev.target instanceof HTMLInputElement || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key.toLowerCase();
  if (k === "enter") {
    ui.chatInput.focus();
    ev.preventDefault();
    return;
  }
  if (!GAME_KEYS.has(k)) return;
  ev.preventDefault();
  if (k === " ") {
    if (!ev.repeat) game.fire();
  } else if (k === "e") {
    if (!ev.repeat) game.toggleChest();
  } else game.keys.add(k);
});

addEventListener("keyup", (ev) => game?.keys.delete(ev.key.toLowerCase()));
addEventListener("blur", () => game?.keys.clear());

ui.canvas.addEventListener("mousedown", (ev) => {
  if (ev.button !== 0) return;
  ev.preventDefault();
  (document.activeElement as HTMLElement | null)?.blur();
  game?.click(ev);
});

ui.chatForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = ui.chatInput.value.trim();
  if (!text || !game) return;
  try {
    game.client.send({ type: "SAY", text });
    ui.chatInput.value = "";
  } catch (err) {
    addLine("err", String((err as Error).message));
  }
});

ui.chatInput.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") ui.chatInput.blur();
});

ui.quit.addEventListener("click", () => {
  void game?.client.quit();
});
