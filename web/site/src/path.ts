// Click-to-drive: a breadth-first path over the tile map and a follower
// that turns it into one Control per input step.

import { TILE_FLOOR, UNIT, type Control, type Pos, type TileMap } from "./rules.js";

/**
 * findPath returns tile centres from the tile after `from`'s to `to`'s, 4-connected,
 * through floor tiles (the goal may be any non-wall tile), or null.
 */
export function findPath(m: TileMap, w: number, h: number, from: Pos, to: Pos): Pos[] | null {
  const sx = Math.floor(from.x / UNIT);
  const sy = Math.floor(from.y / UNIT);
  const gx = Math.floor(to.x / UNIT);
  const gy = Math.floor(to.y / UNIT);
  const goal = m.tile(gx, gy);
  if (goal === undefined || goal === 1) return null;
  const prev = new Int32Array(w * h).fill(-1);
  const start = sy * w + sx;
  const end = gy * w + gx;
  prev[start] = start;
  const queue = [start];
  for (let qi = 0; qi < queue.length; qi++) {
    const cur = queue[qi];
    if (cur === end) break;
    const cx = cur % w;
    const cy = (cur / w) | 0;
    for (const [dx, dy] of [
      [1, 0],
      [-1, 0],
      [0, 1],
      [0, -1],
    ]) {
      const nx = cx + dx;
      const ny = cy + dy;
      if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
      const ni = ny * w + nx;
      if (prev[ni] !== -1) continue;
      const t = m.tile(nx, ny);
      if (ni !== end && t !== TILE_FLOOR) continue;
      prev[ni] = cur;
      queue.push(ni);
    }
  }
  if (prev[end] === -1) return null;
  const tiles: number[] = [];
  for (let c = end; c !== start; c = prev[c]) tiles.push(c);
  tiles.reverse();
  const pts = tiles.map((i) => ({ x: (i % w) * UNIT + UNIT / 2, y: ((i / w) | 0) * UNIT + UNIT / 2 }));
  // The exact goal point instead of its tile centre, when it is floor.
  if (pts.length) pts[pts.length - 1] = { x: Math.round(to.x), y: Math.round(to.y) };
  else pts.push({ x: Math.round(to.x), y: Math.round(to.y) });
  return pts;
}

/** How close (units, per axis) counts as having reached a waypoint, at least. */
const REACHED = 2;

/**
 * reachedWithin is how close (units, per axis) counts as having reached a
 * waypoint when one Step moves stepUnits: half a Step, so a Step never
 * jumps from one side of the waypoint to the other and back (6-unit Steps
 * at 10 Hz would otherwise swing round a waypoint 3 units away for ever).
 */
export function reachedWithin(stepUnits: number): number {
  return Math.max(REACHED, Math.ceil((stepUnits - 1) / 2));
}

/** PathFollower steers along a path, one Control per input step. */
export class PathFollower {
  private i = 0;

  /** Creates a follower of the waypoints pts. */
  constructor(readonly pts: Pos[]) {}

  /** done reports whether the path is finished or abandoned. */
  get done(): boolean {
    return this.i >= this.pts.length;
  }

  /** remaining returns the waypoints not yet reached. */
  remaining(): Pos[] {
    return this.pts.slice(this.i);
  }

  /** abandon gives the path up. */
  abandon(): void {
    this.i = this.pts.length;
  }

  /** control returns the stick for the next Step, of stepUnits per axis, from position p. */
  control(p: Pos, stepUnits: number): Control {
    const near = reachedWithin(stepUnits);
    while (this.i < this.pts.length) {
      const t = this.pts[this.i];
      const dx = t.x - p.x;
      const dy = t.y - p.y;
      if (Math.abs(dx) <= near && Math.abs(dy) <= near) {
        this.i++;
        continue;
      }
      return { dx: Math.abs(dx) <= near ? 0 : Math.sign(dx), dy: Math.abs(dy) <= near ? 0 : Math.sign(dy) };
    }
    return { dx: 0, dy: 0 };
  }
}
