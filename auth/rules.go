package auth

import (
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
	guestSuffixDigits   = 6   // hex digits of a guest name: guest-7f3a9c
)

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
