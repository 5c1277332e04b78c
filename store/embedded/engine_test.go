package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gridbot/report"
	"gridbot/store/driver"
	"gridbot/store/embedded/journal"
)

var (
	tz    = time.FixedZone("CST", 8*3600)
	t0    = time.Date(2020, 2, 7, 10, 0, 0, 0, tz)
	today = report.Date{Year: 2020, Month: 2, Day: 7}
)

// testReport returns an arrival whose fields are derived from its key, so
// that a reader can check it is intact.
func testReport(chat, msg int64, day report.Date) driver.Revision {
	name := fmt.Sprintf("n%d/%d", chat, msg)
	return driver.Revision{
		Chat: chat, MessageID: msg, Kind: report.Arrival, Lang: report.Zh,
		Fields: map[string]string{"name": name, "phone": fmt.Sprintf("138%08d", msg%1e8), "origin": "武汉", "arrived_on": day.String(), "address": "村"},
		Text:   "#返乡 " + name, SenderID: 1, Sender: "王", SentAt: day.Start(tz).Add(time.Duration(msg%600) * time.Minute), Day: day,
		At: day.Start(tz).Add(time.Hour),
	}
}

// sameReport compares a revision read back with the one written, except
// Seq and Chat (which reads report as the current id).
func sameReport(got, want driver.Revision) bool {
	return got.MessageID == want.MessageID && got.Revision == want.Revision && got.Kind == want.Kind && got.Lang == want.Lang &&
		got.Problems == want.Problems && got.Text == want.Text && got.SenderID == want.SenderID && got.Sender == want.Sender &&
		got.Day == want.Day && got.SentAt.Equal(want.SentAt) && got.At.Equal(want.At) && sameFields(got.Fields, want.Fields)
}

func sameFields(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func mustCommit(t testing.TB, e *Engine, c driver.Changes) driver.Result {
	t.Helper()
	res, err := e.Commit(context.Background(), c)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return res
}

func saveReport(t testing.TB, e *Engine, r driver.Revision) driver.Result {
	t.Helper()
	return mustCommit(t, e, driver.Changes{Revision: &r})
}

// checkReports asserts that e holds exactly the reports of chat given.
func checkReports(t *testing.T, e *Engine, chat int64, want []driver.Revision) {
	t.Helper()
	got, err := e.Reports(context.Background(), driver.ReportQuery{Chat: chat})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d reports, want %d", len(got), len(want))
	}
	byMsg := map[int64]driver.Revision{}
	for _, r := range got {
		byMsg[r.MessageID] = r
	}
	for _, w := range want {
		if g, ok := byMsg[w.MessageID]; !ok || !sameReport(g, w) {
			t.Fatalf("report %d: got %+v, want %+v", w.MessageID, g, w)
		}
	}
}

func TestOpenArguments(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "", Options{}); !errors.Is(err, driver.ErrInvalid) {
		t.Errorf("no directory: %v", err)
	}
	if _, err := Open(ctx, t.TempDir(), Options{ReadOnly: true}); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("read-only without a journal: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Open(canceled, t.TempDir(), Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	e := openTest(t, dir, Options{})
	if _, err := os.Stat(filepath.Join(dir, JournalFile)); err != nil || e == nil {
		t.Errorf("the directory and journal were not created: %v", err)
	}
}

func TestSecondWriterIsLocked(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, Options{})
	saveReport(t, e, testReport(-1, 1, today))
	_, err := Open(context.Background(), dir, Options{})
	if !errors.Is(err, driver.ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	ro := openTest(t, dir, Options{ReadOnly: true})
	checkReports(t, ro, -1, []driver.Revision{testReport(-1, 1, today)})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := openTest(t, dir, Options{})
	checkReports(t, e2, -1, []driver.Revision{testReport(-1, 1, today)})
}

func TestReadOnlyNeverWrites(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, Options{})
	saveReport(t, e, testReport(-1, 1, today))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, JournalFile)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A torn tail, which a writer would cut off: a read-only engine
	// leaves it.
	if err := os.WriteFile(path, append(before, 0x40, 0, 0, 0, 1, 2), 0o600); err != nil {
		t.Fatal(err)
	}
	ro := openTest(t, dir, Options{ReadOnly: true})
	checkReports(t, ro, -1, []driver.Revision{testReport(-1, 1, today)})
	r := testReport(-1, 2, today)
	if _, err := ro.Commit(context.Background(), driver.Changes{Revision: &r}); !errors.Is(err, driver.ErrReadOnly) {
		t.Errorf("commit on a read-only engine: %v", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, append(before, 0x40, 0, 0, 0, 1, 2)) {
		t.Error("a read-only engine changed the journal")
	}
}

