package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"gridbot/store/driver"
)

// The outbox is append-only like everything else: a message is a row in
// outbox, each delivery attempt a row in outbox_attempts, and a message is
// done (sent or dead) once it has an attempt with terminal set. Nothing
// marks a message done in place, so no index over outbox alone can leave
// the done messages out; and "every message without a terminal attempt"
// is an anti-join that, done naively, reads every message ever sent.
//
// The outbox horizon makes Due and OutboxStats cheap. A horizon row
// (outbox_horizon) says: every message with seq < low_seq is done, except
// the few listed in pending (at most maxPendingBelow). Due scans only
// messages with seq >= low_seq (an index range on the primary key) plus
// the listed ones (primary key probes), and each candidate costs one probe
// of the partial index over terminal attempts. What it reads is therefore
// the pending messages plus the messages queued since the horizon last
// moved (at most advanceEvery ago, or since the 257th-oldest pending
// message when more than maxPendingBelow are pending); never the history.
// With 1,000,000 sent messages and 10 pending, Due reads 10 outbox rows.
//
// The horizon is passed to the queries as parameters, and they run as
// unnamed statements (pgx.QueryExecModeExec) so that PostgreSQL plans
// them knowing how narrow the window is; a generic plan has to guess a
// third of the table and may choose a scan of every attempt ever made.
//
// Due moves the horizon forward from time to time (advanceEvery of the
// caller's clock; see advanceHorizon). A new horizon must not skip a
// message that is still being enqueued: a transaction in flight may hold a
// seq below the new low_seq that nobody can see yet. So every Commit that
// enqueues takes a shared advisory lock before drawing seqs, and the
// advance takes the same lock exclusively: it waits until every enqueue in
// flight has committed or rolled back, and every seq drawn after it is
// higher than any it saw.
//
// Several replicas may call Due at once and receive the same messages:
// Due reads, it does not lease. The bot's senders take turns by a lease
// with a short expiry (Lease, below) so that one sends at a time, and
// fence each send with a claim on the message's attempt, so that two
// senders that both believe they hold the lease still cannot both send
// it; idempotent outbox keys keep a message from being queued twice.

// advanceEvery is how often (on the clock Due is given) Due moves the
// outbox horizon; maxPendingBelow bounds the pending list a horizon keeps.
const (
	advanceEvery    = time.Minute
	maxPendingBelow = 256
)

// window is an outbox horizon: every message with seq < low is done,
// except those in pending. Any horizon ever committed is a correct
// window, and a newer one is never wider than an older one (it is computed
// from it), so a process may keep the one it read or wrote last: a stale
// copy only makes Due read a little more, never miss a message.
type window struct {
	low     int64
	pending []int64
}

// inWindow selects outbox rows o inside the window given by two
// parameters that are not done. The done test is a scalar subquery on
// purpose: the planner cannot turn it into a join, so it stays one probe
// of outbox_attempts_terminal per candidate, and never becomes a hash
// anti-join over the whole attempt history.
func inWindow(low, pending string) string {
	return `(o.seq >= ` + low + `::bigint OR o.seq = ANY (` + pending + `::bigint[]))
		AND NOT (SELECT EXISTS (SELECT 1 FROM outbox_attempts t WHERE t.message_seq = o.seq AND t.terminal))`
}

// sqlDue returns pending messages due at $1, at most $2, in the window
// ($4, $5). A pending message's attempts are all failures to retry, so
// its newest attempt holds its RetryAt and LastError, and it is due then;
// a message never attempted is due at its NotBefore. $3 stands for the
// zero time: the earliest.
var sqlDue = `WITH pending AS (
		SELECT o.seq, o.key, o.home_chat, o.method, o.payload, o.not_before, o.created_at,
			last.attempts, last.error, last.retry_at,
			CASE WHEN last.attempts IS NULL THEN coalesce(o.not_before, $3) ELSE coalesce(last.retry_at, $3) END AS due_at
		FROM outbox o
		LEFT JOIN LATERAL (
			SELECT a.error, a.retry_at,
				(SELECT max(b.attempt) FROM outbox_attempts b WHERE b.message_seq = o.seq) AS attempts
			FROM outbox_attempts a WHERE a.message_seq = o.seq ORDER BY a.seq DESC LIMIT 1
		) AS last ON true
		WHERE ` + inWindow("$4", "$5") + `
	)
	SELECT seq, key, chat_current(home_chat), method, payload, not_before, created_at, attempts, error, retry_at
	FROM pending WHERE due_at <= $1 ORDER BY due_at, seq LIMIT $2`

