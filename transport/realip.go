package transport

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// MaxForwardedHops bounds how many entries of X-Forwarded-For or Forwarded
// ClientAddr examines, counted from the right (the proxy nearest to this
// server). A chain of trusted proxies longer than this is a
// misconfiguration; the direct peer's address is used instead. The bound
// keeps the work per request small whatever a client puts in the header.
const MaxForwardedHops = 32

// TrustedProxies lists the address prefixes of the reverse proxies whose
// word about the client's address is believed: the PROXY protocol header on
// the game TCP port (see ProxyProtocol) and the X-Forwarded-For or
// Forwarded header on the web listener (see ClientAddr). Addresses from
// anyone else's headers are ignored. The nil value trusts no one.
//
// It is a flag.Value: each Set adds a prefix ("10.0.0.0/8", "2001:db8::/32")
// or a single address ("192.0.2.10", "::1"), or a comma-separated list of
// them, so a repeatable --trusted-proxy flag fills it.
type TrustedProxies []netip.Prefix

// ParseTrustedProxy parses one trusted proxy: a CIDR prefix or a bare IP
// address (a /32 or /128). Host bits are cleared ("10.1.2.3/8" is
// 10.0.0.0/8), and IPv4-mapped IPv6 forms are stored as IPv4 so that they
// match the unmapped addresses the listeners see. Zones are refused.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q: want a CIDR prefix or an IP address: %w", s, err)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q: IPv6 zones are not supported", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q: an IPv4-mapped prefix needs at least 96 bits", s)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// ParseTrustedProxies parses a list of trusted proxies, each as
// ParseTrustedProxy takes it.
func ParseTrustedProxies(list ...string) (TrustedProxies, error) {
	var t TrustedProxies
	for _, s := range list {
		if err := t.Set(s); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Set adds the prefixes in s (one, or several separated by commas); it
// makes *TrustedProxies a flag.Value.
func (t *TrustedProxies) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("trusted proxy: empty value")
	}
	for _, part := range strings.Split(s, ",") {
		p, err := ParseTrustedProxy(part)
		if err != nil {
			return err
		}
		*t = append(*t, p)
	}
	return nil
}

