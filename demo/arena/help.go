package arena

import (
	"fmt"
	"strings"

	"github.com/tickwire/tickwire/msg"
)

// gameCommands are the commands a person plays with, in the order HELP
// lists them; every other command a client may send is protocol.
var gameCommands = []string{"GO", "MOVE", "TURN", "AIM", "FIRE", "LOOK", "WATCH", "OPEN", "TAKE", "PUT", "CLOSE", "APPLY", "SAY", "MODE", "HELP", "QUIT"}

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
		fmt.Sprintf("shooting: FIRE hits the first tank within %d tiles along your heading for %d hp, twice a second; AIM <tank id> points the gun and keeps it on the tank", FireRange/Unit, Damage),
		fmt.Sprintf("respawn: a tank at 0 hp is destroyed (x on the map) and respawns %d s later at a spawn point of its zone with %d hp; each kill scores 1", RespawnTicks/20, MaxHP),
		"portals: an O on the map leads to another zone; drive onto it (the zones are 1 plains, 2 maze and 3 vault)",
		fmt.Sprintf("chests: OPEN one within %.1f tiles, then TAKE and PUT by slot; gold scores %d and a gem %d when taken; APPLY medkit heals %d, APPLY ammo loads %d heavy shells (%d damage a hit); a key opens a locked chest; closed chests get a new item every %s",
			float64(ChestReach)/Unit, GoldScore, GemScore, MedkitHeal, HeavyShells, 2*Damage, human(RestockPeriod)),
		"human mode (the default on a text connection): plain lines tell you who comes into view, leaves it, hits you or is destroyed",
		"sync mode (MODE sync; JSON and MessagePack connections start in it): the world for programs as KIND, ZONE, TILES, ENTER, DELTA, EVENT, REMOVE, SNAPEND, STATE, RSLICE, ACK (docs/SYNC.md)",
		"protocol commands (for programs; AUTH and RESUME come before everything else):",
	)
	for _, t := range others {
		lines = append(lines, line(t))
	}
	return append(lines, `strings with spaces go in double quotes, e.g. AUTH "a b" token (SAY takes the rest of the line as it is); @<n> before a command tags its answer; a blank line is a keepalive`)
}
