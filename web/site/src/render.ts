// Draws the arena on a canvas: the zone's tile map (cached), chests, tanks,
// shot tracers and hits, the player's view radius and the planned path.

import { CHEST_REACH, MAX_HP, TILE_PORTAL, TILE_WALL, UNIT, VIEW_RADIUS, type Pos } from "./rules.js";

/** A tank as drawn. */
export interface DrawTank {
  id: number;
  x: number;
  y: number;
  heading: number;
  hp: number;
  dead: boolean;
  name: string;
  own: boolean;
}

/** A chest as drawn. */
export interface DrawChest {
  id: number;
  x: number;
  y: number;
  users: number;
  open: boolean;
  inReach: boolean;
}

/** A short-lived effect: a shot, a hit, a destruction. */
export interface Effect {
  kind: "tracer" | "hit" | "die";
  start: number;
  dur: number;
  from: Pos;
  to: Pos;
  text?: string;
}

/** Everything one frame draws. */
export interface Scene {
  w: number; // zone width in tiles
  h: number;
  tiles: Uint8Array;
  tilesVersion: number;
  zoneId: number;
  loading: boolean;
  own: DrawTank | null;
  tanks: DrawTank[];
  chests: DrawChest[];
  effects: Effect[];
  path: Pos[] | null;
}

const COLORS = {
  floor: "#1d2530",
  floorAlt: "#202a36",
  wall: "#5d6b7c",
  wallTop: "#7a8a9c",
  portal: "#8c5cff",
  own: "#52d273",
  other: "#f0704a",
  bot: "#c9a045",
  dead: "#555",
  chest: "#e0b84a",
};

/** Renderer draws scenes on one canvas, sized to fit its parent. */
export class Renderer {
  /** Pixels (CSS) per position unit, set by fit(). */
  scale = 2;
  private tileCache: HTMLCanvasElement | null = null;
  private cacheKey = "";
  private readonly ctx: CanvasRenderingContext2D;

  constructor(readonly canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("no 2d canvas");
    this.ctx = ctx;
  }

  /** fit sizes the canvas for a w x h tile zone within maxW x maxH CSS pixels. */
  fit(w: number, h: number, maxW: number, maxH: number): void {
    const uw = w * UNIT;
    const uh = h * UNIT;
    const scale = Math.max(0.5, Math.min(maxW / uw, maxH / uh));
    const dpr = globalThis.devicePixelRatio || 1;
    const cw = Math.round(uw * scale);
    const ch = Math.round(uh * scale);
    if (this.canvas.width !== Math.round(cw * dpr) || this.canvas.height !== Math.round(ch * dpr) || this.scale !== scale) {
      this.canvas.width = Math.round(cw * dpr);
      this.canvas.height = Math.round(ch * dpr);
      this.canvas.style.width = `${cw}px`;
      this.canvas.style.height = `${ch}px`;
      this.scale = scale;
      this.cacheKey = "";
    }
  }

  /** toWorld converts a mouse event's position to position units. */
  toWorld(ev: MouseEvent): Pos {
    const r = this.canvas.getBoundingClientRect();
    return { x: (ev.clientX - r.left) / this.scale, y: (ev.clientY - r.top) / this.scale };
  }

