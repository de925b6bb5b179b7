// Package store persists tickwire's accounts (with their role and state:
// admin, disabled, password reset required), one-time login tokens, IP bans
// and the operators' audit log in SQLite (the default, a single file in the data directory) or
// PostgreSQL (for several game servers sharing one database).
//
// Open picks the backend from the DSN and applies the versioned schema
// migrations before returning. Every method of Store is safe for concurrent
// use, also by several processes sharing the same database: token
// consumption in particular is a single atomic statement, so a token logs in
// exactly once however many servers race for it.
//
// The store never sees a password or a token: it keeps the encoded password
// hash that package auth produces and the SHA-256 hash of each token. Names
// are compared exactly as given; normalising them (case folding) is the
// caller's job.
//
// This package imports no other tickwire package.
package store

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"time"
)

// DefaultDataDir is the data directory used by the tickwire commands when
// --data-dir is not given.
const DefaultDataDir = "./tickwire-data"

// DefaultSQLiteFile is the name of the SQLite database file inside the data
// directory used when --db is not given.
const DefaultSQLiteFile = "tickwire.db"

// TokenHashSize is the length in bytes of a token hash (SHA-256).
const TokenHashSize = 32

// MaxNameLen is the longest account name the store accepts, in bytes. Package
// auth applies stricter rules; this is only a backstop for the column.
const MaxNameLen = 64

// MaxReasonLen is the longest ban reason stored, in bytes; longer reasons are
// truncated.
const MaxReasonLen = 200

// RoleAdmin is the Account.Role of an account that may use the admin
// console ("tickwire admin add"). The empty role is an ordinary player.
const RoleAdmin = "admin"

// MaxRoleLen is the longest role name stored, in bytes.
const MaxRoleLen = 32

// MaxAuditFieldLen is the longest actor, action, target, detail or address
// of an audit entry, in bytes; longer values are truncated.
const MaxAuditFieldLen = 200

// MaxPageSize caps the rows one SearchAccounts or ListAudit call returns;
// a larger or non-positive Limit means MaxPageSize.
const MaxPageSize = 500

// Errors returned by Store methods. Test them with errors.Is.
var (
	// ErrNotFound means the account or ban does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrNameTaken means CreateAccount was given a name that already exists.
	ErrNameTaken = errors.New("store: name already taken")
	// ErrTokenInvalid is matched (errors.Is) by every error ConsumeToken
	// returns for a token that cannot be used: ErrTokenUnknown,
	// ErrTokenExpired, ErrTokenWrongUser and ErrTokenAccountLocked.
	ErrTokenInvalid = errors.New("store: token invalid")
	// ErrTokenUnknown means no token with that hash exists (never issued,
	// forged, or already consumed).
	ErrTokenUnknown error = &tokenError{"unknown or already used"}
	// ErrTokenExpired means the token existed but its lifetime was over; it
	// has been deleted.
	ErrTokenExpired error = &tokenError{"expired"}
	// ErrTokenWrongUser means the token belongs to another account. The token
	// has been deleted all the same: whoever presented it knew it, so it is
	// treated as leaked.
	ErrTokenWrongUser error = &tokenError{"issued to another account"}
	// ErrTokenAccountLocked means the token's account was disabled, or must
	// set a new password, after the token was issued. The token has been
	// deleted.
	ErrTokenAccountLocked error = &tokenError{"account disabled or awaiting a password reset"}
	// ErrAccountDisabled is returned by IssueToken for a disabled account.
	ErrAccountDisabled = errors.New("store: account disabled")
	// ErrPasswordResetRequired is returned by IssueToken for an account whose
	// password an operator reset: it must set a new password first
	// (UpdatePasswordHash).
	ErrPasswordResetRequired = errors.New("store: password reset required")
	// ErrBackupUnsupported is returned by Backup on PostgreSQL, whose
	// databases are backed up with pg_dump.
	ErrBackupUnsupported = errors.New("store: backups of PostgreSQL databases are made with pg_dump")
)

type tokenError struct{ reason string }

