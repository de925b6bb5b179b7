package servertest_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/servertest"
)

// logTB records what is logged with t.Log.
type logTB struct {
	*fakeTB
	mu   sync.Mutex
	logs []string
}

func (l *logTB) Log(args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logs = append(l.logs, fmt.Sprint(args...))
}

func (l *logTB) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.logs, "\n")
}

// Without a Logger, the server's warnings go to t.Log, its info does not.
func TestDefaultLogGoesToTheTest(t *testing.T) {
	lt := &logTB{fakeTB: newFake(t)}
	cfg := config()
	cfg.MaxMessage = 64
	s := servertest.New(lt, cfg, newGame())
	c := s.Dial(msg.Text)
	c.Login()
	c.SendLine("ECHO " + strings.Repeat("x", 100))
	c.SkipTo("BYE too_long")
	c.ExpectClosed()
	// The server logs the close after closing: wait for the line (bounded).
	got := lt.all()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(got, "reason=too_long") && time.Now().Before(deadline); got = lt.all() {
		time.Sleep(time.Millisecond)
	}
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "reason=too_long") {
		t.Errorf("t.Log got %q", got)
	}
	if strings.Contains(got, "level=INFO") {
		t.Errorf("info lines were logged: %q", got)
	}
}

// An author's debug logger sees the test's traffic but not servertest's
// sync frames (nor, so, a refused PONG of the test's own).
func TestSyncFramesAreNotLogged(t *testing.T) {
	var buf syncBuffer
	cfg := config()
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := servertest.New(t, cfg, newGame())
	c := s.Dial(msg.JSON)
	c.Login()
	c.Drain()
	c.SendRID(&Said{From: "me"}, 4) // refused: clients may not send SAID
	c.ExpectLine("@4 ERR not_allowed SAID")
	s.Ticks(3)
	c.ExpectNothing()
	got := buf.String()
	if n := strings.Count(got, `msg="refused message"`); n != 1 || !strings.Contains(got, "not_allowed SAID") {
		t.Errorf("%d refused-message lines, want the test's one:\n%s", n, got)
	}
	if !strings.Contains(got, "logged in") {
		t.Errorf("the debug log lacks the login:\n%s", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
