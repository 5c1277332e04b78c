package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"gridbot/report"
	"gridbot/store/driver"
)

// maxTries bounds how often Commit runs a transaction that failed with a
// deadlock, a serialization failure or a lost connection.
const maxTries = 5

// Commit applies c as one READ COMMITTED transaction, durable when it
// returns (synchronous_commit). It returns Result{Claimed: false} and
// applies nothing when a claim key exists; a deadlock or serialization
// failure is retried transparently, and so is a lost connection (a
// killed backend, a restarted server, a network failure), on a fresh
// connection and exactly once in effect: see retryLost.
//
// A transaction takes its locks in one global order, which is why
// concurrent commits cannot deadlock one another:
//
//  1. claim keys, sorted (the claims primary key: a second claimer of a
//     key waits for the first to commit or roll back, then sees it);
//  2. the chat-migration advisory lock, when c has migrations;
//  3. advisory locks sorted by key, one per folded entity written (a
//     chat's binding, a member, a setting, a report, an outbox message's
//     attempts), one per village name bound (so of two chats binding one
//     name, the second sees the first's binding and is refused) plus a
//     shared lock for enqueuing (see outbox.go);
//  4. outbox keys, sorted (the outbox key constraint).
//
// The per-entity locks make Seq order equal commit order for the facts
// of any one entity even across processes: of two concurrent commits
// touching the same report, the one that commits last has the higher Seq
// and so wins the fold, as in the embedded engine.
func (e *Engine) Commit(ctx context.Context, c driver.Changes) (driver.Result, error) {
	if err := e.check("commit"); err != nil {
		return driver.Result{}, err
	}
	if isEmpty(c) {
		return driver.Result{Claimed: true}, nil
	}
	for try := 1; ; try++ {
		var xid string
		res, err := e.commit(ctx, c, &xid)
		if err == nil {
			return res, nil
		}
		code := sqlState(err)
		retry := (code == codeDeadlock || code == codeSerialization) && try < maxTries && ctx.Err() == nil
		d := time.Duration(try)*time.Millisecond + rand.N(2*time.Millisecond)
		if !retry && lostConnection(err) {
			// The transaction may have committed before the answer was
			// lost: ask the database before doing anything again.
			res, committed, rerr := e.retryLost(ctx, c, xid)
			switch {
			case rerr != nil:
				return driver.Result{}, e.fail("commit", fmt.Errorf("%w (and whether it committed is unknown: %w)", err, rerr))
			case committed:
				e.log.Warn("commit's connection lost after it committed; result read back", "try", try)
				return res, nil
			}
			retry = try < maxTries && ctx.Err() == nil
			code, d = "connection lost", min(50*time.Millisecond<<(try-1), time.Second)+rand.N(10*time.Millisecond)
		}
		if !retry {
			return driver.Result{}, e.fail("commit", err)
		}
		e.log.Warn("commit retried", "reason", code, "try", try)
		// Back off a little, with jitter, so the contenders separate.
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return driver.Result{}, e.fail("commit", ctx.Err())
		case <-t.C:
		}
	}
}

// lostConnection reports whether err may have cut a transaction off from
// its client: no answer from the server (EOF, reset, timeout, closed
// connection, a cancelled context) or a connection failure it reported
// (SQLSTATE class 08, or 57P01–57P03: terminated by an administrator,
// crash or shutdown). Refusals by the engine itself are not.
func lostConnection(err error) bool {
	if errors.Is(err, driver.ErrInvalid) || errors.Is(err, driver.ErrNotFound) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return true
}

// resolveTimeout bounds how long a commit whose connection was lost waits
// to learn whether its transaction committed, also after its context
// ended (a shutdown under way still learns whether its last step holds).
const resolveTimeout = 10 * time.Second

