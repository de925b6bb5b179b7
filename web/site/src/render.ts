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

/** A label's size, units: the font's height (5px at one pixel per unit) and the gap kept from the map's edge. */
const LABEL_FONT = 5;
const LABEL_EDGE = 1;

/**
 * placeLabel places a text of the given width (units) centred on x, with
 * its baseline dy units above y (the top of the text at y - dy - LABEL_FONT),
 * inside a map of mapW x mapH units. It is pushed sideways off the left
 * and right edges; a label above (dy >= 0) that would stick out of the top
 * flips below y, its top flip units under y (baseline y + flip +
 * LABEL_FONT); a label below (dy < 0) whose baseline would fall off the
 * bottom flips above y, its baseline flip units over y. It returns the
 * centre and the baseline.
 */
export function placeLabel(x: number, y: number, width: number, dy: number, flip: number, mapW: number, mapH: number): Pos {
  const half = width / 2;
  const lx = mapW >= width + 2 * LABEL_EDGE ? Math.min(Math.max(x, half + LABEL_EDGE), mapW - half - LABEL_EDGE) : mapW / 2;
  let ly = y - dy;
  if (dy >= 0 && ly - LABEL_FONT < LABEL_EDGE) ly = y + flip + LABEL_FONT;
  else if (dy < 0 && ly > mapH - LABEL_EDGE) ly = y - flip;
  return { x: lx, y: ly };
}

/** A box on the map, units. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function overlaps(a: Box, b: Box): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/** Where the labels of one frame go: each tank's name (baseline centre), and each chest's. */
export interface LabelLayout {
  tanks: Map<number, Pos>;
  chests: Map<number, Pos>;
}

/**
 * layoutLabels places every label of a frame on the map (see placeLabel):
 * a live tank's name above it (health bar between), then each chest's
 * label below the chest, or above it when below would cover a tank or a
 * tank's label (a tank parked under a chest), and below anyway when both
 * would. width measures a label's text, units. Wrecks have no label.
 */
export function layoutLabels(
  chests: readonly { id: number; x: number; y: number; label: string }[],
  tanks: readonly { id: number; x: number; y: number; dead: boolean; name: string }[],
  width: (text: string) => number,
  mapW: number,
  mapH: number,
): LabelLayout {
  const out: LabelLayout = { tanks: new Map(), chests: new Map() };
  const taken: Box[] = [];
  for (const t of tanks) {
    if (t.dead) continue;
    taken.push({ x0: t.x - TANK_HALF, y0: t.y - TANK_HALF, x1: t.x + TANK_HALF, y1: t.y + TANK_HALF });
    const w = width(t.name);
    const at = placeLabel(t.x, t.y, w, 8, 6, mapW, mapH);
    out.tanks.set(t.id, at);
    // The text and the health bar beside it (see tankLabel).
    const above = at.y < t.y;
    const half = Math.max(w / 2, 5);
    taken.push({ x0: at.x - half, x1: at.x + half, y0: above ? at.y - LABEL_FONT : at.y - LABEL_FONT - 1.9, y1: above ? at.y + 2.4 : at.y + 1 });
  }
  for (const c of chests) {
    const w = width(c.label);
    const box = (p: Pos): Box => ({ x0: p.x - w / 2, x1: p.x + w / 2, y0: p.y - LABEL_FONT, y1: p.y + 1 });
    const below = placeLabel(c.x, c.y, w, -8.5, 5, mapW, mapH);
    const above = placeLabel(c.x, c.y, w, 5, 8.5, mapW, mapH);
    const at = [below, above].find((p) => !taken.some((b) => overlaps(box(p), b))) ?? below;
    out.chests.set(c.id, at);
    taken.push(box(at));
  }
  return out;
}

/** Half the side of a tank's body (its hull is 9 x 7.6 units, turning) and of a chest's. */
const TANK_HALF = 4.8;
const CHEST_HALF = 3.6;

/**
 * coveredChests returns the ids of the chests a live tank is drawn over:
 * their boxes overlap. Those get an outline and their label on top of the
 * tanks, so a tank parked on a chest does not hide it.
 */
