package servertest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LineConn is a line-protocol client on a real socket, for tests of a
// server that runs on its own clock: a program's main, a server started
// with Serve, or another implementation of a text protocol. It is what nc
// does, with bounded waits: every read fails the test after 10 s rather
// than hang. Create it with DialLine.
type LineConn struct {
	t     testing.TB
	nc    net.Conn
	br    *bufio.Reader
	addr  string
	syncs int
}

// DialLine connects to addr ("host:port") over TCP and closes the
// connection when the test ends.
func DialLine(t testing.TB, addr string) *LineConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatalf("servertest: DialLine: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &LineConn{t: t, nc: nc, br: bufio.NewReader(nc), addr: addr}
}

// Conn returns the underlying connection.
func (c *LineConn) Conn() net.Conn { return c.nc }

func (c *LineConn) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("servertest: line client of %s: %s", c.addr, fmt.Sprintf(format, args...))
}

// Send writes each line followed by "\n".
func (c *LineConn) Send(lines ...string) {
	c.t.Helper()
	c.send("Send", lines)
}

func (c *LineConn) send(what string, lines []string) {
	c.t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	c.nc.SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c.nc, b.String()); err != nil {
		c.fatalf("%s %q: %v", what, lines, err)
	}
}

// read reads one line; ok is false at the end of the stream.
func (c *LineConn) read(what string) (line string, ok bool) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(waitLimit))
	line, err := c.br.ReadString('\n')
	switch {
	case err == nil:
		return strings.TrimRight(line, "\r\n"), true
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.fatalf("%s: nothing arrived within %v, and the connection is still open (partial line %q)", what, waitLimit, line)
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET):
		if line != "" {
			c.fatalf("%s: the connection ended in the middle of a line: %q", what, line)
		}
		return "", false
	default:
		c.fatalf("%s: %v", what, err)
	}
	return "", false
}

// ReadLine returns the next line, without its line ending. It fails the
// test if the connection ends first.
func (c *LineConn) ReadLine() string {
	c.t.Helper()
	line, ok := c.read("ReadLine")
	if !ok {
		c.fatalf("ReadLine: the server closed the connection")
	}
	return line
}

// ExpectLine reads the next line and fails the test unless it starts with
// prefix. It returns the line.
func (c *LineConn) ExpectLine(prefix string) string {
	c.t.Helper()
	line, ok := c.read(fmt.Sprintf("ExpectLine %q", prefix))
	if !ok {
		c.fatalf("ExpectLine %q: the server closed the connection", prefix)
	}
	if !strings.HasPrefix(line, prefix) {
		c.fatalf("ExpectLine %q\n\tgot:  %s", prefix, line)
	}
	return line
}

// SkipTo reads lines until one starts with prefix and returns it.
func (c *LineConn) SkipTo(prefix string) string {
	c.t.Helper()
	var skipped []string
	for {
		line, ok := c.read(fmt.Sprintf("SkipTo %q", prefix))
		if !ok {
			c.fatalf("SkipTo %q: the server closed the connection; skipped %q", prefix, skipped)
		}
		if strings.HasPrefix(line, prefix) {
			return line
		}
		skipped = append(skipped, line)
	}
}

// Sync sends "PING servertest-<n>" and returns every line that arrives
// before its PONG: since a server answers PING in order, everything it had
// to say about what was sent before has then been said (for a tickwire
// server: everything its reader answers; what the game sends waits for a
// tick).
func (c *LineConn) Sync() []string {
	c.t.Helper()
	c.syncs++
	token := fmt.Sprintf("servertest-%d", c.syncs)
	c.send("Sync", []string{"PING " + token})
	var before []string
	for {
		line, ok := c.read("Sync")
		if !ok {
			c.fatalf("Sync: the server closed the connection before PONG %s; before it: %q", token, before)
		}
		if line == "PONG "+token {
			return before
		}
		before = append(before, line)
	}
}

// ExpectNothing syncs and fails the test if any line arrived first.
func (c *LineConn) ExpectNothing() {
	c.t.Helper()
	if got := c.Sync(); len(got) > 0 {
		c.fatalf("ExpectNothing, but these arrived: %q", got)
	}
}

// Login logs in to a tickwire server as a guest: it sends AUTH guest and
// reads through WELCOME, SEAT and LIMITS, skipping a banner. It returns the
// WELCOME line and fails the test if the login is refused.
func (c *LineConn) Login() string {
	c.t.Helper()
	c.send("Login", []string{"AUTH guest"})
	var welcome string
	for welcome == "" {
		line, ok := c.read("Login")
		switch {
		case !ok:
			c.fatalf("Login: the server closed the connection")
		case strings.HasPrefix(line, "WELCOME "):
			welcome = line
		case strings.HasPrefix(line, "ERR ") || strings.HasPrefix(line, "BYE "):
			c.fatalf("Login refused: %s", line)
		}
	}
	for {
		line, ok := c.read("Login")
		switch {
		case !ok:
			c.fatalf("Login: the server closed the connection after %s", welcome)
		case strings.HasPrefix(line, "LIMITS "):
			return welcome
		case !strings.HasPrefix(line, "SEAT "):
			c.fatalf("Login: got %q after WELCOME, want SEAT or LIMITS", line)
		}
	}
}

// ExpectClosed reads until the server closes the connection and returns
// the lines that came first. It fails the test if the connection stays
// open.
func (c *LineConn) ExpectClosed() []string {
	c.t.Helper()
	var rest []string
	for {
		line, ok := c.read("ExpectClosed")
		if !ok {
			return rest
		}
		rest = append(rest, line)
	}
}

// Close closes the connection.
func (c *LineConn) Close() { c.nc.Close() }
