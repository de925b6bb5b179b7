package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickwire/tickwire/admin"
	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/guard"
	"github.com/tickwire/tickwire/server"
	"github.com/tickwire/tickwire/store"
	"github.com/tickwire/tickwire/transport"
)

// consoleLogRecords is how many warnings and errors the console's log tail
// keeps.
const consoleLogRecords = admin.DefaultLogRecords

// consoleStopGrace is how long the console's listener waits for requests
// in flight when serve stops.
const consoleStopGrace = 50 * time.Millisecond

// consoleParts are what "tickwire serve" installs for the admin console
// and the extra Prometheus metrics: a log ring in the logger, a strike log
// in front of the guard, and the tick-duration and RTT histograms.
type consoleParts struct {
	logs     *admin.LogRing
	strikes  *admin.StrikeLog
	tickHist prometheus.Histogram
	rttHist  prometheus.Histogram
}

// withConsoleLog wraps log's handler with a LogRing keeping the recent
// warnings and errors for the console's log tail.
func withConsoleLog(log *slog.Logger) (*slog.Logger, *consoleParts) {
	p := &consoleParts{
		logs:     admin.NewLogRing(consoleLogRecords, slog.LevelWarn, admin.CountedMessages...),
		tickHist: newTickHistogram(),
		rttHist:  newRTTHistogram(),
	}
	return slog.New(p.logs.Handler(log.Handler())), p
}

// watch returns g wrapped in a StrikeLog, to give the game server and the
// account service in its place.
func (p *consoleParts) watch(g *guard.Guard) *admin.StrikeLog {
	p.strikes = admin.NewStrikeLog(g)
	return p.strikes
}

// collectors are the extra Prometheus collectors for /metrics.
func (p *consoleParts) collectors() []prometheus.Collector {
	cs := []prometheus.Collector{p.tickHist, p.rttHist, logCountCollector{p.logs}}
	if p.strikes != nil {
		cs = append(cs, strikeCollector{p.strikes})
	}
	return cs
}

// adminFlag is the --admin flag: an address, and whether it was given.
type adminFlag struct {
	addr string
	set  bool
}

func (f *adminFlag) String() string     { return f.addr }
func (f *adminFlag) Set(v string) error { f.addr, f.set = v, true; return nil }

// consoleOptions is what the console needs from "tickwire serve".
type consoleOptions struct {
	addr     adminFlag // --admin; empty: no console
	srv      *server.Server
	game     any
	tickRate int
	st       store.Store
	guard    *guard.Guard
	pool     *auth.HashPool
	cert     *tls.Config // the account service's certificate; nil without --auth
	log      *slog.Logger
}

// start feeds tick durations to the histogram (and the console) and, if
// o.addr is set, serves the console on its own listener: plain HTTP on
// loopback, HTTPS with the account service's certificate elsewhere; the
// same listener serves /metrics. It returns the console's URL ("" without
// one) and a function that stops it.
func (p *consoleParts) start(ctx context.Context, o consoleOptions) (url string, stop func(), err error) {
	wctx, cancel := context.WithCancel(ctx)
	observers := []func(time.Duration){func(d time.Duration) { p.tickHist.Observe(d.Seconds()) }}
	var console *admin.Console
	var hs *http.Server
	var ln net.Listener
	if o.addr.addr != "" {
		loopback := isLoopback(o.addr.addr)
		if !loopback && o.cert == nil {
			cancel()
			return "", nil, errors.New("--admin on an address other than loopback is served over HTTPS with the account service's certificate: it needs --auth")
		}
		ln, err = net.Listen("tcp", o.addr.addr)
		if err != nil && !o.addr.set && errors.Is(err, syscall.EADDRINUSE) {
			// The default port is taken (another tickwire on this machine):
			// the game runs without a console rather than not at all.
			o.log.Warn("admin console not started: its default address is in use; choose one with --admin", "addr", o.addr.addr)
		} else if err != nil {
			cancel()
			return "", nil, fmt.Errorf("admin console listener: %w", err)
		}
	}
	if ln != nil {
		loopback := isLoopback(o.addr.addr)
		cfg := admin.Config{
			Server: o.srv, Store: o.st, HashPool: o.pool, Strikes: p.strikes, Logs: p.logs,
			Game: consoleGame(o.game), TickRate: o.tickRate, Logger: o.log, Secure: !loopback, ExternalTicks: true,
			ObserveRTT: func(d time.Duration) { p.rttHist.Observe(d.Seconds()) },
		}
		if o.guard != nil {
			cfg.Guard = o.guard
		}
		addr := ln.Addr().String()
		if loopback {
			// Only this machine's names: a web page whose host name
			// resolves to 127.0.0.1 (DNS rebinding) gets 421.
			_, port, _ := net.SplitHostPort(addr)
			cfg.Hosts = []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port}
		}
		if console, err = admin.New(cfg); err != nil {
			ln.Close()
			cancel()
			return "", nil, err
		}
		observers = append(observers, console.ObserveTick)
		// Prometheus on this machine scrapes the console's listener, which
		// is loopback-only by default, rather than the public page's.
		mux := http.NewServeMux()
		mux.Handle("/metrics", metricsHandler(o.srv, p.collectors()...))
		mux.Handle("/", console.Handler())
		hs = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: auth.ReadHeaderTimeout,
			ReadTimeout:       auth.ReadTimeout,
			WriteTimeout:      auth.WriteTimeout, // the event stream sets its own deadlines
			IdleTimeout:       auth.IdleTimeout,
			MaxHeaderBytes:    auth.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(o.log.Handler(), slog.LevelDebug),
		}
		url = "http://" + addr + "/"
		if !loopback {
			ln = tls.NewListener(ln, transport.WebTLSConfig(o.cert))
			url = "https://" + addr + "/"
		}
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.log.Error("admin console stopped", "err", err)
			}
		}()
		o.log.Info("admin console listening", "url", url)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		admin.WatchTicks(wctx, o.srv, observers...)
	}()
	return url, func() {
		if console != nil {
			console.Close() // ends the event streams, which Shutdown would wait for
		}
		if hs != nil {
			// Requests in flight finish; a browser's idle or pre-opened
			// connection, which Shutdown would wait seconds for, is cut.
			sctx, c := context.WithTimeout(context.Background(), consoleStopGrace)
			if hs.Shutdown(sctx) != nil {
				hs.Close()
			}
			c()
		}
		cancel()
		<-done
	}, nil
}