// String lists the prefixes separated by commas.
func (t *TrustedProxies) String() string {
	if t == nil {
		return ""
	}
	parts := make([]string, len(*t))
	for i, p := range *t {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// Contains reports whether a (IPv4-mapped addresses count as IPv4) is in
// one of the trusted prefixes.
func (t TrustedProxies) Contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr returns the address of the client that made r. It is the
// direct peer (r.RemoteAddr) unless that peer is a trusted proxy; then it
// is the rightmost address in the proxies' chain that is not itself a
// trusted proxy (each trusted proxy appends the address it got the request
// from, so everything left of that entry was written by an untrusted party
// and is ignored). The chain comes from X-Forwarded-For if present, else
// from the RFC 7239 Forwarded header's for= parameters; every line of the
// header counts, in order. If every examined entry is trusted, the leftmost
// one is the client. A malformed or unknown entry ("unknown", an
// obfuscated "_name", garbage) in the examined part, a missing header or a
// chain longer than MaxForwardedHops gives the direct peer's address.
//
// Configure the proxy to set or append to the header ClientAddr reads
// (X-Forwarded-For takes precedence): a proxy that writes only Forwarded
// must also drop a client-sent X-Forwarded-For.
//
// The result is unmapped (IPv4-mapped IPv6 becomes IPv4) and has no zone.
// It is the zero Addr only when r.RemoteAddr is not an address (requests
// not from a network listener).
func (t TrustedProxies) ClientAddr(r *http.Request) netip.Addr {
	peer := parsePeer(r.RemoteAddr)
	if !peer.IsValid() || !t.Contains(peer) {
		return peer
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		return t.walkChain(peer, xff, xffEntry)
	}
	if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		return t.walkChain(peer, fwd, forwardedFor)
	}
	return peer
}

// RemoteAddr returns ClientAddr(r) as "host:port" for a net.Addr-like
// string (WebSocketConn's remote address): r.RemoteAddr itself when the
// client is the direct peer, else the forwarded address with port 0 (the
// headers' ports, when present, are the proxies' business and unchecked).
// With no trusted proxies it is r.RemoteAddr unchanged.
func (t TrustedProxies) RemoteAddr(r *http.Request) string {
	if len(t) == 0 {
		return r.RemoteAddr
	}
	a := t.ClientAddr(r)
	if !a.IsValid() {
		return r.RemoteAddr
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && ap.Addr().Unmap().WithZone("") == a {
		return r.RemoteAddr
	}
	return netip.AddrPortFrom(a, 0).String()
}

// parsePeer parses http.Request.RemoteAddr ("ip:port", or a bare IP).
func parsePeer(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// walkChain examines the comma-separated entries of the header lines from
// the right, as ClientAddr describes. entry turns one entry into an
// address; ok false means malformed.
func (t TrustedProxies) walkChain(peer netip.Addr, lines []string, entry func(string) (netip.Addr, bool)) netip.Addr {
	var last netip.Addr // the leftmost trusted entry examined so far
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for {
			item := line
			j := strings.LastIndexByte(line, ',')
			if j >= 0 {
				item, line = line[j+1:], line[:j]
			}
			item = strings.TrimSpace(item)
			if item != "" { // empty list elements are allowed and skipped
				hops++
				if hops > MaxForwardedHops {
					return peer
				}
				a, ok := entry(item)
				if !ok {
					return peer
				}
				if !t.Contains(a) {
					return a
				}
				last = a
			}
			if j < 0 {
				break
			}
		}
	}
	if last.IsValid() {
		return last
	}
	return peer
}

// xffEntry parses one X-Forwarded-For entry: an IP address, optionally with
// a port ("192.0.2.1:4711", "[2001:db8::1]:4711") or brackets.
func xffEntry(s string) (netip.Addr, bool) { return parseNode(s) }

// forwardedFor finds the for= parameter of one Forwarded element
// ("for=192.0.2.60;proto=http;by=203.0.113.43") and parses its node. Pairs
// are split on ';' without regard to quotes: a valid for= value never holds
// ',' or ';', and splitting naively keeps an unbalanced quote written by a
// client further left from swallowing the entries the proxies appended.
func forwardedFor(elem string) (netip.Addr, bool) {
	found := false
	var node netip.Addr
	for pair := range strings.SplitSeq(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
			continue
		}
		if found { // for= twice in one element: ambiguous
			return netip.Addr{}, false
		}
		found = true
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = unquote(v[1 : len(v)-1])
		} else if strings.ContainsRune(v, '"') {
			return netip.Addr{}, false
		}
		a, ok := parseNode(v)
		if !ok {
			return netip.Addr{}, false
		}
		node = a
	}
	return node, found
}

// unquote undoes RFC 7230 quoted-pair escapes ("\x" is x).
func unquote(s string) string {
	if !strings.ContainsRune(s, '\\') {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseNode parses a node as X-Forwarded-For and Forwarded write it:
// "192.0.2.1", "192.0.2.1:4711", "2001:db8::1", "[2001:db8::1]",
// "[2001:db8::1]:4711". Obfuscated identifiers and "unknown" are not
// addresses and fail.
func parseNode(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

// Handler serves h with each request's RemoteAddr replaced by
// t.RemoteAddr(r): the client's address when the request came through a
// trusted proxy, the peer's otherwise. Every handler below it (the
// WebSocket endpoint, the account API, logs) then sees the real client
// without knowing about proxies. The request is copied, not modified. With
// no trusted proxies it returns h itself. Applying ClientAddr again to the
// rewritten request gives the same address.
func (t TrustedProxies) Handler(h http.Handler) http.Handler {
	if len(t) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if remote := t.RemoteAddr(r); remote != r.RemoteAddr {
			r = r.WithContext(r.Context()) // a shallow copy
			r.RemoteAddr = remote
		}
		h.ServeHTTP(w, r)
	})
}
