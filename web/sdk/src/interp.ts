// Interpolation of remote entities: each entity's fields are recorded with
// the time they arrived, and drawn as they were a fixed delay ago, blended
// between the two samples around that moment. Rendering in the past by a
// little more than one tick hides the gaps between ticks and the jitter of
// the network.

/** Options of an {@link Interpolator}. */
export interface InterpolatorOptions {
  /** How far behind the newest data remote entities are drawn, ms. Default 100. */
  delay?: number;
  /** Samples kept per entity. Default 16. */
  maxSamples?: number;
  /**
   * A position jump (fields 0 and 1) longer than this between two samples
   * is drawn as a jump, not a glide (respawn, teleport). Default Infinity.
   */
  snapDistance?: number;
}

interface Sample {
  t: number;
  vals: Int32Array;
}

interface Track {
  samples: Sample[];
  removedAt: number; // Infinity while present
  lerp: number; // mask of fields blended; the others step
  wrap: Map<number, number>; // field -> period, for angles
}

/**
 * Interpolator keeps a short history of each entity's fields and answers
 * where to draw it at a given time. Fields in the entity's lerp mask (by
 * default x and y, fields 0 and 1) are blended linearly; angle fields are
 * blended the short way round their period; every other field takes the
 * value of the newest sample at or before the render time.
 */
export class Interpolator {
  /** How far behind the newest data entities are drawn, ms. */
  delay: number;
  private readonly maxSamples: number;
  private readonly snapDistance2: number;
  private readonly tracks = new Map<number, Track>();

  /** Creates an interpolator; see {@link InterpolatorOptions}. */
  constructor(opts: InterpolatorOptions = {}) {
    this.delay = opts.delay ?? 100;
    this.maxSamples = Math.max(2, opts.maxSamples ?? 16);
    const d = opts.snapDistance ?? Infinity;
    this.snapDistance2 = d * d;
  }

  private track(id: number): Track {
    let tr = this.tracks.get(id);
    if (!tr) {
      tr = { samples: [], removedAt: Infinity, lerp: 0b11, wrap: new Map() };
      this.tracks.set(id, tr);
    }
    return tr;
  }

  /**
   * configure sets which fields of entity id are blended (bit i = field i;
   * default x and y) and which of them are angles with the given periods
   * (e.g. `new Map([[2, 360]])` for degrees in field 2).
   */
  configure(id: number, lerpMask: number, wrap?: Map<number, number>): void {
    const tr = this.track(id);
    tr.lerp = lerpMask;
    if (wrap) tr.wrap = wrap;
  }

  /**
   * push records entity id's fields as they were at time t (ms, the arrival
   * time of the message that changed them). Samples must come in time
   * order; a sample at the same time as the last replaces it.
   */
  push(id: number, t: number, vals: ArrayLike<number>): void {
    const tr = this.track(id);
    tr.removedAt = Infinity;
    const s = tr.samples;
    const copy = Int32Array.from(vals as ArrayLike<number>);
    if (s.length && s[s.length - 1].t >= t) {
      s[s.length - 1] = { t: s[s.length - 1].t, vals: copy };
      return;
    }
    s.push({ t, vals: copy });
    if (s.length > this.maxSamples) s.splice(0, s.length - this.maxSamples);
  }

  /**
   * remove says entity id left at time t: it is still drawn until the
   * render time passes t, then forgotten.
   */
  remove(id: number, t: number): void {
    const tr = this.tracks.get(id);
    if (tr) tr.removedAt = t;
  }

  /** clear forgets every entity (a new zone). */
  clear(): void {
    this.tracks.clear();
  }

  /** has reports whether entity id has samples. */
  has(id: number): boolean {
    return this.tracks.has(id);
  }

  /** ids lists the entities with samples. */
  ids(): number[] {
    return [...this.tracks.keys()];
  }

  /**
   * sample returns entity id's fields as drawn at frame time now (that is,
   * as they were at now - delay), or null when it has no samples or was
   * removed before then. out, if given, receives the values. Entities
   * removed before the render time are forgotten here.
   */
  sample(id: number, now: number, out?: Float64Array): Float64Array | null {
    const tr = this.tracks.get(id);
    if (!tr || tr.samples.length === 0) return null;
    const t = now - this.delay;
    if (t >= tr.removedAt) {
      this.tracks.delete(id);
      return null;
    }
    const s = tr.samples;
    const n = s[0].vals.length;
    const res = out && out.length >= n ? out : new Float64Array(n);
    // Newest sample at or before t.
    let i = s.length - 1;
    while (i > 0 && s[i].t > t) i--;
    const a = s[i];
    const b = i + 1 < s.length ? s[i + 1] : null;
    if (!b || t <= a.t) {
      // Before the first sample, or past the newest: hold.
      for (let f = 0; f < n; f++) res[f] = a.vals[f];
      return res;
    }
    const k = (t - a.t) / (b.t - a.t);
    const dx = b.vals[0] - a.vals[0];
    const dy = b.vals[1] - a.vals[1];
    const jump = dx * dx + dy * dy > this.snapDistance2;
    for (let f = 0; f < n; f++) {
      const va = a.vals[f];
      const vb = f < b.vals.length ? b.vals[f] : 0;
      if (jump || (tr.lerp & (1 << f)) === 0) {
        res[f] = va;
        continue;
      }
      const period = tr.wrap.get(f);
      if (period) {
        let d = (vb - va) % period;
        if (d > period / 2) d -= period;
        else if (d < -period / 2) d += period;
        let v = va + d * k;
        v = ((v % period) + period) % period;
        res[f] = v;
      } else {
        res[f] = va + (vb - va) * k;
      }
    }
    return res;
  }

  /**
   * prune drops samples older than needed at frame time now (keeping the
   * one before the render time) and forgets removed entities whose time
   * has passed. Call it once per frame.
   */
  prune(now: number): void {
    const t = now - this.delay;
    for (const [id, tr] of this.tracks) {
      if (t >= tr.removedAt) {
        this.tracks.delete(id);
        continue;
      }
      const s = tr.samples;
      let i = 0;
      while (i + 1 < s.length && s[i + 1].t <= t) i++;
      if (i > 0) s.splice(0, i);
    }
  }
}
