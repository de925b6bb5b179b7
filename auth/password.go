package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // memory in KiB
	Time    uint32 // passes over the memory
	Threads uint8  // parallelism
	SaltLen uint32 // salt length in bytes
	KeyLen  uint32 // derived key length in bytes
}

// DefaultParams are the argon2id parameters of new hashes: OWASP's
// recommended m=19 MiB, t=2, p=1, with a 16-byte salt and a 32-byte key.
// On one core of a small VPS a hash takes roughly 20-50 ms; the service
// runs them in a HashPool (by default one at a time, within 64 MiB).
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds accepted by HashPassword and by the hash decoder. They keep a
// corrupted or hostile stored hash from making a login allocate gigabytes.
const (
	MinMemoryKiB = 8       // argon2's own minimum is 8×threads
	MaxMemoryKiB = 1 << 20 // 1 GiB
	MaxTime      = 64      // passes
	MinSaltLen   = 8       // bytes
	MaxSaltLen   = 64      // bytes
	MinKeyLen    = 16      // bytes
	MaxKeyLen    = 64      // bytes
	maxHashLen   = 256     // longest encoded hash accepted, in bytes
	argonVersion = 0x13    // argon2.Version, the only version written and read
	hashPrefix   = "$argon2id$"
)

// b64 is the PHC base64 alphabet: standard, no padding, canonical bits.
var b64 = base64.RawStdEncoding.Strict()

func (p Params) check() error {
	switch {
	case p.Threads < 1:
		return errors.New("argon2id threads must be at least 1")
	case p.Memory < MinMemoryKiB || p.Memory < 8*uint32(p.Threads) || p.Memory > MaxMemoryKiB:
		return fmt.Errorf("argon2id memory must be %d..%d KiB and at least 8 KiB per thread", MinMemoryKiB, MaxMemoryKiB)
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("argon2id time must be 1..%d", MaxTime)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return fmt.Errorf("argon2id salt length must be %d..%d bytes", MinSaltLen, MaxSaltLen)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return fmt.Errorf("argon2id key length must be %d..%d bytes", MinKeyLen, MaxKeyLen)
	}
	return nil
}

// Hash is a decoded argon2id password hash.
type Hash struct {
	Params Params // SaltLen and KeyLen are those of Salt and Key
	Salt   []byte
	Key    []byte
}

// String encodes h in the PHC string format
// "$argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<key>", salt and key
// in unpadded standard base64.
func (h Hash) String() string {
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", hashPrefix, argonVersion,
		h.Params.Memory, h.Params.Time, h.Params.Threads, b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
}

// HashPassword derives an argon2id hash of password with a fresh random
// salt and returns it PHC-encoded.
func HashPassword(password string, p Params) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return Hash{Params: p, Salt: salt, Key: key}.String(), nil
}

// VerifyPassword reports whether password matches the PHC-encoded argon2id
// hash, comparing in constant time. It returns an error only for a
// malformed hash.
func VerifyPassword(encoded, password string) (bool, error) {
	h, err := ParseHash(encoded)
	if err != nil {
		return false, err
	}
	return h.Matches(password), nil
}

// Matches reports whether password derives h's key under h's parameters.
func (h Hash) Matches(password string) bool {
	key := argon2.IDKey([]byte(password), h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(key, h.Key) == 1
}

// NeedsRehash reports whether h was made with parameters other than p, in
// which case a successful login re-hashes the password with p.
func (h Hash) NeedsRehash(p Params) bool {
	return h.Params != p
}

// ParseHash decodes a PHC-encoded argon2id hash. It accepts only the
// canonical form String produces (version 19, parameters in the order m, t,
// p, decimal without leading zeros, strict base64) within the bounds above.
func ParseHash(encoded string) (Hash, error) {
	bad := func(why string) (Hash, error) { return Hash{}, fmt.Errorf("auth: malformed password hash: %s", why) }
	if len(encoded) > maxHashLen {
		return bad("too long")
	}
	rest, ok := strings.CutPrefix(encoded, hashPrefix)
	if !ok {
		return bad("not argon2id")
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 4 {
		return bad("wrong number of fields")
	}
	v, ok := strings.CutPrefix(parts[0], "v=")
	if !ok {
		return bad("missing version")
	}
	if n, err := parseDecimal(v, 0xff); err != nil || n != argonVersion {
		return bad("unsupported version")
	}
	kv := strings.Split(parts[1], ",")
	if len(kv) != 3 {
		return bad("want m, t and p")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		s, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return bad("want m, t and p in that order")
		}
		n, err := parseDecimal(s, 1<<32-1)
		if err != nil {
			return bad("bad number")
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return bad("too many threads")
	}
	// encoding/base64 skips '\r' and '\n'; accept only the alphabet.
	if !isB64(parts[2]) || !isB64(parts[3]) {
		return bad("bad base64 character")
	}
	salt, err := b64.DecodeString(parts[2])
	if err != nil {
		return bad("bad salt encoding")
	}
	key, err := b64.DecodeString(parts[3])
	if err != nil {
		return bad("bad key encoding")
	}
	h := Hash{
		Params: Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2]),
			SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))},
		Salt: salt,
		Key:  key,
	}
	if err := h.Params.check(); err != nil {
		return bad(err.Error())
	}
	return h, nil
}

func isB64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// parseDecimal parses a canonical decimal number no larger than max.
func parseDecimal(s string, max uint64) (uint64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, errors.New("not canonical")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a number")
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, errors.New("out of range")
	}
	return n, nil
}
