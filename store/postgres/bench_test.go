package postgres

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gridbot/report"
	"gridbot/store/driver"
)

// benchRevision is a realistic arrival report.
func benchRevision(chat, msg int64, day report.Date, sent time.Time) driver.Revision {
	return driver.Revision{
		Chat: chat, MessageID: msg, Kind: report.Arrival, Lang: report.Zh,
		Fields: map[string]string{
			"name": "张三", "phone": fmt.Sprintf("138%08d", msg%100000000), "origin": "湖北武汉", "arrived_on": day.String(),
			"address": "郝家店村3组", "transport": "自驾", "note": "居家观察",
		},
		Text:     "#返乡登记 姓名：张三 电话：13812345678 来自：湖北武汉 返回日期：2月5日 住址：郝家店村3组 交通方式：自驾",
		SenderID: 1001, Sender: "王书记", SentAt: sent, Day: day, At: sent,
	}
}

func benchSaves(b *testing.B, writers int) {
	e := openTest(b)
	ctx := context.Background()
	var next atomic.Int64
	save := func() {
		n := next.Add(1)
		r := benchRevision(-1000-n%500, n, day0, t0.Add(time.Duration(n)*time.Second))
		if _, err := e.Commit(ctx, driver.Changes{Revision: &r}); err != nil {
			b.Error(err)
		}
	}
	save() // warm the pool
	b.ResetTimer()
	if writers == 1 {
		for b.Loop() {
			save()
		}
	} else {
		procs := runtime.GOMAXPROCS(0)
		b.SetParallelism((writers + procs - 1) / procs)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				save()
			}
		})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
}

// BenchmarkPostgresSave1 measures durable report saves, one writer.
func BenchmarkPostgresSave1(b *testing.B) { benchSaves(b, 1) }

// BenchmarkPostgresSave64 measures durable report saves, 64 concurrent
// writers sharing one engine (its pool).
func BenchmarkPostgresSave64(b *testing.B) { benchSaves(b, 64) }

// loadReports COPYs n reports into e's schema: villages chats, ten a day
// per village, every 20th edited once and about every 100th withdrawn. It
// returns the days loaded.
func loadReports(tb testing.TB, e *Engine, n, villages int) (first, last report.Date) {
	tb.Helper()
	ctx := context.Background()
	perDay := villages * 10
	days := (n + perDay - 1) / perDay
	first = report.Date{Year: 2020, Month: 1, Day: 1}
	last = first.AddDays(days - 1)
	var edits, withdrawals [][]any
	rows := func(i int) ([]any, error) {
		day := first.AddDays(i / perDay)
		chat := -1001000000000 - int64(i%villages)
		msg := int64(i/villages + 1)
		r := benchRevision(chat, msg, day, day.Start(time.UTC).Add(time.Duration(i%perDay)*time.Second))
		if i%20 == 0 {
			r2 := r
			r2.Revision, r2.Fields = 1, map[string]string{"name": "张三丰", "phone": "13800000000", "origin": "武汉", "arrived_on": day.String(), "address": "x"}
			args, err := revisionArgs(&r2)
			if err != nil {
				return nil, err
			}
			edits = append(edits, args)
		}
		if i%97 == 1 {
			withdrawals = append(withdrawals, []any{chat, msg, int64(7), nanos(r.At)})
		}
		return revisionArgs(&r)
	}
	cols := []string{"chat", "message_id", "revision", "kind", "lang", "field_names", "field_values",
		"problems", "text", "sender_id", "sender", "sent_at", "day", "event_day", "phone", "id_number", "at"}
	if _, err := e.pool.CopyFrom(ctx, pgx.Identifier{"revisions"}, cols, pgx.CopyFromSlice(n, rows)); err != nil {
		tb.Fatalf("copy revisions: %v", err)
	}
	if _, err := e.pool.CopyFrom(ctx, pgx.Identifier{"revisions"}, cols, pgx.CopyFromRows(edits)); err != nil {
		tb.Fatalf("copy edits: %v", err)
	}
	if _, err := e.pool.CopyFrom(ctx, pgx.Identifier{"withdrawals"}, []string{"chat", "message_id", "by_user", "at"}, pgx.CopyFromRows(withdrawals)); err != nil {
		tb.Fatalf("copy withdrawals: %v", err)
	}
	if _, err := e.pool.Exec(ctx, `ANALYZE`); err != nil {
		tb.Fatal(err)
	}
	return first, last
}

// BenchmarkPostgresOpen measures opening an engine over a schema holding
// 100,000 reports: a pool and a migration check, independent of the data.
func BenchmarkPostgresOpen(b *testing.B) {
	u := newSchema(b)
	loadReports(b, openURL(b, u), 100_000, 100)
	ctx := context.Background()
	for b.Loop() {
		e, err := Open(ctx, u, Options{})
		if err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
}

// BenchmarkPostgresDayOfVillage measures Reports for one village's day
// (ten reports) out of 1,000,000 reports from 1,000 villages.
func BenchmarkPostgresDayOfVillage(b *testing.B) {
	e := openTest(b)
	const villages = 1000
	first, last := loadReports(b, e, 1_000_000, villages)
	days := last.DaysSince(first) + 1
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		day := first.AddDays(i * 7 % days)
		chat := -1001000000000 - int64(i*13%villages)
		rs, err := e.Reports(ctx, driver.ReportQuery{Chat: chat, From: day, To: day})
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) < 7 || len(rs) > 10 {
			b.Fatalf("%d reports for village %d on %v", len(rs), chat, day)
		}
	}
}

// BenchmarkPostgresDue measures Due with 1,000,000 sent messages in the
// outbox's history and 10 pending.
func BenchmarkPostgresDue(b *testing.B) {
	e := openTest(b)
	ctx := context.Background()
	const sent = 1_000_000
	rows := func(i int) ([]any, error) {
		return []any{blob(fmt.Sprintf("post:%d", i)), int64(-1), int64(-1), blob("sendMessage"), []byte(`{"text":"x"}`), nanos(at(0)), nanos(at(0))}, nil
	}
	cols := []string{"key", "home_chat", "chat", "method", "payload", "not_before", "created_at"}
	if _, err := e.pool.CopyFrom(ctx, pgx.Identifier{"outbox"}, cols, pgx.CopyFromSlice(sent, rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `INSERT INTO outbox_attempts (message_seq, attempt, sent, sent_message_id, error, final, at)
		SELECT seq, 1, true, seq, '', false, $1 FROM outbox`, nanos(at(1))); err != nil {
		b.Fatal(err)
	}
	var pending []driver.OutboxMessage
	for i := range 10 {
		pending = append(pending, msg(fmt.Sprintf("pending:%d", i), -1, at(i)))
	}
	mustCommit(b, e, driver.Changes{Outbox: pending})
	if _, err := e.pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	if ms, err := e.Due(ctx, at(60), 100); err != nil || len(ms) != 10 { // the first Due moves the horizon
		b.Fatalf("due: %d, %v", len(ms), err)
	}
	for b.Loop() {
		if ms, err := e.Due(ctx, at(60), 100); err != nil || len(ms) != 10 {
			b.Fatalf("due: %d, %v", len(ms), err)
		}
	}
}
