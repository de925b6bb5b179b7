package guard_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/store"
)

// A guard bans an address after three strikes; Admit then refuses it
// without touching the database.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "tickwire-guard-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "tickwire.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	g, err := guard.New(ctx, guard.Config{
		Store:  st,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	ip := netip.MustParseAddr("198.51.100.23")
	for _, reason := range []string{"too_long", "bad_message", "too_long"} {
		fmt.Println("admit:", g.Admit(ip) == nil)
		g.Strike(ip, reason)
	}
	err = g.Admit(ip)
	fmt.Println("banned:", errors.Is(err, guard.ErrBanned))
	// Output:
	// admit: true
	// admit: true
	// admit: true
	// banned: true
}
