// Package admin is tickwire's operator console: a small web application
// that "tickwire serve" runs on its own listener (127.0.0.1:8081 by
// default) and embeds in the binary, like the demo page.
//
// It shows live plots of the game server (tick time, players, connections
// by transport and encoding, traffic, slow-consumer cuts, strikes and
// bans, GC and CPU), updated every second over server-sent events with the
// last 15 minutes kept in memory; a players table with kick and ban; the
// strikes feed and the bans list; account search with disable, enable and
// forced password reset; the recent warnings and errors of the server log;
// the game's zones (if the game reports them, see ZoneStater: the demo
// arena does, adapted in cmd/tickwire); and the audit log of every
// operator action.
//
// Only accounts with the admin role (store.RoleAdmin, "tickwire admin
// add") log in. Passwords are checked with argon2id in the process's
// shared auth.HashPool; failed logins are throttled per address and per
// (account, address), so nobody can lock an admin out from another
// address. A login gets a short-lived session (an HttpOnly, SameSite=Strict
// cookie, Secure over TLS, kept server-side with an idle and an absolute
// expiry); every state-changing request must carry the session's CSRF
// token in the X-CSRF-Token header and an Origin header naming the console
// itself. Every action is written to the audit log in the database and to
// the server log.
//
// The pieces a server wires in: New (the console), LogRing (an
// slog.Handler wrapper keeping recent warnings for the log tail),
// StrikeLog (a guard wrapper recording strikes) and WatchTicks (which feeds
// tick durations to the console and to anything else, such as a Prometheus
// histogram). docs/DEPLOY.md describes running it.
package admin