// retryLost finds out, on a fresh connection, what became of the
// transaction xid (pg_current_xact_id, read in the commit's first round
// trip; "" when the connection was lost before: then nothing can have
// committed). Committed, it returns the result the commit would have
// returned, read back from the rows the transaction wrote (their xmin),
// so a step is never applied twice nor reported differently. Aborted, the
// caller may run it again. While the old backend has not yet noticed its
// client is gone, the transaction is still in progress: retryLost waits.
func (e *Engine) retryLost(ctx context.Context, c driver.Changes, xid string) (driver.Result, bool, error) {
	if xid == "" {
		return driver.Result{}, false, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resolveTimeout)
	defer cancel()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		var status *string
		if err := e.pool.QueryRow(ctx, `SELECT pg_xact_status($1::xid8)`, xid).Scan(&status); err != nil {
			return driver.Result{}, false, fmt.Errorf("transaction %s: %w", xid, err)
		}
		switch {
		case status == nil || *status == "aborted":
			return driver.Result{}, false, nil
		case *status == "committed":
			res, err := e.committedResult(ctx, c, xid)
			return res, err == nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return driver.Result{}, false, fmt.Errorf("transaction %s still in progress: %w", xid, ctx.Err())
		case <-t.C:
		}
	}
}

// committedResult rebuilds the Result of c, committed as transaction xid:
// it took its claims and its village names (a commit that could not take
// them rolls back), and a revision or outbox message is new exactly when
// the row under its key was written by xid.
func (e *Engine) committedResult(ctx context.Context, c driver.Changes, xid string) (driver.Result, error) {
	res := driver.Result{Claimed: true}
	if r := c.Revision; r != nil {
		var mine bool
		err := e.pool.QueryRow(ctx, `SELECT seq, xmin = $4::xid8::xid FROM revisions WHERE chat = $1 AND message_id = $2 AND revision = $3`,
			r.Chat, r.MessageID, r.Revision, xid).Scan(&res.RevisionSeq, &mine)
		if err != nil {
			return driver.Result{}, fmt.Errorf("reading back revision: %w", err)
		}
		res.DuplicateRevision = !mine
	}
	if len(c.Outbox) == 0 {
		return res, nil
	}
	keys := make([][]byte, len(c.Outbox))
	for i, m := range c.Outbox {
		keys[i] = blob(m.Key)
	}
	rows, err := e.pool.Query(ctx, `SELECT key, seq, xmin = $2::xid8::xid FROM outbox WHERE key = ANY($1::bytea[])`, keys, xid)
	if err != nil {
		return driver.Result{}, fmt.Errorf("reading back outbox: %w", err)
	}
	type row struct {
		id   int64
		mine bool
	}
	found := map[string]row{}
	for rows.Next() {
		var key []byte
		var r row
		if err := rows.Scan(&key, &r.id, &r.mine); err != nil {
			rows.Close()
			return driver.Result{}, fmt.Errorf("reading back outbox: %w", err)
		}
		found[string(key)] = r
	}
	if err := rows.Err(); err != nil {
		return driver.Result{}, fmt.Errorf("reading back outbox: %w", err)
	}
	res.Enqueued, res.OutboxIDs = make([]bool, len(c.Outbox)), make([]int64, len(c.Outbox))
	seen := map[string]bool{}
	for i, m := range c.Outbox {
		r, ok := found[m.Key]
		if !ok {
			return driver.Result{}, fmt.Errorf("reading back outbox: key of message %d missing", i)
		}
		res.OutboxIDs[i], res.Enqueued[i] = r.id, r.mine && !seen[m.Key]
		seen[m.Key] = true
	}
	return res, nil
}

func isEmpty(c driver.Changes) bool {
	return len(c.Claims) == 0 && len(c.Bindings) == 0 && len(c.Migrations) == 0 && len(c.Members) == 0 &&
		len(c.Settings) == 0 && c.Revision == nil && len(c.Withdrawals) == 0 && len(c.Outbox) == 0 && len(c.Attempts) == 0
}

