package store_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/tickwire/tickwire/store"
)

// Open an SQLite store in a data directory and record a ban. Passing a
// postgres:// URL instead of the path selects PostgreSQL.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "tickwire-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	st, err := store.Open(ctx, store.ResolveDSN(dir, ""))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	now := time.Now()
	err = st.AddBan(ctx, store.Ban{
		IP:        netip.MustParseAddr("192.0.2.1"),
		Reason:    "manual",
		CreatedAt: now,
		ExpiresAt: now.Add(time.Hour),
		Offences:  1,
	})
	if err != nil {
		log.Fatal(err)
	}
	bans, err := st.ListBans(ctx, now)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Backend(), filepath.Base(store.ResolveDSN(dir, "")), len(bans), bans[0].IP)
	// Output: sqlite tickwire.db 1 192.0.2.1
}
