// Client-side prediction and reconciliation, mirroring the Go
// replica.Predictor: apply each input at once with the game's deterministic
// step function, keep the inputs the server has not acknowledged, and on
// each ACK drop the acknowledged ones; when the server disagrees with the
// prediction, snap to its state and replay the inputs still in flight.

/** equalValues compares two predicted states: numbers/strings by value, arrays and plain objects field by field (one level deep). */
export function equalValues(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || Array.isArray(a)) {
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.is((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

interface Predicted<S, I> {
  seq: number;
  input: I;
  after: S;
}

/** What {@link Predictor.ack} returns. */
export interface AckResult<S> {
  /** The predicted state after the ack. */
  state: S;
  /** Whether the server disagreed and the prediction was corrected. */
  snapped: boolean;
}

/**
 * Predictor applies the local player's inputs at once with a deterministic
 * step function (the same rules the server applies) and reconciles them
 * with the server's ACKs. S is the predicted state (treat it as immutable:
 * step returns a new one), I an input. It does no I/O; its semantics are
 * exactly those of the Go replica.Predictor.
 */
export class Predictor<S, I> {
  private current: S;
  private pending: Predicted<S, I>[] = [];
  private acked = 0;
  private snapCount = 0;

  /**
   * @param state the starting state
   * @param step the game's step function: the state after applying one input
   * @param equals compares states; default {@link equalValues}
   */
  constructor(state: S, private readonly step: (s: S, input: I) => S, private readonly equals: (a: S, b: S) => boolean = equalValues) {
    this.current = state;
  }

  /**
   * input applies input numbered seq to the predicted state, keeps it until
   * acknowledged, and returns the new predicted state. Sequence numbers
   * must increase.
   */
  input(seq: number, input: I): S {
    this.current = this.step(this.current, input);
    this.pending.push({ seq, input, after: this.current });
    return this.current;
  }

  /**
   * ack applies the server's acknowledgement of input seq with the
   * authoritative state after it. A stale ack (seq not after the last one)
   * is ignored. When the server's state differs from the prediction for
   * seq, the state snaps to the server's and the inputs still pending are
   * replayed on top of it.
   */
  ack(seq: number, state: S): AckResult<S> {
    if (seq <= this.acked && this.acked !== 0) return { state: this.current, snapped: false };
    this.acked = seq;
    let n = 0;
    let guess: S | undefined;
    let found = false;
    while (n < this.pending.length && this.pending[n].seq <= seq) {
      if (this.pending[n].seq === seq) {
        guess = this.pending[n].after;
        found = true;
      }
      n++;
    }
    this.pending.splice(0, n);
    if (found && this.equals(guess as S, state)) return { state: this.current, snapped: false };
    const old = this.current;
    let s = state;
    for (const p of this.pending) {
      s = this.step(s, p.input);
      p.after = s;
    }
    this.current = s;
    const snapped = found || !this.equals(s, old);
    if (snapped) this.snapCount++;
    return { state: s, snapped };
  }

  /** reset drops every pending input and sets the state (after a teleport or a new zone). */
  reset(state: S): void {
    this.current = state;
    this.pending = [];
  }

  /** state is the predicted state. */
  get state(): S {
    return this.current;
  }

  /** pendingCount is how many inputs await acknowledgement. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** lastAcked is the sequence number of the last ack applied. */
  get lastAcked(): number {
    return this.acked;
  }

  /** snaps counts the acks that corrected the prediction. */
  get snaps(): number {
    return this.snapCount;
  }
}
