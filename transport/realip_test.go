package transport

import (
	"flag"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrustedProxy(t *testing.T) {
	good := map[string]string{
		"10.0.0.0/8":             "10.0.0.0/8",
		"10.1.2.3/8":             "10.0.0.0/8", // host bits cleared
		" 192.0.2.10 ":           "192.0.2.10/32",
		"::1":                    "::1/128",
		"2001:DB8::/32":          "2001:db8::/32",
		"2001:db8:1:2::17/64":    "2001:db8:1:2::/64",
		"::ffff:10.0.0.0/104":    "10.0.0.0/8", // IPv4-mapped forms become IPv4
		"::ffff:192.0.2.1":       "192.0.2.1/32",
		"::ffff:192.0.2.128/121": "192.0.2.128/25",
		"::ffff:0.0.0.0/96":      "0.0.0.0/0",
		"0.0.0.0/0":              "0.0.0.0/0",
		"::/0":                   "::/0",
	}
	for in, want := range good {
		p, err := ParseTrustedProxy(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseTrustedProxy(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/33", "10.0.0/8", "example.com", "fe80::1%eth0", "::ffff:10.0.0.0/64", "10.0.0.0/-1", "1.2.3.4:80", "[::1]", "10.0.0.0/8/8"} {
		if p, err := ParseTrustedProxy(in); err == nil {
			t.Errorf("ParseTrustedProxy(%q) = %v, want an error", in, p)
		}
	}
}

func TestTrustedProxiesFlag(t *testing.T) {
	var tp TrustedProxies
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Var(&tp, "trusted-proxy", "")
	if err := fs.Parse([]string{"--trusted-proxy", "10.0.0.0/8", "--trusted-proxy=192.0.2.1, 2001:db8::/32"}); err != nil {
		t.Fatal(err)
	}
	if got := tp.String(); got != "10.0.0.0/8,192.0.2.1/32,2001:db8::/32" {
		t.Errorf("String() = %q", got)
	}
	for _, bad := range []string{"", "nope", "10.0.0.0/8,", ","} {
		var tp TrustedProxies
		if err := tp.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted: %v", bad, tp)
		}
	}
	var nilTP *TrustedProxies
	if nilTP.String() != "" {
		t.Error("nil String")
	}
	if (TrustedProxies{}).Contains(netip.MustParseAddr("10.0.0.1")) || TrustedProxies(nil).Contains(netip.Addr{}) {
		t.Error("an empty list trusts someone")
	}
	if !tp.Contains(netip.MustParseAddr("::ffff:10.1.2.3")) || !tp.Contains(netip.MustParseAddr("2001:db8::1%eth0")) {
		t.Error("mapped or zoned addresses do not match")
	}
}

func TestClientAddr(t *testing.T) {
	tp, err := ParseTrustedProxies("10.0.0.0/8", "2001:db8:ffff::/48", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	type hdr = map[string][]string
	cases := []struct {
		name   string
		remote string
		h      hdr
		want   string
	}{
		// Untrusted peers: every header is ignored.
		{"untrusted, no header", "203.0.113.5:1234", nil, "203.0.113.5"},
		{"untrusted spoofs XFF", "203.0.113.5:1234", hdr{"X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.5"},
		{"untrusted spoofs Forwarded", "203.0.113.5:1234", hdr{"Forwarded": {"for=198.51.100.1"}}, "203.0.113.5"},
		{"untrusted spoofs a trusted chain", "203.0.113.5:1234", hdr{"X-Forwarded-For": {"198.51.100.1, 10.0.0.2"}}, "203.0.113.5"},
		{"untrusted IPv6 peer", "[2001:db8::5]:443", hdr{"X-Forwarded-For": {"198.51.100.1"}}, "2001:db8::5"},
		{"loopback other than the trusted one", "127.0.0.2:80", hdr{"X-Forwarded-For": {"198.51.100.1"}}, "127.0.0.2"},

		// Trusted peer.
		{"trusted, no header", "10.0.0.1:80", nil, "10.0.0.1"},
		{"trusted, XFF", "10.0.0.1:80", hdr{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"client-sent spoof left of the real client", "10.0.0.1:80", hdr{"X-Forwarded-For": {"6.6.6.6, 198.51.100.1"}}, "198.51.100.1"},
		{"spoofed trusted address left of the real client", "10.0.0.1:80", hdr{"X-Forwarded-For": {"10.9.9.9, 198.51.100.1"}}, "198.51.100.1"},
		{"multiple hops", "10.0.0.1:80", hdr{"X-Forwarded-For": {"6.6.6.6, 198.51.100.1, 10.0.0.3, 10.0.0.2"}}, "198.51.100.1"},
		{"multiple header lines", "10.0.0.1:80", hdr{"X-Forwarded-For": {"6.6.6.6, 198.51.100.1", "10.0.0.3", "10.0.0.2"}}, "198.51.100.1"},
		{"all trusted: leftmost", "10.0.0.1:80", hdr{"X-Forwarded-For": {"10.0.0.3, 10.0.0.2"}}, "10.0.0.3"},
		{"IPv6 in XFF", "10.0.0.1:80", hdr{"X-Forwarded-For": {"2001:db8::77"}}, "2001:db8::77"},
		{"XFF with port", "10.0.0.1:80", hdr{"X-Forwarded-For": {"198.51.100.1:4711"}}, "198.51.100.1"},
		{"XFF bracketed IPv6 with port", "10.0.0.1:80", hdr{"X-Forwarded-For": {"[2001:db8::77]:4711"}}, "2001:db8::77"},
		{"XFF bracketed IPv6", "10.0.0.1:80", hdr{"X-Forwarded-For": {"[2001:db8::77]"}}, "2001:db8::77"},
		{"XFF IPv4-mapped", "10.0.0.1:80", hdr{"X-Forwarded-For": {"::ffff:198.51.100.1"}}, "198.51.100.1"},
		{"XFF empty elements", "10.0.0.1:80", hdr{"X-Forwarded-For": {" , 198.51.100.1 ,, "}}, "198.51.100.1"},
		{"IPv6 trusted peer", "[2001:db8:ffff::1]:443", hdr{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"IPv4-mapped trusted peer", "[::ffff:10.0.0.1]:80", hdr{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},

		// Forwarded (RFC 7239).
		{"Forwarded", "10.0.0.1:80", hdr{"Forwarded": {"for=198.51.100.1;proto=https;by=10.0.0.1"}}, "198.51.100.1"},
		{"Forwarded case and spaces", "10.0.0.1:80", hdr{"Forwarded": {"Proto=https; FOR = 198.51.100.1"}}, "198.51.100.1"},
		{"Forwarded quoted with port", "10.0.0.1:80", hdr{"Forwarded": {`for="198.51.100.1:4711"`}}, "198.51.100.1"},
		{"Forwarded IPv6 brackets and port", "10.0.0.1:80", hdr{"Forwarded": {`for="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::17"},
		{"Forwarded IPv6 brackets", "10.0.0.1:80", hdr{"Forwarded": {`for="[2001:db8:cafe::17]"`}}, "2001:db8:cafe::17"},
		{"Forwarded quoted-pair", "10.0.0.1:80", hdr{"Forwarded": {`for="198.51.100.\1"`}}, "198.51.100.1"},
		{"Forwarded hops", "10.0.0.1:80", hdr{"Forwarded": {"for=6.6.6.6, for=198.51.100.1;proto=https, for=10.0.0.2"}}, "198.51.100.1"},
		{"Forwarded lines", "10.0.0.1:80", hdr{"Forwarded": {"for=6.6.6.6", "for=198.51.100.1", "for=10.0.0.2"}}, "198.51.100.1"},
		{"Forwarded client's unbalanced quote", "10.0.0.1:80", hdr{"Forwarded": {`for="6.6.6.6, for=198.51.100.1`}}, "198.51.100.1"},
		{"Forwarded trusted IPv6 hop", "10.0.0.1:80", hdr{"Forwarded": {`for=198.51.100.1, for="[2001:db8:ffff::2]:80"`}}, "198.51.100.1"},
		{"XFF wins over Forwarded", "10.0.0.1:80", hdr{"X-Forwarded-For": {"198.51.100.1"}, "Forwarded": {"for=6.6.6.6"}}, "198.51.100.1"},

		// Malformed or unknown entries in the examined part: the peer.
		{"XFF garbage", "10.0.0.1:80", hdr{"X-Forwarded-For": {"not-an-ip"}}, "10.0.0.1"},
		{"XFF garbage right of the client", "10.0.0.1:80", hdr{"X-Forwarded-For": {"198.51.100.1, garbage"}}, "10.0.0.1"},
		{"XFF garbage left of the client is never examined", "10.0.0.1:80", hdr{"X-Forwarded-For": {"garbage, 198.51.100.1"}}, "198.51.100.1"},
		{"XFF only separators", "10.0.0.1:80", hdr{"X-Forwarded-For": {" , ,"}}, "10.0.0.1"},
		{"XFF empty", "10.0.0.1:80", hdr{"X-Forwarded-For": {""}}, "10.0.0.1"},
		{"XFF bad port", "10.0.0.1:80", hdr{"X-Forwarded-For": {"198.51.100.1:99999"}}, "10.0.0.1"},
		{"XFF zone", "10.0.0.1:80", hdr{"X-Forwarded-For": {"fe80::1%eth0"}}, "fe80::1"},
		{"XFF hostname", "10.0.0.1:80", hdr{"X-Forwarded-For": {"example.com"}}, "10.0.0.1"},
		{"XFF unbracketed IPv6 with port", "10.0.0.1:80", hdr{"X-Forwarded-For": {"2001:db8::1:80:1:2:3:4"}}, "10.0.0.1"},
		{"Forwarded unknown", "10.0.0.1:80", hdr{"Forwarded": {"for=unknown"}}, "10.0.0.1"},
		{"Forwarded obfuscated", "10.0.0.1:80", hdr{"Forwarded": {`for="_gazonk"`}}, "10.0.0.1"},
		{"Forwarded no for", "10.0.0.1:80", hdr{"Forwarded": {"proto=https;by=10.0.0.1"}}, "10.0.0.1"},
		{"Forwarded for twice", "10.0.0.1:80", hdr{"Forwarded": {"for=198.51.100.1;for=198.51.100.2"}}, "10.0.0.1"},
		{"Forwarded half-quoted", "10.0.0.1:80", hdr{"Forwarded": {`for="198.51.100.1`}}, "10.0.0.1"},
		{"Forwarded empty value", "10.0.0.1:80", hdr{"Forwarded": {"for="}}, "10.0.0.1"},
		{"Forwarded IPv6 brackets, bad port", "10.0.0.1:80", hdr{"Forwarded": {`for="[2001:db8::1]:x"`}}, "10.0.0.1"},
		{"Forwarded IPv4 in brackets", "10.0.0.1:80", hdr{"Forwarded": {`for="[198.51.100.1]"`}}, "10.0.0.1"},
		{"too many trusted hops", "10.0.0.1:80", hdr{"X-Forwarded-For": {"198.51.100.1," + strings.Repeat("10.0.0.2,", MaxForwardedHops)}}, "10.0.0.1"},
		{"just within the hop limit", "10.0.0.1:80", hdr{"X-Forwarded-For": {"198.51.100.1," + strings.Repeat("10.0.0.2,", MaxForwardedHops-1)}}, "198.51.100.1"},

		// The peer address itself.
		{"peer without port", "198.51.100.1", nil, "198.51.100.1"},
		{"peer not an address", "pipe", hdr{"X-Forwarded-For": {"198.51.100.1"}}, "invalid IP"},
		{"empty peer", "", nil, "invalid IP"},
	}
	for _, tc := range cases {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header(tc.h)}
		if got := tp.ClientAddr(r).String(); got != tc.want {
			t.Errorf("%s: ClientAddr = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestClientAddrTrustsNoOne(t *testing.T) {
	r := &http.Request{RemoteAddr: "127.0.0.1:5555", Header: http.Header{"X-Forwarded-For": {"198.51.100.1"}}}
	if got := TrustedProxies(nil).ClientAddr(r).String(); got != "127.0.0.1" {
		t.Errorf("no trusted proxies: %s", got)
	}
	if got := TrustedProxies(nil).RemoteAddr(r); got != "127.0.0.1:5555" {
		t.Errorf("RemoteAddr = %s", got)
	}
}

func TestRemoteAddr(t *testing.T) {
	tp := TrustedProxies{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		remote, xff, want string
	}{
		{"10.0.0.1:80", "198.51.100.1", "198.51.100.1:0"},
		{"10.0.0.1:80", "2001:db8::1", "[2001:db8::1]:0"},
		{"10.0.0.1:80", "", "10.0.0.1:80"},
		{"10.0.0.1:80", "garbage", "10.0.0.1:80"},
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5:1234"},
		{"pipe", "198.51.100.1", "pipe"},
	}
	for _, tc := range cases {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := tp.RemoteAddr(r); got != tc.want {
			t.Errorf("%s with XFF %q: RemoteAddr = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// FuzzClientAddr: whatever the headers say, the answer is the peer, or an
// address that appears in the headers; from an untrusted peer it is always
// the peer; and it never panics.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.1:80", "198.51.100.1, 10.0.0.2", "")
	f.Add("10.0.0.1:80", "", `for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2`)
	f.Add("10.0.0.1:80", "", `for="_gazonk", for=unknown`)
	f.Add("10.0.0.1:80", "garbage, ,, [::1]:80", `for="`)
	f.Add("203.0.113.5:1234", "198.51.100.1", "for=198.51.100.1")
	f.Add("[::ffff:10.0.0.1]:80", "::ffff:198.51.100.1", "")
	f.Add("pipe", "198.51.100.1", "")
	f.Add("10.0.0.1:80", strings.Repeat("10.0.0.2,", 40), "")
	f.Add("10.0.0.1:80", "", `FOR = "198.51.100.\1" ; by=x`)
	tp := TrustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		if fwd != "" {
			r.Header.Set("Forwarded", fwd)
		}
		got := tp.ClientAddr(r)
		peer := parsePeer(remote)
		if got == peer {
			return
		}
		if !tp.Contains(peer) {
			t.Fatalf("untrusted peer %q: ClientAddr = %v, want the peer", remote, got)
		}
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("ClientAddr = %v", got)
		}
		// The answer must be written in the header that was used.
		src := xff
		if src == "" {
			src = fwd
		}
		found := false
		for _, node := range candidates(src) {
			if a, ok := parseNode(node); ok && a == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("ClientAddr = %v, which is neither the peer %q nor in %q", got, remote, src)
		}
		_ = tp.RemoteAddr(r)
	})
}

// candidates lists every substring of s between separators that could be
// a node, unquoted, for the fuzz target's check.
func candidates(s string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		part = strings.TrimSpace(part)
		if _, v, ok := strings.Cut(part, "="); ok {
			part = strings.TrimSpace(v)
		}
		if len(part) >= 2 && part[0] == '"' && part[len(part)-1] == '"' {
			part = unquote(part[1 : len(part)-1])
		}
		out = append(out, part)
	}
	return out
}

func TestTrustedProxiesHandler(t *testing.T) {
	tp := TrustedProxies{netip.MustParsePrefix("10.0.0.0/8")}
	var seen, again string
	h := tp.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.RemoteAddr
		again = tp.ClientAddr(r).String()
	}))
	cases := []struct{ remote, xff, want string }{
		{"10.0.0.1:80", "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1:0"},
		{"10.0.0.1:80", "10.0.0.3", "10.0.0.3:0"},
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5:1234"}, // spoof from an untrusted peer
		{"10.0.0.1:80", "", "10.0.0.1:80"},
	}
	for _, tc := range cases {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		h.ServeHTTP(nil, r)
		if seen != tc.want {
			t.Errorf("%s, XFF %q: handler saw %s, want %s", tc.remote, tc.xff, seen, tc.want)
		}
		if want := netip.MustParseAddrPort(tc.want).Addr().String(); again != want {
			t.Errorf("%s, XFF %q: ClientAddr of the rewritten request = %s, want %s", tc.remote, tc.xff, again, want)
		}
		if r.RemoteAddr != tc.remote {
			t.Error("the caller's request was modified")
		}
	}
	inner := &http.ServeMux{}
	if got := TrustedProxies(nil).Handler(inner); got != http.Handler(inner) {
		t.Error("with no trusted proxies the handler is wrapped")
	}
}
