package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tickwire/tickwire/store"
)

func init() {
	register(&command{name: "backup", summary: "copy the SQLite database while the server runs (backup <file> | --dir <dir> | --check <file>)", run: runBackup})
}

// backupOut receives the backup command's output (a variable for tests).
var backupOut io.Writer = os.Stdout

// Backup file naming with --dir: tickwire-<UTC time>.db.
const (
	backupPrefix     = "tickwire-"
	backupSuffix     = ".db"
	backupTimeLayout = "20060102T150405Z"
)

const backupUsage = `usage: tickwire backup <file> [flags]
       tickwire backup --dir <directory> [--keep N] [flags]
       tickwire backup --check <file>

Writes a consistent copy of the SQLite database (accounts, bans, audit log)
to a new file while servers keep running (SQLite's VACUUM INTO), then checks
the copy. With --dir the file is named tickwire-<UTC time>.db in that
directory, and all but the newest --keep such files are deleted. --check
verifies an existing backup. PostgreSQL databases are backed up with
pg_dump (docs/DEPLOY.md).

Restore: stop the server, move the database and its -wal and -shm files
away, copy the backup in as <data-dir>/tickwire.db (owned by the service
user, mode 0600), start the server.

flags:
`

func runBackup(ctx context.Context, args []string) error {
	var db banDBFlags
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	db.add(fs)
	var dir, check string
	var keep int
	fs.StringVar(&dir, "dir", "", "write tickwire-<UTC time>.db into this directory instead of a named file")
	fs.IntVar(&keep, "keep", 0, "with --dir: keep only the newest N backups there (0: keep all)")
	fs.StringVar(&check, "check", "", "check this backup file (integrity, schema, row counts) and make none")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), backupUsage)
		fs.PrintDefaults()
	}
	pos, err := banParse(fs, args)
	if err != nil {
		return err
	}
	if keep < 0 {
		return errors.New("--keep must not be negative")
	}
	if check != "" {
		if len(pos) > 0 || dir != "" {
			return errors.New("--check takes no other file or --dir")
		}
		return backupReport(ctx, "ok", check)
	}
	var file string
	switch {
	case dir != "" && len(pos) == 0:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		file = filepath.Join(dir, backupPrefix+time.Now().UTC().Format(backupTimeLayout)+backupSuffix)
	case dir == "" && len(pos) == 1:
		file = pos[0]
	default:
		fs.Usage()
		return errors.New("give either one backup file or --dir")
	}
	dsn := store.ResolveDSN(db.dataDir, db.db)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return errors.New("this is a PostgreSQL database: back it up with pg_dump -Fc (see docs/DEPLOY.md)")
	}
	if _, err := os.Stat(dsn); err != nil {
		// Opening would create an empty database: refuse instead.
		return fmt.Errorf("no database at %s: %w", dsn, err)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, file); err != nil {
		return err
	}
	if err := backupReport(ctx, "backup written", file); err != nil {
		return fmt.Errorf("the backup was written but fails its check: %w", err)
	}
	if dir != "" && keep > 0 {
		return pruneBackups(dir, keep)
	}
	return nil
}

// backupReport checks a backup file and prints what it holds.
func backupReport(ctx context.Context, what, file string) error {
	c, err := store.CheckSQLite(ctx, file)
	if err != nil {
		return err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(backupOut, "%s: %s (%d bytes, schema %d): %d accounts (%d admins), %d bans, %d audit entries\n",
		what, file, fi.Size(), c.SchemaVersion, c.Accounts, c.Admins, c.Bans, c.AuditEntries)
	return nil
}

// pruneBackups deletes all but the newest keep tickwire-*.db files in dir.
func pruneBackups(dir string, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, backupPrefix) || !strings.HasSuffix(n, backupSuffix) {
			continue
		}
		if _, err := time.Parse(backupTimeLayout, strings.TrimSuffix(strings.TrimPrefix(n, backupPrefix), backupSuffix)); err == nil {
			names = append(names, n)
		}
	}
	sort.Strings(names) // the time layout sorts by time
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return err
		}
		fmt.Fprintf(backupOut, "removed old backup %s\n", names[0])
		names = names[1:]
	}
	return nil
}
