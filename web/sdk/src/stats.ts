// Small measuring tools for the net graph: a per-second rate over a sliding
// window, and a smoothed round-trip time.

/**
 * RateCounter measures an amount per second (bytes, messages) over a
 * sliding window, in fixed buckets so memory stays constant however much
 * is added.
 */
export class RateCounter {
  private readonly buckets: Float64Array;
  private readonly width: number;
  private head = -1; // index of the newest bucket's slot number
  /** Everything ever added. */
  total = 0;

  /**
   * @param windowMs the window the rate is averaged over (default 1000 ms)
   * @param buckets how many buckets the window is cut into (default 10)
   */
  constructor(readonly windowMs = 1000, buckets = 10) {
    this.buckets = new Float64Array(buckets);
    this.width = windowMs / buckets;
  }

  private advance(now: number): void {
    const slot = Math.floor(now / this.width);
    if (this.head < 0) {
      this.head = slot;
      return;
    }
    if (slot <= this.head) return;
    const n = this.buckets.length;
    for (let s = Math.max(this.head + 1, slot - n + 1); s <= slot; s++) this.buckets[s % n] = 0;
    this.head = slot;
  }

  /** add counts amount at time now (milliseconds). */
  add(amount: number, now: number): void {
    this.advance(now);
    this.buckets[this.head % this.buckets.length] += amount;
    this.total += amount;
  }

  /** rate returns the amount per second over the window ending at now. */
  rate(now: number): number {
    this.advance(now);
    let sum = 0;
    for (const b of this.buckets) sum += b;
    return (sum * 1000) / this.windowMs;
  }
}

/**
 * RttEstimator keeps the last, smoothed (EWMA, like TCP's SRTT), lowest
 * and jitter of round-trip samples, in milliseconds.
 */
export class RttEstimator {
  /** The newest sample; NaN before the first. */
  last = NaN;
  /** Smoothed RTT; NaN before the first sample. */
  smoothed = NaN;
  /** Smoothed mean deviation (jitter). */
  jitter = 0;
  /** Lowest sample seen. */
  min = Infinity;
  /** How many samples were taken. */
  samples = 0;

  /** add takes one round-trip sample in milliseconds. */
  add(rtt: number): void {
    if (!(rtt >= 0)) return;
    this.last = rtt;
    this.samples++;
    if (rtt < this.min) this.min = rtt;
    if (Number.isNaN(this.smoothed)) {
      this.smoothed = rtt;
      this.jitter = rtt / 2;
      return;
    }
    this.jitter += (Math.abs(rtt - this.smoothed) - this.jitter) / 4;
    this.smoothed += (rtt - this.smoothed) / 8;
  }
}