// Due returns pending messages due at now, by due time then ID, at most
// limit. Chat is the chat's current id: where to send now. Due only reads:
// replicas calling it at once may receive the same messages, and their
// senders must dedupe (see the comment at the top of this file).
func (e *Engine) Due(ctx context.Context, now time.Time, limit int) ([]driver.OutboxMessage, error) {
	if err := e.check("due"); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, nil
	}
	if e.advanceDue(now) {
		if err := e.advanceHorizon(ctx); err != nil {
			// Not fatal: the old horizon is still correct, only wider.
			e.log.Warn("outbox horizon not advanced", "err", err)
		}
	}
	w, err := e.window(ctx)
	if err != nil {
		return nil, e.fail("due", err)
	}
	// The zero time is the earliest: a message without NotBefore is due
	// at once, and at the zero time nothing else is due.
	at := int64(math.MinInt64)
	if n := nanos(now); n != nil {
		at = *n
	}
	// QueryExecModeExec: an unnamed statement, planned with the window's
	// values, never a generic plan that must guess how wide it is.
	rows, err := e.pool.Query(ctx, sqlDue, pgx.QueryExecModeExec, at, limit, int64(math.MinInt64), w.low, w.pending)
	if err != nil {
		return nil, e.fail("due", err)
	}
	defer rows.Close()
	var out []driver.OutboxMessage
	for rows.Next() {
		var m driver.OutboxMessage
		var key, method, errText []byte
		var notBefore, created, retry, attempts *int64
		if err := rows.Scan(&m.ID, &key, &m.Chat, &method, &m.Payload, &notBefore, &created, &attempts, &errText, &retry); err != nil {
			return nil, e.fail("due", err)
		}
		m.Key, m.Method, m.NotBefore, m.CreatedAt = string(key), string(method), timeOf(notBefore), timeOf(created)
		m.State, m.LastError, m.RetryAt = driver.OutboxPending, string(errText), timeOf(retry)
		if attempts != nil {
			m.Attempts = int(*attempts)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, e.fail("due", err)
	}
	return out, nil
}

// window returns the outbox horizon this process knows, reading the
// newest one the first time.
func (e *Engine) window(ctx context.Context) (window, error) {
	e.mu.Lock()
	w, ok := e.horizon, e.horizonKnown
	e.mu.Unlock()
	if ok {
		return w, nil
	}
	w, err := readHorizon(ctx, e.pool)
	if err != nil {
		return window{}, err
	}
	e.setWindow(w)
	return w, nil
}

// setWindow remembers w unless a newer horizon is known already.
func (e *Engine) setWindow(w window) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.horizonKnown || w.low >= e.horizon.low {
		e.horizon, e.horizonKnown = w, true
	}
}

// readHorizon reads the newest horizon; with none, the window is the
// whole outbox.
func readHorizon(ctx context.Context, q querier) (window, error) {
	w := window{pending: []int64{}}
	err := q.QueryRow(ctx, `SELECT low_seq, pending FROM outbox_horizon ORDER BY seq DESC LIMIT 1`).Scan(&w.low, &w.pending)
	if errors.Is(err, pgx.ErrNoRows) {
		return window{pending: []int64{}}, nil
	}
	if err != nil {
		return window{}, fmt.Errorf("outbox horizon: %w", err)
	}
	return w, nil
}

// advanceDue reports whether Due should move the horizon now, and if so
// schedules the next time. The schedule is per process and only a matter
// of cost: any replica may advance at any time.
func (e *Engine) advanceDue(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.nextAdvance.IsZero() && now.Before(e.nextAdvance) && now.After(e.nextAdvance.Add(-2*advanceEvery)) {
		return false // not yet (and the clock did not jump back)
	}
	e.nextAdvance = now.Add(advanceEvery)
	return true
}