// SQL of Commit. Batched rows travel as parallel arrays; WITH ORDINALITY
// keeps Changes' order, so facts of one kind get Seqs in slice order.
const (
	sqlClaim = `INSERT INTO claims (key)
		SELECT k FROM unnest($1::bytea[]) AS k ORDER BY k
		ON CONFLICT (key) DO NOTHING
		RETURNING key`

	sqlHomes = `SELECT c, chat_home(c) FROM unnest($1::bigint[]) AS c`

	sqlLocks = `SELECT CASE WHEN s THEN pg_advisory_xact_lock_shared(k) ELSE pg_advisory_xact_lock(k) END
		FROM (SELECT k, s FROM unnest($1::bigint[], $2::boolean[]) AS u(k, s) ORDER BY k) AS sorted`

	// sqlMigrationCheck returns the homes of from ($1) and to ($2), and
	// whether to takes part in a migration already (as an alias, or as a
	// home that migrated).
	sqlMigrationCheck = `SELECT chat_home($1), chat_home($2),
		EXISTS (SELECT 1 FROM chat_migrations WHERE to_chat = $2 OR home_chat = $2)`

	// sqlNameTaken reports whether a chat other than $2's is bound now to a
	// village named $1: a chat that was ever bound so, whose newest binding
	// (over every id of the chat) still is. The village name's lock is
	// held, so every commit binding that name before this one is visible.
	sqlNameTaken = `SELECT EXISTS (
			SELECT 1 FROM (SELECT DISTINCT chat_home(home_chat) AS h FROM bindings WHERE role = 'village' AND name = $1) AS c
			WHERE c.h <> chat_home($2) AND (
				SELECT b.role = 'village' AND b.name = $1 FROM bindings b
				WHERE b.home_chat = ANY (chat_family(c.h)) ORDER BY b.seq DESC LIMIT 1))`

	sqlMigration = `INSERT INTO chat_migrations (home_chat, from_chat, to_chat, at) VALUES ($1, $2, $3, $4)`

	sqlBindings = `INSERT INTO bindings (home_chat, chat, role, name, by_user, at)
		SELECT h, c, r, n, b, t
		FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bytea[], $5::bigint[], $6::bigint[])
			WITH ORDINALITY AS u(h, c, r, n, b, t, i)
		ORDER BY i`

	sqlMembers = `INSERT INTO members (home_chat, chat, user_id, name, has_left, at)
		SELECT h, c, u, n, l, t
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bytea[], $5::boolean[], $6::bigint[])
			WITH ORDINALITY AS u(h, c, u, n, l, t, i)
		ORDER BY i`

	sqlSettings = `INSERT INTO settings (home_chat, chat, key, value, by_user, at)
		SELECT h, c, k, v, b, t
		FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[], $6::bigint[])
			WITH ORDINALITY AS u(h, c, k, v, b, t, i)
		ORDER BY i`

	// sqlRevision inserts a revision unless its key (the chat it was sent
	// in, message, revision) exists, and returns the revision's seq and
	// whether it was inserted. The report's lock is held, so a
	// conflicting row is committed and visible to the second branch.
	sqlRevision = `WITH ins AS (
			INSERT INTO revisions (chat, message_id, revision, kind, lang, field_names, field_values,
				problems, text, sender_id, sender, sent_at, day, event_day, phone, id_number, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
			ON CONFLICT (chat, message_id, revision) DO NOTHING
			RETURNING seq
		)
		SELECT seq, true FROM ins
		UNION ALL
		SELECT seq, false FROM revisions
		WHERE chat = $1 AND message_id = $2 AND revision = $3 AND NOT EXISTS (SELECT 1 FROM ins)`

	sqlWithdrawals = `INSERT INTO withdrawals (chat, message_id, by_user, at)
		SELECT c, m, b, t
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])
			WITH ORDINALITY AS u(c, m, b, t, i)
		ORDER BY i`

	// sqlOutbox draws the messages' ids in slice order (so messages queued
	// together are sent in the order given), then inserts them in key
	// order (so concurrent enqueuers meet the key constraint in one order;
	// of a key given twice, the first), and returns per message its drawn
	// id and whether it was inserted.
	sqlOutbox = `WITH input AS MATERIALIZED (
			SELECT u.*, nextval('fact_seq') AS seq
			FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bigint[], $7::bigint[])
				WITH ORDINALITY AS u(key, home_chat, chat, method, payload, not_before, created_at, i)
			ORDER BY u.i
		), ins AS (
			INSERT INTO outbox (seq, key, home_chat, chat, method, payload, not_before, created_at)
			SELECT seq, key, home_chat, chat, method, payload, not_before, created_at FROM input ORDER BY key, i
			ON CONFLICT (key) DO NOTHING
			RETURNING seq
		)
		SELECT input.seq, ins.seq IS NOT NULL FROM input LEFT JOIN ins ON ins.seq = input.seq ORDER BY input.i`

	sqlOutboxIDs = `SELECT key, seq FROM outbox WHERE key = ANY($1::bytea[])`

	sqlAttempts = `INSERT INTO outbox_attempts (message_seq, attempt, sent, sent_message_id, error, retry_at, final, at)
		SELECT m, a, s, sm, er, r, f, t
		FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::bigint[], $5::bytea[], $6::bigint[], $7::boolean[], $8::bigint[])
			WITH ORDINALITY AS u(m, a, s, sm, er, r, f, t, i)
		ORDER BY i`
)

