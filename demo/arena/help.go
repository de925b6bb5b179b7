package arena

import (
	"fmt"
	"strings"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/server"
)

// gameCommands are the commands a person plays with, in the order HELP
// lists them; every other command a client may send is protocol.
var gameCommands = []string{"GO", "MOVE", "TURN", "AIM", "FIRE", "LOOK", "WATCH", "OPEN", "TAKE", "PUT", "CLOSE", "APPLY", "SAY", "WHO", "MODE", "HELP", "QUIT"}

// Help returns the arena's answer to HELP, one INFO line each: the game
// commands, how the game works (view range, shooting, respawn, portals,
// chests and items, the two modes and the sync lines), then the protocol
// commands that programs use. reg is the server's registry (with the
// arena's messages); every client command in it is listed once.
func Help(reg *msg.Registry) []string {
	byName := map[string]*msg.Type{}
	var others []*msg.Type
	game := map[string]bool{}
	for _, n := range gameCommands {
		game[n] = true
	}
	for _, t := range reg.Types() {
		if t.Dir&msg.ToServer == 0 {
			continue
		}
		byName[t.Name] = t
		if !game[t.Name] {
			others = append(others, t)
		}
	}
	line := func(t *msg.Type) string {
		// No trailing spaces: INFO's text would go out quoted.
		return strings.TrimRight(fmt.Sprintf("%-22s %s", t.Usage(), t.Doc), " ")
	}
	lines := []string{"game commands (one per line, upper or lower case):"}
	for _, n := range gameCommands {
		if t := byName[n]; t != nil {
			lines = append(lines, line(t))
		}
	}
	lines = append(lines,
		"how it works:",
		fmt.Sprintf("view: you see %d tiles around you, not through walls; LOOK draws that map with the tanks (T) and chests (C, L locked) in it", ViewRadius/Unit),
		fmt.Sprintf("shooting: FIRE hits the first tank within %d tiles along your heading for %d hp, %s; AIM <tank id> points the gun and keeps it on the tank", FireRange/Unit, Damage, howOften(FireCooldown)),
		fmt.Sprintf("respawn: a tank at 0 hp is destroyed (x on the map) and respawns %s later at a spawn point of its zone with %d hp; each kill scores 1", human(RespawnDelay), MaxHP),
		"portals: an O on the map leads to another zone; drive onto it (the zones are 1 plains, 2 maze and 3 vault)",
		fmt.Sprintf("chests: OPEN one within %s tiles, then TAKE and PUT by slot; gold scores %d and a gem %d when taken; APPLY medkit heals %d, APPLY ammo loads %d heavy shells (%d damage a hit); a key opens a locked chest; closed chests get a new item every %s",
			tiles(ChestReach), GoldScore, GemScore, MedkitHeal, HeavyShells, 2*Damage, human(RestockPeriod)),
		"human mode (the default on a text connection): plain lines tell you who comes into view, leaves it, hits you or is destroyed",
		"sync mode (MODE sync; JSON and MessagePack connections start in it): the world for programs as KIND, ZONE, TILES, ENTER, DELTA, EVENT, REMOVE, SNAPEND, STATE, RSLICE, ACK (docs/SYNC.md)",
		"protocol commands (for programs; AUTH and RESUME come before everything else):",
	)
	for _, t := range others {
		lines = append(lines, line(t))
	}
	return append(lines, `strings with spaces go in double quotes, e.g. AUTH "a b" token (SAY takes the rest of the line as it is); @<n> before a command tags its answer; a blank line is a keepalive`)
}

// Banner is the line new connections see, for a server with the default
// login and idle timeouts: BannerFor(addr, 0, 0).
func Banner(addr string) string { return BannerFor(addr, 0, 0) }

// BannerFor is the line new connections see: where they are, how long
// they have to log in (the server's login timeout) and how to stay
// connected (its idle timeout). Zero durations stand for the server's
// defaults.
func BannerFor(addr string, login, idle time.Duration) string {
	if login <= 0 {
		login = server.DefaultLoginTimeout
	}
	if idle <= 0 {
		idle = server.DefaultIdleTimeout
	}
	return fmt.Sprintf("tickwire arena on %s: type AUTH guest within %s to play, then LOOK; HELP lists commands; "+
		"a connection silent for %s is closed, and a blank line counts", addr, human(login), human(idle))
}

// human writes a duration for people: 5 s, 2 min, 1.5 s.
func human(d time.Duration) string {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	}
	return fmt.Sprintf("%g s", d.Seconds())
}

// howOften says how often something with period d can happen: "once a
// second", "twice a second", "every 0.7 s".
func howOften(d time.Duration) string {
	switch d {
	case time.Second:
		return "once a second"
	case time.Second / 2:
		return "twice a second"
	}
	return "every " + human(d)
}

// tiles writes a distance in units as tiles for people: 2.5, 10.
func tiles(units int) string {
	return fmt.Sprintf("%g", float64(units)/Unit)
}
