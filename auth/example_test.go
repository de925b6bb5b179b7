package auth_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/tickwire/tickwire/auth"
	"github.com/tickwire/tickwire/store"
)

// Run the HTTPS account service, register and log in over HTTPS, and use
// the token for a game login through a Verifier, as "tickwire serve" does.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "tickwire-auth-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, store.ResolveDSN(dir, ""))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	quiet := slog.New(slog.DiscardHandler)
	cheap := auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32} // production: leave zero for DefaultParams
	svc, err := auth.New(auth.Config{
		Store:   st,
		Logger:  quiet,
		Addr:    "127.0.0.1:0", // default 127.0.0.1:8443
		DataDir: dir,           // the development certificate is kept here
		Params:  cheap,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := svc.Start(); err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	// A client that trusts the development certificate.
	pool := x509.NewCertPool()
	pool.AddCert(svc.TLSConfig().Certificates[0].Leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	post := func(path string, body any) *http.Response {
		b, _ := json.Marshal(body)
		resp, err := client.Post("https://"+svc.Addr()+path, "application/json", bytes.NewReader(b))
		if err != nil {
			log.Fatal(err)
		}
		return resp
	}
	resp := post("/v1/register", auth.RegisterRequest{Name: "alice", Password: "correct horse battery"})
	resp.Body.Close()
	fmt.Println("register:", resp.Status)
	resp = post("/v1/login", auth.LoginRequest{Name: "alice", Password: "correct horse battery"})
	var login auth.LoginResponse
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	fmt.Println("login:", resp.Status, len(login.Token), "character token")

	// The game server checks "AUTH alice <token>".
	v, err := auth.NewVerifier(auth.VerifierConfig{Store: st, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	id, err := v.Authenticate(ctx, "alice", login.Token, netip.MustParseAddr("127.0.0.1"))
	fmt.Println("game login:", id.Name, err)
	_, err = v.Authenticate(ctx, "alice", login.Token, netip.MustParseAddr("127.0.0.1"))
	fmt.Println("again:", auth.Code(err))
	fmt.Println("cert kept in data dir:", filepath.Base(filepath.Join(dir, auth.DevCertFile)))
	// Output:
	// register: 201 Created
	// login: 200 OK 43 character token
	// game login: alice <nil>
	// again: bad_token
	// cert kept in data dir: auth-dev-cert.pem
}

// Guests get a generated unique name; the error code of a refused login is
// what the game server sends back as "ERR auth <code>".
func ExampleVerifier_Authenticate() {
	dir, err := os.MkdirTemp("", "tickwire-verifier-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "tickwire.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	v, err := auth.NewVerifier(auth.VerifierConfig{Store: st, AllowGuests: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.10")
	id, _ := v.Authenticate(ctx, "guest", "", ip)
	fmt.Println(id.Guest, len(id.Name), id.Name[:6])
	_, err = v.Authenticate(ctx, "alice", "not-a-token", ip)
	fmt.Println("ERR auth", auth.Code(err))
	// Output:
	// true 12 guest-
	// ERR auth bad_token
}