// commit runs one attempt of Commit's transaction. It sets *xid to the
// transaction's id as soon as it knows it.
func (e *Engine) commit(ctx context.Context, c driver.Changes, xid *string) (driver.Result, error) {
	claims := claimKeys(c.Claims)
	chats := chatIDs(c)

	// Round trip 1: BEGIN, the claims, and (when no migration can move a
	// chat first) the chats' homes.
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	b.Queue(`SELECT pg_current_xact_id()::text`)
	if len(claims) > 0 {
		b.Queue(sqlClaim, claims)
	}
	homesNow := len(c.Migrations) == 0 && len(chats) > 0
	if homesNow {
		b.Queue(sqlHomes, chats)
	}
	br := e.pool.SendBatch(ctx, b)
	tx := br.Tx()
	defer tx.Rollback(context.WithoutCancel(ctx))
	claimed, homes, err := readFirstBatch(br, xid, len(claims), homesNow)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return driver.Result{}, err
	}
	if !claimed {
		return driver.Result{Claimed: false}, nil // rolled back by the deferred call
	}

	if len(c.Migrations) > 0 {
		if err := e.applyMigrations(ctx, tx, c.Migrations); err != nil {
			return driver.Result{}, err
		}
		if len(chats) > 0 {
			if homes, err = readHomes(ctx, tx, chats); err != nil {
				return driver.Result{}, err
			}
		}
	}
	home := func(chat int64) int64 {
		if h, ok := homes[chat]; ok {
			return h
		}
		return chat
	}

	// Two chats given one village name in one step: the second's is taken.
	named := map[string]int64{}
	for _, b := range c.Bindings {
		if b.Role != driver.RoleVillage {
			continue
		}
		if h, ok := named[b.Name]; ok && h != home(b.Chat) {
			return driver.Result{Claimed: true, NameTaken: true}, nil
		}
		named[b.Name] = home(b.Chat)
	}

	// Round trip 2: the locks and every insert.
	res := driver.Result{Claimed: true}
	w := &pgx.Batch{}
	locks := e.locksFor(c, home)
	if len(locks.keys) > 0 {
		w.Queue(sqlLocks, locks.keys, locks.shared)
	}
	for _, b := range c.Bindings {
		if b.Role != driver.RoleVillage {
			continue
		}
		w.Queue(sqlNameTaken, blob(b.Name), b.Chat).QueryRow(func(row pgx.Row) error {
			var taken bool
			if err := row.Scan(&taken); err != nil {
				return fmt.Errorf("village name: %w", err)
			}
			res.NameTaken = res.NameTaken || taken
			return nil
		})
	}
	if len(c.Bindings) > 0 {
		w.Queue(sqlBindings, bindingArgs(c.Bindings, home)...)
	}
	if len(c.Members) > 0 {
		w.Queue(sqlMembers, memberArgs(c.Members, home)...)
	}
	if len(c.Settings) > 0 {
		w.Queue(sqlSettings, settingArgs(c.Settings, home)...)
	}
	if r := c.Revision; r != nil {
		args, err := revisionArgs(r)
		if err != nil {
			return driver.Result{}, err
		}
		w.Queue(sqlRevision, args...).QueryRow(func(row pgx.Row) error {
			var inserted bool
			if err := row.Scan(&res.RevisionSeq, &inserted); err != nil {
				if errors.Is(err, pgx.ErrNoRows) { // cannot happen while the report's lock is held
					res.DuplicateRevision = true
					return nil
				}
				return fmt.Errorf("revision: %w", err)
			}
			res.DuplicateRevision = !inserted
			return nil
		})
	}
	if len(c.Withdrawals) > 0 {
		w.Queue(sqlWithdrawals, withdrawalArgs(c.Withdrawals)...)
	}
	var missing [][]byte // keys of messages queued before
	if len(c.Outbox) > 0 {
		res.Enqueued = make([]bool, len(c.Outbox))
		res.OutboxIDs = make([]int64, len(c.Outbox))
		w.Queue(sqlOutbox, outboxArgs(c.Outbox, home)...).Query(func(rows pgx.Rows) error {
			i := 0
			for rows.Next() {
				if i >= len(c.Outbox) {
					return fmt.Errorf("outbox: more results than messages")
				}
				if err := rows.Scan(&res.OutboxIDs[i], &res.Enqueued[i]); err != nil {
					return fmt.Errorf("outbox: %w", err)
				}
				if !res.Enqueued[i] {
					missing = append(missing, []byte(c.Outbox[i].Key))
				}
				i++
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			if i != len(c.Outbox) {
				return fmt.Errorf("outbox: %d results for %d messages", i, len(c.Outbox))
			}
			return nil
		})
	}
	if len(c.Attempts) > 0 {
		w.Queue(sqlAttempts, attemptArgs(c.Attempts)...)
	}
	if err := tx.SendBatch(ctx, w).Close(); err != nil {
		if sqlState(err) == codeForeignKey {
			return driver.Result{}, fmt.Errorf("attempt for an unknown outbox message: %w", driver.ErrNotFound)
		}
		return driver.Result{}, err
	}

	if res.NameTaken {
		return driver.Result{Claimed: true, NameTaken: true}, nil // rolled back by the deferred call
	}

	// Messages whose key existed: report the existing ids. Their rows are
	// committed (the key constraint waited for them), so a new statement
	// sees them.
	if len(missing) > 0 {
		ids, err := existingOutboxIDs(ctx, tx, missing)
		if err != nil {
			return driver.Result{}, err
		}
		for i, m := range c.Outbox {
			if !res.Enqueued[i] {
				res.OutboxIDs[i] = ids[m.Key]
			}
		}
	}
	if e.hook != nil {
		if err := e.hook("commit", tx); err != nil {
			return driver.Result{}, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return driver.Result{}, fmt.Errorf("commit: %w", err)
	}
	if e.hook != nil {
		if err := e.hook("committed", tx); err != nil {
			return driver.Result{}, err
		}
	}
	return res, nil
}

// readFirstBatch reads the results of Commit's first round trip, the
// transaction's id into *xid first.
func readFirstBatch(br pgx.BatchResults, xid *string, nClaims int, withHomes bool) (claimed bool, homes map[int64]int64, err error) {
	if _, err := br.Exec(); err != nil {
		return false, nil, fmt.Errorf("begin: %w", err)
	}
	if err := br.QueryRow().Scan(xid); err != nil {
		return false, nil, fmt.Errorf("transaction id: %w", err)
	}
	claimed = true
	if nClaims > 0 {
		rows, err := br.Query()
		if err != nil {
			return false, nil, fmt.Errorf("claims: %w", err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			return false, nil, fmt.Errorf("claims: %w", err)
		}
		claimed = n == nClaims
	}
	if withHomes {
		rows, err := br.Query()
		if err != nil {
			return false, nil, fmt.Errorf("homes: %w", err)
		}
		if homes, err = scanHomes(rows); err != nil {
			return false, nil, err
		}
	}
	return claimed, homes, nil
}

// readHomes resolves chats to their homes.
func readHomes(ctx context.Context, q querier, chats []int64) (map[int64]int64, error) {
	rows, err := q.Query(ctx, sqlHomes, chats)
	if err != nil {
		return nil, fmt.Errorf("homes: %w", err)
	}
	return scanHomes(rows)
}

func scanHomes(rows pgx.Rows) (map[int64]int64, error) {
	defer rows.Close()
	homes := map[int64]int64{}
	for rows.Next() {
		var c, h int64
		if err := rows.Scan(&c, &h); err != nil {
			return nil, fmt.Errorf("homes: %w", err)
		}
		homes[c] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("homes: %w", err)
	}
	return homes, nil
}

// applyMigrations records chat migrations under the migration lock, as
// the embedded engine does: a migration between two ids of the same chat
// (a repeat, or the reverse of one) changes nothing; one to an id that
// already takes part in another chat's migrations is refused with
// driver.ErrInvalid; any other makes to an alias of from's home.
func (e *Engine) applyMigrations(ctx context.Context, tx pgx.Tx, ms []driver.Migration) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, e.lockKey(lockMigrations, nil, "")); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	for _, m := range ms {
		var fromHome, toHome int64
		var taken bool
		if err := tx.QueryRow(ctx, sqlMigrationCheck, m.From, m.To).Scan(&fromHome, &toHome, &taken); err != nil {
			return fmt.Errorf("migration: %w", err)
		}
		switch {
		case fromHome == toHome:
			continue
		case taken:
			return fmt.Errorf("migration from %d to %d: chat %d already is another chat's id: %w", m.From, m.To, m.To, driver.ErrInvalid)
		}
		if _, err := tx.Exec(ctx, sqlMigration, fromHome, m.From, m.To, nanos(m.At)); err != nil {
			return fmt.Errorf("migration: %w", err)
		}
	}
	return nil
}

