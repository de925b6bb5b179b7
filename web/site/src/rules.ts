// The arena's rules that the page needs to predict its own tank: a port of
// demo/arena/rules.go (Step, PathClear, Passable, Heading) and the
// constants the page draws with.
//
// The rules are written in seconds and units per second; the tick rate is
// the server's (client.tickRate, from LIMITS), never assumed. One Step is
// what a tank drives in one tick period: SPEED units per second times
// 1 / tickRate seconds (stepUnits). The page proposes each Step's result
// with DRIVE and the server checks it against its own movement allowance
// and walls, so prediction and server agree at any tick rate as long as
// both sides compute Step the same way (the server's bots and GO use it).

/** Side of a tile in position units (arena.Unit). */
export const UNIT = 10;
/** Fastest a tank may move, units per second (arena.Speed). */
export const SPEED = 60;
/** Movement a tank may save up, seconds of SPEED (arena.MaxBank). */
export const MAX_BANK = 1.0;
/** How far a tank sees (arena.ViewRadius). */
export const VIEW_RADIUS = 12 * UNIT;
/** Reach of a shot (arena.FireRange). */
export const FIRE_RANGE = 10 * UNIT;
/** Hit points of a fresh tank (arena.MaxHP). */
export const MAX_HP = 100;
/** How near a tank must be to a chest to open it (arena.ChestReach). */
export const CHEST_REACH = 25;
/** Gun cooldown in milliseconds (arena.FireCooldown: half a second at any tick rate). */
export const FIRE_COOLDOWN_MS = 500;

/** Tile codes (arena.TileFloor, TileWall, TilePortal). */
export const TILE_FLOOR = 0;
export const TILE_WALL = 1;
export const TILE_PORTAL = 2;

/** Item names by code (arena.ItemNames); 0 is empty. */
export const ITEM_NAMES = ["-", "gold", "gem", "ammo", "medkit", "key"];
/** Inventory and chest sizes (arena.InvSlots, arena.ChestSlots). */
export const INV_SLOTS = 4;
export const CHEST_SLOTS = 6;

/** A zone's tile map: the SDK's Model satisfies it. */
export interface TileMap {
  tile(x: number, y: number): number | undefined;
}

/** A position in units. */
export interface Pos {
  x: number;
  y: number;
}

/** One tick of the stick: dx and dy are -1, 0 or 1. */
export interface Control {
  dx: number;
  dy: number;
}

/** Go's integer division: truncates toward zero. */
function quo(a: number, b: number): number {
  return Math.trunc(a / b);
}

/** passable reports whether a tank may stand at x, y: inside the map and not in a wall. */
export function passable(m: TileMap, x: number, y: number): boolean {
  if (x < 0 || y < 0) return false;
  const t = m.tile(quo(x, UNIT), quo(y, UNIT));
  return t !== undefined && t !== TILE_WALL;
}

/** pathClear reports whether a tank can go straight from a to b (every point, at least once per unit, passable). */
export function pathClear(m: TileMap, a: Pos, b: Pos): boolean {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const n = Math.max(Math.abs(dx), Math.abs(dy));
  if (n === 0) return passable(m, a.x, a.y);
  for (let i = 0; i <= n; i++) {
    if (!passable(m, a.x + quo(dx * i, n), a.y + quo(dy * i, n))) return false;
  }
  return true;
}

/**
 * stepUnits is how far one Step moves along an axis at tickRate ticks per
 * second: SPEED units per second times the tick period (1 / tickRate s),
 * in whole units (positions are integers): SPEED / tickRate truncated, so
 * a straight Step is never faster than SPEED, but at least 1 (faster than
 * SPEED above 60 Hz). Computed from the integer rate, not from a rounded
 * period (1/60 s is no whole number of nanoseconds): 6 at 10 Hz, 3 at
 * 20 Hz, 2 at 30 Hz, 1 at 60 Hz. Movement over time is bounded by the
 * server's allowance (SPEED per second, MAX_BANK saved up) whatever the
 * Step; the page keeps within it with its own (see pace.ts).
 */
