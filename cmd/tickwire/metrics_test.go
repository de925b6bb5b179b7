package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestGrafanaDashboard checks deploy/grafana/tickwire-dashboard.json
// against a real scrape of "tickwire serve": every metric its queries use
// is exported, and it has a panel for each of the console's plots.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "tickwire-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}

	game, web, _ := startServe(t)
	nc, err := net.Dial("tcp", game)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("AUTH guest\n"))
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "WELCOME") {
			break
		}
	}
	resp, err := http.Get("http://" + web + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	families := map[string]string{} // name -> type
	for _, l := range strings.Split(string(body), "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	exported := func(name string) bool {
		if _, ok := families[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				if typ := families[base]; typ == "histogram" || typ == "summary" {
					return true
				}
			}
		}
		return false
	}
	metric := regexp.MustCompile(`\b(?:tickwire|go|process)_[a-z0-9_]+`)
	titles := map[string]bool{}
	for _, p := range dash.Panels {
		titles[p.Title] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := metric.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q uses no tickwire metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				if !exported(n) {
					t.Errorf("panel %q: %s is not exported by /metrics", p.Title, n)
				}
			}
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") {
				t.Errorf("panel %q: unbalanced query %q", p.Title, tg.Expr)
			}
		}
	}
	// The console's plots, as its page defines them.
	app, err := os.ReadFile(filepath.Join("..", "..", "admin", "ui", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	charts := regexp.MustCompile(`\{ title: "([^"]+)", unitLabel:`).FindAllStringSubmatch(string(app), -1)
	if len(charts) < 8 {
		t.Fatalf("found only %d console charts in app.js", len(charts))
	}
	for _, c := range charts {
		if !titles[c[1]] {
			t.Errorf("the dashboard has no panel %q, a plot of the console", c[1])
		}
	}
}