func existingOutboxIDs(ctx context.Context, tx pgx.Tx, keys [][]byte) (map[string]int64, error) {
	rows, err := tx.Query(ctx, sqlOutboxIDs, keys)
	if err != nil {
		return nil, fmt.Errorf("outbox ids: %w", err)
	}
	defer rows.Close()
	ids := map[string]int64{}
	for rows.Next() {
		var key []byte
		var id int64
		if err := rows.Scan(&key, &id); err != nil {
			return nil, fmt.Errorf("outbox ids: %w", err)
		}
		ids[string(key)] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox ids: %w", err)
	}
	return ids, nil
}

// claimKeys returns the claim keys sorted and without repeats: a key
// claimed twice in one step is claimed once.
func claimKeys(keys []string) [][]byte {
	if len(keys) == 0 {
		return nil
	}
	out := make([][]byte, 0, len(keys))
	for _, k := range keys {
		out = append(out, blob(k))
	}
	slices.SortFunc(out, bytes.Compare)
	return slices.CompactFunc(out, bytes.Equal)
}

// chatIDs returns every chat id c writes under that is resolved to its
// home, once. Reports (revisions and withdrawals) are keyed by the chat
// as given, so theirs are not.
func chatIDs(c driver.Changes) []int64 {
	seen := map[int64]bool{}
	var out []int64
	add := func(id int64) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, b := range c.Bindings {
		add(b.Chat)
	}
	for _, m := range c.Members {
		add(m.Chat)
	}
	for _, s := range c.Settings {
		add(s.Chat)
	}
	for _, m := range c.Outbox {
		add(m.Chat)
	}
	return out
}