// TestReadOnlyBesideWriter opens read-only engines again and again while
// a writer appends: each sees a prefix of the acknowledged reports, intact.
func TestReadOnlyBesideWriter(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, dir, Options{})
	ctx := context.Background()
	var (
		mu    sync.Mutex
		acked int
	)
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	firstAck := make(chan struct{})
	go func() {
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			r := testReport(-7, i, today)
			if _, err := w.Commit(ctx, driver.Changes{Revision: &r}); err != nil {
				writerDone <- err
				return
			}
			mu.Lock()
			acked = int(i)
			mu.Unlock()
			if i == 1 {
				close(firstAck)
			}
		}
	}()
	// the writer has committed something before the first read-only open
	select {
	case <-firstAck:
	case err := <-writerDone:
		t.Fatalf("the writer stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the writer committed nothing in 10 s")
	}
	last := 0
	for round := 0; round < 15; round++ {
		mu.Lock()
		ackedBefore := acked
		mu.Unlock()
		ro, err := Open(ctx, dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only open %d: %v", round, err)
		}
		rs, err := ro.Reports(ctx, driver.ReportQuery{Chat: -7})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) < last || len(rs) < ackedBefore {
			t.Fatalf("round %d: %d reports; %d before, %d acknowledged before opening", round, len(rs), last, ackedBefore)
		}
		for _, r := range rs {
			if !sameReport(r, testReport(-7, r.MessageID, today)) {
				t.Fatalf("report %d damaged: %+v", r.MessageID, r)
			}
		}
		last = len(rs)
		ro.Close()
	}
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	if last == 0 {
		t.Error("the read-only engines never saw a report")
	}
}

// journalOffsets returns the offset of every record's frame in a journal.
func journalOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	var offs []int64
	if _, err := journal.ReadAll(path, func(off int64, _ []byte) error {
		offs = append(offs, off)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return offs
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, JournalFile)
	e := openTest(t, dir, Options{})
	var want []driver.Revision
	for i := int64(1); i <= 20; i++ {
		want = append(want, testReport(-3, i, today))
		saveReport(t, e, want[len(want)-1])
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	good, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The last record as a crash leaves it: its first half.
	offs := journalOffsets(t, path)
	data, _ := os.ReadFile(path)
	last := data[offs[len(offs)-1]:]
	torn := append(append([]byte(nil), data...), last[:len(last)/2]...)
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}

	ro := openTest(t, dir, Options{ReadOnly: true})
	checkReports(t, ro, -3, want)
	e = openTest(t, dir, Options{})
	checkReports(t, e, -3, want)
	if fi, _ := os.Stat(path); fi.Size() != good.Size() {
		t.Errorf("the writer kept %d bytes, want %d", fi.Size(), good.Size())
	}
	want = append(want, testReport(-3, 21, today))
	saveReport(t, e, want[len(want)-1])
	e.Close()
	e = openTest(t, dir, Options{})
	checkReports(t, e, -3, want)
}

func TestCorruptMiddle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, JournalFile)
	e := openTest(t, dir, Options{})
	for i := int64(1); i <= 20; i++ {
		saveReport(t, e, testReport(-3, i, today))
	}
	e.Close()
	offs := journalOffsets(t, path)
	data, _ := os.ReadFile(path)
	bad := offs[10]       // the 11th record's frame
	data[bad+8+5] ^= 0x55 // a byte of its payload
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{}, {ReadOnly: true}} {
		_, err := Open(context.Background(), dir, opts)
		var ce *journal.CorruptError
		if !errors.As(err, &ce) || ce.Offset != bad || !strings.Contains(err.Error(), fmt.Sprint(bad)) {
			t.Errorf("read-only %v: err = %v, want corruption at offset %d", opts.ReadOnly, err, bad)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Error("a failed open changed the journal")
	}
}

