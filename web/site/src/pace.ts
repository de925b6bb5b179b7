// The page's input clock: one input step per server tick, at the server's
// tick rate (from LIMITS), within a movement allowance of its own so the
// page never proposes a move the server would refuse as too fast (refused
// moves are struck, and three strikes ban the address).

import { MAX_BANK, SPEED, tickPeriodMs } from "./rules.js";

/** The share of the server's movement allowance (SPEED × MAX_BANK) the page lets itself save up. */
export const BANK_SHARE = 0.8;
/** The most input steps run in one call of due(): a page that was away catches up this much, no more. */
export const MAX_CATCH_UP = 4;
/**
 * How much input may wait for acknowledgement, in seconds of input steps:
 * past it the page sends nothing until ACKs come (a stalled link would
 * otherwise queue moves). 16 inputs at 20 Hz.
 */
export const IN_FLIGHT_SECONDS = 0.8;

/** Pacer runs input steps once per tick period and keeps the movement allowance. */
export class Pacer {
  /** The server's ticks per second. */
  readonly rate: number;
  /** One input step, ms: the server's tick period. */
  readonly periodMs: number;
  /** Inputs that may await acknowledgement at once. */
  readonly maxInFlight: number;
  /** The largest allowance the page saves up, units. */
  readonly bankCap: number;
  /** Units the page may drive now; refills at SPEED per second. */
  bank: number;
  private acc = 0;
  private last = -1;

  /** Creates a pacer for a server running at rate ticks per second. */
  constructor(rate: number) {
    if (!(rate >= 1)) throw new RangeError(`tick rate ${rate}: want 1 or more ticks per second`);
    this.rate = rate;
    this.periodMs = tickPeriodMs(rate);
    this.maxInFlight = Math.max(4, Math.round(IN_FLIGHT_SECONDS * rate));
    this.bankCap = SPEED * MAX_BANK * BANK_SHARE;
    this.bank = this.bankCap;
  }

  /**
   * due advances the clock to now (ms): the allowance refills for the time
   * that passed, and it returns how many input steps are due (at most
   * MAX_CATCH_UP; time beyond that is dropped, as is a gap over a second).
   */
  due(now: number): number {
    if (this.last < 0) this.last = now;
    const dt = Math.max(0, Math.min(now - this.last, 1000));
    this.last = now;
    this.bank = Math.min(this.bankCap, this.bank + (SPEED * dt) / 1000);
    this.acc += dt;
    // A microsecond of slack against rounding: a period of 1000/30 ms
    // added up three times is a hair short of 100.
    let n = Math.floor((this.acc + 1e-3) / this.periodMs);
    if (n > MAX_CATCH_UP) {
      n = MAX_CATCH_UP;
      this.acc = 0;
    } else this.acc = Math.max(0, this.acc - n * this.periodMs);
    return n;
  }

  /** spend takes dist units from the allowance, or returns false (taking nothing) when it has less. */
  spend(dist: number): boolean {
    if (this.bank < dist) return false;
    this.bank -= dist;
    return true;
  }

  /**
   * refill fills the allowance, when the prediction starts afresh (join,
   * respawn, portal, resume). A straight Step per tick spends no more than
   * the server's allowance gains in a tick, so what is saved up goes on
   * catch-up bursts (and on diagonals from 31 Hz, where a Step of 1 unit
   * per axis is √2 long); the page's cap is below the server's.
   */
  refill(): void {
    this.bank = this.bankCap;
  }
}