// Error returns the message with the reason.
func (e *tokenError) Error() string { return "store: token invalid: " + e.reason }

// Is makes every token error match ErrTokenInvalid.
func (e *tokenError) Is(target error) bool { return target == ErrTokenInvalid }

// Account is a registered player account.
type Account struct {
	ID           int64
	Name         string
	PasswordHash string    // encoded hash as produced by package auth
	CreatedAt    time.Time // UTC
	UpdatedAt    time.Time // last change of the password hash, UTC
	LastLoginAt  time.Time // zero if the account never logged in
	// Role is "" for a player or RoleAdmin for an operator of the admin
	// console.
	Role string
	// Disabled accounts cannot log in: IssueToken refuses them and their
	// unused tokens are deleted.
	Disabled bool
	// ResetRequired is set by ForcePasswordReset: the account logs in again
	// only after it has set a new password (UpdatePasswordHash clears it).
	ResetRequired bool
}

// IsAdmin reports whether the account has the admin role.
func (a Account) IsAdmin() bool { return a.Role == RoleAdmin }

// AccountQuery selects accounts for SearchAccounts.
type AccountQuery struct {
	// Contains, if not empty, keeps the accounts whose name contains it
	// (names are stored lower case; the match is on the lower-cased text).
	Contains string
	// After, if not empty, keeps names sorting after it: the last name of
	// the previous page.
	After string
	// Role, if not empty, keeps the accounts with that role.
	Role string
	// Limit is the most accounts returned: 1..MaxPageSize (other values
	// mean MaxPageSize).
	Limit int
}

// AuditEntry is one operator action: who did what to whom, when.
type AuditEntry struct {
	ID     int64
	At     time.Time // UTC, millisecond precision
	Actor  string    // the operator: an admin account name, or "cli" for the command line
	Action string    // snake_case: "kick", "ban", "unban", "disable", "login", ...
	Target string    // whom or what: a player, an address, an account name
	Detail string    // free text: a reason, a duration
	Addr   string    // the operator's address, if known
}

// AuditQuery selects audit entries for ListAudit, newest first.
type AuditQuery struct {
	// BeforeID, if positive, keeps entries with a smaller ID: the last ID
	// of the previous page.
	BeforeID int64
	// Actor, Action and Target, if not empty, keep entries with exactly
	// that value.
	Actor, Action, Target string
	// Limit is the most entries returned: 1..MaxPageSize (other values mean
	// MaxPageSize).
	Limit int
}

// Ban is one IP ban, active until ExpiresAt.
type Ban struct {
	IP        netip.Addr
	Reason    string    // short text, e.g. "strikes:bad_message" or "manual"
	CreatedAt time.Time // UTC
	ExpiresAt time.Time // UTC
	// Offences is the ordinal of this ban for the address: 1 for a first
	// ban, 2 for the second within the history window, and so on.
	Offences int
}

// Active reports whether the ban still applies at now.
func (b Ban) Active(now time.Time) bool { return now.Before(b.ExpiresAt) }

