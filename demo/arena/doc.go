// Package arena is tickwire's demo game: tanks in three walled zones linked
// by portals. Tanks move, turn and fire; a destroyed tank respawns; chests
// hold items that tanks take and put back, and everyone with a chest open
// sees its contents change. Every rule runs on the server; clients send
// intentions and proposed moves, which the server validates.
//
// The world is synchronised with package replica: the arena sets entity
// fields and replica sends each player only what it may see (within
// ViewRadius and not behind a wall), with snapshots on entering a zone,
// deltas, merged events, periodic resync and input acknowledgements for
// client-side prediction (see Step).
//
// It is playable from nc in the text encoding: AUTH guest, then LOOK, GO e
// 3, AIM <tank id>, FIRE, OPEN <chest id>, TAKE 0, APPLY medkit ... (HELP
// lists them all). A text connection starts in human mode: instead of the
// sync stream it gets readable lines (who comes into view, who hits you),
// and MODE sync turns the sync protocol on for programs. JSON and
// MessagePack connections get the sync protocol from the start. Clients
// that predict their movement send DRIVE seq x y instead of MOVE and
// reconcile on ACK (see Step).
//
// # The tick rate
//
// The rules are written in seconds and units per second (rules.go: Speed,
// FireCooldown, RespawnDelay, ...), never in ticks. The tick rate is the
// server's: the Game implements server.Initializer, and Init converts the
// rules to ticks at the rate server.Config.TickRate sets and builds the
// replica.World with the same rate. One tick's movement is Step, a function
// of the rate (StepUnits); a predicting client takes the rate from the
// server's LIMITS message (client.Client.Limits in Go), so the server, its
// bots and every client step alike at any rate.
//
// # Files
//
// messages.go holds the messages a client and the arena exchange, and
// schema.go the replica schema (entity kinds, fields, events, item codes);
// game.go is the server.Game (options, New, Init, the typed handlers);
// sim.go is the rules engine it drives; rules.go the rules a predicting
// client shares (Step, PathClear, LineOfSight and the constants);
// items.go, human.go, look.go and help.go the items, the narration for
// people in human mode, LOOK and HELP; maps.go the zone maps.
package arena
