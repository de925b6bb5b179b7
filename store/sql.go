package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// sqlStore implements Store on database/sql for both dialects. Queries are
// written with '?' placeholders and rewritten to $n for PostgreSQL.
type sqlStore struct {
	db         *sql.DB
	dialect    dialect
	closeExtra func()
}

// q rewrites '?' placeholders for the store's dialect. Queries here never
// contain '?' inside string literals.
func (s *sqlStore) q(query string) string {
	if s.dialect != dialectPostgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Backend implements Store.
func (s *sqlStore) Backend() string {
	if s.dialect == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// Close implements Store.
func (s *sqlStore) Close() error {
	err := s.db.Close()
	if s.closeExtra != nil {
		s.closeExtra()
	}
	return err
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func ipKey(ip netip.Addr) (string, error) {
	if !ip.IsValid() {
		return "", fmt.Errorf("store: invalid IP address")
	}
	return ip.Unmap().WithZone("").String(), nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

const accountCols = `id, name, password_hash, created_at, updated_at, last_login_at, role, disabled, reset_required`

func scanAccount(row interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var created, updated, last, disabled, reset int64
	if err := row.Scan(&a.ID, &a.Name, &a.PasswordHash, &created, &updated, &last, &a.Role, &disabled, &reset); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Account{}, ErrNotFound
		}
		return Account{}, fmt.Errorf("store: read account: %w", err)
	}
	a.CreatedAt, a.UpdatedAt, a.LastLoginAt = fromMS(created), fromMS(updated), fromMS(last)
	a.Disabled, a.ResetRequired = disabled != 0, reset != 0
	return a, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// CreateAccount implements Store.
func (s *sqlStore) CreateAccount(ctx context.Context, name, passwordHash string, now time.Time) (Account, error) {
	if name == "" || len(name) > MaxNameLen {
		return Account{}, fmt.Errorf("store: account name must be 1-%d bytes", MaxNameLen)
	}
	row := s.db.QueryRowContext(ctx, s.q(`INSERT INTO accounts (name, password_hash, created_at, updated_at, last_login_at)
		VALUES (?, ?, ?, ?, 0) RETURNING `+accountCols), name, passwordHash, ms(now), ms(now))
	a, err := scanAccount(row)
	if err != nil {
		if isUniqueViolation(err) {
			return Account{}, ErrNameTaken
		}
		return Account{}, fmt.Errorf("store: create account: %w", err)
	}
	return a, nil
}

// AccountByName implements Store.
func (s *sqlStore) AccountByName(ctx context.Context, name string) (Account, error) {
	return scanAccount(s.db.QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM accounts WHERE name = ?`), name))
}

// AccountByID implements Store.
func (s *sqlStore) AccountByID(ctx context.Context, id int64) (Account, error) {
	return scanAccount(s.db.QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM accounts WHERE id = ?`), id))
}

func (s *sqlStore) execOne(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// UpdatePasswordHash implements Store.
func (s *sqlStore) UpdatePasswordHash(ctx context.Context, id int64, passwordHash string, now time.Time) error {
	return s.execOne(ctx, `UPDATE accounts SET password_hash = ?, updated_at = ?, reset_required = 0 WHERE id = ?`, passwordHash, ms(now), id)
}

// SetLastLogin implements Store.
func (s *sqlStore) SetLastLogin(ctx context.Context, id int64, at time.Time) error {
	return s.execOne(ctx, `UPDATE accounts SET last_login_at = ? WHERE id = ?`, ms(at), id)
}

// IssueToken implements Store.
func (s *sqlStore) IssueToken(ctx context.Context, accountID int64, tokenHash []byte, now, expiresAt time.Time) error {
	if len(tokenHash) != TokenHashSize {
		return fmt.Errorf("store: token hash must be %d bytes", TokenHashSize)
	}
	// One statement: a token is never stored for an account that is
	// disabled (or reset) at the moment of the insert, however it races
	// with SetDisabled.
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO login_tokens (token_hash, account_id, created_at, expires_at)
		SELECT ?, id, ?, ? FROM accounts WHERE id = ? AND disabled = 0 AND reset_required = 0`),
		tokenHash, ms(now), ms(expiresAt), accountID)
	if err != nil {
		return fmt.Errorf("store: issue token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: issue token: %w", err)
	} else if n == 1 {
		return nil
	}
	a, err := s.AccountByID(ctx, accountID)
	switch {
	case err != nil:
		return err
	case a.Disabled:
		return ErrAccountDisabled
	case a.ResetRequired:
		return ErrPasswordResetRequired
	}
	return fmt.Errorf("store: issue token: not stored")
}

// ConsumeToken implements Store.
func (s *sqlStore) ConsumeToken(ctx context.Context, user string, tokenHash []byte, now time.Time) (Account, error) {
	if len(tokenHash) != TokenHashSize {
		return Account{}, ErrTokenUnknown
	}
	// The DELETE is the atomic step: of concurrent callers exactly one gets
	// the row back. Whatever happens next, the token is gone.
	var accountID, expires int64
	err := s.db.QueryRowContext(ctx, s.q(`DELETE FROM login_tokens WHERE token_hash = ? RETURNING account_id, expires_at`),
		tokenHash).Scan(&accountID, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, ErrTokenUnknown
	}
	if err != nil {
		return Account{}, fmt.Errorf("store: consume token: %w", err)
	}
	if ms(now) >= expires {
		return Account{}, ErrTokenExpired
	}
	a, err := s.AccountByID(ctx, accountID)
	if errors.Is(err, ErrNotFound) {
		return Account{}, ErrTokenUnknown
	}
	if err != nil {
		return Account{}, err
	}
	if a.Name != user {
		return Account{}, ErrTokenWrongUser
	}
	if a.Disabled || a.ResetRequired {
		return Account{}, ErrTokenAccountLocked
	}
	return a, nil
}

const banCols = `ip, reason, created_at, expires_at, offences`

func scanBan(row interface{ Scan(...any) error }) (Ban, error) {
	var b Ban
	var ip string
	var created, expires int64
	if err := row.Scan(&ip, &b.Reason, &created, &expires, &b.Offences); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Ban{}, ErrNotFound
		}
		return Ban{}, fmt.Errorf("store: read ban: %w", err)
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return Ban{}, fmt.Errorf("store: bad IP %q in bans table: %w", ip, err)
	}
	b.IP, b.CreatedAt, b.ExpiresAt = addr, fromMS(created), fromMS(expires)
	return b, nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// AddBan implements Store.
func (s *sqlStore) AddBan(ctx context.Context, b Ban) error {
	ip, err := ipKey(b.IP)
	if err != nil {
		return err
	}
	if !b.ExpiresAt.After(b.CreatedAt) {
		return fmt.Errorf("store: ban must expire after it is created")
	}
	if b.Offences < 1 {
		b.Offences = 1
	}
	reason := b.Reason
	if len(reason) > MaxReasonLen {
		reason = truncate(reason, MaxReasonLen)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: add ban: %w", err)
	}
	defer tx.Rollback()
	args := []any{ip, reason, ms(b.CreatedAt), ms(b.ExpiresAt), b.Offences}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO bans (`+banCols+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (ip) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at,
		expires_at = excluded.expires_at, offences = excluded.offences`), args...); err != nil {
		return fmt.Errorf("store: add ban: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO ban_history (`+banCols+`) VALUES (?, ?, ?, ?, ?)`), args...); err != nil {
		return fmt.Errorf("store: add ban history: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: add ban: %w", err)
	}
	return nil
}

