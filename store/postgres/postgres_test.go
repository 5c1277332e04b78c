package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gridbot/report"
	"gridbot/store/driver"
	"gridbot/store/storetest"
)

// The tests need a PostgreSQL server they may create schemas in, named by
// GRIDBOT_TEST_POSTGRES_URL, e.g.
//
//	GRIDBOT_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// Each test works in a schema of its own, dropped when it ends.
const urlVar = "GRIDBOT_TEST_POSTGRES_URL"

func baseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlVar)
	if u == "" {
		tb.Skipf("PostgreSQL tests skipped: set %s to a database URL (postgres://user@host:5432/db?sslmode=disable) to run them", urlVar)
	}
	return u
}

// newSchema creates an empty schema, dropped when tb ends, and returns a
// URL whose connections use it.
func newSchema(tb testing.TB) string {
	tb.Helper()
	base := baseURL(tb)
	var b [6]byte
	rand.Read(b[:])
	name := "gridbot_test_" + hex.EncodeToString(b[:])
	admin(tb, base, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
	tb.Cleanup(func() { admin(tb, base, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE") })
	return withSearchPath(tb, base, name)
}

func admin(tb testing.TB, base, sql string) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

func withSearchPath(tb testing.TB, base, schema string) string {
	tb.Helper()
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", urlVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openURL(tb testing.TB, u string) *Engine {
	tb.Helper()
	e, err := Open(context.Background(), u, Options{})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// openTest opens an engine over a fresh schema.
func openTest(tb testing.TB) *Engine {
	tb.Helper()
	return openURL(tb, newSchema(tb))
}

func TestPostgresConformance(t *testing.T) {
	baseURL(t)
	storetest.Run(t, storetest.Harness{Open: func(t *testing.T) (driver.Engine, func() (driver.Engine, error)) {
		u := newSchema(t)
		e, err := Open(context.Background(), u, Options{})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return e, func() (driver.Engine, error) { return Open(context.Background(), u, Options{}) }
	}})
}

var (
	t0   = time.Date(2020, 2, 7, 10, 0, 0, 123456789, time.UTC) // nanoseconds round-trip too
	day0 = report.Date{Year: 2020, Month: 2, Day: 7}
)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

func arrival(chat, msg, rev int64, name, phone string) driver.Revision {
	return driver.Revision{
		Chat: chat, MessageID: msg, Revision: rev, Kind: report.Arrival, Lang: report.Zh,
		Fields: map[string]string{"name": name, "phone": phone, "origin": "武汉", "arrived_on": day0.String(), "address": "郝家店村3组"},
		Text:   "#返乡 " + name, SenderID: 1001, Sender: "王书记", SentAt: at(0), Day: day0, At: at(int(rev)),
	}
}

func mustCommit(tb testing.TB, e *Engine, c driver.Changes) driver.Result {
	tb.Helper()
	res, err := e.Commit(context.Background(), c)
	if err != nil {
		tb.Fatalf("commit: %v", err)
	}
	return res
}

func msg(key string, chat int64, notBefore time.Time) driver.OutboxMessage {
	return driver.OutboxMessage{Key: key, Chat: chat, Method: "sendMessage", Payload: []byte(`{"k":"` + key + `"}`), NotBefore: notBefore, CreatedAt: at(0)}
}

func TestPostgresMigrationsIdempotent(t *testing.T) {
	u := newSchema(t)
	for range 3 {
		e := openURL(t, u)
		e.Close()
	}
	e := openURL(t, u)
	var n, version int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &version); err != nil {
		t.Fatal(err)
	}
	ms, _ := migrations()
	if n != len(ms) || version != ms[len(ms)-1].version {
		t.Fatalf("schema_migrations: %d rows up to version %d, want %d up to %d", n, version, len(ms), ms[len(ms)-1].version)
	}
}

func TestPostgresMigrationsConcurrent(t *testing.T) {
	u := newSchema(t)
	const replicas = 8
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	start := make(chan struct{})
	for range replicas {
		wg.Go(func() {
			<-start
			e, err := Open(context.Background(), u, Options{})
			if err != nil {
				errs <- err
				return
			}
			e.Close()
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent open: %v", err)
	}
	e := openURL(t, u)
	var n int
	ms, _ := migrations()
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("schema_migrations rows: %d, %v; want %d", n, err, len(ms))
	}
}

// A database created by migration 1 keyed reports by (home_chat,
// message_id). Upgrading keys them by the chat they were sent in, keeps
// every fact, and sets aside revisions that the new key makes repeats.
func TestPostgresUpgradeFrom1(t *testing.T) {
	u := newSchema(t)
	ctx := context.Background()
	ms, err := migrations()
	if err != nil || ms[0].version != 1 {
		t.Fatalf("migrations: %v", err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(ms[0].sql)
	exec(`CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO schema_migrations (version) VALUES (1)`)
	const old, cur, late = -101, -1001000000101, -777
	// what gridbot before migration 2 wrote: home_chat resolved at insert
	revision := func(home int64, r driver.Revision) int64 {
		t.Helper()
		args, err := revisionArgs(&r)
		if err != nil {
			t.Fatal(err)
		}
		var seq int64
		if err := conn.QueryRow(ctx, `INSERT INTO revisions (home_chat, chat, message_id, revision, kind, lang, field_names, field_values,
				problems, text, sender_id, sender, sent_at, day, event_day, phone, id_number, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING seq`,
			append([]any{home}, args...)...).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		return seq
	}
	migrate := func(home, from, to int64) {
		exec(`INSERT INTO chat_migrations (home_chat, from_chat, to_chat, at) VALUES ($1, $2, $3, $4)`, home, from, to, nanos(at(1)))
	}
	revision(old, arrival(old, 5, 0, "张三", "13812345678"))
	first := revision(late, arrival(late, 1, 0, "赵六", "13600000000")) // before late became an alias
	migrate(old, old, cur)
	revision(old, arrival(cur, 5, 100, "王五", "13700000000")) // the supergroup's message 5, taken for an edit of old's
	revision(old, arrival(cur, 6, 0, "李四", "13912345678"))
	exec(`INSERT INTO withdrawals (home_chat, chat, message_id, by_user, at) VALUES ($1, $2, 6, 7, $3)`, old, cur, nanos(at(2)))
	migrate(old, cur, late)
	repeat := revision(old, arrival(late, 1, 0, "赵六", "13600000000")) // the same message saved again

	e := openURL(t, u)
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("schema_migrations: %d rows, %v; want %d", n, err, len(ms))
	}
	if r, ok, err := e.Report(ctx, old, 5); err != nil || !ok || r.Chat != old || r.Fields["name"] != "张三" {
		t.Errorf("Report(old, 5) = %+v, %v, %v", r, ok, err)
	}
	if r, ok, err := e.Report(ctx, cur, 5); err != nil || !ok || r.Chat != cur || r.Revision != 100 || r.Fields["name"] != "王五" {
		t.Errorf("Report(cur, 5) = %+v, %v, %v", r, ok, err)
	}
	if _, ok, err := e.Report(ctx, cur, 6); err != nil || ok {
		t.Errorf("Report(cur, 6): the withdrawal was lost: %v, %v", ok, err)
	}
	if h, err := e.History(ctx, late, 1); err != nil || len(h) != 1 || h[0].Revision == nil || h[0].Revision.Seq != first {
		t.Errorf("History(late, 1) = %+v, %v; want the first save only", h, err)
	}
	var repeated []int64
	rows, err := e.pool.Query(ctx, `SELECT seq FROM revisions_repeated ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			t.Fatal(err)
		}
		repeated = append(repeated, seq)
	}
	if err := rows.Err(); err != nil || !reflect.DeepEqual(repeated, []int64{repeat}) {
		t.Errorf("revisions_repeated: %v, %v; want [%d]", repeated, err, repeat)
	}
	for _, id := range []int64{old, cur, late} {
		rs, err := e.Reports(ctx, driver.ReportQuery{Chat: id})
		var got []string
		for _, r := range rs {
			got = append(got, fmt.Sprintf("%d/%d", r.Chat, r.MessageID))
		}
		if want := []string{"-1001000000101/5", "-777/1", "-101/5"}; err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Reports(%d) = %v, %v; want %v", id, got, err, want)
		}
	}
	// the new key holds: a repeat is a duplicate, another chat's message 5 is not
	if r := arrival(late, 1, 0, "赵六", "13600000000"); !mustCommit(t, e, driver.Changes{Revision: &r}).DuplicateRevision {
		t.Error("a repeat of (late, 1, 0) was written again")
	}
	if r := arrival(cur, 5, 0, "王五", "13700000000"); mustCommit(t, e, driver.Changes{Revision: &r}).DuplicateRevision {
		t.Error("(cur, 5, 0) was taken for old's message 5")
	}
}

func TestPostgresOpenErrors(t *testing.T) {
	base := baseURL(t)
	if _, err := Open(context.Background(), "postgres://%zz", Options{}); err == nil {
		t.Error("a malformed URL opened")
	}
	// a search_path naming no schema: nowhere to create tables
	if _, err := Open(context.Background(), withSearchPath(t, base, "gridbot_no_such_schema"), Options{}); err == nil {
		t.Error("opened without a schema to create tables in")
	}
}

func TestPostgresCommitResult(t *testing.T) {
	e := openTest(t)
	ctx := context.Background()
	if res := mustCommit(t, e, driver.Changes{}); !res.Claimed || res.Enqueued != nil {
		t.Fatalf("empty commit: %+v", res)
	}
	r := arrival(-100101, 1, 0, "张三", "13812345678")
	res := mustCommit(t, e, driver.Changes{
		Claims:   []string{"c1", "c2", "c1"}, // a repeat within one step is one claim
		Revision: &r,
		Outbox:   []driver.OutboxMessage{msg("m2", -100101, at(0)), msg("m1", -100101, at(0))},
	})
	if !res.Claimed || res.DuplicateRevision || res.RevisionSeq <= 0 || !reflect.DeepEqual(res.Enqueued, []bool{true, true}) {
		t.Fatalf("first commit: %+v", res)
	}
	if res.OutboxIDs[0] >= res.OutboxIDs[1] {
		t.Errorf("ids %v: messages queued together must get ids in the order given", res.OutboxIDs)
	}
	res2 := mustCommit(t, e, driver.Changes{
		Revision: &r,
		Outbox:   []driver.OutboxMessage{msg("m3", -100101, at(0)), msg("m1", -100101, at(0))},
	})
	if !res2.DuplicateRevision || res2.RevisionSeq != res.RevisionSeq {
		t.Errorf("duplicate revision: %+v (first seq %d)", res2, res.RevisionSeq)
	}
	if !reflect.DeepEqual(res2.Enqueued, []bool{true, false}) || res2.OutboxIDs[1] != res.OutboxIDs[1] || res2.OutboxIDs[0] <= res.OutboxIDs[1] {
		t.Errorf("enqueue with an existing key: %+v (first %+v)", res2, res)
	}
	// a taken claim gates everything, including the other claims
	r2 := arrival(-100101, 2, 0, "李四", "13912345678")
	res3 := mustCommit(t, e, driver.Changes{Claims: []string{"c3", "c2"}, Revision: &r2, Outbox: []driver.OutboxMessage{msg("m4", -100101, at(0))}})
	if res3.Claimed || res3.RevisionSeq != 0 || res3.Enqueued != nil {
		t.Fatalf("a commit with a taken claim: %+v", res3)
	}
	if ok, _ := e.Claimed(ctx, "c3"); ok {
		t.Error("c3 was claimed by a commit whose other claim failed")
	}
	if _, ok, _ := e.Report(ctx, -100101, 2); ok {
		t.Error("a revision was saved by a commit whose claim failed")
	}
	// an attempt for an unknown message is refused, and nothing is applied
	_, err := e.Commit(ctx, driver.Changes{
		Members:  []driver.Member{{Chat: -100101, UserID: 9, Name: "x", At: at(0)}},
		Attempts: []driver.Attempt{{MessageID: 999999, Attempt: 1, Sent: true, At: at(0)}},
	})
	if !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("attempt for an unknown message: %v, want ErrNotFound", err)
	}
	if m, _ := e.Roster(ctx, -100101); len(m) != 0 {
		t.Errorf("a failed commit applied a member: %+v", m)
	}
	// Seq is the order of commits, across kinds of fact
	w := mustCommit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: -100101, MessageID: 1, By: 1, At: at(1)}}})
	_ = w
	hist, err := e.History(ctx, -100101, 1)
	if err != nil || len(hist) != 2 || hist[1].Withdrawal == nil || hist[1].Withdrawal.Seq <= hist[0].Revision.Seq {
		t.Fatalf("history: %+v %v", hist, err)
	}
}

func TestPostgresClaimContention(t *testing.T) {
	e := openTest(t)
	const workers = 64
	for round := range 3 {
		key := fmt.Sprintf("summary:-100101:2020-02-%02d", round+1)
		var winners atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range workers {
			wg.Go(func() {
				<-start
				res, err := e.Commit(context.Background(), driver.Changes{
					Claims: []string{key},
					Outbox: []driver.OutboxMessage{msg(fmt.Sprintf("%s:%d", key, i), -100101, at(0))},
				})
				if err != nil {
					t.Error(err)
					return
				}
				if res.Claimed {
					winners.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := winners.Load(); n != 1 {
			t.Fatalf("round %d: %d winners, want 1", round, n)
		}
	}
	if n, _, err := e.OutboxStats(context.Background()); err != nil || n != 3 {
		t.Fatalf("pending: %d, %v; want 3", n, err)
	}
}

// Two engines over one database are two replicas: two pools, no shared
// memory.
func TestPostgresTwoReplicas(t *testing.T) {
	u := newSchema(t)
	a, b := openURL(t, u), openURL(t, u)
	const keys, perEngine = 40, 6
	wins := make([]atomic.Int32, keys)
	var wg sync.WaitGroup
	for _, e := range []*Engine{a, b} {
		for g := range perEngine {
			wg.Go(func() {
				for k := range keys {
					key := fmt.Sprintf("rollup:%d", (k+g)%keys) // different orders
					res, err := e.Commit(context.Background(), driver.Changes{
						Claims: []string{key, "shared:" + key},
						Outbox: []driver.OutboxMessage{msg("post:"+key, -100300, at(0))},
					})
					if err != nil {
						t.Error(err)
						return
					}
					if res.Claimed {
						wins[(k+g)%keys].Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	for k := range keys {
		if n := wins[k].Load(); n != 1 {
			t.Errorf("key %d: %d winners", k, n)
		}
	}
	// what one replica wrote, the other reads at once
	r := arrival(-100101, 7, 0, "张三", "13812345678")
	mustCommit(t, a, driver.Changes{Revision: &r, Migrations: []driver.Migration{{From: -100101, To: -1001000000101, At: at(1)}}})
	if c, err := b.CurrentChat(context.Background(), -100101); err != nil || c != -1001000000101 {
		t.Errorf("the other replica's CurrentChat: %d, %v", c, err)
	}
	if got, ok, err := b.Report(context.Background(), -100101, 7); err != nil || !ok || got.Chat != -100101 {
		t.Errorf("the other replica's Report: %+v %v %v", got, ok, err)
	}
	if rs, err := b.Reports(context.Background(), driver.ReportQuery{Chat: -1001000000101}); err != nil || len(rs) != 1 || rs[0].Chat != -100101 {
		t.Errorf("the other replica's Reports: %+v %v", rs, err)
	}
}

func TestPostgresTextRoundTrip(t *testing.T) {
	e := openTest(t)
	ctx := context.Background()
	texts := []string{
		"", "\x00", "a\x00b\x00", "\xff\xfe\xc3\x28 invalid", "😷🦠👍🏽 emoji", "\u202e", strings.Repeat("长", 1400),
		strings.Repeat("x", 4096), strings.Repeat("\x00\xff", 1<<19), "'; DROP TABLE revisions; --", `\x00`, "NULL",
	}
	for i, s := range texts {
		chat := int64(-1000 - i)
		r := arrival(chat, 1, 0, s, "13812345678")
		r.Text, r.Sender, r.Lang = s, s, report.Lang(s)
		r.Fields["note"] = s
		key := fmt.Sprintf("k%d:\x00:%s", i, strings.ToValidUTF8(s[:min(len(s), 100)], "?"))
		payload := []byte(s)
		mustCommit(t, e, driver.Changes{
			Claims:   []string{key},
			Revision: &r,
			Bindings: []driver.Binding{{Chat: chat, Role: driver.RoleVillage, Name: s, By: 1, At: at(0)}},
			Members:  []driver.Member{{Chat: chat, UserID: 1, Name: s, At: at(0)}},
			Settings: []driver.Setting{{Chat: chat, Key: "k\x00" + s[:min(len(s), 10)], Value: s + "!", By: 1, At: at(0)}},
			Outbox:   []driver.OutboxMessage{{Key: key, Chat: chat, Method: "send\x00", Payload: payload, NotBefore: at(0), CreatedAt: at(0)}},
		})
		got, ok, err := e.Report(ctx, chat, 1)
		if err != nil || !ok {
			t.Fatalf("%d: %v %v", i, ok, err)
		}
		if got.Text != s || got.Sender != s || got.Lang != report.Lang(s) || !reflect.DeepEqual(got.Fields, r.Fields) {
			t.Errorf("%d: revision text did not round-trip", i)
		}
		if !got.At.Equal(r.At) || !got.SentAt.Equal(r.SentAt) {
			t.Errorf("%d: times %v %v, want %v %v", i, got.At, got.SentAt, r.At, r.SentAt)
		}
		if b, _, _ := e.Binding(ctx, chat); b.Name != s {
			t.Errorf("%d: binding name did not round-trip", i)
		}
		if m, _ := e.Roster(ctx, chat); len(m) != 1 || m[0].Name != s {
			t.Errorf("%d: member name did not round-trip", i)
		}
		if st, _ := e.Settings(ctx, chat); st["k\x00"+s[:min(len(s), 10)]] != s+"!" {
			t.Errorf("%d: setting did not round-trip", i)
		}
		if ok, _ := e.Claimed(ctx, key); !ok {
			t.Errorf("%d: claim key did not round-trip", i)
		}
		m, ok, _ := e.Outbox(ctx, key)
		if !ok || !bytes.Equal(m.Payload, payload) || m.Method != "send\x00" || m.Key != key {
			t.Errorf("%d: outbox message did not round-trip", i)
		}
		if (m.Payload == nil) != (len(payload) == 0) {
			t.Errorf("%d: payload %q came back as %#v; an empty one is nil, as in the embedded engine", i, payload, m.Payload)
		}
	}
	// an attempt's error is text too; a nil payload is nil
	res := mustCommit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{{Key: "nil", Chat: -1, Method: "x", NotBefore: at(0), CreatedAt: at(0)}}})
	mustCommit(t, e, driver.Changes{Attempts: []driver.Attempt{{MessageID: res.OutboxIDs[0], Attempt: 1, Error: "\x00\xff", Final: true, At: at(1)}}})
	if m, _, _ := e.Outbox(ctx, "nil"); m.Payload != nil || m.LastError != "\x00\xff" || m.State != driver.OutboxDead {
		t.Errorf("nil payload / error text: %+v", m)
	}
	// no fields read back as an empty map, as in the embedded engine
	for i, fields := range []map[string]string{nil, {}} {
		r := arrival(-1, int64(10+i), 0, "", "")
		r.Fields = fields
		mustCommit(t, e, driver.Changes{Revision: &r})
		got, _, _ := e.Report(ctx, -1, int64(10+i))
		if got.Fields == nil || len(got.Fields) != 0 {
			t.Errorf("fields %#v came back as %#v", fields, got.Fields)
		}
	}
}

func TestPostgresChatMigration(t *testing.T) {
	e := openTest(t)
	ctx := context.Background()
	const old, mid, cur = -101, -1001234567890123, -1009000000000000
	r := arrival(old, 5, 0, "张三", "13812345678")
	mustCommit(t, e, driver.Changes{
		Revision: &r,
		Bindings: []driver.Binding{{Chat: old, Role: driver.RoleVillage, Name: "郝家店村", By: 7, At: at(0)}},
		Settings: []driver.Setting{{Chat: old, Key: "tz", Value: "Asia/Shanghai", By: 7, At: at(0)}},
	})
	// a migration and facts under the new id in one step: the facts follow it
	mustCommit(t, e, driver.Changes{
		Migrations: []driver.Migration{{From: old, To: mid, At: at(1)}},
		Members:    []driver.Member{{Chat: mid, UserID: 1, Name: "王", At: at(1)}},
	})
	if m, _ := e.Roster(ctx, old); len(m) != 1 || m[0].Chat != mid {
		t.Fatalf("roster under the old id: %+v", m)
	}
	// a repeat, and the reverse, change nothing
	mustCommit(t, e, driver.Changes{Migrations: []driver.Migration{{From: old, To: mid, At: at(2)}, {From: mid, To: old, At: at(2)}}})
	mustCommit(t, e, driver.Changes{Migrations: []driver.Migration{{From: mid, To: cur, At: at(3)}}})
	r2 := arrival(cur, 6, 0, "李四", "13912345678")
	// a withdrawal of message 5 in another id of the chat is not old's 5
	mustCommit(t, e, driver.Changes{Revision: &r2, Withdrawals: []driver.Withdrawal{{Chat: mid, MessageID: 5, By: 7, At: at(4)}}})
	if got, ok, _ := e.Report(ctx, old, 5); !ok || got.Chat != old {
		t.Errorf("Report(old, 5) after a withdrawal of (mid, 5): %+v %v", got, ok)
	}
	mustCommit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: old, MessageID: 5, By: 7, At: at(4)}}})
	for _, id := range []int64{old, mid, cur} {
		if c, _ := e.CurrentChat(ctx, id); c != cur {
			t.Errorf("CurrentChat(%d) = %d", id, c)
		}
		if b, ok, _ := e.Binding(ctx, id); !ok || b.Chat != cur {
			t.Errorf("Binding(%d) = %+v %v", id, b, ok)
		}
		if s, _ := e.Settings(ctx, id); s["tz"] != "Asia/Shanghai" {
			t.Errorf("Settings(%d) = %v", id, s)
		}
		rs, _ := e.Reports(ctx, driver.ReportQuery{Chat: id})
		if len(rs) != 1 || rs[0].MessageID != 6 || rs[0].Chat != cur {
			t.Errorf("Reports(%d) = %+v", id, rs)
		}
		// a report's history is under the chat its message was sent in
		want := map[int64]int{old: 2, mid: 1, cur: 0}[id]
		if hist, _ := e.History(ctx, id, 5); len(hist) != want {
			t.Errorf("History(%d, 5) = %d events, want %d", id, len(hist), want)
		}
	}
	if hist, _ := e.History(ctx, old, 5); len(hist) != 2 || hist[0].Revision.Chat != old || hist[1].Withdrawal.Chat != old {
		t.Errorf("History(old, 5) = %+v", hist)
	}
	if hist, _ := e.History(ctx, mid, 5); len(hist) != 1 || hist[0].Withdrawal == nil || hist[0].Withdrawal.Chat != mid {
		t.Errorf("History(mid, 5) = %+v", hist)
	}
	// an id another chat migrated to already is refused
	_, err := e.Commit(ctx, driver.Changes{Migrations: []driver.Migration{{From: -555, To: mid, At: at(5)}}})
	if !errors.Is(err, driver.ErrInvalid) {
		t.Errorf("migrating a second chat to %d: %v, want ErrInvalid", mid, err)
	}
	if c, _ := e.CurrentChat(ctx, -555); c != -555 {
		t.Errorf("a refused migration moved -555 to %d", c)
	}
	// a chat with history but no migrations may become an alias: its own
	// roster joins the chat's (facts written under an id before its
	// migration stay visible), and its reports were sent in an id of the
	// chat, so the chat's reports now cover them
	r7 := arrival(-777, 1, 0, "赵六", "13600000000")
	mustCommit(t, e, driver.Changes{Revision: &r7, Members: []driver.Member{{Chat: -777, UserID: 2, Name: "x", At: at(0)}}})
	mustCommit(t, e, driver.Changes{Migrations: []driver.Migration{{From: cur, To: -777, At: at(6)}}})
	for _, id := range []int64{old, cur, -777} {
		if c, _ := e.CurrentChat(ctx, id); c != -777 {
			t.Errorf("CurrentChat(%d) = %d, want -777", id, c)
		}
	}
	if m, _ := e.Roster(ctx, -777); len(m) != 2 || m[0].UserID != 1 || m[1].UserID != 2 || m[1].Chat != -777 {
		t.Errorf("the roster of -777 is not its home's and its own: %+v", m)
	}
	for _, id := range []int64{old, -777} {
		rs, _ := e.Reports(ctx, driver.ReportQuery{Chat: id})
		if len(rs) != 2 || rs[0].Chat != cur || rs[0].MessageID != 6 || rs[1].Chat != -777 || rs[1].MessageID != 1 {
			t.Errorf("Reports(%d) after -777 became an alias: %+v", id, rs)
		}
	}
	// a home that migrated cannot become another chat's alias
	mustCommit(t, e, driver.Changes{Migrations: []driver.Migration{{From: -888, To: -889, At: at(7)}}})
	if _, err := e.Commit(ctx, driver.Changes{Migrations: []driver.Migration{{From: -777, To: -888, At: at(8)}}}); !errors.Is(err, driver.ErrInvalid) {
		t.Errorf("migrating to a migrated home: %v, want ErrInvalid", err)
	}
	// the same id migrated twice: the newest migration names the current id
	mustCommit(t, e, driver.Changes{Migrations: []driver.Migration{{From: old, To: -999, At: at(9)}}})
	for _, id := range []int64{old, mid, cur, -777, -999} {
		if c, _ := e.CurrentChat(ctx, id); c != -999 {
			t.Errorf("CurrentChat(%d) = %d, want -999", id, c)
		}
	}
}

func TestPostgresWithdrawalAndResurrection(t *testing.T) {
	e := openTest(t)
	ctx := context.Background()
	r0 := arrival(-1, 1, 0, "a", "13812345678")
	mustCommit(t, e, driver.Changes{Revision: &r0})
	mustCommit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: -1, MessageID: 1, By: 1, At: at(1)}}})
	if _, ok, _ := e.Report(ctx, -1, 1); ok {
		t.Fatal("withdrawn report still current")
	}
	if rs, _ := e.FindIdentity(ctx, "13812345678", "", report.Date{}); len(rs) != 0 {
		t.Fatalf("FindIdentity found a withdrawn report: %+v", rs)
	}
	// a later edit brings it back
	r1 := arrival(-1, 1, 7, "b", "13812345678")
	mustCommit(t, e, driver.Changes{Revision: &r1})
	if got, ok, _ := e.Report(ctx, -1, 1); !ok || got.Fields["name"] != "b" {
		t.Fatalf("not resurrected: %+v %v", got, ok)
	}
	if rs, _ := e.FindIdentity(ctx, "13812345678", "", report.Date{}); len(rs) != 1 {
		t.Fatalf("FindIdentity after resurrection: %+v", rs)
	}
	// a revision and a withdrawal in one step: the withdrawal comes after
	r2 := arrival(-1, 1, 8, "c", "13812345678")
	mustCommit(t, e, driver.Changes{Revision: &r2, Withdrawals: []driver.Withdrawal{{Chat: -1, MessageID: 1, By: 1, At: at(9)}}})
	if _, ok, _ := e.Report(ctx, -1, 1); ok {
		t.Fatal("a withdrawal in the same step as a revision did not hide it")
	}
	// current is by revision number (the edit date), then Seq: an older
	// edit recorded late neither replaces the newest nor brings it back
	r3 := arrival(-1, 1, 3, "d", "13812345678")
	mustCommit(t, e, driver.Changes{Revision: &r3})
	if got, ok, _ := e.Report(ctx, -1, 1); ok {
		t.Fatalf("an older edit recorded late brought a withdrawn report back: %+v", got)
	}
	r4 := arrival(-1, 1, 9, "e", "13812345678")
	mustCommit(t, e, driver.Changes{Revision: &r4})
	mustCommit(t, e, driver.Changes{Revision: &r3})
	if got, _, _ := e.Report(ctx, -1, 1); got.Fields["name"] != "e" {
		t.Fatalf("current revision: %+v", got)
	}
}

func TestPostgresDue(t *testing.T) {
	e := openTest(t)
	ctx := context.Background()
	keys := func(ms []driver.OutboxMessage) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Key)
		}
		return out
	}
	due := func(now time.Time, limit int) []driver.OutboxMessage {
		t.Helper()
		ms, err := e.Due(ctx, now, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	res := mustCommit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{
		msg("c", -1, at(3)), msg("a", -1, at(1)), msg("b1", -1, at(2)), msg("b2", -1, at(2)), msg("late", -1, at(100)),
		{Key: "asap", Chat: -1, Method: "sendMessage", CreatedAt: at(0)}, // no NotBefore: due at once
	}})
	ids := map[string]int64{}
	for i, k := range []string{"c", "a", "b1", "b2", "late", "asap"} {
		ids[k] = res.OutboxIDs[i]
	}
	if got := keys(due(at(0), 10)); !reflect.DeepEqual(got, []string{"asap"}) {
		t.Fatalf("due at 0: %v", got)
	}
	if got := keys(due(at(2), 10)); !reflect.DeepEqual(got, []string{"asap", "a", "b1", "b2"}) {
		t.Fatalf("due at 2: %v (by time, then id)", got)
	}
	if got := keys(due(at(50), 3)); !reflect.DeepEqual(got, []string{"asap", "a", "b1"}) {
		t.Fatalf("limit 3: %v", got)
	}
	mustCommit(t, e, driver.Changes{Attempts: []driver.Attempt{
		{MessageID: ids["asap"], Attempt: 1, Sent: true, SentMessageID: 1, At: at(3)},
		{MessageID: ids["a"], Attempt: 1, Error: "500", RetryAt: at(4), At: at(3)},
		{MessageID: ids["b1"], Attempt: 1, Error: "403", Final: true, At: at(3)},
	}})
	mustCommit(t, e, driver.Changes{Attempts: []driver.Attempt{{MessageID: ids["a"], Attempt: 2, Error: "429", RetryAt: at(10), At: at(4)}}})
	got := due(at(5), 10)
	if !reflect.DeepEqual(keys(got), []string{"b2", "c"}) {
		t.Fatalf("due at 5: %v (a retries at 10; asap sent; b1 dead)", keys(got))
	}
	got = due(at(10), 10)
	if !reflect.DeepEqual(keys(got), []string{"b2", "c", "a"}) {
		t.Fatalf("due at 10: %v", keys(got))
	}
	if a := got[2]; a.Attempts != 2 || a.LastError != "429" || !a.RetryAt.Equal(at(10)) || a.State != driver.OutboxPending || a.Chat != -1 {
		t.Errorf("a as due: %+v", a)
	}
	n, oldest, err := e.OutboxStats(ctx)
	if err != nil || n != 4 || !oldest.Equal(at(0)) {
		t.Errorf("stats: %d %v %v", n, oldest, err)
	}
	// Due reports the current chat id
	mustCommit(t, e, driver.Changes{Migrations: []driver.Migration{{From: -1, To: -1001, At: at(11)}}})
	if ms := due(at(10), 1); len(ms) != 1 || ms[0].Chat != -1001 {
		t.Errorf("due after a migration: %+v", ms)
	}
}

// TestPostgresDueHorizon checks that Due and OutboxStats read the pending
// messages and the recent ones, not the history: 3,000 sent messages, a
// few pending ones among and after them.
func TestPostgresDueHorizon(t *testing.T) {
	e := openTest(t)
	ctx := context.Background()
	var pendingIDs []int64
	for batch := range 3 {
		var ms []driver.OutboxMessage
		for i := range 1000 {
			ms = append(ms, msg(fmt.Sprintf("h%d:%d", batch, i), -1, at(0)))
		}
		res := mustCommit(t, e, driver.Changes{Outbox: ms})
		var as []driver.Attempt
		for i, id := range res.OutboxIDs {
			if batch == 1 && i%500 == 7 {
				pendingIDs = append(pendingIDs, id) // left pending, deep in history
				continue
			}
			as = append(as, driver.Attempt{MessageID: id, Attempt: 1, Sent: true, SentMessageID: id, At: at(1)})
		}
		mustCommit(t, e, driver.Changes{Attempts: as})
	}
	if ms, err := e.Due(ctx, at(5), 100); err != nil || len(ms) != 2 || ms[0].ID != pendingIDs[0] || ms[1].ID != pendingIDs[1] {
		t.Fatalf("due: %+v %v", ms, err)
	}
	// the first Due advanced the horizon past everything, keeping the two
	var low int64
	var pending []int64
	if err := e.pool.QueryRow(ctx, `SELECT low_seq, pending FROM outbox_horizon ORDER BY seq DESC LIMIT 1`).Scan(&low, &pending); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pending, pendingIDs) {
		t.Fatalf("horizon pending %v, want %v", pending, pendingIDs)
	}
	fresh := mustCommit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{msg("fresh", -1, at(0))}})
	if fresh.OutboxIDs[0] < low {
		t.Fatalf("a new message %d below the horizon %d", fresh.OutboxIDs[0], low)
	}
	scanned := outboxRowsRead(t, e, at(5))
	if scanned > 10 {
		t.Errorf("Due read %d outbox rows for 3 pending among 3,000; want a handful", scanned)
	}
	if ms, _ := e.Due(ctx, at(5), 100); len(ms) != 3 || ms[2].Key != "fresh" {
		t.Fatalf("due after the horizon moved: %+v", ms)
	}
	if n, _, _ := e.OutboxStats(ctx); n != 3 {
		t.Fatalf("stats: %d pending, want 3", n)
	}
	// many pending: the horizon keeps maxPendingBelow and stops at the next
	var ms []driver.OutboxMessage
	for i := range maxPendingBelow + 10 {
		ms = append(ms, msg(fmt.Sprintf("p%d", i), -1, at(0)))
	}
	mustCommit(t, e, driver.Changes{Outbox: ms})
	if err := e.advanceHorizon(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := e.OutboxStats(ctx); got != 3+maxPendingBelow+10 {
		t.Fatalf("stats with a long pending list: %d", got)
	}
	all, _ := e.Due(ctx, at(5), 1000)
	if len(all) != 3+maxPendingBelow+10 {
		t.Fatalf("due with a long pending list: %d", len(all))
	}
}

// outboxRowsRead runs Due's query under EXPLAIN ANALYZE and adds up the
// rows read from outbox.
func outboxRowsRead(t *testing.T, e *Engine, now time.Time) int {
	t.Helper()
	ctx := context.Background()
	w, err := e.window(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var plan []byte
	if err := e.pool.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+sqlDue, pgx.QueryExecModeExec, now.UnixNano(), 100, int64(math.MinInt64), w.low, w.pending).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var root []struct{ Plan map[string]any }
	if err := json.Unmarshal(plan, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(n map[string]any) int
	walk = func(n map[string]any) int {
		total := 0
		if n["Relation Name"] == "outbox" {
			rows, _ := n["Actual Rows"].(float64)
			loops, _ := n["Actual Loops"].(float64)
			total += int(rows * loops)
		}
		if kids, ok := n["Plans"].([]any); ok {
			for _, k := range kids {
				total += walk(k.(map[string]any))
			}
		}
		return total
	}
	return walk(root[0].Plan)
}

func TestPostgresExtremeIDs(t *testing.T) {
	e := openTest(t)
	ctx := context.Background()
	for _, id := range []int64{math.MaxInt64, math.MinInt64, math.MinInt64 + 1, -1001234567890123, 1} {
		r := arrival(id, math.MaxInt64, math.MaxInt64, "x", "1")
		r.SenderID = id
		res := mustCommit(t, e, driver.Changes{
			Revision: &r,
			Members:  []driver.Member{{Chat: id, UserID: id, Name: "x", At: at(0)}},
			Outbox:   []driver.OutboxMessage{msg(fmt.Sprint(id), id, at(0))},
		})
		mustCommit(t, e, driver.Changes{Attempts: []driver.Attempt{{MessageID: res.OutboxIDs[0], Attempt: math.MaxInt32, Sent: true, SentMessageID: math.MaxInt64, At: at(1)}}})
		got, ok, err := e.Report(ctx, id, math.MaxInt64)
		if err != nil || !ok || got.Chat != id || got.Revision != math.MaxInt64 || got.SenderID != id {
			t.Errorf("report in %d: %+v %v %v", id, got, ok, err)
		}
		if m, _ := e.Roster(ctx, id); len(m) != 1 || m[0].UserID != id {
			t.Errorf("roster of %d: %+v", id, m)
		}
		if m, _, _ := e.Outbox(ctx, fmt.Sprint(id)); m.SentMessageID != math.MaxInt64 || m.Attempts != math.MaxInt32 || m.Chat != id {
			t.Errorf("outbox of %d: %+v", id, m)
		}
	}
	// times at the edges of what is stored exactly, and beyond
	for _, tm := range []time.Time{time.Unix(0, 1).UTC(), time.Date(1700, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)} {
		mustCommit(t, e, driver.Changes{Members: []driver.Member{{Chat: 42, UserID: 1, Name: "t", At: tm}}})
		if m, _ := e.Roster(ctx, 42); !m[0].At.Equal(tm) {
			t.Errorf("time %v came back as %v", tm, m[0].At)
		}
	}
	mustCommit(t, e, driver.Changes{Members: []driver.Member{{Chat: 42, UserID: 1, Name: "t", At: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}}})
	if m, _ := e.Roster(ctx, 42); m[0].At.Year() != 2262 {
		t.Errorf("a time beyond 2262 came back as %v, want clamped", m[0].At)
	}
}

func TestPostgresDayOutOfRange(t *testing.T) {
	e := openTest(t)
	for _, d := range []report.Date{{}, {Year: 300000, Month: 1, Day: 1}} {
		r := arrival(-1, 1, 0, "x", "1")
		r.Day = d
		if _, err := e.Commit(context.Background(), driver.Changes{Revision: &r}); !errors.Is(err, driver.ErrInvalid) {
			t.Errorf("day %v: %v, want ErrInvalid", d, err)
		}
	}
	r := arrival(-1, 1, 0, "x", "1")
	r.Fields["arrived_on"] = "9999-12-31"
	if res := mustCommit(t, e, driver.Changes{Revision: &r}); res.DuplicateRevision {
		t.Fatal(res)
	}
}

func TestPostgresReportQueries(t *testing.T) {
	e := openTest(t)
	ctx := context.Background()
	g := driver.Revision{Chat: -2, MessageID: 1, Kind: report.Gathering, Lang: report.Zh,
		Fields: map[string]string{"type": "wedding", "host": "马", "date": "2020-02-20", "address": "x", "guests": "3"},
		SentAt: at(0), Day: day0, At: at(0)}
	mustCommit(t, e, driver.Changes{Revision: &g})
	d := driver.Revision{Chat: -2, MessageID: 2, Kind: report.Daily, Lang: report.Zh, SentAt: at(0), Day: day0, At: at(0)}
	mustCommit(t, e, driver.Changes{Revision: &d})
	count := func(q driver.ReportQuery) int {
		rs, err := e.Reports(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	ev := report.Date{Year: 2020, Month: 2, Day: 20}
	for _, tt := range []struct {
		q    driver.ReportQuery
		want int
	}{
		{driver.ReportQuery{}, 2},
		{driver.ReportQuery{EventTo: ev}, 1}, // a report without an event day is in no event range
		{driver.ReportQuery{EventFrom: ev}, 1},
		{driver.ReportQuery{EventFrom: ev.AddDays(1)}, 0},
		{driver.ReportQuery{Kind: report.Daily, From: day0, To: day0}, 1},
		{driver.ReportQuery{Chat: -2, Kind: report.Fever}, 0},
	} {
		if got := count(tt.q); got != tt.want {
			t.Errorf("%+v: %d, want %d", tt.q, got, tt.want)
		}
	}
}

func TestPostgresClosed(t *testing.T) {
	e := openTest(t)
	e.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["commit"] = e.Commit(ctx, driver.Changes{Claims: []string{"x"}})
	_, _, checks["binding"] = e.Binding(ctx, 1)
	_, checks["bindings"] = e.Bindings(ctx)
	_, checks["current"] = e.CurrentChat(ctx, 1)
	_, checks["roster"] = e.Roster(ctx, 1)
	_, checks["settings"] = e.Settings(ctx, 1)
	_, checks["reports"] = e.Reports(ctx, driver.ReportQuery{})
	_, _, checks["report"] = e.Report(ctx, 1, 1)
	_, checks["history"] = e.History(ctx, 1, 1)
	_, checks["identity"] = e.FindIdentity(ctx, "1", "", report.Date{})
	_, checks["due"] = e.Due(ctx, at(0), 1)
	_, _, checks["outbox"] = e.Outbox(ctx, "x")
	_, _, checks["stats"] = e.OutboxStats(ctx)
	_, checks["claimed"] = e.Claimed(ctx, "x")
	for op, err := range checks {
		if !errors.Is(err, driver.ErrClosed) || !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("%s after Close: %v", op, err)
		}
	}
}

// Commits that race on one report: the fold's winner is the commit that
// committed last, and Seqs of one report are in commit order.
func TestPostgresConcurrentRevisions(t *testing.T) {
	u := newSchema(t)
	a, b := openURL(t, u), openURL(t, u)
	var wg sync.WaitGroup
	for w := range 16 {
		e := a
		if w%2 == 1 {
			e = b
		}
		wg.Go(func() {
			for i := range 20 {
				var c driver.Changes
				if i%3 == 2 {
					c.Withdrawals = []driver.Withdrawal{{Chat: -1, MessageID: 1, By: int64(w), At: at(i)}}
				} else {
					r := arrival(-1, 1, int64(w*100+i), "x", "1")
					c.Revision = &r
				}
				if _, err := e.Commit(context.Background(), c); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	hist, err := a.History(context.Background(), -1, 1)
	if err != nil || len(hist) != 16*20 {
		t.Fatalf("history: %d events, %v", len(hist), err)
	}
	// a fresh read agrees with the fold of the history: the newest edit
	// (revision number, then Seq), unless withdrawn after it
	var cur *driver.Revision
	var withdrawn int64
	for _, ev := range hist {
		if r := ev.Revision; r != nil && (cur == nil || r.Revision > cur.Revision || r.Revision == cur.Revision && r.Seq > cur.Seq) {
			cur = r
		}
		if w := ev.Withdrawal; w != nil {
			withdrawn = max(withdrawn, w.Seq)
		}
	}
	got, ok, _ := b.Report(context.Background(), -1, 1)
	if want := withdrawn < cur.Seq; ok != want {
		t.Fatalf("Report ok=%v, but the fold of the history says %v", ok, want)
	}
	if ok && got.Seq != cur.Seq {
		t.Fatalf("current revision seq %d, the fold's %d", got.Seq, cur.Seq)
	}
}

// The horizon must never skip a message being enqueued while it moves:
// producers on two replicas enqueue while the horizon is advanced over
// and over and a sender marks what Due returns as sent.
func TestPostgresHorizonRace(t *testing.T) {
	u := newSchema(t)
	a, b := openURL(t, u), openURL(t, u)
	ctx := context.Background()
	const producers, each = 6, 60
	var wg sync.WaitGroup
	var sent sync.Map
	stop := make(chan struct{})
	for p := range producers {
		e := a
		if p%2 == 1 {
			e = b
		}
		wg.Go(func() {
			for i := range each {
				mustCommit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{msg(fmt.Sprintf("m%d:%d", p, i), -1, at(0))}})
			}
		})
	}
	var movers sync.WaitGroup
	for _, e := range []*Engine{a, b} {
		movers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := e.advanceHorizon(ctx); err != nil {
					t.Error(err)
					return
				}
				ms, err := e.Due(ctx, at(1), 5)
				if err != nil {
					t.Error(err)
					return
				}
				for _, m := range ms[:len(ms)/2] { // send some, leave some pending
					if _, dup := sent.LoadOrStore(m.ID, true); !dup {
						mustCommit(t, e, driver.Changes{Attempts: []driver.Attempt{{MessageID: m.ID, Attempt: 1, Sent: true, At: at(1)}}})
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	movers.Wait()
	nSent := 0
	sent.Range(func(any, any) bool { nSent++; return true })
	for _, e := range []*Engine{a, b} {
		e.advanceHorizon(ctx)
		ms, err := e.Due(ctx, at(1), 10_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms)+nSent != producers*each {
			t.Fatalf("%d due + %d sent, want %d: the horizon skipped messages", len(ms), nSent, producers*each)
		}
		if n, _, _ := e.OutboxStats(ctx); n != len(ms) {
			t.Fatalf("stats say %d pending, Due returned %d", n, len(ms))
		}
	}
}

// countHandler counts log records by message.
type countHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Message]++
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func (h *countHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

// A deadlock with an outside transaction is retried: Commit returns a
// result, not the deadlock.
func TestPostgresDeadlockRetried(t *testing.T) {
	u := newSchema(t)
	logs := &countHandler{n: map[string]int{}}
	e, err := Open(context.Background(), u, Options{Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// the outside transaction holds the report's lock ...
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, e.lockKey(lockReport, []int64{-1, 1}, "")); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		res driver.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r := arrival(-1, 1, 0, "x", "1")
		res, err := e.Commit(ctx, driver.Changes{Claims: []string{"x"}, Revision: &r})
		done <- outcome{res, err}
	}()
	// ... the commit claims x and waits for that lock ...
	for waiting := false; !waiting; {
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	// ... and the outside transaction claims x too: a deadlock.
	_, outsideErr := tx.Exec(ctx, `INSERT INTO claims (key) VALUES ($1)`, []byte("x"))
	if outsideErr == nil {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	} else {
		tx.Rollback(ctx)
	}
	got := <-done
	if got.err != nil {
		t.Fatalf("commit: %v", got.err)
	}
	switch {
	case outsideErr == nil && (got.res.Claimed || logs.count("commit retried") == 0):
		t.Fatalf("the outside transaction won, so the commit must have been retried and lost its claim: %+v", got.res)
	case outsideErr != nil && !got.res.Claimed:
		t.Fatalf("the outside transaction was the deadlock's victim (%v), so the commit must have claimed: %+v", outsideErr, got.res)
	}
	t.Logf("outside: %v; commit: %+v; retries: %d", outsideErr, got.res, logs.count("commit retried"))
}
