package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// SQLiteCheck describes an SQLite database file checked by CheckSQLite.
type SQLiteCheck struct {
	SchemaVersion int   // the newest migration applied
	Accounts      int64 // accounts, of which Admins have the admin role
	Admins        int64
	Bans          int64 // ban rows, active or expired
	AuditEntries  int64
}

// CheckSQLite opens the SQLite file at path read-only, runs SQLite's
// integrity check and counts its rows. It is meant for backups ("tickwire
// backup --check"): it fails if the file is missing, is not a tickwire
// database, is damaged, or has a schema newer than this program's.
func CheckSQLite(ctx context.Context, path string) (SQLiteCheck, error) {
	var c SQLiteCheck
	if strings.ContainsAny(path, "?#") {
		return c, fmt.Errorf("store: SQLite path %q must not contain '?' or '#'", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return c, fmt.Errorf("store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return c, fmt.Errorf("store: %s is not a regular file", path)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return c, fmt.Errorf("store: open %s: %w", path, err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil {
		return c, fmt.Errorf("store: %s: integrity check: %w", path, err)
	}
	if check != "ok" {
		return c, fmt.Errorf("store: %s is damaged: %s", path, check)
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&c.SchemaVersion); err != nil {
		return c, fmt.Errorf("store: %s is not a tickwire database: %w", path, err)
	}
	if latest := migrations[len(migrations)-1].version; c.SchemaVersion > latest {
		return c, fmt.Errorf("store: %s has schema version %d, newer than this program supports (%d)", path, c.SchemaVersion, latest)
	}
	type count struct {
		query string
		dst   *int64
	}
	counts := []count{{`SELECT COUNT(*) FROM accounts`, &c.Accounts}, {`SELECT COUNT(*) FROM bans`, &c.Bans}}
	if c.SchemaVersion >= 2 {
		counts = append(counts, count{`SELECT COUNT(*) FROM accounts WHERE role = 'admin'`, &c.Admins},
			count{`SELECT COUNT(*) FROM audit_log`, &c.AuditEntries})
	}
	for _, k := range counts {
		if err := db.QueryRowContext(ctx, k.query).Scan(k.dst); err != nil {
			return c, fmt.Errorf("store: %s: %w", path, err)
		}
	}
	if c.SchemaVersion == 0 {
		return c, errors.New("store: " + path + " has no schema")
	}
	return c, nil
}
