package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tickwire/tickwire/client"
	"github.com/tickwire/tickwire/demo/bot"
	"github.com/tickwire/tickwire/msg"
	"github.com/tickwire/tickwire/transport"
)

func init() {
	register(&command{
		name:    "play",
		summary: "run headless bots that play the demo arena; prints a JSON report, fails on any DESYNC or lost seat",
		run:     runPlay,
	})
}

// playOut receives the JSON report; playErr the progress line. Tests
// swap them.
var (
	playOut io.Writer = os.Stdout
	playErr io.Writer = os.Stderr
)

// playSummary is the JSON report of "tickwire play".
type playSummary struct {
	Addr      string       `json:"addr"`
	Bots      []bot.Report `json:"bots"`
	Desyncs   uint64       `json:"desyncs"`
	Snaps     int          `json:"snaps"`
	Refused   int          `json:"moves_refused"`
	Messages  uint64       `json:"messages_in"`
	Kills     int          `json:"kills"`
	Deaths    int          `json:"deaths"`
	Errors    int          `json:"errors"`
	DurationS float64      `json:"duration_s"`
	// Dropped connections (--drop-every cuts among them), resumed seats,
	// lost seats, the longest drop-to-resume time, and resumes after which
	// a bot found its tank changed. Moves are seats the bots took over to
	// another server of a cluster (MOVED).
	Moves            int     `json:"moves"`
	Severed          int     `json:"severed"`
	Drops            int     `json:"drops"`
	Resumes          int     `json:"resumes"`
	SeatsLost        int     `json:"seats_lost"`
	ResumeMaxMS      float64 `json:"resume_max_ms"`
	ResumeMismatches int     `json:"resume_mismatches"`
}