// RemoveBan implements Store.
func (s *sqlStore) RemoveBan(ctx context.Context, ip netip.Addr) error {
	key, err := ipKey(ip)
	if err != nil {
		return err
	}
	return s.execOne(ctx, `DELETE FROM bans WHERE ip = ?`, key)
}

// ActiveBan implements Store.
func (s *sqlStore) ActiveBan(ctx context.Context, ip netip.Addr, now time.Time) (Ban, error) {
	key, err := ipKey(ip)
	if err != nil {
		return Ban{}, err
	}
	return scanBan(s.db.QueryRowContext(ctx, s.q(`SELECT `+banCols+` FROM bans WHERE ip = ? AND expires_at > ?`), key, ms(now)))
}

func (s *sqlStore) queryBans(ctx context.Context, query string, args ...any) ([]Ban, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list bans: %w", err)
	}
	defer rows.Close()
	var out []Ban
	for rows.Next() {
		b, err := scanBan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list bans: %w", err)
	}
	return out, nil
}

// ListBans implements Store.
func (s *sqlStore) ListBans(ctx context.Context, now time.Time) ([]Ban, error) {
	return s.queryBans(ctx, `SELECT `+banCols+` FROM bans WHERE expires_at > ? ORDER BY expires_at, ip`, ms(now))
}

// BanHistory implements Store.
func (s *sqlStore) BanHistory(ctx context.Context, ip netip.Addr, since time.Time) ([]Ban, error) {
	key, err := ipKey(ip)
	if err != nil {
		return nil, err
	}
	return s.queryBans(ctx, `SELECT `+banCols+` FROM ban_history WHERE ip = ? AND created_at >= ? ORDER BY created_at, id`, key, ms(since))
}