export function coveredChests(chests: readonly { id: number; x: number; y: number }[], tanks: readonly { x: number; y: number; dead: boolean }[]): Set<number> {
  const out = new Set<number>();
  for (const c of chests) {
    for (const t of tanks) {
      if (!t.dead && Math.abs(t.x - c.x) < TANK_HALF + CHEST_HALF && Math.abs(t.y - c.y) < TANK_HALF + CHEST_HALF) {
        out.add(c.id);
        break;
      }
    }
  }
  return out;
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

    // Chests, then tanks over them; then what must not be hidden: the
    // outline of a chest a tank stands on, and every label.
    const mapW = s.w * UNIT;
    const mapH = s.h * UNIT;
    const tanks = s.own ? [...s.tanks, s.own] : s.tanks;
    for (const c of s.chests) this.chest(c);
    for (const t of s.tanks) if (t.dead) this.tank(t);
    for (const t of s.tanks) if (!t.dead) this.tank(t);
    if (s.own) this.tank(s.own);
    const covered = coveredChests(s.chests, tanks);
    for (const c of s.chests) if (covered.has(c.id)) this.chestOutline(c);
    g.font = `${LABEL_FONT}px system-ui, sans-serif`;
    g.textAlign = "center";
    g.textBaseline = "alphabetic";
    const labels = s.chests.map((c) => ({ ...c, label: c.users > 0 ? `chest ${c.id} · ${c.users} open` : `chest ${c.id}` }));
    const at = layoutLabels(labels, tanks, (text) => g.measureText(text).width, mapW, mapH);
    for (const c of labels) this.outlinedText(c.label, at.chests.get(c.id)!, "rgba(255,230,160,0.95)");
    for (const t of tanks) {
      const p = at.tanks.get(t.id);
      if (p) this.tankLabel(t, p, mapW);
    }

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
    const s = CHEST_HALF;
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
  }

  /** chestOutline draws chest c's outline over the tank standing on it, with a dark edge so it shows on any colour. */
  private chestOutline(c: DrawChest): void {
    const g = this.ctx;
    const s = CHEST_HALF;
    g.save();
    g.lineWidth = 1.4;
    g.strokeStyle = "rgba(0,0,0,0.7)";
    g.strokeRect(c.x - s - 1, c.y - s * 0.8 - 1, s * 2 + 2, s * 1.6 + 2);
    g.lineWidth = 0.7;
    g.strokeStyle = c.open ? "#fff" : COLORS.chest;
    g.setLineDash([1.6, 1.1]);
    g.strokeRect(c.x - s - 1, c.y - s * 0.8 - 1, s * 2 + 2, s * 1.6 + 2);
    g.restore();
  }

  /** outlinedText draws text centred at p (its baseline) with a dark rim, readable over tanks, tiles and fog. */
  private outlinedText(text: string, p: Pos, fill: string): void {
    const g = this.ctx;
    g.lineJoin = "round";
    g.lineWidth = 1.2;
    g.strokeStyle = "rgba(5,8,12,0.75)";
    g.strokeText(text, p.x, p.y);
    g.fillStyle = fill;
    g.fillText(text, p.x, p.y);
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
  }

  /**
   * tankLabel draws live tank t's name at at (see layoutLabels: above the
   * tank, below it at the top of the map, pushed inwards at the sides) and
   * its health bar between name and tank, after every tank and chest.
   */
  private tankLabel(t: DrawTank, at: Pos, mapW: number): void {
    const g = this.ctx;
    this.outlinedText(t.name, at, t.own ? "#bff5c9" : "#e6edf3");
    // The bar sits between the name and the tank, on whichever side the name went.
    const barY = at.y < t.y ? at.y + 1 : at.y - LABEL_FONT - 1.9;
    const barX = Math.min(Math.max(t.x - 5, LABEL_EDGE), mapW - 10 - LABEL_EDGE);
    const hp = Math.max(0, Math.min(1, t.hp / MAX_HP));
    g.fillStyle = "rgba(0,0,0,0.6)";
    g.fillRect(barX, barY, 10, 1.4);
    g.fillStyle = hp > 0.5 ? "#52d273" : hp > 0.25 ? "#e0b84a" : "#f05a4a";
    g.fillRect(barX, barY, 10 * hp, 1.4);
  }
}
