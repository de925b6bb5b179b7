// Command tickwire runs the tickwire demo server, the auth service, the load
// tool and the maintenance commands. Run "tickwire help" for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync/atomic"
	"syscall"
	"time"
)

// command is one subcommand. Each lives in its own file and registers itself
// in an init function, so adding a command never touches this file.
type command struct {
	name    string
	summary string
	// run parses args with its own flag.FlagSet and runs until ctx is done
	// or the work is finished.
	run func(ctx context.Context, args []string) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("tickwire: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// stopWithin bounds how long the servers take to stop after SIGINT or
// SIGTERM. Their graceful shutdown (BYE shutdown to every player, closing
// listeners and the database) normally takes a few milliseconds; what is
// not done by then (an idle browser connection the HTTP server would wait
// for, a login in flight) is cut: the process exits, with status 0 since
// it was asked to stop. Other commands (bots, play) finish their report
// however long it takes.
var stopWithin = map[string]time.Duration{
	"serve": 90 * time.Millisecond,
	"auth":  90 * time.Millisecond,
}

// stopExtra is added to stopWithin by a server that needs longer to stop
// well: a cluster node hands its zones to the other nodes first.
var stopExtra atomic.Int64

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tickwire <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun \"tickwire <command> --help\" for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run runs the command args[0] with the rest of args and returns the
// process's exit status: 0 on success (and when a signal stopped a server),
// 1 when the command failed, 2 for a usage error.
func run(args []string, stderr io.Writer) int {
	if len(args) < 1 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) < 1 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tickwire: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first signal asks the command to stop; from then on a
		// second one ends the process at once, as it would without us.
		<-ctx.Done()
		stop()
	}()
	return runCommand(ctx, c, args[1:], stderr)
}

// runCommand runs c until it returns or, once ctx is done (a signal), for
// at most stopWithin[c.name] more.
func runCommand(ctx context.Context, c *command, args []string, stderr io.Writer) int {
	done := make(chan error, 1)
	go func() { done <- c.run(ctx, args) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		bound, ok := stopWithin[c.name]
		if !ok {
			err = <-done
			break
		}
		bound += time.Duration(stopExtra.Load())
		t := time.NewTimer(bound)
		defer t.Stop()
		select {
		case err = <-done:
		case <-t.C:
			fmt.Fprintf(stderr, "tickwire %s: shutdown not finished after %v; exiting\n", c.name, bound)
			return 0
		}
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "tickwire %s: %v\n", c.name, err)
		return 1
	}
	return 0
}