// runPlay implements "tickwire play": -n bots of package demo/bot play the
// demo arena at --addr (or --ws) for --duration, then the JSON report goes
// to stdout (or --json). It fails when any bot reported a DESYNC, lost its
// seat, came back from a resume as another tank, or ended with an error.
func runPlay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	fs.SetOutput(playErr)
	addr := fs.String("addr", transport.DefaultTCPAddr, "demo server TCP `host:port`")
	wsURL := fs.String("ws", "", "connect to this WebSocket `URL` (e.g. ws://127.0.0.1:8080/ws) instead of --addr")
	n := fs.Int("n", 2, "number of bots")
	duration := fs.Duration("duration", 20*time.Second, "how long the bots play")
	encodings := fs.String("encoding", "msgpack", "wire encoding: text, json or msgpack; a comma-separated `list` is dealt out to the bots in turn")
	seed := fs.Uint64("seed", 1, "seed of the first bot's choices; bot i uses seed+i")
	fps := fs.Int("fps", bot.DefaultFrameRate, "frames per second of each bot (one Poll per frame)")
	chat := fs.Duration("chat-every", bot.DefaultChatEvery, "mean time between a bot's chat lines (negative: never)")
	portals := fs.Float64("portal-chance", bot.DefaultPortalChance, "probability that a bot's next destination is a portal to another zone (negative: never)")
	seedList := fs.String("seeds", "", "other servers of a cluster, a comma-separated `list` of host:port (with --ws: ws:// URLs), tried in turn when a bot cannot reach its server; the one reached sends it on with MOVED")
	dropEvery := fs.Duration("drop-every", 0, "sever each bot's connection this often (e.g. 20s), as a network failure would: the bots must resume their seats; 0: never")
	jsonPath := fs.String("json", "", "write the JSON report to this `file` instead of stdout")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	logLevel := fs.String("log-level", "warn", "client log level on stderr: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tickwire play [flags]\n\n"+
			"Runs -n headless bots against a running demo arena (tickwire serve): they\n"+
			"log in as guests, keep the replica model in sync, drive with prediction,\n"+
			"fire, open chests, chat and take portals, for --duration. Prints a JSON\n"+
			"report per bot (messages, desyncs, snaps, RTT, kills, deaths, drops and\n"+
			"resumes) and exits non-zero if any bot reported a DESYNC, lost its seat\n"+
			"or failed. --drop-every cuts every bot's connection periodically to show\n"+
			"that players survive it. Against a cluster the bots follow MOVED from\n"+
			"server to server (counted in moves); --seeds names the servers to try\n"+
			"when theirs dies.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *n < 1 || *n > 1000 {
		return errors.New("-n must be 1-1000")
	}
	if *duration <= 0 {
		return errors.New("--duration must be positive")
	}
	if *dropEvery < 0 {
		return errors.New("--drop-every must not be negative")
	}
	var encs []msg.Encoding
	for _, s := range strings.Split(*encodings, ",") {
		e, err := msg.ParseEncoding(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("--encoding: %w", err)
		}
		encs = append(encs, e)
	}
	seeds, err := parseSeeds(*seedList, *wsURL != "")
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("bad --log-level %q: want debug, info, warn or error", *logLevel)
	}
	log := slog.New(slog.NewTextHandler(playErr, &slog.HandlerOptions{Level: level}))

	target := *addr
	if *wsURL != "" {
		target = *wsURL
	}
	var mu sync.Mutex
	latest := make([]bot.Report, *n)
	reports := make([]bot.Report, *n)
	errs := make([]error, *n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range *n {
		cfg := bot.Config{
			Encoding:     encs[i%len(encs)],
			Seed:         *seed + uint64(i),
			FrameRate:    *fps,
			Duration:     *duration,
			ChatEvery:    *chat,
			PortalChance: *portals,
			DropEvery:    *dropEvery,
			Reconnect:    client.ReconnectOptions{Seeds: seeds},
			Logger:       log.With("bot", i),
			Progress: func(r bot.Report) {
				mu.Lock()
				latest[i] = r
				mu.Unlock()
			},
		}
		if *wsURL != "" {
			cfg.URL = *wsURL
		} else {
			cfg.Addr = *addr
		}
		wg.Go(func() {
			reports[i], errs[i] = bot.Run(ctx, cfg)
		})
	}
	stop := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if *quiet {
			return
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				mu.Lock()
				var s playSummary
				s.Bots = latest
				s.total()
				mu.Unlock()
				fmt.Fprintf(playErr, "play: %3.0fs  %d bots  %d desyncs  %d snaps  %d messages  %d kills  %d resumes  %d moves  %d seats lost\n",
					time.Since(start).Seconds(), *n, s.Desyncs, s.Snaps, s.Messages, s.Kills, s.Resumes, s.Moves, s.SeatsLost)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-progressDone

	sum := playSummary{Addr: target, Bots: reports, DurationS: time.Since(start).Seconds()}
	sum.total()
	out, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if *jsonPath != "" {
		err = os.WriteFile(*jsonPath, out, 0o644)
	} else {
		_, err = playOut.Write(out)
	}
	if err != nil {
		return err
	}
	var failed []error
	for i, e := range errs {
		if e != nil {
			failed = append(failed, fmt.Errorf("bot %d: %w", i, e))
		}
	}
	if sum.Desyncs > 0 {
		failed = append(failed, fmt.Errorf("%d DESYNC reports: the clients' models went out of sync (see the server's log)", sum.Desyncs))
	}
	if sum.SeatsLost > 0 {
		failed = append(failed, fmt.Errorf("%d seats lost: bots could not resume after a dropped connection", sum.SeatsLost))
	}
	if sum.ResumeMismatches > 0 {
		failed = append(failed, fmt.Errorf("%d resumes or moves brought a bot back with another tank, score or inventory", sum.ResumeMismatches))
	}
	return errors.Join(failed...)
}

// total adds up the bots' reports.
func (s *playSummary) total() {
	s.Desyncs, s.Snaps, s.Refused, s.Messages, s.Kills, s.Deaths, s.Errors = 0, 0, 0, 0, 0, 0, 0
	s.Moves, s.Severed, s.Drops, s.Resumes, s.SeatsLost, s.ResumeMaxMS, s.ResumeMismatches = 0, 0, 0, 0, 0, 0, 0
	for _, r := range s.Bots {
		s.Moves += r.Moves
		s.Severed += r.Severed
		s.Drops += r.Drops
		s.Resumes += r.Resumes
		s.SeatsLost += r.SeatsLost
		s.ResumeMismatches += len(r.ResumeMismatches)
		for _, d := range r.ResumeTimes {
			s.ResumeMaxMS = max(s.ResumeMaxMS, float64(d.Microseconds())/1000)
		}
		s.Desyncs += r.Desyncs + r.DesyncsDropped
		s.Snaps += r.Snaps
		s.Refused += r.MovesRefused
		s.Messages += r.MessagesIn
		s.Kills += r.Kills
		s.Deaths += r.Deaths
		if r.Error != "" {
			s.Errors++
		}
	}
}

// parseSeeds splits --seeds: host:port addresses, or ws:// and wss:// URLs
// for WebSocket bots.
func parseSeeds(list string, ws bool) ([]string, error) {
	var seeds []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if ws {
			if u, err := url.Parse(s); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
				return nil, fmt.Errorf("--seeds: %q is not a ws:// or wss:// URL (the bots use --ws)", s)
			}
		} else if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("--seeds: %q is not host:port: %v", s, err)
		}
		seeds = append(seeds, s)
	}
	return seeds, nil
}
