// Which chest the server has open for this player, read from the replicated
// world rather than from the server's INFO notices.
//
// The arena replicates, for each chest, `users` (how many tanks have it
// open) to everyone and the six `slot` fields only to the tanks that have
// it open (demo/arena/game.go, fieldMask). So a chest whose slots show an
// item is open for us. An open chest that is empty looks like a closed one,
// so the tracker also follows `users`: a chest we asked to open whose count
// went up (and no ERR came back) is open even when empty, an open chest
// stays open while its last item is taken (the count does not move), and it
// is closed when its count goes down (the server closed it: CLOSE, out of
// reach, destroyed, portal) or it leaves the view.
//
// When the tank kind has a field called `open` (the chest the tank has
// open, visible to its owner only), the tracker reads that instead: exact,
// with no inference.

import type { Model, ModelEntity } from "../../sdk/src/index.js";
import { CHEST_SLOTS } from "./rules.js";

/** How long an OPEN may stay unanswered before the tracker stops expecting it, ms. */
const ASK_TIMEOUT = 3000;

interface Seen {
  users: number;
  shown: boolean;
}

/** ChestTracker follows the open chest; call update after every client.update. */
export class ChestTracker {
  /** The chest the server has open for this player, or 0. */
  open = 0;
  private seen = new Map<number, Seen>();
  private asked = 0;
  private askedAt = -Infinity;

  /** opening notes that OPEN id was just sent at time now (ms). */
  opening(id: number, now: number): void {
    this.asked = id;
    this.askedAt = now;
  }

  /** refused notes that the server answered OPEN id with an ERR. */
  refused(id: number): void {
    if (this.asked === id) this.asked = 0;
  }

  /** reset forgets everything (a new zone or snapshot: the arena closes chests across it). */
  reset(): void {
    this.open = 0;
    this.asked = 0;
    this.seen.clear();
  }

  /** update reads the model after the messages of a frame were applied; own is the player's tank. */
  update(model: Model, own: ModelEntity | undefined, now: number): void {
    const chestKind = model.kindByName("chest");
    if (!chestKind || !own || model.loading) {
      if (!own || !chestKind) this.reset();
      return;
    }
    if (model.field(own.kind, "open") >= 0) {
      this.open = model.get(own, "open");
      this.asked = 0;
      return;
    }
    if (model.get(own, "dead")) {
      this.reset(); // a destroyed tank's chest closes
      return;
    }
    if (this.asked && now - this.askedAt > ASK_TIMEOUT) this.asked = 0;
    const slot0 = model.field(chestKind.num, "slot0");
    let shown = 0;
    let open = this.open;
    const next = new Map<number, Seen>();
    for (const e of model.entities()) {
      if (e.kind !== chestKind.num) continue;
      const users = model.get(e, "users");
      let any = false;
      for (let i = 0; slot0 >= 0 && i < CHEST_SLOTS; i++) if (e.vals[slot0 + i] !== 0) any = true;
      const before = this.seen.get(e.id);
      next.set(e.id, { users, shown: any });
      if (any) shown = e.id;
      if (!before) continue;
      if (e.id === open && !any && users < before.users) open = 0; // the server closed it
      if (e.id === this.asked && users > before.users) {
        open = e.id; // our OPEN went through: the count rose and no ERR came
        this.asked = 0;
      }
    }
    if (open && !next.has(open)) open = 0; // out of view, another zone
    if (shown) {
      // Contents are sent only to a tank with the chest open, and a tank
      // has one chest open at a time.
      open = shown;
      if (this.asked === shown) this.asked = 0;
    }
    this.open = open;
    this.seen = next;
  }
}