// Store is the persistence interface of tickwire's accounts and bans. Times
// passed in are stored with millisecond precision, in UTC.
type Store interface {
	// CreateAccount inserts a new account and returns it with its ID.
	// It returns ErrNameTaken if the name exists.
	CreateAccount(ctx context.Context, name, passwordHash string, now time.Time) (Account, error)
	// AccountByName returns the account with exactly that name, or ErrNotFound.
	AccountByName(ctx context.Context, name string) (Account, error)
	// AccountByID returns the account with that ID, or ErrNotFound.
	AccountByID(ctx context.Context, id int64) (Account, error)
	// UpdatePasswordHash replaces the stored password hash of an account
	// and clears ResetRequired.
	UpdatePasswordHash(ctx context.Context, id int64, passwordHash string, now time.Time) error
	// SetLastLogin records a successful login.
	SetLastLogin(ctx context.Context, id int64, at time.Time) error

	// IssueToken stores the hash of a new one-time login token for the
	// account, valid until expiresAt. The token itself is never stored. It
	// returns ErrAccountDisabled or ErrPasswordResetRequired, and stores
	// nothing, for an account that may not log in.
	IssueToken(ctx context.Context, accountID int64, tokenHash []byte, now, expiresAt time.Time) error
	// ConsumeToken atomically deletes the token with that hash and returns
	// its account if the token was issued to user and has not expired at now.
	// Of any number of concurrent calls with the same hash, in this process
	// or another sharing the database, at most one succeeds. Failures match
	// ErrTokenInvalid (more precisely ErrTokenUnknown, ErrTokenExpired,
	// ErrTokenWrongUser or ErrTokenAccountLocked); any other error is a
	// database failure.
	ConsumeToken(ctx context.Context, user string, tokenHash []byte, now time.Time) (Account, error)

	// AddBan creates or replaces the ban of b.IP and appends it to the
	// address's ban history.
	AddBan(ctx context.Context, b Ban) error
	// RemoveBan lifts the ban of ip (the history is kept). It returns
	// ErrNotFound if ip had no ban row.
	RemoveBan(ctx context.Context, ip netip.Addr) error
	// ActiveBan returns the ban of ip that is active at now, or ErrNotFound.
	ActiveBan(ctx context.Context, ip netip.Addr, now time.Time) (Ban, error)
	// ListBans returns the bans active at now, ordered by expiry.
	ListBans(ctx context.Context, now time.Time) ([]Ban, error)
	// BanHistory returns the bans ever added for ip at or after since,
	// oldest first (including lifted and expired ones).
	BanHistory(ctx context.Context, ip netip.Addr, since time.Time) ([]Ban, error)
	// ClearBanHistory forgets the ban history of ip, so its next ban counts
	// as a first offence.
	ClearBanHistory(ctx context.Context, ip netip.Addr) error

	// PurgeExpired deletes tokens and bans that expired before now and ban
	// history older than historyBefore. It returns the number of rows deleted.
	PurgeExpired(ctx context.Context, now, historyBefore time.Time) (int64, error)

	// SetRole sets an account's role ("" or RoleAdmin). It returns
	// ErrNotFound for an unknown account.
	SetRole(ctx context.Context, id int64, role string) error
	// SetDisabled disables or enables an account. Disabling deletes its
	// unused login tokens, and while it is disabled IssueToken and
	// ConsumeToken refuse it. It returns ErrNotFound for an unknown account.
	SetDisabled(ctx context.Context, id int64, disabled bool) error
	// ForcePasswordReset replaces an account's password hash with
	// tempHash (the hash of a temporary password an operator hands to the
	// owner), marks the account ResetRequired and deletes its unused login
	// tokens: it cannot get a token until it has set a new password. It
	// returns ErrNotFound for an unknown account.
	ForcePasswordReset(ctx context.Context, id int64, tempHash string, now time.Time) error
	// SearchAccounts returns the accounts q selects, ordered by name.
	SearchAccounts(ctx context.Context, q AccountQuery) ([]Account, error)

	// AddAudit appends e to the audit log (its ID is assigned, its fields
	// truncated to MaxAuditFieldLen) and returns it as stored.
	AddAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// ListAudit returns the audit entries q selects, newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)

	// Backup writes a consistent copy of the whole database to the new file
	// path while other connections and processes keep reading and writing
	// (SQLite's VACUUM INTO). path must not exist. On PostgreSQL it returns
	// ErrBackupUnsupported: use pg_dump.
	Backup(ctx context.Context, path string) error

	// Backend returns "sqlite" or "postgres".
	Backend() string
	// Close releases the database.
	Close() error
}

// ResolveDSN returns db if it is not empty, and otherwise the default SQLite
// file inside dataDir (DefaultDataDir if dataDir is empty). It implements the
// --data-dir/--db defaults shared by the tickwire commands.
func ResolveDSN(dataDir, db string) string {
	if db != "" {
		return db
	}
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	return filepath.Join(dataDir, DefaultSQLiteFile)
}