// ClearBanHistory implements Store.
func (s *sqlStore) ClearBanHistory(ctx context.Context, ip netip.Addr) error {
	key, err := ipKey(ip)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM ban_history WHERE ip = ?`), key); err != nil {
		return fmt.Errorf("store: clear ban history: %w", err)
	}
	return nil
}

// PurgeExpired implements Store.
func (s *sqlStore) PurgeExpired(ctx context.Context, now, historyBefore time.Time) (int64, error) {
	var total int64
	for _, st := range []struct {
		query string
		arg   int64
	}{
		{`DELETE FROM login_tokens WHERE expires_at <= ?`, ms(now)},
		{`DELETE FROM bans WHERE expires_at <= ?`, ms(now)},
		{`DELETE FROM ban_history WHERE created_at < ?`, ms(historyBefore)},
	} {
		res, err := s.db.ExecContext(ctx, s.q(st.query), st.arg)
		if err != nil {
			return total, fmt.Errorf("store: purge: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// SetRole implements Store.
func (s *sqlStore) SetRole(ctx context.Context, id int64, role string) error {
	if len(role) > MaxRoleLen {
		return fmt.Errorf("store: role must be at most %d bytes", MaxRoleLen)
	}
	return s.execOne(ctx, `UPDATE accounts SET role = ? WHERE id = ?`, role, id)
}

// SetDisabled implements Store.
func (s *sqlStore) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.lockAccount(ctx, id, `UPDATE accounts SET disabled = ? WHERE id = ?`, boolInt(disabled), id)
}

// ForcePasswordReset implements Store.
func (s *sqlStore) ForcePasswordReset(ctx context.Context, id int64, tempHash string, now time.Time) error {
	if tempHash == "" {
		return fmt.Errorf("store: empty password hash")
	}
	return s.lockAccount(ctx, id, `UPDATE accounts SET password_hash = ?, updated_at = ?, reset_required = 1 WHERE id = ?`, tempHash, ms(now), id)
}

// lockAccount runs update (which must change one account row) and deletes
// the account's unused tokens, in one transaction.
func (s *sqlStore) lockAccount(ctx context.Context, id int64, update string, args ...any) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(update), args...)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM login_tokens WHERE account_id = ?`), id); err != nil {
		return fmt.Errorf("store: delete tokens: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// pageLimit returns n within 1..MaxPageSize (other values: MaxPageSize).
func pageLimit(n int) int {
	if n < 1 || n > MaxPageSize {
		return MaxPageSize
	}
	return n
}

// likeEscape escapes s for a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// SearchAccounts implements Store.
func (s *sqlStore) SearchAccounts(ctx context.Context, q AccountQuery) ([]Account, error) {
	query := `SELECT ` + accountCols + ` FROM accounts WHERE 1 = 1`
	var args []any
	if q.Contains != "" {
		query += ` AND name LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscape(strings.ToLower(q.Contains))+"%")
	}
	if q.After != "" {
		query += ` AND name > ?`
		args = append(args, q.After)
	}
	if q.Role != "" {
		query += ` AND role = ?`
		args = append(args, q.Role)
	}
	query += ` ORDER BY name LIMIT ?`
	args = append(args, pageLimit(q.Limit))
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: search accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: search accounts: %w", err)
	}
	return out, nil
}

const auditCols = `id, created_at, actor, action, target, detail, addr`

func scanAudit(row interface{ Scan(...any) error }) (AuditEntry, error) {
	var e AuditEntry
	var at int64
	if err := row.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Addr); err != nil {
		return AuditEntry{}, fmt.Errorf("store: read audit entry: %w", err)
	}
	e.At = fromMS(at)
	return e, nil
}

// AddAudit implements Store.
func (s *sqlStore) AddAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if e.Action == "" {
		return AuditEntry{}, fmt.Errorf("store: audit entry without an action")
	}
	row := s.db.QueryRowContext(ctx, s.q(`INSERT INTO audit_log (created_at, actor, action, target, detail, addr)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING `+auditCols),
		ms(e.At), truncate(e.Actor, MaxAuditFieldLen), truncate(e.Action, MaxAuditFieldLen), truncate(e.Target, MaxAuditFieldLen),
		truncate(e.Detail, MaxAuditFieldLen), truncate(e.Addr, MaxAuditFieldLen))
	out, err := scanAudit(row)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("store: add audit entry: %w", err)
	}
	return out, nil
}

// ListAudit implements Store.
func (s *sqlStore) ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	query := `SELECT ` + auditCols + ` FROM audit_log WHERE 1 = 1`
	var args []any
	if q.BeforeID > 0 {
		query += ` AND id < ?`
		args = append(args, q.BeforeID)
	}
	for _, f := range []struct{ col, val string }{{"actor", q.Actor}, {"action", q.Action}, {"target", q.Target}} {
		if f.val != "" {
			query += ` AND ` + f.col + ` = ?`
			args = append(args, f.val)
		}
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, pageLimit(q.Limit))
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	return out, nil
}

// Backup implements Store.
func (s *sqlStore) Backup(ctx context.Context, path string) error {
	if s.dialect == dialectPostgres {
		return ErrBackupUnsupported
	}
	if path == "" || strings.ContainsAny(path, "?#") {
		return fmt.Errorf("store: backup path %q must be a plain file name", path)
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("store: backup file %s already exists", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: backup: %w", err)
	}
	// VACUUM INTO reads the database in one read transaction, so the copy
	// is a consistent snapshot, while writers go on (WAL mode).
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}
