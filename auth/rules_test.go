package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	good := map[string]string{
		"alice": "alice", "Alice": "alice", "BOB_99": "bob_99", "a-b": "a-b", "007": "007",
		strings.Repeat("x", MaxNameLen): strings.Repeat("x", MaxNameLen), "gues": "gues", "xguest": "xguest",
	}
	for in, want := range good {
		got, err := NormalizeName(in)
		if err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"ab":                            "3 to 24",
		strings.Repeat("x", 25):         "3 to 24",
		"al ice":                        "may only contain",
		"alicé":                         "may only contain",
		"_alice":                        "start with a letter",
		"-alice":                        "start with a letter",
		"guest":                         "reserved",
		"Guest-1":                       "reserved",
		"guestmaster":                   "reserved",
		"al\x00ice":                     "may only contain",
		"a\nb":                          "may only contain",
		strings.Repeat("é", MaxNameLen): "may only contain",
	}
	for in, want := range bad {
		_, err := NormalizeName(in)
		if !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), want) {
			t.Errorf("NormalizeName(%q) error = %v, want ErrBadName mentioning %q", in, err, want)
		}
		if Code(err) != "bad_name" {
			t.Errorf("Code = %q", Code(err))
		}
	}
}

func TestCheckPassword(t *testing.T) {
	if err := CheckPassword("alice", "0123456789"); err != nil {
		t.Errorf("10 characters refused: %v", err)
	}
	if err := CheckPassword("alice", "éèêëà€ééé€"); err != nil {
		t.Errorf("10 non-ASCII characters refused: %v", err)
	}
	if err := CheckPassword("alice", strings.Repeat("pqrst", MaxPasswordLen/5)+strings.Repeat("p", MaxPasswordLen%5)); err != nil {
		t.Errorf("max length refused: %v", err)
	}
	bad := map[string]string{
		"012345678":                           "at least 10",
		strings.Repeat("p", MaxPasswordLen+1): "at most 256",
		"\xff\xfe0123456789":                  "UTF-8",
	}
	for in, want := range bad {
		err := CheckPassword("alice", in)
		if !errors.Is(err, ErrBadPassword) || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPassword(%q) = %v, want mention of %q", in, err, want)
		}
	}
	if err := CheckPassword("alice12345", "ALICE12345"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("password equal to the name accepted: %v", err)
	}
}

func TestTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, h, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != TokenLen || strings.ContainsAny(tok, " =+/\t\n") || !looksLikeToken(tok) {
			t.Fatalf("token %q: want %d base64url characters", tok, TokenLen)
		}
		if string(h) != string(HashToken(tok)) || len(h) != 32 {
			t.Fatal("hash mismatch")
		}
		if seen[tok] {
			t.Fatal("repeated token")
		}
		seen[tok] = true
	}
	for _, s := range []string{"", "short", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("+", 43), strings.Repeat("A", 42) + "B"} {
		if looksLikeToken(s) {
			t.Errorf("looksLikeToken(%q) = true", s)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	err := ErrBadName.with("something specific")
	if !errors.Is(err, ErrBadName) || errors.Is(err, ErrBadToken) || err.Error() != "something specific" {
		t.Fatal("Error.Is by code broken")
	}
	if Code(errors.New("x")) != "internal" || Code(ErrTokenExpired) != "token_expired" {
		t.Fatal("Code broken")
	}
	codes := map[string]bool{}
	for _, e := range []*Error{ErrBadToken, ErrTokenExpired, ErrBadCredentials, ErrGuestsDisabled, ErrBadName,
		ErrBadPassword, ErrNameTaken, ErrRateLimited, ErrBanned, ErrUnavailable, ErrBadRequest} {
		if codes[e.Code] || strings.ContainsAny(e.Code, " \n") || e.Status == 0 {
			t.Errorf("bad sentinel %+v", e)
		}
		codes[e.Code] = true
	}
}

func TestPasswordNeedsDifferentCharacters(t *testing.T) {
	for _, pw := range []string{"aaaaaaaaaaaa", "abababababab", "abcdabcdabcd"} {
		if err := CheckPassword("alice", pw); !errors.Is(err, ErrBadPassword) || !strings.Contains(err.Error(), "5 different characters") {
			t.Errorf("%q: %v", pw, err)
		}
	}
	if err := CheckPassword("alice", "abcdeabcde"); err != nil {
		t.Errorf("five different characters refused: %v", err)
	}
}