// lockSet is the advisory locks a commit takes, sorted by key.
type lockSet struct {
	keys   []int64
	shared []bool
}

// locksFor returns the advisory locks for c's facts: one per folded
// entity, and the enqueuers' shared lock.
func (e *Engine) locksFor(c driver.Changes, home func(int64) int64) lockSet {
	exclusive := map[int64]bool{} // key → exclusive
	add := func(k int64, excl bool) { exclusive[k] = exclusive[k] || excl }
	for _, b := range c.Bindings {
		add(e.lockKey(lockBinding, []int64{home(b.Chat)}, ""), true)
		if b.Role == driver.RoleVillage {
			add(e.lockKey(lockVillage, nil, b.Name), true)
		}
	}
	for _, m := range c.Members {
		add(e.lockKey(lockMember, []int64{home(m.Chat), m.UserID}, ""), true)
	}
	for _, s := range c.Settings {
		add(e.lockKey(lockSetting, []int64{home(s.Chat)}, s.Key), true)
	}
	if r := c.Revision; r != nil {
		add(e.lockKey(lockReport, []int64{r.Chat, r.MessageID}, ""), true)
	}
	for _, w := range c.Withdrawals {
		add(e.lockKey(lockReport, []int64{w.Chat, w.MessageID}, ""), true)
	}
	for _, a := range c.Attempts {
		add(e.lockKey(lockAttempt, []int64{a.MessageID}, ""), true)
	}
	if len(c.Outbox) > 0 {
		add(e.lockKey(lockOutbox, nil, ""), false)
	}
	var s lockSet
	for k := range exclusive {
		s.keys = append(s.keys, k)
	}
	slices.Sort(s.keys)
	for _, k := range s.keys {
		s.shared = append(s.shared, !exclusive[k])
	}
	return s
}

