package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Account name rules. A name is 3-24 characters of a-z, 0-9, '_' and '-',
// starting with a letter or digit; upper-case ASCII letters are folded to
// lower case, so "Alice" and "alice" are the same account. Names starting
// with "guest" are reserved for guest logins.
const (
	MinNameLen     = 3       // characters
	MaxNameLen     = 24      // characters
	GuestUser      = "guest" // the user name of a guest login: "AUTH guest"
	ReservedPrefix = "guest" // no account name may start with this
	MinPasswordLen = 10      // characters (Unicode code points)
	// MinPasswordDistinct refuses "aaaaaaaaaaaa" and "abababababab": a
	// password needs this many different characters.
	MinPasswordDistinct = 5
	MaxPasswordLen      = 256 // bytes, UTF-8
	TokenBytes          = 32  // random bytes in a login token
	TokenLen            = 43  // length of an encoded token: base64url of TokenBytes, no padding
	guestSuffixDigits   = 6   // hex digits of a guest name: guest-7f3a9c
)

// tokenEncoding is the token alphabet: URL-safe base64 without padding, so
// a token is one argument of the text protocol and safe in URLs.
var tokenEncoding = base64.RawURLEncoding

// NormalizeName folds name to its canonical form and checks the name rules,
// returning an error matching ErrBadName that says what is wrong.
func NormalizeName(name string) (string, error) {
	if n := utf8.RuneCountInString(name); n < MinNameLen || n > MaxNameLen {
		return "", ErrBadName.with(fmt.Sprintf("name must be %d to %d characters long", MinNameLen, MaxNameLen))
	}
	b := []byte(name)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_' || c == '-':
			if i == 0 {
				return "", ErrBadName.with("name must start with a letter or digit")
			}
		default:
			return "", ErrBadName.with("name may only contain letters a-z, digits 0-9, '_' and '-'")
		}
	}
	out := string(b)
	if strings.HasPrefix(out, ReservedPrefix) {
		return "", ErrBadName.with(`names starting with "guest" are reserved`)
	}
	return out, nil
}

// CheckPassword checks the password rules for a new password of the
// account name (already normalised): MinPasswordLen to MaxPasswordLen,
// valid UTF-8, and not the account name itself. The error matches
// ErrBadPassword.
func CheckPassword(name, password string) error {
	switch {
	case !utf8.ValidString(password):
		return ErrBadPassword.with("password must be valid UTF-8 text")
	case len(password) > MaxPasswordLen:
		return ErrBadPassword.with(fmt.Sprintf("password must be at most %d bytes", MaxPasswordLen))
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return ErrBadPassword.with(fmt.Sprintf("password must be at least %d characters", MinPasswordLen))
	case strings.EqualFold(password, name):
		return ErrBadPassword.with("password must not be the account name")
	case distinctRunes(password) < MinPasswordDistinct:
		return ErrBadPassword.with(fmt.Sprintf("password must use at least %d different characters", MinPasswordDistinct))
	}
	return nil
}

// distinctRunes counts the different characters of s.
func distinctRunes(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

// NewToken returns a fresh login token (TokenBytes random bytes,
// base64url-encoded) and the hash under which the store keeps it.
func NewToken() (token string, hash []byte, err error) {
	var b [TokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	token = tokenEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken returns the SHA-256 hash of a token, the form stored in the
// database.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// looksLikeToken reports whether s has the shape of a token.
func looksLikeToken(s string) bool {
	if len(s) != TokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	_, err := tokenEncoding.Strict().DecodeString(s)
	return err == nil
}