// advanceHorizon appends a new outbox horizon: the lowest pending seqs
// become its pending list (at most maxPendingBelow of them) and low_seq
// moves past them, to just above the newest message when they all fit.
// It runs under the enqueuers' lock, taken exclusively, so the scan sees
// every message that can ever get a seq below the new low_seq.
func (e *Engine) advanceHorizon(ctx context.Context) error {
	tx, err := e.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, e.lockKey(lockOutbox, nil, "")); err != nil {
		return err
	}
	old, err := readHorizon(ctx, tx)
	if err != nil {
		return err
	}
	var pending []int64
	var top *int64
	err = tx.QueryRow(ctx, `SELECT
			coalesce((SELECT array_agg(seq ORDER BY seq) FROM (
				SELECT o.seq FROM outbox o WHERE `+inWindow("$1", "$2")+` ORDER BY o.seq LIMIT $3
			) AS waiting), '{}'),
			(SELECT max(seq) FROM outbox)`,
		pgx.QueryExecModeExec, old.low, old.pending, maxPendingBelow+1).Scan(&pending, &top)
	if err != nil {
		return err
	}
	w := window{low: old.low, pending: pending}
	switch {
	case len(pending) > maxPendingBelow:
		w.low, w.pending = pending[maxPendingBelow], pending[:maxPendingBelow]
	case top != nil:
		w.low = max(old.low, *top+1)
	}
	if w.low == old.low && slices.Equal(w.pending, old.pending) {
		e.setWindow(old)
		return nil // nothing moved: append nothing
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox_horizon (low_seq, pending) VALUES ($1, $2)`, w.low, w.pending); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	e.setWindow(w)
	e.log.Debug("outbox horizon advanced", "low", w.low, "pending_below", len(w.pending))
	return nil
}

// Outbox returns one message by key with its state folded from its
// attempts.
func (e *Engine) Outbox(ctx context.Context, key string) (driver.OutboxMessage, bool, error) {
	if err := e.check("outbox"); err != nil {
		return driver.OutboxMessage{}, false, err
	}
	rows, err := e.pool.Query(ctx, `SELECT o.seq, o.key, chat_current(o.home_chat), o.method, o.payload, o.not_before, o.created_at,
			a.attempt, a.sent, a.sent_message_id, a.error, a.retry_at, a.final, a.at
		FROM outbox o LEFT JOIN outbox_attempts a ON a.message_seq = o.seq
		WHERE o.key = $1 ORDER BY a.seq`, blob(key))
	if err != nil {
		return driver.OutboxMessage{}, false, e.fail("outbox", err)
	}
	defer rows.Close()
	var m driver.OutboxMessage
	var f folder
	found := false
	for rows.Next() {
		var k, method, errText []byte
		var notBefore, created, retry, at *int64
		var attempt, sentID *int64
		var sent, final *bool
		var payload []byte
		if err := rows.Scan(&m.ID, &k, &m.Chat, &method, &payload, &notBefore, &created,
			&attempt, &sent, &sentID, &errText, &retry, &final, &at); err != nil {
			return driver.OutboxMessage{}, false, e.fail("outbox", err)
		}
		if !found {
			found = true
			m.Key, m.Method, m.Payload, m.NotBefore, m.CreatedAt = string(k), string(method), payload, timeOf(notBefore), timeOf(created)
		}
		if attempt != nil {
			f.add(driver.Attempt{Attempt: int(*attempt), Sent: *sent, SentMessageID: *sentID, Error: string(errText),
				RetryAt: timeOf(retry), Final: *final, At: timeOf(at)})
		}
	}
	if err := rows.Err(); err != nil {
		return driver.OutboxMessage{}, false, e.fail("outbox", err)
	}
	if !found {
		return driver.OutboxMessage{}, false, nil
	}
	f.apply(&m)
	return m, true, nil
}

// folder folds a message's attempts, given in Seq order, as the embedded
// engine does: Attempts is the highest attempt number; the message is sent
// if any attempt was sent (SentMessageID and DoneAt from the newest such),
// else dead if any failure was final (DoneAt from the newest such), else
// pending with RetryAt from its newest attempt; LastError comes from the
// newest failure whatever the state.
type folder struct {
	attempts   int
	sent, dead bool
	sentID     int64
	sentAt     time.Time
	deadAt     time.Time
	lastError  string
	retryAt    time.Time
}

func (f *folder) add(a driver.Attempt) {
	f.attempts = max(f.attempts, a.Attempt)
	if a.Sent {
		f.sent, f.sentID, f.sentAt = true, a.SentMessageID, a.At
		return
	}
	f.lastError, f.retryAt = a.Error, a.RetryAt
	if a.Final {
		f.dead, f.deadAt = true, a.At
	}
}

func (f *folder) apply(m *driver.OutboxMessage) {
	m.Attempts, m.LastError = f.attempts, f.lastError
	switch {
	case f.sent:
		m.State, m.SentMessageID, m.DoneAt = driver.OutboxSent, f.sentID, f.sentAt
	case f.dead:
		m.State, m.DoneAt = driver.OutboxDead, f.deadAt
	default:
		m.State, m.RetryAt = driver.OutboxPending, f.retryAt
	}
}

// OutboxStats counts the pending messages and finds the oldest CreatedAt
// among them, reading only the horizon's window.
func (e *Engine) OutboxStats(ctx context.Context) (int, time.Time, error) {
	if err := e.check("outbox stats"); err != nil {
		return 0, time.Time{}, err
	}
	w, err := e.window(ctx)
	if err != nil {
		return 0, time.Time{}, e.fail("outbox stats", err)
	}
	var n int64
	var oldest *int64
	err = e.pool.QueryRow(ctx, `SELECT count(*), min(o.created_at) FROM outbox o WHERE `+inWindow("$1", "$2"),
		pgx.QueryExecModeExec, w.low, w.pending).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, e.fail("outbox stats", err)
	}
	return int(n), timeOf(oldest), nil
}

// Lease takes, renews or checks a lease in one statement: the insert
// takes a free lease, the update renews the holder's own or takes one
// that ran out, and a lease held by another that has not run out is left
// alone (no row comes back).
func (e *Engine) Lease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	if err := e.check("lease"); err != nil {
		return false, err
	}
	rows, err := e.pool.Query(ctx, `INSERT INTO leases (name, holder, until_ns) VALUES ($1, $2, $4)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ns = excluded.until_ns
		WHERE leases.holder = excluded.holder OR leases.until_ns <= $3
		RETURNING holder`, blob(name), blob(holder), *nanos(now), *nanos(until))
	if err != nil {
		return false, e.fail("lease", err)
	}
	defer rows.Close()
	held := rows.Next()
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, e.fail("lease", err)
	}
	return held, nil
}
