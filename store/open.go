package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLiteBusyTimeout is how long an SQLite connection waits for a lock held
// by another connection or process (for example the "tickwire ban" command)
// before failing with SQLITE_BUSY.
const SQLiteBusyTimeout = 5 * time.Second

// SQLiteMaxOpenConns caps the SQLite connection pool. SQLite allows one
// writer at a time anyway; a few connections let reads proceed during a
// write in WAL mode.
const SQLiteMaxOpenConns = 4

// PostgresMaxConns caps the PostgreSQL connection pool of one process.
const PostgresMaxConns = 8

// Open opens (creating if needed) the database named by dsn and applies the
// schema migrations.
//
// A dsn starting with "postgres://" or "postgresql://" is a PostgreSQL
// connection URL handled by pgx (any pgx parameter such as sslmode or
// search_path may be appended). Anything else is the path of an SQLite file;
// its directory is created (mode 0700) if missing, and the database runs in
// WAL mode with a busy timeout and foreign keys enabled. An empty dsn is an
// error; see ResolveDSN for the tickwire defaults.
func Open(ctx context.Context, dsn string) (Store, error) {
	switch {
	case dsn == "":
		return nil, fmt.Errorf("store: empty database DSN")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	default:
		return openSQLite(ctx, dsn)
	}
}

func openSQLite(ctx context.Context, path string) (Store, error) {
	path = strings.TrimPrefix(path, "file:")
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: SQLite path %q must not contain '?' or '#'", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create database directory: %w", err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", SQLiteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Write transactions take the write lock at BEGIN, so two of them never
	// deadlock upgrading from a read lock.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	db.SetMaxOpenConns(SQLiteMaxOpenConns)
	db.SetMaxIdleConns(SQLiteMaxOpenConns)
	s := &sqlStore{db: db, dialect: dialectSQLite}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: SQLite %s: %w", path, err)
	}
	return s, nil
}

func openPostgres(ctx context.Context, dsn string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx errors may echo the DSN, which can hold a password.
		return nil, fmt.Errorf("store: invalid PostgreSQL DSN")
	}
	if cfg.MaxConns > PostgresMaxConns {
		cfg.MaxConns = PostgresMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to PostgreSQL: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &sqlStore{db: db, dialect: dialectPostgres, closeExtra: pool.Close}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: PostgreSQL: %w", err)
	}
	return s, nil
}
