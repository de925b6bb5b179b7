package auth

import (
	"regexp"
	"strings"
	"testing"
)

// testParams are cheap argon2id parameters for tests.
var testParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

var phcRe = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)

func TestHashFormatAndVerify(t *testing.T) {
	enc, err := HashPassword("correct horse battery", testParams)
	if err != nil {
		t.Fatal(err)
	}
	m := phcRe.FindStringSubmatch(enc)
	if m == nil || m[1] != "64" || m[2] != "1" || m[3] != "1" {
		t.Fatalf("hash %q is not PHC argon2id with the given params", enc)
	}
	if ok, err := VerifyPassword(enc, "correct horse battery"); !ok || err != nil {
		t.Fatalf("right password: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(enc, "correct horse batterY"); ok || err != nil {
		t.Fatalf("wrong password: %v, %v", ok, err)
	}
	enc2, _ := HashPassword("correct horse battery", testParams)
	if enc2 == enc {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	h, err := ParseHash(enc)
	if err != nil {
		t.Fatal(err)
	}
	if h.String() != enc || h.Params != testParams || len(h.Salt) != 16 || len(h.Key) != 32 {
		t.Fatalf("parsed %+v", h)
	}
	if h.NeedsRehash(testParams) {
		t.Error("NeedsRehash with the same params")
	}
	for _, p := range []Params{DefaultParams, {Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, {Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}} {
		if !h.NeedsRehash(p) {
			t.Errorf("NeedsRehash(%+v) = false", p)
		}
	}
}

func TestDefaultParams(t *testing.T) {
	if DefaultParams.Memory != 19456 || DefaultParams.Time != 2 || DefaultParams.Threads != 1 {
		t.Fatalf("DefaultParams = %+v, want OWASP m=19456 t=2 p=1", DefaultParams)
	}
	if err := DefaultParams.check(); err != nil {
		t.Fatal(err)
	}
}

func TestHashPasswordRejectsBadParams(t *testing.T) {
	for _, p := range []Params{
		{}, {Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: MaxMemoryKiB + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 16, SaltLen: 16, KeyLen: 32}, // < 8 KiB per thread
	} {
		if _, err := HashPassword("x", p); err == nil {
			t.Errorf("HashPassword accepted %+v", p)
		}
	}
}

const goodHash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo"

func TestParseHashRejects(t *testing.T) {
	if _, err := ParseHash(goodHash); err != nil {
		t.Fatalf("good hash: %v", err)
	}
	bad := []string{
		"",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$t=1,m=64,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=+64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=2097152,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=64,t=1,p=256$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA==$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAp",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4-v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo$",
		"$argon2id$v=19$m=64,t=1,p=1,k=2$c2FsdHNhbHRzYWx0c2FsdA$0T7zd1UlqG4+v6zwyJc9A2gDPwNaP6gPXk5ZRxpYvAo",
		"$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 300) + "$x",
	}
	for _, s := range bad {
		if _, err := ParseHash(s); err == nil {
			t.Errorf("ParseHash accepted %q", s)
		} else if !strings.Contains(err.Error(), "malformed password hash") {
			t.Errorf("ParseHash(%q) error %q", s, err)
		}
	}
}

// FuzzParseHash checks that the decoder never panics, that what it accepts
// is within bounds and canonical (re-encodes to the same string), and that
// every hash HashPassword makes parses.
func FuzzParseHash(f *testing.F) {
	f.Add(goodHash)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("$argon2id$v=19$m=,t=,p=$x$y")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5")
	f.Add("")
	f.Add("$$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			return
		}
		if h.String() != s {
			t.Fatalf("accepted non-canonical %q (re-encodes to %q)", s, h.String())
		}
		if err := h.Params.check(); err != nil {
			t.Fatalf("accepted out-of-bounds %q: %v", s, err)
		}
	})
}
