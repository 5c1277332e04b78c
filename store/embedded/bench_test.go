package embedded

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gridbot/report"
	"gridbot/store/driver"
	"gridbot/store/embedded/journal"
)

// The synthetic data set: villages × days × perDay reports, a realistic mix
// of kinds, Chinese texts and fields.
const (
	benchVillages = 100
	benchDays     = 100
)

var benchDay0 = report.Date{Year: 2020, Month: 1, Day: 20}

var benchLoc = time.FixedZone("CST", 8*3600)

// benchRevision returns the i-th report of the synthetic data set: village
// i%villages, day i/(villages*perDay), message id i+1.
func benchRevision(i, perDay int) driver.Revision {
	chat := int64(-1001000000000 - i%benchVillages)
	day := benchDay0.AddDays(i / (benchVillages * perDay) % benchDays)
	at := day.Start(benchLoc).Add(8*time.Hour + time.Duration(i%perDay)*time.Minute)
	r := driver.Revision{
		Chat: chat, MessageID: int64(i + 1), Lang: report.Zh, SenderID: 5000 + int64(i%37),
		Sender: "王网格员", SentAt: at, Day: day, At: at.Add(time.Second),
	}
	phone := fmt.Sprintf("138%08d", i%5_000_000)
	switch i % 10 {
	case 0, 1, 2, 3:
		r.Kind = report.Arrival
		r.Fields = map[string]string{"name": "张三", "phone": phone, "origin": "湖北武汉", "arrived_on": day.AddDays(-(i % 3)).String(), "address": "郝家店村3组12号"}
		if i%4 == 0 {
			r.Fields["id_number"] = fmt.Sprintf("4201021990%08d", i%100_000_000)
		}
		r.Text = "#返乡 张三 " + phone + " 从湖北武汉返回 住郝家店村3组12号"
	case 4, 5:
		r.Kind = report.Fever
		r.Fields = map[string]string{"name": "李四", "temperature": "38.2", "address": "相台村5组", "symptoms": "咳嗽"}
		r.Text = "#发热 李四 38.2 相台村5组 咳嗽"
	case 6:
		r.Kind = report.Tenant
		r.Fields = map[string]string{"name": "罗娟", "phone": phone, "address": "钢花路8号", "moved_in": day.String(), "landlord": "何明"}
		r.Text = "#租户 罗娟 " + phone + " 钢花路8号"
	case 7:
		r.Kind = report.Gathering
		r.Fields = map[string]string{"type": "funeral", "host": "马超", "date": day.AddDays(2).String(), "address": "郝家店村", "guests": "30"}
		r.Text = "#婚丧 丧事 马超 郝家店村 30人"
	default:
		r.Kind = report.Daily
		r.Fields = map[string]string{"households": "120", "arrivals": "3", "fevers": "0", "gatherings": "0"}
		r.Text = "#日报 排查120户 返乡3人 发热0 婚丧0"
	}
	return r
}

// writeJournal writes n synthetic reports, one record each, straight to a
// journal in dir (no engine, no fsync): fast setup for open benchmarks.
func writeJournal(tb testing.TB, dir string, n, perDay int) {
	tb.Helper()
	j, err := journal.Open(filepath.Join(dir, JournalFile), journal.Options{NoSync: true}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	batch := make([][]byte, 0, 1000)
	for i := range n {
		r := benchRevision(i, perDay)
		var ev int32
		if d, ok := dayInt(r.EventDay()); ok {
			ev = d
		}
		enc := encoder{b: []byte{recordVersion}}
		enc.revision(int64(i+1), &r, ev)
		batch = append(batch, enc.b)
		if len(batch) == cap(batch) || i == n-1 {
			if err := j.AppendBatch(context.Background(), batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := j.Close(); err != nil {
		tb.Fatal(err)
	}
}

// benchJournals caches the journals built by benchJournal for the whole
// test binary; TestMain removes them.
var benchJournals struct {
	sync.Mutex
	dirs map[int]string
}

// benchJournal returns a directory holding a journal of n synthetic
// reports, 100 per village and day, built once per test binary.
func benchJournal(b *testing.B, n int) string {
	benchJournals.Lock()
	defer benchJournals.Unlock()
	if dir, ok := benchJournals.dirs[n]; ok {
		return dir
	}
	dir, err := os.MkdirTemp("", "gridbot-embedded-bench-")
	if err != nil {
		b.Fatal(err)
	}
	if benchJournals.dirs == nil {
		benchJournals.dirs = map[int]string{}
	}
	benchJournals.dirs[n] = dir
	writeJournal(b, dir, n, n/(benchVillages*benchDays))
	return dir
}

func removeBenchJournals() {
	benchJournals.Lock()
	defer benchJournals.Unlock()
	for _, dir := range benchJournals.dirs {
		os.RemoveAll(dir)
	}
}

// benchmarkSave saves b.N distinct reports from writers goroutines, with
// real fsyncs, and reports durable saves per second.
func benchmarkSave(b *testing.B, writers int) {
	e := openTest(b, b.TempDir(), Options{})
	ctx := context.Background()
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				r := benchRevision(int(i), 100)
				res, err := e.Commit(ctx, driver.Changes{Revision: &r})
				if err != nil || res.DuplicateRevision {
					b.Errorf("save %d: %+v %v", i, res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
}

// BenchmarkSave1 measures durable report saves from one writer.
func BenchmarkSave1(b *testing.B) { benchmarkSave(b, 1) }

// BenchmarkSave64 measures durable report saves from 64 concurrent
// writers, whose fsyncs the journal's group commit shares.
func BenchmarkSave64(b *testing.B) { benchmarkSave(b, 64) }

// BenchmarkOpen measures replaying a journal of reports into memory, and
// the heap the open engine holds.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(map[int]string{100_000: "100k", 1_000_000: "1M"}[n], func(b *testing.B) {
			dir := benchJournal(b, n)
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for i := range b.N {
				e, err := Open(context.Background(), dir, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if i == b.N-1 {
					b.StopTimer()
					var after runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&after)
					b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MB")
					runtime.KeepAlive(e)
				}
				if err := e.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/open")
		})
	}
}

// BenchmarkDayOfVillage reads one village's day (100 reports) out of
// 1,000,000.
func BenchmarkDayOfVillage(b *testing.B) {
	dir := benchJournal(b, 1_000_000)
	e, err := Open(context.Background(), dir, Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	day := benchDay0.AddDays(42)
	chat := int64(-1001000000000 - 17)
	b.ResetTimer()
	for b.Loop() {
		rs, err := e.Reports(ctx, driver.ReportQuery{Chat: chat, From: day, To: day, IncludeInvalid: true})
		if err != nil || len(rs) != 100 {
			b.Fatalf("%d reports, %v", len(rs), err)
		}
	}
}

// TestWriteSyntheticStore is not a test: with GRIDBOT_WRITE_STORE=DIR:N it
// writes a store of N synthetic reports into DIR, for measuring a whole
// process (e.g. /usr/bin/time -v gridbot db verify --db DIR).
func TestWriteSyntheticStore(t *testing.T) {
	spec := os.Getenv("GRIDBOT_WRITE_STORE")
	if spec == "" {
		t.Skip("set GRIDBOT_WRITE_STORE=DIR:N to write a synthetic store")
	}
	var dir string
	var n int
	if i := strings.LastIndexByte(spec, ':'); i > 0 {
		dir = spec[:i]
		fmt.Sscan(spec[i+1:], &n)
	}
	if dir == "" || n <= 0 {
		t.Fatalf("GRIDBOT_WRITE_STORE=%q: want DIR:N", spec)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJournal(t, dir, n, 100)
}
