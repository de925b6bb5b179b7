package attack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// randHex returns n random bytes in hex.
func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// register creates an account from "from", retrying a 503 (whose
// Retry-After is honoured, up to 2 s) at most three times.
func (e *Env) register(ctx context.Context, from netip.Addr, name, password string) (apiAnswer, error) {
	cl := e.httpClient(from, 30*time.Second)
	var a apiAnswer
	var err error
	for try := 0; try < 4; try++ {
		a, err = post(ctx, cl, e.authURL("/v1/register"), map[string]string{"name": name, "password": password}, nil)
		if err != nil || a.status != http.StatusServiceUnavailable {
			return a, err
		}
		wait := time.Second
		if s, err := strconv.Atoi(a.retryAfter); err == nil {
			wait = min(time.Duration(s)*time.Second, 2*time.Second)
		}
		sleep(ctx, wait)
	}
	return a, err
}

// statusCounts renders a status histogram as "201×90 503×10".
func statusCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// attackLockout: an attacker address keeps posting wrong passwords for an
// account; the owner, from another address and with the right password,
// must get 200 every time and never be banned.
func attackLockout(ctx context.Context, e *Env) {
	owner := "lo" + randHex(5)
	password := "owner-" + randHex(8)
	oaddr, aaddr := e.addr(), e.addr()
	a, err := e.register(ctx, oaddr, owner, password)
	if err != nil || a.status != http.StatusCreated {
		e.failf("could not register the owner's account: %v %d %s", err, a.status, a.code)
		return
	}
	ocl := e.httpClient(oaddr, 30*time.Second)
	acl := e.httpClient(aaddr, 30*time.Second)
	T := e.scaled(6*time.Second, 3*time.Second)
	end := time.Now().Add(T)

	var mu sync.Mutex
	attacker := map[string]int{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 10000 && time.Now().Before(end) && ctx.Err() == nil; i++ {
			a, err := post(ctx, acl, e.authURL("/v1/login"), map[string]string{"name": owner, "password": "wrong-" + randHex(6)}, nil)
			k := "error"
			if err == nil {
				k = strconv.Itoa(a.status)
				if a.code != "" {
					k += " " + a.code
				}
			}
			mu.Lock()
			attacker[k]++
			mu.Unlock()
			sleep(ctx, 100*time.Millisecond)
		}
	})
	ownerRes := map[string]int{}
	ok, tries := 0, 0
	for i := 0; i < 1000 && ctx.Err() == nil; i++ {
		a, err := post(ctx, ocl, e.authURL("/v1/login"), map[string]string{"name": owner, "password": password}, nil)
		tries++
		k := "error"
		if err == nil {
			k = strconv.Itoa(a.status)
			if a.code != "" {
				k += " " + a.code
			}
			if a.status == http.StatusOK && strings.Contains(string(a.body), `"token"`) {
				ok++
			}
		}
		ownerRes[k]++
		if time.Now().After(end) {
			break
		}
		sleep(ctx, time.Second)
	}
	wg.Wait()
	mu.Lock()
	att := statusCounts(attacker)
	attOK := attacker["200"]
	mu.Unlock()
	ownerBanned, how := e.banned(ctx, oaddr)
	attBanned, ahow := e.banned(ctx, aaddr)
	e.notef("attacker (wrong passwords for %s over %s): %s; attacker banned: %v (%s)", owner, secs(T), att, attBanned, ahow)
	e.notef("owner (right password, once a second): %s; owner banned: %v (%s)", statusCounts(ownerRes), ownerBanned, how)
	e.expect(attOK == 0, "the attacker logged in %d times with wrong passwords", attOK)
	e.expect(ok == tries, "the owner logged in %d of %d times (%s); want every time", ok, tries, statusCounts(ownerRes))
	e.expect(!ownerBanned, "the owner's address is banned (%s)", how)
}

// attackRegisterBurst: 100 registrations at once, each from its own
// address; the honest player's p99 must stay under 60 ms (the attack's
// limit), and every answer must be 201 or 503 with Retry-After.
func attackRegisterBurst(ctx context.Context, e *Env) {
	const n = 100
	rss0, haveRSS := e.rss()
	prefix := "rb" + randHex(4)
	type answer struct {
		a   apiAnswer
		err error
		d   time.Duration
	}
	res := make([]answer, n)
	clients := make([]*httpClientFrom, n)
	for i := range clients {
		clients[i] = &httpClientFrom{from: e.addr()}
		clients[i].cl = e.httpClient(clients[i].from, 60*time.Second)
	}
	// Open the connections first (GET /healthz, ten at a time), so the
	// burst is the registrations themselves and the TLS handshakes'
	// client-side work does not crowd the honest player's process.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	for _, c := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.authURL("/healthz"), nil)
			if err == nil {
				do(c.cl, req)
			}
		}()
	}
	wg.Wait()
	go1 := make(chan struct{})
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			<-go1
			t := time.Now()
			a, err := post(ctx, clients[i].cl, e.authURL("/v1/register"),
				map[string]string{"name": fmt.Sprintf("%s-%d", prefix, i), "password": "burst-password-" + randHex(4)}, nil)
			res[i] = answer{a, err, time.Since(t)}
		})
	}
	close(go1)
	wg.Wait()
	took := time.Since(start)
	counts := map[string]int{}
	created, noRetry, other := 0, 0, 0
	var ds []time.Duration
	for _, r := range res {
		if r.err != nil {
			counts["error"]++
			other++
			continue
		}
		ds = append(ds, r.d)
		k := strconv.Itoa(r.a.status)
		switch r.a.status {
		case http.StatusCreated:
			created++
		case http.StatusServiceUnavailable:
			if r.a.retryAfter == "" {
				noRetry++
				k += " without Retry-After"
			} else {
				k += " Retry-After " + r.a.retryAfter
			}
		default:
			other++
			if r.a.code != "" {
				k += " " + r.a.code
			}
		}
		counts[k]++
	}
	p50, p99, mx := percentiles(ds)
	e.notef("%d registrations from %d addresses in %s: %s; request latency p50 %s p99 %s max %s",
		n, n, secs(took), statusCounts(counts), ms(p50), ms(p99), ms(mx))
	if haveRSS {
		rss1, _ := e.rss()
		hwm, _ := rssKiB(e.cfg.PID, "VmHWM")
		e.notef("server RSS %.1f MiB before, %.1f MiB after (peak %.1f MiB)", float64(rss0)/1024, float64(rss1)/1024, float64(hwm)/1024)
	}
	e.expect(created > 0, "no registration succeeded")
	e.expect(noRetry == 0, "%d answers were 503 without Retry-After", noRetry)
	e.expect(other == 0, "%d answers were neither 201 nor 503 with Retry-After", other)
}

// httpClientFrom is an HTTP client bound to one attacker address.
type httpClientFrom struct {
	from netip.Addr
	cl   *http.Client
}