// TestUndecodableRecord: a frame that is valid for the journal but holds
// no record this engine reads stops Open, naming its offset.
func TestUndecodableRecord(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, JournalFile)
	e := openTest(t, dir, Options{})
	saveReport(t, e, testReport(-3, 1, today))
	e.Close()
	j, err := journal.Open(path, journal.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(context.Background(), []byte{recordVersion + 1, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	off := journalOffsets(t, path)[1]
	for _, opts := range []Options{{}, {ReadOnly: true}} {
		_, err := Open(context.Background(), dir, opts)
		if !errors.Is(err, errCorruptRecord) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", off)) {
			t.Errorf("read-only %v: err = %v, want a bad record at offset %d", opts.ReadOnly, err, off)
		}
	}
}

// TestInFlightKeyWaits holds a reservation as a commit in flight would and
// checks that a commit of the same key reports a duplicate and returns
// only once the first is done.
func TestInFlightKeyWaits(t *testing.T) {
	e := openTest(t, t.TempDir(), Options{})
	r := testReport(-5, 1, today)
	e.mu.Lock()
	p, err := e.plan(driver.Changes{Revision: &r, Claims: []string{"c"}, Outbox: []driver.OutboxMessage{{Key: "m", Chat: -5, Method: "x", CreatedAt: t0}}})
	if err != nil {
		e.mu.Unlock()
		t.Fatal(err)
	}
	f := e.reserve(p)
	e.mu.Unlock()

	var done atomic.Bool
	results := make(chan driver.Result, 3)
	errs := make(chan error, 3)
	for _, c := range []driver.Changes{
		{Revision: &r},
		{Claims: []string{"c"}},
		{Outbox: []driver.OutboxMessage{{Key: "m", Chat: -5, Method: "x", CreatedAt: t0}}},
	} {
		go func() {
			res, err := e.Commit(context.Background(), c)
			if !done.Load() {
				err = fmt.Errorf("returned before the commit in flight ended: %+v %v", res, err)
			}
			results <- res
			errs <- err
		}()
	}
	// Let the in-flight commit end as write would.
	if err := e.j.Append(context.Background(), p.rec); err != nil {
		t.Fatal(err)
	}
	if err := e.st.applyLocked(p.entries); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.unreserve(p, f)
	e.mu.Unlock()
	done.Store(true)
	close(f.done)
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(results)
	var got []string
	for res := range results {
		got = append(got, fmt.Sprintf("claimed=%v dup=%v seq=%d enq=%v ids=%v", res.Claimed, res.DuplicateRevision, res.RevisionSeq, res.Enqueued, res.OutboxIDs))
	}
	slices.Sort(got)
	want := []string{
		"claimed=false dup=false seq=0 enq=[] ids=[]",
		fmt.Sprintf("claimed=true dup=false seq=0 enq=[false] ids=[%d]", p.outIDs[0]),
		fmt.Sprintf("claimed=true dup=true seq=%d enq=[] ids=[]", p.revSeq),
	}
	if !slices.Equal(got, want) {
		t.Errorf("results:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMigrationRules(t *testing.T) {
	e := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	const a, b, c, d, x = -1, -2, -3, -4, -9
	saveReport(t, e, testReport(a, 1, today))
	saveReport(t, e, testReport(x, 1, today))
	tests := []struct {
		name     string
		from, to int64
		err      error
	}{
		{"first migration", a, b, nil},
		{"a repeat", a, b, nil},
		{"the same from the other side", b, a, nil},
		{"onto a chat that already is another's id", x, b, driver.ErrInvalid},
		{"onto a migrated home", x, a, driver.ErrInvalid},
		{"onward from the new id", b, c, nil},
		{"back onto an older id", c, a, nil},
	}
	for _, tt := range tests {
		_, err := e.Commit(ctx, driver.Changes{Migrations: []driver.Migration{{From: tt.from, To: tt.to, At: t0}}})
		if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
		}
	}
	// A migration and facts under the new id in one commit.
	r := testReport(d, 2, today)
	mustCommit(t, e, driver.Changes{
		Migrations: []driver.Migration{{From: c, To: d, At: t0}},
		Members:    []driver.Member{{Chat: d, UserID: 5, Name: "m", At: t0}},
		Revision:   &r,
	})
	for _, id := range []int64{a, b, c, d} {
		cur, err := e.CurrentChat(ctx, id)
		if err != nil || cur != d {
			t.Errorf("CurrentChat(%d) = %d, %v", id, cur, err)
		}
		// Reports of every id of the chat, each under the chat it was sent in.
		if rs, _ := e.Reports(ctx, driver.ReportQuery{Chat: id}); len(rs) != 2 || rs[0].Chat != a || rs[1].Chat != d {
			t.Errorf("Reports(%d) = %+v", id, rs)
		}
		if m, _ := e.Roster(ctx, id); len(m) != 1 {
			t.Errorf("Roster(%d) = %+v", id, m)
		}
	}
	if cur, _ := e.CurrentChat(ctx, x); cur != x {
		t.Errorf("an unrelated chat moved to %d", cur)
	}
	e.Close()
	e = openTest(t, e.path[:len(e.path)-len(JournalFile)-1], Options{})
	if cur, _ := e.CurrentChat(ctx, a); cur != d {
		t.Errorf("after reopening, CurrentChat(a) = %d", cur)
	}
}

func TestAttemptForUnknownMessage(t *testing.T) {
	e := openTest(t, t.TempDir(), Options{})
	_, err := e.Commit(context.Background(), driver.Changes{
		Members:  []driver.Member{{Chat: -1, UserID: 1, At: t0}},
		Attempts: []driver.Attempt{{MessageID: 42, Attempt: 1, Sent: true, At: t0}},
	})
	if !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if m, _ := e.Roster(context.Background(), -1); len(m) != 0 {
		t.Error("part of a refused commit was applied")
	}
}

func TestTooLargeCommit(t *testing.T) {
	e := openTest(t, t.TempDir(), Options{})
	big := strings.Repeat("x", 1<<20)
	var settings []driver.Setting
	for i := range 20 {
		settings = append(settings, driver.Setting{Chat: -1, Key: fmt.Sprint(i), Value: big, At: t0})
	}
	if _, err := e.Commit(context.Background(), driver.Changes{Settings: settings}); !errors.Is(err, driver.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	mustCommit(t, e, driver.Changes{Settings: settings[:2]})
	if s, err := e.Settings(context.Background(), -1); err != nil || len(s) != 2 || s["1"] != big {
		t.Fatalf("after a refused commit: %d settings, %v", len(s), err)
	}
}

// TestJournalFailureFailsEngine: once a journal write fails, every call
// returns the failure.
func TestJournalFailureFailsEngine(t *testing.T) {
	e := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	saveReport(t, e, testReport(-1, 1, today))
	e.j.Close() // every later append fails
	r := testReport(-1, 2, today)
	_, err := e.Commit(ctx, driver.Changes{Revision: &r})
	if !errors.Is(err, journal.ErrClosed) {
		t.Fatalf("commit: %v", err)
	}
	if _, _, err := e.Report(ctx, -1, 1); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("read after the failure: %v", err)
	}
	if _, err := e.Commit(ctx, driver.Changes{Claims: []string{"x"}}); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("commit after the failure: %v", err)
	}
}

// TestConcurrentUse runs writers and readers of every kind together; run
// with -race.
func TestConcurrentUse(t *testing.T) {
	e := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	const writers, each = 6, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			chat := int64(-10 - w%3)
			for i := range each {
				msg := int64(w*1000 + i + 1)
				r := testReport(chat, msg, today.AddDays(i%3))
				res, err := e.Commit(ctx, driver.Changes{
					Revision: &r,
					Outbox:   []driver.OutboxMessage{{Key: fmt.Sprint(msg), Chat: chat, Method: "sendMessage", NotBefore: t0, CreatedAt: t0}},
					Members:  []driver.Member{{Chat: chat, UserID: int64(w + 1), Name: "x", At: t0}},
				})
				if err != nil {
					t.Error(err)
					return
				}
				if i%4 == 0 {
					_, err = e.Commit(ctx, driver.Changes{
						Withdrawals: []driver.Withdrawal{{Chat: chat, MessageID: msg, By: 1, At: t0}},
						Attempts:    []driver.Attempt{{MessageID: res.OutboxIDs[0], Attempt: 1, Sent: true, At: t0}},
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for i := range 60 {
				chat := int64(-10 - i%3)
				if _, err := e.Reports(ctx, driver.ReportQuery{Chat: chat, From: today, To: today.AddDays(1)}); err != nil {
					t.Error(err)
				}
				if _, err := e.Reports(ctx, driver.ReportQuery{Kind: report.Arrival, EventFrom: today}); err != nil {
					t.Error(err)
				}
				if _, err := e.Due(ctx, t0, 10); err != nil {
					t.Error(err)
				}
				if _, _, err := e.Report(ctx, chat, int64(i+1)); err != nil {
					t.Error(err)
				}
				if _, err := e.FindIdentity(ctx, "13800001001", "", today); err != nil {
					t.Error(err)
				}
				if _, err := e.Roster(ctx, chat); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	rs, err := e.Reports(ctx, driver.ReportQuery{})
	if want := writers * each * 3 / 4; err != nil || len(rs) != want {
		t.Errorf("%d current reports, want %d: %v", len(rs), want, err)
	}
	if n, _, _ := e.OutboxStats(ctx); n != writers*each*3/4 {
		t.Errorf("%d pending, want %d", n, writers*each*3/4)
	}
}

// TestReportQueryPlans compares Reports with a brute-force fold over what
// was written, for random queries that take every plan.
func TestReportQueryPlans(t *testing.T) {
	e := openTest(t, t.TempDir(), Options{NoSync: true})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	type fact struct {
		r         driver.Revision
		withdrawn bool
	}
	current := map[[2]int64]*fact{}
	chats := []int64{-11, -22, -33}
	kinds := []report.Kind{report.Arrival, report.Fever, report.Tenant, report.Daily}
	for i := range 600 {
		chat := chats[rng.IntN(len(chats))]
		msg := int64(rng.IntN(300) + 1)
		day := today.AddDays(rng.IntN(20) - 10)
		k := [2]int64{chat, msg}
		if f := current[k]; f != nil && rng.IntN(4) == 0 {
			mustCommit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: chat, MessageID: msg, By: 1, At: t0}}})
			f.withdrawn = true
			continue
		}
		r := testReport(chat, msg, day)
		r.Revision = int64(i)
		r.Kind = kinds[rng.IntN(len(kinds))]
		r.Problems = rng.IntN(4) / 3
		switch r.Kind {
		case report.Tenant:
			r.Fields = map[string]string{"name": "x", "phone": "1", "address": "a", "moved_in": day.AddDays(rng.IntN(5) - 2).String()}
		case report.Fever, report.Daily:
			r.Fields = map[string]string{"name": "x"}
		default:
			r.Fields["arrived_on"] = day.AddDays(-rng.IntN(5)).String()
		}
		if f := current[k]; f != nil {
			r.Day, r.SentAt = f.r.Day, f.r.SentAt // an edit keeps the day it was sent
		}
		saveReport(t, e, r)
		current[k] = &fact{r: r}
	}
	date := func() report.Date {
		if rng.IntN(4) == 0 {
			return report.Date{}
		}
		return today.AddDays(rng.IntN(24) - 12)
	}
	for range 300 {
		q := driver.ReportQuery{From: date(), To: date(), EventFrom: date(), EventTo: date(), IncludeInvalid: rng.IntN(2) == 0}
		if rng.IntN(3) > 0 {
			q.Chat = chats[rng.IntN(len(chats))]
		}
		if rng.IntN(2) == 0 {
			q.Kind = kinds[rng.IntN(len(kinds))]
		}
		dayLo, dayHi := bounds(q.From, q.To)
		evLo, evHi := bounds(q.EventFrom, q.EventTo)
		var want []driver.Revision
		for k, f := range current {
			r := f.r
			ev, _ := dayInt(r.EventDay())
			day, _ := dayInt(r.Day)
			evSet := !q.EventFrom.IsZero() || !q.EventTo.IsZero()
			if f.withdrawn || (q.Chat != 0 && k[0] != q.Chat) || (q.Kind != "" && r.Kind != q.Kind) || (!q.IncludeInvalid && r.Problems != 0) ||
				int64(day) < dayLo || int64(day) > dayHi || (evSet && (ev == 0 || int64(ev) < evLo || int64(ev) > evHi)) {
				continue
			}
			want = append(want, r)
		}
		slices.SortFunc(want, func(a, b driver.Revision) int {
			if reportLess(&a, &b) {
				return -1
			}
			return 1
		})
		got, err := e.Reports(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("query %+v: %d reports, want %d", q, len(got), len(want))
		}
		for i := range got {
			if !sameReport(got[i], want[i]) || got[i].Chat != want[i].Chat {
				t.Fatalf("query %+v: report %d is %+v, want %+v", q, i, got[i], want[i])
			}
		}
	}
}

func TestPendingFoldIsOrderFree(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	attempts := []seqAttempt{
		{10, driver.Attempt{MessageID: 1, Attempt: 1, Error: "e1", RetryAt: at(20), At: at(1)}},
		{11, driver.Attempt{MessageID: 1, Attempt: 2, Error: "e2", RetryAt: at(30), At: at(2)}},
		{12, driver.Attempt{MessageID: 2, Attempt: 1, Sent: true, SentMessageID: 7, At: at(3)}},
		{13, driver.Attempt{MessageID: 2, Attempt: 2, Error: "late failure", RetryAt: at(40), At: at(4)}},
		{14, driver.Attempt{MessageID: 3, Attempt: 1, Error: "gone", Final: true, At: at(5)}},
	}
	for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {1, 3, 0, 4, 2}} {
		p := newPendingSet()
		for id := int64(1); id <= 3; id++ {
			p.add(id, at(0), at(-int(id)))
		}
		for _, i := range order {
			a := attempts[i]
			p.attempt(a.a.MessageID, a.seq, a.a.Sent, a.a.Final, a.a.RetryAt)
		}
		if ids := p.due(at(100), 10); !slices.Equal(ids, []int64{1}) || !p.byID[1].due.Equal(at(30)) {
			t.Errorf("order %v: due %v", order, ids)
		}
		if !p.oldest().Equal(at(-1)) {
			t.Errorf("order %v: oldest %v", order, p.oldest())
		}
	}
	tests := []struct {
		id    int64
		state driver.OutboxState
		err   string
	}{{1, driver.OutboxPending, "e2"}, {2, driver.OutboxSent, "late failure"}, {3, driver.OutboxDead, "gone"}}
	for _, tt := range tests {
		var mine []seqAttempt
		for _, i := range []int{4, 3, 2, 1, 0} {
			if attempts[i].a.MessageID == tt.id {
				mine = append(mine, attempts[i])
			}
		}
		var m driver.OutboxMessage
		foldAttempts(&m, mine)
		if m.State != tt.state || m.LastError != tt.err || m.Attempts != len(mine) {
			t.Errorf("message %d: %+v", tt.id, m)
		}
	}
}

func TestCommitCanceled(t *testing.T) {
	e := openTest(t, t.TempDir(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := testReport(-1, 1, today)
	if _, err := e.Commit(ctx, driver.Changes{Revision: &r}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, ok, _ := e.Report(context.Background(), -1, 1); ok {
		t.Fatal("a canceled commit was applied")
	}
	if res := saveReport(t, e, r); res.DuplicateRevision || res.RevisionSeq != 1 {
		t.Fatalf("after a canceled commit: %+v", res)
	}
}

// TestOutboxFollowsMigration: a message queued for a group is sent to the
// group's current id.
func TestOutboxFollowsMigration(t *testing.T) {
	e := openTest(t, t.TempDir(), Options{})
	ctx := context.Background()
	mustCommit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{{Key: "k", Chat: -1, Method: "sendMessage", NotBefore: t0, CreatedAt: t0}}})
	mustCommit(t, e, driver.Changes{Migrations: []driver.Migration{{From: -1, To: -1001, At: t0}}})
	ms, err := e.Due(ctx, t0, 10)
	if err != nil || len(ms) != 1 || ms[0].Chat != -1001 {
		t.Fatalf("due: %+v %v", ms, err)
	}
	if m, ok, _ := e.Outbox(ctx, "k"); !ok || m.Chat != -1001 {
		t.Fatalf("outbox: %+v", m)
	}
}

// TestLostJournalIsAnError: a store directory whose journal was deleted or
// emptied does not open as a new, empty store.
func TestLostJournalIsAnError(t *testing.T) {
	for _, damage := range []func(string) error{os.Remove, func(p string) error { return os.Truncate(p, 0) }} {
		dir := t.TempDir()
		e := openTest(t, dir, Options{})
		saveReport(t, e, testReport(-1, 1, today))
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, JournalFile)
		if err := damage(path); err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{false, true} {
			if _, err := Open(context.Background(), dir, Options{ReadOnly: ro}); !errors.Is(err, journal.ErrLost) {
				t.Errorf("Open(read-only %v) = %v, want journal.ErrLost", ro, err)
			}
		}
	}
}