export function stepUnits(tickRate: number): number {
  if (!(tickRate >= 1)) throw new RangeError(`tick rate ${tickRate}: want 1 or more ticks per second`);
  return Math.max(1, quo(SPEED, Math.floor(tickRate)));
}

/**
 * diagonalUnits is how far a diagonal Step moves along each axis: two
 * thirds of a straight one, truncated (so at most 2/3·√2 ≈ 0.94 of its
 * length), but at least 1 (√2 units when a straight Step is 1, from 31 Hz).
 */
export function diagonalUnits(tickRate: number): number {
  return Math.max(1, quo(stepUnits(tickRate) * 2, 3));
}

/** tickPeriodMs is the length of one tick at tickRate ticks per second, ms. */
export function tickPeriodMs(tickRate: number): number {
  return 1000 / tickRate;
}

/**
 * step moves p one tick at tickRate ticks per second in the direction of
 * c: stepUnits(tickRate) along one axis, diagonalUnits(tickRate) along
 * each on a diagonal, sliding along a wall when only one axis is blocked
 * and staying put when both are.
 */
export function step(m: TileMap, p: Pos, c: Control, tickRate: number): Pos {
  const diagonal = c.dx !== 0 && c.dy !== 0;
  const u = diagonal ? diagonalUnits(tickRate) : stepUnits(tickRate);
  const sx = Math.sign(c.dx) * u;
  const sy = Math.sign(c.dy) * u;
  const tries: Pos[] = [
    { x: p.x + sx, y: p.y + sy },
    { x: p.x + sx, y: p.y },
    { x: p.x, y: p.y + sy },
  ];
  for (const q of tries) {
    if ((q.x !== p.x || q.y !== p.y) && pathClear(m, p, q)) return q;
  }
  return p;
}

/** heading returns the direction from a to b in whole degrees (0 east, 90 south), or -1 for the same point. */
export function heading(a: Pos, b: Pos): number {
  if (a.x === b.x && a.y === b.y) return -1;
  const d = (Math.atan2(b.y - a.y, b.x - a.x) * 180) / Math.PI;
  const r = Math.sign(d) * Math.round(Math.abs(d)); // Go's math.Round: half away from zero
  return (r + 360) % 360;
}

/**
 * lineOfSight reports whether tile bx, by can be seen from tile ax, ay: no
 * wall (and nothing outside the map) on the Bresenham line between them,
 * the end tiles themselves excluded (arena.LineOfSight).
 */
export function lineOfSight(m: TileMap, ax: number, ay: number, bx: number, by: number): boolean {
  let dx = bx - ax;
  let dy = by - ay;
  let sx = 1;
  let sy = 1;
  if (dx < 0) {
    sx = -1;
    dx = -dx;
  }
  if (dy < 0) {
    sy = -1;
    dy = -dy;
  }
  let err = dx - dy;
  let x = ax;
  let y = ay;
  for (;;) {
    if (x === bx && y === by) return true;
    if (x !== ax || y !== ay) {
      const t = m.tile(x, y);
      if (t === undefined || t === TILE_WALL) return false;
    }
    const e2 = 2 * err;
    if (e2 > -dy) {
      err -= dy;
      x += sx;
    }
    if (e2 < dx) {
      err += dx;
      y += sy;
    }
  }
}

/**
 * canReach reports whether a tank at p may open the chest at c: within
 * CHEST_REACH (less margin) and in sight, tile to tile (the arena's
 * canReach, with the tank inside the map).
 */
export function canReach(m: TileMap, p: Pos, c: Pos, margin = 0): boolean {
  if (Math.hypot(p.x - c.x, p.y - c.y) > CHEST_REACH - margin) return false;
  return lineOfSight(m, quo(p.x, UNIT), quo(p.y, UNIT), quo(c.x, UNIT), quo(c.y, UNIT));
}
