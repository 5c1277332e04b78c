package postgres

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"gridbot/store/driver"
)

// terminate kills the backend serving tx, as an operator's
// pg_terminate_backend or a crashed connection would.
func terminate(tb testing.TB, tx pgx.Tx) {
	tb.Helper()
	admin(tb, baseURL(tb), fmt.Sprintf("SELECT pg_terminate_backend(%d)", tx.Conn().PgConn().PID()))
}

// retryStep is a step with every kind of part whose result depends on
// what was there before: a claim, a revision, outbox messages (one new,
// one queued before, one key given twice).
func retryStep(i int) driver.Changes {
	r := arrival(-1, int64(i), 0, "张三", "13812345678")
	return driver.Changes{
		Claims:   []string{fmt.Sprintf("claim-%d", i)},
		Revision: &r,
		Members:  []driver.Member{{Chat: -1, UserID: int64(i), Name: "王", At: at(0)}},
		Outbox: []driver.OutboxMessage{
			msg(fmt.Sprintf("new-%d", i), -1, at(0)), msg("queued-before", -1, at(0)), msg(fmt.Sprintf("new-%d", i), -1, at(0)),
		},
	}
}

// assertOnce checks that step i's facts are in the store exactly once.
func assertOnce(t *testing.T, e *Engine, i int) {
	t.Helper()
	ctx := context.Background()
	if hist, err := e.History(ctx, -1, int64(i)); err != nil || len(hist) != 1 {
		t.Errorf("step %d: %d revisions recorded, want 1 (%v)", i, len(hist), err)
	}
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM members WHERE user_id = $1`, int64(i)).Scan(&n); err != nil || n != 1 {
		t.Errorf("step %d: %d member rows, want 1 (%v)", i, n, err)
	}
	if ok, err := e.Claimed(ctx, fmt.Sprintf("claim-%d", i)); err != nil || !ok {
		t.Errorf("step %d: claim not taken (%v)", i, err)
	}
}

// TestPostgresCommitSurvivesKilledConnection: the backend of a commit is
// terminated (pg_terminate_backend) after the commit wrote everything and
// before its COMMIT: the transaction is lost with the connection, and
// Commit runs it again on a fresh connection, with the result it would
// have had, nothing applied twice.
func TestPostgresCommitSurvivesKilledConnection(t *testing.T) {
	e := openTest(t)
	mustCommit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{msg("queued-before", -1, at(0))}})
	want := mustCommit(t, e, retryStep(1)) // the result without any failure
	var kills atomic.Int32
	e.hook = func(stage string, tx pgx.Tx) error {
		if stage == "commit" && kills.Add(1) == 1 {
			terminate(t, tx)
		}
		return nil
	}
	got, err := e.Commit(context.Background(), retryStep(2))
	if err != nil {
		t.Fatalf("commit whose connection was killed: %v", err)
	}
	if kills.Load() < 2 {
		t.Fatalf("the commit ran %d times, want a second run after the kill", kills.Load())
	}
	assertSameShape(t, got, want)
	assertOnce(t, e, 2)
}

// TestPostgresCommitLostReply: the connection fails after COMMIT went
// through but before its answer arrived (a lost reply, simulated after a
// successful COMMIT). Commit learns from the database that the
// transaction committed and returns exactly its result: the claim it took
// is reported taken by this commit, the revision and the new message as
// new, the message queued before as queued before, with their ids; and it
// runs nothing again.
func TestPostgresCommitLostReply(t *testing.T) {
	e := openTest(t)
	mustCommit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{msg("queued-before", -1, at(0))}})
	want := mustCommit(t, e, retryStep(1))
	var runs atomic.Int32
	e.hook = func(stage string, tx pgx.Tx) error {
		if stage == "committed" && runs.Add(1) == 1 {
			return fmt.Errorf("reading COMMIT's answer: %w", io.ErrUnexpectedEOF)
		}
		return nil
	}
	got, err := e.Commit(context.Background(), retryStep(2))
	if err != nil {
		t.Fatalf("commit whose answer was lost: %v", err)
	}
	if runs.Load() != 1 {
		t.Errorf("the transaction ran %d times, want once", runs.Load())
	}
	assertSameShape(t, got, want)
	if rev, ok, _ := e.Report(context.Background(), -1, 2); !ok || rev.Seq != got.RevisionSeq {
		t.Errorf("RevisionSeq %d, stored %d", got.RevisionSeq, rev.Seq)
	}
	if m, ok, _ := e.Outbox(context.Background(), "new-2"); !ok || m.ID != got.OutboxIDs[0] || got.OutboxIDs[2] != m.ID {
		t.Errorf("OutboxIDs %v, stored id of new-2 %d", got.OutboxIDs, m.ID)
	}
	if m, _, _ := e.Outbox(context.Background(), "queued-before"); got.OutboxIDs[1] != m.ID {
		t.Errorf("OutboxIDs %v, stored id of queued-before %d", got.OutboxIDs, m.ID)
	}
	assertOnce(t, e, 2)

	// a repeat whose answer is lost is still a repeat
	runs.Store(0)
	again, err := e.Commit(context.Background(), driver.Changes{Revision: retryStep(2).Revision, Outbox: []driver.OutboxMessage{msg("new-2", -1, at(0))}})
	if err != nil || !again.DuplicateRevision || again.Enqueued[0] || again.RevisionSeq != got.RevisionSeq {
		t.Errorf("a repeat whose answer was lost: %+v %v", again, err)
	}
}

// assertSameShape compares two results of retryStep, ignoring the ids.
func assertSameShape(t *testing.T, got, want driver.Result) {
	t.Helper()
	if got.Claimed != want.Claimed || got.DuplicateRevision != want.DuplicateRevision || got.NameTaken != want.NameTaken ||
		!reflect.DeepEqual(got.Enqueued, want.Enqueued) || got.RevisionSeq <= 0 || len(got.OutboxIDs) != len(want.OutboxIDs) {
		t.Errorf("result %+v, want the shape of %+v", got, want)
	}
}

// TestPostgresCommitsUnderKilledConnections: writers commit while every
// fifth commit's backend is killed before its COMMIT and every seventh
// loses its answer after it: every commit succeeds, and every step is
// recorded exactly once.
func TestPostgresCommitsUnderKilledConnections(t *testing.T) {
	e := openTest(t)
	mustCommit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{msg("queued-before", -1, at(0))}})
	var n atomic.Int64
	var killed, lost atomic.Int32
	e.hook = func(stage string, tx pgx.Tx) error {
		switch k := n.Add(1); {
		case stage == "commit" && k%5 == 0:
			killed.Add(1)
			terminate(t, tx)
		case stage == "committed" && k%7 == 0:
			lost.Add(1)
			return io.ErrUnexpectedEOF
		}
		return nil
	}
	const writers, steps = 6, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range steps {
				i := 100 + w*steps + s
				res, err := e.Commit(context.Background(), retryStep(i))
				if err != nil {
					t.Errorf("step %d: %v", i, err)
					continue
				}
				if !res.Claimed || res.DuplicateRevision || !reflect.DeepEqual(res.Enqueued, []bool{true, false, false}) {
					t.Errorf("step %d: %+v", i, res)
				}
			}
		}()
	}
	wg.Wait()
	if killed.Load() == 0 || lost.Load() == 0 {
		t.Fatalf("%d backends killed, %d answers lost: the test did not test", killed.Load(), lost.Load())
	}
	for i := 100; i < 100+writers*steps; i++ {
		assertOnce(t, e, i)
	}
}
