package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
)

// startTLS runs the client side of a TLS handshake on conn, a connection
// to addr, bounded by ctx, and returns the TLS connection. cfg is not
// modified: when it names no server, the copy used names addr's host (for
// SNI and, without InsecureSkipVerify, for verifying the certificate). On
// failure conn is closed.
//
// PinnedTLS works here as for the auth service: it accepts exactly the
// pinned certificate (a development certificate or any self-signed one)
// whatever the name.
func startTLS(ctx context.Context, conn net.Conn, addr string, cfg *tls.Config) (net.Conn, error) {
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		} else {
			cfg.ServerName = addr
		}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("client: TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}
