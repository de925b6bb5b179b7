package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// One-time login tokens: what POST /v1/login issues and "AUTH <user>
// <token>" consumes. Only their SHA-256 is stored.
const (
	TokenBytes = 32 // random bytes in a login token
	TokenLen   = 43 // length of an encoded token: base64url of TokenBytes, no padding
)

// tokenEncoding is the token alphabet: URL-safe base64 without padding, so
// a token is one argument of the text protocol and safe in URLs.
var tokenEncoding = base64.RawURLEncoding

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