  private tilesLayer(s: Scene): HTMLCanvasElement {
    const dpr = globalThis.devicePixelRatio || 1;
    const key = `${s.zoneId}/${s.tilesVersion}/${this.canvas.width}x${this.canvas.height}`;
    if (this.tileCache && this.cacheKey === key) return this.tileCache;
    const c = this.tileCache ?? document.createElement("canvas");
    c.width = this.canvas.width;
    c.height = this.canvas.height;
    const g = c.getContext("2d")!;
    const k = this.scale * dpr * UNIT;
    g.setTransform(1, 0, 0, 1, 0, 0);
    for (let y = 0; y < s.h; y++) {
      for (let x = 0; x < s.w; x++) {
        const t = s.tiles[y * s.w + x];
        const px = Math.floor(x * k);
        const py = Math.floor(y * k);
        const pw = Math.floor((x + 1) * k) - px;
        const ph = Math.floor((y + 1) * k) - py;
        if (t === TILE_WALL) {
          g.fillStyle = COLORS.wall;
          g.fillRect(px, py, pw, ph);
          g.fillStyle = COLORS.wallTop;
          g.fillRect(px, py, pw, Math.max(1, ph * 0.25));
        } else {
          g.fillStyle = (x + y) % 2 ? COLORS.floor : COLORS.floorAlt;
          g.fillRect(px, py, pw, ph);
          if (t === TILE_PORTAL) {
            const cx = px + pw / 2;
            const cy = py + ph / 2;
            const grad = g.createRadialGradient(cx, cy, 1, cx, cy, pw * 0.7);
            grad.addColorStop(0, "#e6d8ff");
            grad.addColorStop(0.4, COLORS.portal);
            grad.addColorStop(1, "rgba(140,92,255,0)");
            g.fillStyle = grad;
            g.fillRect(px - pw / 2, py - ph / 2, pw * 2, ph * 2);
          }
        }
      }
    }
    this.tileCache = c;
    this.cacheKey = key;
    return c;
  }

  /** draw draws scene s at time now (ms). */
  draw(s: Scene, now: number): void {
    const g = this.ctx;
    const dpr = globalThis.devicePixelRatio || 1;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.fillStyle = "#0d1117";
    g.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (s.w === 0) return;
    g.drawImage(this.tilesLayer(s), 0, 0);
    const k = this.scale * dpr;
    g.setTransform(k, 0, 0, k, 0, 0);

    // Planned path.
    if (s.path && s.path.length && s.own) {
      g.strokeStyle = "rgba(82,210,115,0.55)";
      g.setLineDash([3, 3]);
      g.lineWidth = 1;
      g.beginPath();
      g.moveTo(s.own.x, s.own.y);
      for (const p of s.path) g.lineTo(p.x, p.y);
      g.stroke();
      g.setLineDash([]);
    }

    for (const c of s.chests) this.chest(c);
    for (const t of s.tanks) if (t.dead) this.tank(t);
    for (const t of s.tanks) if (!t.dead) this.tank(t);
    if (s.own) this.tank(s.own);

    // Effects.
    for (const e of s.effects) {
      const a = (now - e.start) / e.dur;
      if (a < 0 || a > 1) continue;
      if (e.kind === "tracer") {
        g.strokeStyle = `rgba(255,240,160,${1 - a})`;
        g.lineWidth = 1.5;
        g.beginPath();
        g.moveTo(e.from.x, e.from.y);
        g.lineTo(e.to.x, e.to.y);
        g.stroke();
      } else if (e.kind === "hit") {
        g.strokeStyle = `rgba(255,80,60,${1 - a})`;
        g.lineWidth = 2;
        g.beginPath();
        g.arc(e.to.x, e.to.y, 5 + a * 8, 0, Math.PI * 2);
        g.stroke();
        if (e.text) {
          g.fillStyle = `rgba(255,120,100,${1 - a})`;
          g.font = "bold 7px system-ui, sans-serif";
          g.textAlign = "center";
          g.fillText(e.text, e.to.x, e.to.y - 9 - a * 10);
        }
      } else {
        const r = 4 + a * 22;
        const grad = g.createRadialGradient(e.to.x, e.to.y, 0, e.to.x, e.to.y, r);
        grad.addColorStop(0, `rgba(255,255,200,${1 - a})`);
        grad.addColorStop(0.5, `rgba(255,140,40,${0.8 * (1 - a)})`);
        grad.addColorStop(1, "rgba(255,60,0,0)");
        g.fillStyle = grad;
        g.beginPath();
        g.arc(e.to.x, e.to.y, r, 0, Math.PI * 2);
        g.fill();
      }
    }

    // Fog outside the view radius.
    if (s.own) {
      g.fillStyle = "rgba(5,8,12,0.55)";
      g.beginPath();
      g.rect(0, 0, s.w * UNIT, s.h * UNIT);
      g.arc(s.own.x, s.own.y, VIEW_RADIUS, 0, Math.PI * 2, true);
      g.fill("evenodd");
      g.strokeStyle = "rgba(255,255,255,0.08)";
      g.lineWidth = 0.7;
      g.beginPath();
      g.arc(s.own.x, s.own.y, VIEW_RADIUS, 0, Math.PI * 2);
      g.stroke();
    }

    if (s.loading) {
      g.setTransform(1, 0, 0, 1, 0, 0);
      g.fillStyle = "rgba(0,0,0,0.5)";
      g.fillRect(0, 0, this.canvas.width, this.canvas.height);
      g.fillStyle = "#fff";
      g.font = `${16 * dpr}px system-ui, sans-serif`;
      g.textAlign = "center";
      g.fillText("loading zone…", this.canvas.width / 2, this.canvas.height / 2);
    }
  }

