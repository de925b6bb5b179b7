package testutil

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
)

func TestLogBufferConcurrentAndLines(t *testing.T) {
	var buf LogBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); log.Info("event", "n", i, "kind", fmt.Sprint("k", i%2)) }()
	}
	wg.Wait()
	if got := len(buf.Lines("event")); got != 20 {
		t.Fatalf("got %d event lines, want 20", got)
	}
	if got := len(buf.Lines("event", "kind=k1")); got != 10 {
		t.Fatalf("got %d kind=k1 lines, want 10", got)
	}
}
