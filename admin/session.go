package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/tickwire/tickwire/store"
)

// Cookie names of a session: with Config.Secure the __Host- prefix makes
// browsers insist on Secure, Path=/ and no Domain.
const (
	cookieName       = "tickwire-admin"
	cookieNameSecure = "__Host-tickwire-admin"
	// csrfHeader carries the session's CSRF token on state-changing
	// requests.
	csrfHeader = "X-CSRF-Token"
	// secretBytes is the size of session tokens and CSRF tokens.
	secretBytes = 32
)

// session is one logged-in admin. Only the SHA-256 of its cookie token is
// kept, so the table holds nothing to steal a session with.
type session struct {
	key       [sha256.Size]byte
	accountID int64
	name      string
	csrf      string
	addr      string
	created   time.Time
	lastSeen  time.Time
	checked   time.Time // last check of the account in the store
	streams   int       // open event streams
}

type sessions struct {
	idle, maxAge time.Duration

	mu sync.Mutex
	m  map[[sha256.Size]byte]*session
}

func newSessions(idle, maxAge time.Duration) *sessions {
	return &sessions{idle: idle, maxAge: maxAge, m: map[[sha256.Size]byte]*session{}}
}

// randRead fills b with random bytes.
func randRead(b []byte) { rand.Read(b) }

func randomSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) >= ss.idle || now.Sub(s.created) >= ss.maxAge
}

// create makes a session for acct and returns its cookie token.
func (ss *sessions) create(acct store.Account, addr string, now time.Time) (string, *session) {
	tok := randomSecret()
	s := &session{key: sha256.Sum256([]byte(tok)), accountID: acct.ID, name: acct.Name, csrf: randomSecret(),
		addr: addr, created: now, lastSeen: now, checked: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var mine []*session
	for k, o := range ss.m {
		if ss.expired(o, now) {
			delete(ss.m, k)
		} else if o.accountID == acct.ID {
			mine = append(mine, o)
		}
	}
	if len(mine) >= MaxSessionsPerAccount {
		delete(ss.m, oldest(mine).key)
	}
	if len(ss.m) >= MaxSessions {
		all := make([]*session, 0, len(ss.m))
		for _, o := range ss.m {
			all = append(all, o)
		}
		delete(ss.m, oldest(all).key)
	}
	ss.m[s.key] = s
	return tok, s
}

func oldest(list []*session) *session {
	o := list[0]
	for _, s := range list[1:] {
		if s.created.Before(o.created) {
			o = s
		}
	}
	return o
}

// get returns the live session of tok, marking it used, or nil.
func (ss *sessions) get(tok string, now time.Time) *session {
	if tok == "" {
		return nil
	}
	k := sha256.Sum256([]byte(tok))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[k]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.m, k)
		return nil
	}
	s.lastSeen = now
	return s
}

// alive reports whether s is still in the table and unexpired, without
// marking it used.
func (ss *sessions) alive(s *session, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.m[s.key] == s && !ss.expired(s, now)
}

func (ss *sessions) remove(s *session) {
	ss.mu.Lock()
	if ss.m[s.key] == s {
		delete(ss.m, s.key)
	}
	ss.mu.Unlock()
}

// needsCheck reports whether s's account is due for a check in the store,
// and if so marks it checked.
func (ss *sessions) needsCheck(s *session, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if now.Sub(s.checked) < SessionRecheck {
		return false
	}
	s.checked = now
	return true
}

// touch marks s used (an event stream is open).
func (ss *sessions) touch(s *session, now time.Time) {
	ss.mu.Lock()
	if !ss.expired(s, now) {
		s.lastSeen = now
	}
	ss.mu.Unlock()
}

func (c *Console) cookieName() string {
	if c.cfg.Secure {
		return cookieNameSecure
	}
	return cookieName
}

func (c *Console) setCookie(w http.ResponseWriter, tok string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     c.cookieName(),
		Value:    tok,
		Path:     "/",
		MaxAge:   max(int(maxAge.Seconds()), -1),
		HttpOnly: true,
		Secure:   c.cfg.Secure,
		SameSite: http.SameSiteStrictMode,
	})
}

// sessionOf returns the live session of the request's cookie, or nil.
func (c *Console) sessionOf(r *http.Request) *session {
	ck, err := r.Cookie(c.cookieName())
	if err != nil {
		return nil
	}
	return c.sess.get(ck.Value, c.now())
}

// csrfOK reports whether the request carries s's CSRF token.
func csrfOK(r *http.Request, s *session) bool {
	got := r.Header.Get(csrfHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}
