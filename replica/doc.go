// Package replica keeps each client's copy of a tickwire game world in sync
// with the server's, sending each client only what it may know.
//
// The server side is a World: zones with immutable tile maps, and entities
// of declared kinds, each with up to MaxFields int32 fields (fields 0 and 1
// are the position) and a name. Game code changes entities with Set,
// SetPos, SetZone, Emit and Remove during a tick and calls Flush at the end
// of it; it never composes a sync message itself. Each client is a Viewer,
// usually following the player's own entity. On Flush the World, for every
// viewer:
//
//   - finds the entities it may see: same zone, within Config.Radius (found
//     through a spatial grid), and passing the game's Config.Visible hook
//     (line of sight, say). Hidden entities are never sent, not even their
//     ids. An entity that comes into view is sent whole (ENTER); one that
//     leaves it is removed (REMOVE);
//   - sends each visible entity's fields that changed this tick, in one
//     DELTA per entity carrying a field mask and, for each field, the
//     difference between its new value and the one the client holds (small
//     numbers, which encode short). Only the last value set in a tick
//     counts, and a field set back to its old value is not sent.
//     Config.FieldMask hides private fields per viewer;
//   - sends each event emitted on a visible entity once, merged by the
//     event's Merge rule (two hits of 25 in one tick: one EVENT of 50);
//   - acknowledges the client's last input (Viewer.Ack) with the
//     authoritative fields of its own entity (ACK);
//   - after a zone change, sends a snapshot (ZONE, TILES, ENTER..., SNAPEND
//     with a checksum) in pieces within Config.Budget bytes per tick,
//     interleaved with the live updates above, so a big zone never holds
//     up other messages by more than a tick;
//   - re-sends its whole visible state slice by slice over
//     Config.ResyncPeriod (STATE..., RSLICE with a checksum per slice), so
//     a client that missed an update because of a bug is repaired, and
//     says so.
//
// The client side is a Model, which applies those messages, verifies the
// checksums, repairs itself from resync slices and reports every
// difference as a Desync to send back (DESYNC; the server logs it with
// World.ReportDesync, which also resyncs the client's whole view at once),
// and a Predictor, which applies the player's inputs
// at once with the game's deterministic step function and reconciles them
// with the server's ACKs. Neither does I/O.
//
// The messages use ids 16-27 (see Register) and are specified, with the
// budgets and defaults, in docs/SYNC.md.
package replica