func bindingArgs(bs []driver.Binding, home func(int64) int64) []any {
	homes, chats, roles, names, bys, ats := make([]int64, len(bs)), make([]int64, len(bs)), make([]string, len(bs)),
		make([][]byte, len(bs)), make([]int64, len(bs)), make([]*int64, len(bs))
	for i, b := range bs {
		homes[i], chats[i], roles[i], names[i], bys[i], ats[i] = home(b.Chat), b.Chat, string(b.Role), blob(b.Name), b.By, nanos(b.At)
	}
	return []any{homes, chats, roles, names, bys, ats}
}

func memberArgs(ms []driver.Member, home func(int64) int64) []any {
	homes, chats, users, names, left, ats := make([]int64, len(ms)), make([]int64, len(ms)), make([]int64, len(ms)),
		make([][]byte, len(ms)), make([]bool, len(ms)), make([]*int64, len(ms))
	for i, m := range ms {
		homes[i], chats[i], users[i], names[i], left[i], ats[i] = home(m.Chat), m.Chat, m.UserID, blob(m.Name), m.Left, nanos(m.At)
	}
	return []any{homes, chats, users, names, left, ats}
}

func settingArgs(ss []driver.Setting, home func(int64) int64) []any {
	homes, chats, keys, values, bys, ats := make([]int64, len(ss)), make([]int64, len(ss)), make([][]byte, len(ss)),
		make([][]byte, len(ss)), make([]int64, len(ss)), make([]*int64, len(ss))
	for i, s := range ss {
		homes[i], chats[i], keys[i], values[i], bys[i], ats[i] = home(s.Chat), s.Chat, blob(s.Key), blob(s.Value), s.By, nanos(s.At)
	}
	return []any{homes, chats, keys, values, bys, ats}
}

