package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFiles are the schema's versions: migrations/NNNN_name.sql,
// applied in order of NNNN. A released file is never edited; a change is
// a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema version.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		prefix, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrationLockClass is the first key of the advisory lock that serialises
// migrations; the second is a hash of the schema's name, so that schemas
// migrate independently.
const migrationLockClass = 0x67726462 // "grdb"

// migrate brings the schema up to the newest embedded version and returns
// the schema's name. An up-to-date schema costs one query. Otherwise
// everything happens in one transaction under a transaction-scoped
// advisory lock: replicas that start together queue on the lock, and the
// later ones find the work done. A database migrated by a newer gridbot is
// accepted, with a warning: migrations add, as a rule. (Migration 2, which
// re-keyed reports, is the exception: a gridbot older than it fails its
// report reads and writes against the new schema.)
func (e *Engine) migrate(ctx context.Context) (string, error) {
	ms, err := migrations()
	if err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	if len(ms) == 0 {
		return "", fmt.Errorf("migrate: no migrations embedded")
	}
	latest := ms[len(ms)-1].version
	var schema *string
	var current int
	err = e.pool.QueryRow(ctx, `SELECT current_schema(), coalesce(max(version), 0) FROM schema_migrations`).Scan(&schema, &current)
	if err == nil && schema != nil && current >= latest {
		if current > latest {
			e.log.Warn("schema is newer than this gridbot", "schema", *schema, "version", current, "known", latest)
		}
		return *schema, nil
	}
	if err != nil && sqlState(err) != codeUndefinedTable {
		return "", fmt.Errorf("migrate: %w", err)
	}
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))`, migrationLockClass); err != nil {
		return "", fmt.Errorf("migrate: lock: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	if schema == nil {
		return "", fmt.Errorf("migrate: no schema in the search_path exists to create tables in")
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	var applied []int
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		// No arguments: pgx sends the file with the simple protocol, which
		// runs every statement in it.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return "", fmt.Errorf("migrate: %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, m.version); err != nil {
			return "", fmt.Errorf("migrate: %s: %w", m.name, err)
		}
		applied = append(applied, m.version)
	}
	if err := tx.Commit(ctx); err != nil {
		return "", fmt.Errorf("migrate: commit: %w", err)
	}
	if len(applied) > 0 {
		e.log.Info("schema migrated", "schema", *schema, "from", current, "applied", applied)
	}
	return *schema, nil
}
