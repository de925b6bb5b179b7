package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tickwire/tickwire/admin"
	"github.com/tickwire/tickwire/demo/arena"
	"github.com/tickwire/tickwire/server"
)

// TestConsoleGameZones: the console gets the arena as an admin.ZoneStater
// whose zones are the arena's, field for field, with the zone number as
// the id; any other game goes to it unchanged.
func TestConsoleGameZones(t *testing.T) {
	g := arena.New(arena.WithBots(3))
	if err := g.Init(server.Settings{TickRate: 20, TickPeriod: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	zs, ok := consoleGame(g).(admin.ZoneStater)
	if !ok {
		t.Fatal("the arena is not a ZoneStater for the console")
	}
	got, own := zs.ZoneStats(), g.ZoneStats()
	if len(got) != 3 || len(own) != 3 {
		t.Fatalf("%d zones for the console, %d in the arena; want 3", len(got), len(own))
	}
	for i, name := range []string{"plains", "maze", "vault"} {
		a := own[i]
		want := admin.ZoneStat{ID: string(rune('1' + i)), Name: name, Players: a.Players, Entities: a.Entities,
			SyncBytes: a.SyncBytes, Snapshots: a.Snapshots, Resyncs: a.Resyncs, Desyncs: a.Desyncs}
		if got[i] != want || a.Entities < 2 { // a bot and the zone's chests
			t.Errorf("zone %d: %+v, want %+v (arena: %+v)", i+1, got[i], want, a)
		}
	}
	other := struct{ name string }{"other"}
	if consoleGame(other) != any(other) {
		t.Fatal("another game was not passed through")
	}
}

// TestServeConsoleZones runs "tickwire serve --admin" with a guest
// playing: the session says the game reports zones, and the Zones tab's
// data shows the guest in zone 1 with the snapshot it got and the bytes
// of its view, and the other zones without either.
func TestServeConsoleZones(t *testing.T) {
	game, _, _, c := serveConsole(t)
	var sess admin.SessionResponse
	if _, body := c.do("GET", "/api/session", ""); json.Unmarshal(body, &sess) != nil || !sess.Zones {
		t.Fatalf("session %s: the console does not know the arena reports zones", body)
	}

	dialGuest(t, game)

	var zones struct {
		Available bool
		Zones     []admin.ZoneStat
	}
	zone := func(id string) admin.ZoneStat {
		for _, z := range zones.Zones {
			if z.ID == id {
				return z
			}
		}
		t.Fatalf("no zone %s in %+v", id, zones)
		return admin.ZoneStat{}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body := c.do("GET", "/api/zones", "")
		if status != 200 || json.Unmarshal(body, &zones) != nil || !zones.Available || len(zones.Zones) != 3 {
			t.Fatalf("GET /api/zones: %d %s", status, body)
		}
		if z := zone("1"); z.Players == 1 && z.SyncBytes > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guest never showed in zone 1: %+v", zones.Zones)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if z := zone("1"); z.Name != "plains" || z.Snapshots != 1 || z.Entities <= z.Players || z.Resyncs != 0 || z.Desyncs != 0 {
		t.Fatalf("zone 1 with the guest: %+v", z)
	}
	for _, id := range []string{"2", "3"} {
		if z := zone(id); z.Players != 0 || z.SyncBytes != 0 || z.Snapshots != 0 || z.Entities == 0 {
			t.Fatalf("zone %s without players: %+v", id, z)
		}
	}
}