func withdrawalArgs(ws []driver.Withdrawal) []any {
	chats, msgs, bys, ats := make([]int64, len(ws)), make([]int64, len(ws)), make([]int64, len(ws)), make([]*int64, len(ws))
	for i, w := range ws {
		chats[i], msgs[i], bys[i], ats[i] = w.Chat, w.MessageID, w.By, nanos(w.At)
	}
	return []any{chats, msgs, bys, ats}
}

func outboxArgs(ms []driver.OutboxMessage, home func(int64) int64) []any {
	keys, homes, chats, methods, payloads, notBefore, created := make([][]byte, len(ms)), make([]int64, len(ms)),
		make([]int64, len(ms)), make([][]byte, len(ms)), make([][]byte, len(ms)), make([]*int64, len(ms)), make([]*int64, len(ms))
	for i, m := range ms {
		keys[i], homes[i], chats[i], methods[i] = blob(m.Key), home(m.Chat), m.Chat, blob(m.Method)
		if len(m.Payload) > 0 { // an empty payload is NULL and reads back nil
			payloads[i] = bytes.Clone(m.Payload)
		}
		notBefore[i], created[i] = nanos(m.NotBefore), nanos(m.CreatedAt)
	}
	return []any{keys, homes, chats, methods, payloads, notBefore, created}
}

func attemptArgs(as []driver.Attempt) []any {
	msgs, nums, sent, sentIDs, errs, retry, final, ats := make([]int64, len(as)), make([]int64, len(as)), make([]bool, len(as)),
		make([]int64, len(as)), make([][]byte, len(as)), make([]*int64, len(as)), make([]bool, len(as)), make([]*int64, len(as))
	for i, a := range as {
		msgs[i], nums[i], sent[i], sentIDs[i] = a.MessageID, int64(a.Attempt), a.Sent, a.SentMessageID
		errs[i], retry[i], final[i], ats[i] = blob(a.Error), nanos(a.RetryAt), a.Final, nanos(a.At)
	}
	return []any{msgs, nums, sent, sentIDs, errs, retry, final, ats}
}

// revisionArgs returns sqlRevision's arguments. Fields are stored as two
// parallel arrays in key order. A Day that is zero or does not fit the
// integer column is invalid; such an event day is none.
func revisionArgs(r *driver.Revision) ([]any, error) {
	day, ok := dayInt(r.Day)
	if !ok {
		return nil, fmt.Errorf("revision: day %v out of range: %w", r.Day, driver.ErrInvalid)
	}
	eventDay, _ := dayInt(r.EventDay())
	var names []string
	var values [][]byte
	if r.Fields != nil {
		names = make([]string, 0, len(r.Fields))
		for k := range r.Fields {
			names = append(names, k)
		}
		slices.Sort(names)
		values = make([][]byte, len(names))
		for i, k := range names {
			values[i] = blob(r.Fields[k])
		}
	}
	return []any{
		r.Chat, r.MessageID, r.Revision, string(r.Kind), blob(string(r.Lang)), names, values,
		int64(r.Problems), blob(r.Text), r.SenderID, blob(r.Sender), nanos(r.SentAt), day, eventDay,
		identity(r.Fields["phone"]), identity(r.Fields["id_number"]), nanos(r.At),
	}, nil
}

// dayInt returns d as yyyymmdd for an integer column; ok false for the
// zero Date or one out of range.
func dayInt(d report.Date) (int32, bool) {
	n := int64(d.Year)*10000 + int64(d.Month)*100 + int64(d.Day)
	if n == 0 || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false
	}
	return int32(n), true
}

// identity returns an identity field's column value: NULL when empty, so
// the partial indexes leave it out and it matches nothing.
func identity(v string) []byte {
	if v == "" {
		return nil
	}
	return blob(v)
}