  private chest(c: DrawChest): void {
    const g = this.ctx;
    const s = 3.6;
    if (c.inReach && !c.open) {
      g.strokeStyle = "rgba(224,184,74,0.35)";
      g.lineWidth = 0.6;
      g.beginPath();
      g.arc(c.x, c.y, CHEST_REACH, 0, Math.PI * 2);
      g.stroke();
    }
    g.fillStyle = c.open ? "#ffe08a" : COLORS.chest;
    g.fillRect(c.x - s, c.y - s * 0.8, s * 2, s * 1.6);
    g.fillStyle = "#6b4a12";
    g.fillRect(c.x - s, c.y - 0.4, s * 2, 0.8);
    g.fillRect(c.x - 0.6, c.y - 1, 1.2, 2);
    if (c.open) {
      g.strokeStyle = "#fff";
      g.lineWidth = 0.6;
      g.strokeRect(c.x - s - 1, c.y - s * 0.8 - 1, s * 2 + 2, s * 1.6 + 2);
    }
    g.fillStyle = "rgba(255,230,160,0.9)";
    g.font = "5px system-ui, sans-serif";
    g.textAlign = "center";
    g.fillText(c.users > 0 ? `chest ${c.id} · ${c.users} open` : `chest ${c.id}`, c.x, c.y + 8.5);
  }

  private tank(t: DrawTank): void {
    const g = this.ctx;
    const color = t.dead ? COLORS.dead : t.own ? COLORS.own : t.name.startsWith("bot-") ? COLORS.bot : COLORS.other;
    g.save();
    g.translate(t.x, t.y);
    if (t.dead) {
      g.strokeStyle = color;
      g.lineWidth = 1.5;
      g.beginPath();
      g.moveTo(-3.5, -3.5);
      g.lineTo(3.5, 3.5);
      g.moveTo(3.5, -3.5);
      g.lineTo(-3.5, 3.5);
      g.stroke();
      g.restore();
      return;
    }
    const rad = ((t.heading >= 0 ? t.heading : 0) * Math.PI) / 180;
    g.rotate(rad);
    g.fillStyle = color;
    g.strokeStyle = "rgba(0,0,0,0.6)";
    g.lineWidth = 0.6;
    g.beginPath();
    g.rect(-4.5, -3.8, 9, 7.6);
    g.fill();
    g.stroke();
    g.fillStyle = "rgba(0,0,0,0.35)";
    g.fillRect(-4.5, -3.8, 9, 1.4);
    g.fillRect(-4.5, 2.4, 9, 1.4);
    g.fillStyle = "#111";
    g.fillRect(0, -0.8, 8, 1.6);
    g.beginPath();
    g.arc(0, 0, 2.4, 0, Math.PI * 2);
    g.fillStyle = color;
    g.fill();
    g.stroke();
    g.restore();
    // Name and health.
    g.fillStyle = t.own ? "#bff5c9" : "#e6edf3";
    g.font = "5px system-ui, sans-serif";
    g.textAlign = "center";
    g.fillText(t.name, t.x, t.y - 8);
    const hp = Math.max(0, Math.min(1, t.hp / MAX_HP));
    g.fillStyle = "rgba(0,0,0,0.6)";
    g.fillRect(t.x - 5, t.y - 7, 10, 1.4);
    g.fillStyle = hp > 0.5 ? "#52d273" : hp > 0.25 ? "#e0b84a" : "#f05a4a";
    g.fillRect(t.x - 5, t.y - 7, 10 * hp, 1.4);
  }
}
