package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// openT opens path and returns the journal and copies of the replayed
// records.
func openT(t testing.TB, path string, opts Options) (*Journal, [][]byte) {
	t.Helper()
	var got [][]byte
	j, err := Open(path, opts, func(p []byte) error {
		got = append(got, bytes.Clone(p))
		return nil
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return j, got
}

func closeT(t testing.TB, j *Journal) {
	t.Helper()
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// writeJournal creates a journal at path holding payloads and returns the
// offset of each frame and the file size.
func writeJournal(t testing.TB, path string, payloads [][]byte) (offsets []int64, size int64) {
	t.Helper()
	j, _ := openT(t, path, Options{})
	for _, p := range payloads {
		offsets = append(offsets, j.Size())
		if err := j.Append(context.Background(), p); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	size = j.Size()
	closeT(t, j)
	return offsets, size
}

func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func equalRecords(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: got %d bytes %.20q, want %d bytes %.20q", i, len(got[i]), got[i], len(want[i]), want[i])
		}
	}
}

// idPayload returns the deterministic payload of record id: the id and
// filler derived from it, so a reader can tell an intact record.
func idPayload(id uint64) []byte {
	n := 8 + int(id*2654435761%2000)
	p := binary.LittleEndian.AppendUint64(make([]byte, 0, n), id)
	for i := 8; i < n; i++ {
		p = append(p, byte(id>>3)+byte(i*7))
	}
	return p
}

// decodeIDPayload returns the id of an intact idPayload record.
func decodeIDPayload(p []byte) (uint64, error) {
	if len(p) < 8 {
		return 0, fmt.Errorf("record of %d bytes is too short", len(p))
	}
	id := binary.LittleEndian.Uint64(p)
	if !bytes.Equal(p, idPayload(id)) {
		return 0, fmt.Errorf("record %d is damaged", id)
	}
	return id, nil
}

// testSalt is the salt of the journals tests build by hand.
var testSalt = []byte("0123456789abcdef")

// fileSeed returns the checksum seed of the journal at path, from the salt
// in its header.
func fileSeed(t testing.TB, path string) uint32 {
	t.Helper()
	b := fileBytes(t, path)
	if len(b) < headerSize {
		t.Fatalf("%s has %d bytes, less than a header", path, len(b))
	}
	return saltSeed(b[prologueSize:headerSize])
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var many [][]byte
	for range 1000 {
		many = append(many, randomBytes(r, r.IntN(600)))
	}
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	tests := []struct {
		name     string
		payloads [][]byte
	}{
		{"no records", nil},
		{"one empty record", [][]byte{{}}},
		{"empty records between others", [][]byte{[]byte("a"), {}, {}, []byte("b")}},
		{"text", [][]byte{[]byte(`INSERT INTO reports VALUES ('arrival', 35)`), []byte("第二条")}},
		{"binary with NUL bytes", [][]byte{{0}, {0, 0, 0, 0, 0, 0, 0, 0}, {0, 1, 0, 255}, allBytes}},
		{"many", many},
		{"4 MiB record", [][]byte{[]byte("before"), randomBytes(r, 4<<20), []byte("after")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "new", "dir", "gridbot.journal")
			j, replayed := openT(t, path, Options{})
			if len(replayed) != 0 || j.Records() != 0 || j.Size() != int64(headerSize) {
				t.Fatalf("new journal: %d replayed, Records %d, Size %d", len(replayed), j.Records(), j.Size())
			}
			for _, p := range tt.payloads {
				if err := j.Append(context.Background(), p); err != nil {
					t.Fatalf("Append: %v", err)
				}
			}
			if got := j.Records(); got != int64(len(tt.payloads)) {
				t.Errorf("Records = %d, want %d", got, len(tt.payloads))
			}
			if got, want := j.Size(), fileSize(t, path); got != want {
				t.Errorf("Size = %d, file has %d bytes", got, want)
			}
			closeT(t, j)

			for range 2 { // reopening twice replays the same
				j, replayed = openT(t, path, Options{})
				equalRecords(t, replayed, tt.payloads)
				if j.Recovery() != (Recovery{}) {
					t.Errorf("Recovery = %+v on a clean journal", j.Recovery())
				}
				if got := j.Records(); got != int64(len(tt.payloads)) {
					t.Errorf("Records after reopen = %d, want %d", got, len(tt.payloads))
				}
				closeT(t, j)
			}

			var read [][]byte
			last := int64(-1)
			stats, err := ReadAll(path, func(off int64, p []byte) error {
				if off <= last {
					t.Errorf("offset %d after %d", off, last)
				}
				last = off
				read = append(read, bytes.Clone(p))
				return nil
			})
			if err != nil {
				t.Fatalf("ReadAll: %v", err)
			}
			equalRecords(t, read, tt.payloads)
			want := Stats{Records: int64(len(tt.payloads)), ValidSize: fileSize(t, path), FileSize: fileSize(t, path)}
			if stats != want {
				t.Errorf("ReadAll stats = %+v, want %+v", stats, want)
			}
			rep, err := Verify(path)
			if err != nil || !rep.OK() || rep.Stats != want {
				t.Errorf("Verify = %+v, %v; want OK with %+v", rep, err, want)
			}
		})
	}
}

func TestAppendBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := openT(t, path, Options{})
	ctx := context.Background()
	if err := j.AppendBatch(ctx, [][]byte{[]byte("a"), {}, []byte("c")}); err != nil {
		t.Fatal(err)
	}
	if err := j.AppendBatch(ctx, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	if err := j.Append(ctx, []byte("d")); err != nil {
		t.Fatal(err)
	}
	if got := j.Records(); got != 4 {
		t.Errorf("Records = %d, want 4", got)
	}
	closeT(t, j)
	_, got := openT(t, path, Options{})
	equalRecords(t, got, [][]byte{[]byte("a"), {}, []byte("c"), []byte("d")})
}

// TestConcurrentAppend checks group commit under the race detector: every
// record of 64 concurrent appenders is present once, in each appender's
// order.
func TestConcurrentAppend(t *testing.T) {
	const writers, perWriter = 64, 40
	path := filepath.Join(t.TempDir(), "j")
	j, _ := openT(t, path, Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < perWriter; {
				if i%5 == 4 && i+3 <= perWriter { // some atomic batches
					batch := [][]byte{
						fmt.Appendf(nil, "%d/%d", w, i),
						fmt.Appendf(nil, "%d/%d", w, i+1),
						fmt.Appendf(nil, "%d/%d", w, i+2),
					}
					if err := j.AppendBatch(ctx, batch); err != nil {
						t.Errorf("AppendBatch: %v", err)
						return
					}
					i += 3
					continue
				}
				if err := j.Append(ctx, fmt.Appendf(nil, "%d/%d", w, i)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				i++
			}
		})
	}
	wg.Wait()
	if got := j.Records(); got != writers*perWriter {
		t.Errorf("Records = %d, want %d", got, writers*perWriter)
	}
	closeT(t, j)

	_, got := openT(t, path, Options{})
	if len(got) != writers*perWriter {
		t.Fatalf("replayed %d records, want %d", len(got), writers*perWriter)
	}
	next := make([]int, writers)
	for _, p := range got {
		var w, i int
		if _, err := fmt.Sscanf(string(p), "%d/%d", &w, &i); err != nil || w < 0 || w >= writers {
			t.Fatalf("bad record %q", p)
		}
		if i != next[w] {
			t.Fatalf("writer %d: record %d where %d was due", w, i, next[w])
		}
		next[w]++
	}
}

// pendingRecords reports how many records wait for the writer.
func (j *Journal) pendingRecords() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cur == nil {
		return 0
	}
	return j.cur.records
}

// TestGroupCommit checks that appends arriving during a write share the
// next write.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := openT(t, path, Options{})
	defer closeT(t, j)

	groups := make(chan int, 10)
	release := make(chan struct{})
	first := true
	j.beforeWrite = func(records int) {
		groups <- records
		if first {
			first = false
			<-release
		}
	}

	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := j.Append(ctx, []byte("first")); err != nil {
			t.Error(err)
		}
	})
	if got := <-groups; got != 1 {
		t.Fatalf("first write has %d records, want 1", got)
	}
	// The writer is now stuck in its first write; these must all queue.
	const others = 63
	for i := range others {
		wg.Go(func() {
			if err := j.Append(ctx, []byte(strconv.Itoa(i))); err != nil {
				t.Error(err)
			}
		})
	}
	for j.pendingRecords() < others {
		runtime.Gosched()
	}
	close(release)
	if got := <-groups; got != others {
		t.Errorf("second write has %d records, want %d", got, others)
	}
	wg.Wait()
	if got := j.Records(); got != others+1 {
		t.Errorf("Records = %d, want %d", got, others+1)
	}
}

// TestWriteFailure checks that a failed write fails every waiter of its
// group and every later append, and that nothing is acknowledged.
func TestWriteFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := openT(t, path, Options{})
	ctx := context.Background()
	if err := j.Append(ctx, []byte("durable")); err != nil {
		t.Fatal(err)
	}

	started := make(chan struct{})
	release := make(chan struct{})
	j.beforeWrite = func(int) {
		close(started)
		<-release
		j.f.Close() // the write that follows fails
		j.beforeWrite = nil
	}
	const n = 10
	errs := make(chan error, n+1)
	go func() { errs <- j.Append(ctx, []byte("lost")) }()
	<-started
	for range n {
		go func() { errs <- j.Append(ctx, []byte("lost too")) }()
	}
	for j.pendingRecords() < n {
		runtime.Gosched()
	}
	close(release)
	for range n + 1 {
		if err := <-errs; !errors.Is(err, os.ErrClosed) {
			t.Errorf("Append in a failed write = %v, want os.ErrClosed", err)
		}
	}
	if err := j.Append(ctx, []byte("after")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Append after a failure = %v, want the failure", err)
	}
	if got := j.Records(); got != 1 {
		t.Errorf("Records = %d, want 1", got)
	}
	if err := j.Close(); err == nil {
		t.Error("Close of a failed journal = nil, want the failure")
	}

	_, got := openT(t, path, Options{})
	equalRecords(t, got, [][]byte{[]byte("durable")})
}

func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	payloads := [][]byte{[]byte("one"), bytes.Repeat([]byte("two "), 5), bytes.Repeat([]byte{0, 3}, 150)}
	offsets, size := writeJournal(t, src, payloads)
	whole := fileBytes(t, src)
	last := offsets[len(offsets)-1]

	for cut := last; cut < size; cut++ {
		path := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		writeFile(t, path, whole[:cut])

		stats, err := ReadAll(path, nil)
		wantTorn := cut > last
		if err != nil || stats.Records != 2 || stats.ValidSize != last || stats.FileSize != cut || stats.TornTail != wantTorn {
			t.Fatalf("cut at %d: ReadAll = %+v, %v", cut, stats, err)
		}
		if got := fileSize(t, path); got != cut {
			t.Fatalf("cut at %d: ReadAll changed the file size to %d", cut, got)
		}

		j, got := openT(t, path, Options{})
		equalRecords(t, got, payloads[:2])
		want := Recovery{}
		if wantTorn {
			want = Recovery{TruncatedAt: last, DroppedBytes: cut - last, Reason: j.Recovery().Reason}
			if want.Reason == "" {
				t.Errorf("cut at %d: Recovery has no reason", cut)
			}
		}
		if j.Recovery() != want {
			t.Errorf("cut at %d: Recovery = %+v, want %+v", cut, j.Recovery(), want)
		}
		if got := fileSize(t, path); got != last {
			t.Fatalf("cut at %d: file has %d bytes after Open, want %d", cut, got, last)
		}
		if err := j.Append(context.Background(), []byte("new")); err != nil {
			t.Fatal(err)
		}
		closeT(t, j)
		_, got = openT(t, path, Options{})
		equalRecords(t, got, [][]byte{payloads[0], payloads[1], []byte("new")})
	}
}

// TestBadTail appends what a crash can leave behind the last synced frame,
// which Open cuts off, and what it cannot leave, which could be a damaged
// frame that was acknowledged and so stops the open.
func TestBadTail(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	batchPayloads := [][]byte{[]byte("x1"), bytes.Repeat([]byte("y"), 1000), []byte("z3")}
	// The frames of a batch, under the journal's seed.
	batch := func(seed uint32) []byte {
		var b []byte
		for _, p := range batchPayloads {
			b = appendFrame(b, seed, p)
		}
		return b
	}
	fixed := func(b []byte) func(uint32, int64) []byte { return func(uint32, int64) []byte { return b } }
	tests := []struct {
		name    string
		tail    func(seed uint32, off int64) []byte // off: where the tail starts
		kept    int                                 // leading records of tail that are complete
		refused bool                                // the tail is damage, not torn
	}{
		{"1 zero byte", fixed(make([]byte, 1)), 0, false},
		{"7 zero bytes", fixed(make([]byte, 7)), 0, false},
		{"8 zero bytes", fixed(make([]byte, 8)), 0, false},
		{"9 zero bytes", fixed(make([]byte, 9)), 0, false},
		{"4096 zero bytes", fixed(make([]byte, 4096)), 0, false},
		{"1 byte of garbage", fixed(randomBytes(r, 1)), 0, false},
		{"frame header without payload", func(seed uint32, _ int64) []byte { return batch(seed)[:8] }, 0, false},
		{"batch torn inside its second frame", func(seed uint32, _ int64) []byte { return batch(seed)[:100] }, 1, false},
		{"batch torn at a block boundary and padded with zeros", func(seed uint32, off int64) []byte {
			b := batch(seed)
			clear(b[zeroBlock-off:]) // off < zeroBlock: the boundary is in the second frame
			return b
		}, 1, false},
		{"last frame ending in zeros that start at no block boundary", func(seed uint32, _ int64) []byte {
			b := batch(seed)
			clear(b[len(b)-5:])
			return b
		}, 2, true},
		{"100 bytes of garbage", fixed(randomBytes(r, 100)), 0, true},
		{"10000 bytes of garbage", fixed(randomBytes(r, 10000)), 0, true},
		{"last frame with a bad checksum", func(seed uint32, _ int64) []byte {
			b := appendFrame(nil, seed, []byte("last record"))
			b[5] ^= 1
			return b
		}, 0, true},
		{"last frame with a bit of its length flipped", func(seed uint32, _ int64) []byte {
			b := appendFrame(nil, seed, []byte("last record"))
			b[1] ^= 1
			return b
		}, 0, true},
		{"impossible length", fixed(append([]byte{0xff, 0xff, 0xff, 0xff}, randomBytes(r, 50)...)), 0, true},
		{"frames of another journal", func(uint32, int64) []byte { return batch(saltSeed(testSalt)) }, 0, true},
		{"frames without salt (version 1)", func(uint32, int64) []byte { return batch(0) }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			payloads := [][]byte{[]byte("first"), []byte("second")}
			_, size := writeJournal(t, path, payloads)
			tail := tt.tail(fileSeed(t, path), size)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tail); err != nil {
				t.Fatal(err)
			}
			f.Close()

			wantRecords := append(payloads, batchPayloads[:tt.kept]...)
			wantSize := size
			for _, p := range batchPayloads[:tt.kept] {
				wantSize += int64(frameSize(len(p)))
			}

			if tt.refused {
				ce := mustRefuse(t, path, fileBytes(t, path))
				if ce.Offset != wantSize || ce.Header {
					t.Errorf("error %q: want damage at %d", ce, wantSize)
				}
				return
			}
			rep, err := Verify(path)
			if err != nil || rep.Corruption != nil || !rep.TornTail || rep.ValidSize != wantSize || rep.Records != int64(len(wantRecords)) {
				t.Fatalf("Verify = %+v, %v; want a torn tail at %d", rep, err, wantSize)
			}
			var log bytes.Buffer
			j, got := openT(t, path, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
			defer closeT(t, j)
			equalRecords(t, got, wantRecords)
			if l := log.String(); !strings.Contains(l, "torn tail") || !strings.Contains(l, fmt.Sprintf("offset=%d", wantSize)) ||
				strings.Contains(l, "yyyy") || strings.Contains(l, "last record") {
				t.Errorf("log = %q, want the torn tail's offset and no payload", l)
			}
			if rec := j.Recovery(); rec.TruncatedAt != wantSize || rec.DroppedBytes != size+int64(len(tail))-wantSize {
				t.Errorf("Recovery = %+v, want TruncatedAt %d, DroppedBytes %d", rec, wantSize, size+int64(len(tail))-wantSize)
			}
			if got := fileSize(t, path); got != wantSize {
				t.Errorf("file has %d bytes after Open, want %d", got, wantSize)
			}
		})
	}
}

func TestCorruptMiddle(t *testing.T) {
	payloads := [][]byte{
		bytes.Repeat([]byte("a"), 50), bytes.Repeat([]byte("b"), 60), bytes.Repeat([]byte("c"), 70),
		bytes.Repeat([]byte("d"), 80), bytes.Repeat([]byte("e"), 90),
	}
	setLength := func(n uint32) func([]byte) { return func(f []byte) { binary.LittleEndian.PutUint32(f, n) } }
	tests := []struct {
		name   string
		frame  int // which frame to damage
		damage func(frame []byte)
	}{
		{"payload bit flip", 2, func(f []byte) { f[20] ^= 0x10 }},
		{"checksum bit flip", 2, func(f []byte) { f[6] ^= 0x01 }},
		{"first frame damaged", 0, func(f []byte) { f[9] ^= 0xff }},
		{"second to last frame damaged", 3, func(f []byte) { f[30] = 0 }},
		{"length 0xffffffff", 2, setLength(0xffffffff)},
		{"length above the maximum", 2, setLength(MaxRecordSize + 1)},
		{"length one too long", 2, setLength(71)},
		{"length one too short", 2, setLength(69)},
		{"length zero", 2, setLength(0)},
		{"length past the end of the file", 2, setLength(100000)},
		{"frame header zeroed", 2, func(f []byte) { clear(f[:8]) }},
		{"whole frame zeroed", 1, func(f []byte) { clear(f) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			offsets, size := writeJournal(t, path, payloads)
			b := fileBytes(t, path)
			tt.damage(b[offsets[tt.frame] : offsets[tt.frame]+int64(frameSize(len(payloads[tt.frame])))])
			writeFile(t, path, b)
			wantOff := offsets[tt.frame]

			_, err := Open(path, Options{}, nil)
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Offset != wantOff {
				t.Fatalf("Open = %v, want a *CorruptError at offset %d", err, wantOff)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, strconv.FormatInt(wantOff, 10)) {
				t.Errorf("error %q does not name the path and offset", msg)
			}
			if got := fileBytes(t, path); !bytes.Equal(got, b) || int64(len(got)) != size {
				t.Fatal("Open changed a corrupt file")
			}

			var seen int
			stats, err := ReadAll(path, func(int64, []byte) error { seen++; return nil })
			if !errors.As(err, &ce) || ce.Offset != wantOff || seen != tt.frame || stats.Records != int64(tt.frame) {
				t.Errorf("ReadAll = %+v, %v after %d records; want a *CorruptError at %d after %d", stats, err, seen, wantOff, tt.frame)
			}
			rep, err := Verify(path)
			if err != nil || rep.Corruption == nil || rep.Corruption.Offset != wantOff || rep.OK() || rep.Records != int64(tt.frame) {
				t.Errorf("Verify = %+v, %v; want corruption at %d", rep, err, wantOff)
			}
		})
	}
}

// TestLongGarbageIsCorruption checks that a bad region longer than any
// write is not cut off even if no valid frame follows it.
func TestLongGarbageIsCorruption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	_, size := writeJournal(t, path, [][]byte{[]byte("kept")})
	if err := os.Truncate(path, size+MaxBatchSize+1); err != nil { // a hole of zeros
		t.Fatal(err)
	}
	_, err := Open(path, Options{}, nil)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Offset != size {
		t.Fatalf("Open = %v, want a *CorruptError at %d", err, size)
	}
	if got := fileSize(t, path); got != size+MaxBatchSize+1 {
		t.Errorf("file size changed to %d", got)
	}
}

// zeroFrameSalt returns a salt under which eight zero bytes are a valid
// empty frame: twelve zero bytes and four solved for. The checksum of the
// empty frame is an affine, invertible function of those four bytes over
// GF(2), so it is solved for zero by Gaussian elimination.
func zeroFrameSalt() []byte {
	f := func(x uint32) uint32 {
		salt := binary.LittleEndian.AppendUint32(make([]byte, 12), x)
		return frameSum(saltSeed(salt), nil)
	}
	// f(x) = c ^ M·x; column i of M is f(1<<i) ^ c. Solve M·x = c.
	c := f(0)
	var rows [32]uint64 // row r: bits 0..31 are row r of M, bit 32 is c's bit r
	for r := range 32 {
		for i := range 32 {
			rows[r] |= uint64((f(1<<i)^c)>>r&1) << i
		}
		rows[r] |= uint64(c>>r&1) << 32
	}
	for col := range 32 {
		p := col
		for rows[p]>>col&1 == 0 {
			p++ // M is invertible, so a pivot exists
		}
		rows[col], rows[p] = rows[p], rows[col]
		for r := range 32 {
			if r != col && rows[r]>>col&1 == 1 {
				rows[r] ^= rows[col]
			}
		}
	}
	var x uint32
	for r := range 32 {
		x |= uint32(rows[r]>>32&1) << r
	}
	return binary.LittleEndian.AppendUint32(make([]byte, 12), x)
}

func TestBadHeader(t *testing.T) {
	v1 := append([]byte(magic), 1, 0, 0, 0)
	v3 := append(append([]byte(magic), 3, 0, 0, 0), testSalt...)
	tests := []struct {
		name    string
		content []byte
		msg     string // in the error
	}{
		{"wrong magic", append([]byte("SQLITE3\x00"), 2, 0, 0, 0), "bad magic"},
		{"version 1, header only", v1, "version 1"},
		{"version 1 with records", appendFrame(appendFrame(bytes.Clone(v1), 0, []byte("old")), 0, bytes.Repeat([]byte("x"), 40)), "version 1"},
		{"unsupported version", v3, "version 3"},
		{"unsupported version, short", v3[:14], "version 3"},
		{"salt makes zeros a valid frame", append(append(prologue(), zeroFrameSalt()...), make([]byte, 16)...), "zero bytes form a valid frame"},
		{"short garbage", []byte("hello"), "shorter than a header"},
		{"text file", []byte("this is not a journal, it is a text file\n"), "bad magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			writeFile(t, path, tt.content)
			if _, err := Open(path, Options{}, nil); !errors.Is(err, ErrBadHeader) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Open = %v, want ErrBadHeader saying %q", err, tt.msg)
			}
			if _, err := ReadAll(path, nil); !errors.Is(err, ErrBadHeader) {
				t.Errorf("ReadAll = %v, want ErrBadHeader", err)
			}
			if _, err := Verify(path); !errors.Is(err, ErrBadHeader) {
				t.Errorf("Verify = %v, want ErrBadHeader", err)
			}
			if got := fileBytes(t, path); !bytes.Equal(got, tt.content) {
				t.Error("the file was changed")
			}
		})
	}
}

// TestIncompleteHeader checks that a file whose creation was interrupted
// is initialised again.
func TestIncompleteHeader(t *testing.T) {
	tests := []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"header prefix", []byte("GRIDB")},
		{"no salt", prologue()},
		{"part of the salt", append(prologue(), testSalt[:5]...)},
		{"zeros", make([]byte, headerSize)},
		{"fewer zeros", make([]byte, 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			writeFile(t, path, tt.content)
			if _, err := ReadAll(path, nil); err != nil {
				t.Errorf("ReadAll = %v", err)
			}
			j, got := openT(t, path, Options{})
			if len(got) != 0 {
				t.Errorf("replayed %d records", len(got))
			}
			if rec := j.Recovery(); rec.DroppedBytes != int64(len(tt.content)) {
				t.Errorf("Recovery = %+v, want %d bytes dropped", rec, len(tt.content))
			}
			if err := j.Append(context.Background(), []byte("r")); err != nil {
				t.Fatal(err)
			}
			closeT(t, j)
			content := fileBytes(t, path)
			salt := content[prologueSize:min(headerSize, len(content))]
			if !bytes.Equal(content, appendFrame(fileHeader(salt), saltSeed(salt), []byte("r"))) {
				t.Errorf("file = %q", content)
			}
			if bytes.HasPrefix(testSalt, salt) || isZero(salt) {
				t.Errorf("the salt %x was not drawn anew", salt)
			}
		})
	}
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := openT(t, path, Options{})
	if err := j.Append(context.Background(), []byte("r")); err != nil {
		t.Fatal(err)
	}

	_, err := Open(path, Options{}, nil)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open = %v, want ErrLocked naming %s", err, path)
	}
	if stats, err := ReadAll(path, nil); err != nil || stats.Records != 1 {
		t.Errorf("ReadAll beside a writer = %+v, %v", stats, err)
	}

	closeT(t, j)
	j, got := openT(t, path, Options{})
	equalRecords(t, got, [][]byte{[]byte("r")})
	closeT(t, j)
}

func TestClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := openT(t, path, Options{})
	ctx := context.Background()
	if err := j.Append(ctx, []byte("r")); err != nil {
		t.Fatal(err)
	}
	closeT(t, j)
	closeT(t, j) // idempotent
	if err := j.Append(ctx, []byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := j.AppendBatch(ctx, [][]byte{[]byte("late")}); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendBatch after Close = %v, want ErrClosed", err)
	}
	if got := j.Records(); got != 1 {
		t.Errorf("Records = %d, want 1", got)
	}
}

// TestCloseWaitsForAppends checks that Close writes what was handed over
// before it and that every append either succeeds and is durable or fails
// with ErrClosed.
func TestCloseWaitsForAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := openT(t, path, Options{})
	var acked atomic.Int64
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for {
				err := j.Append(context.Background(), []byte(strconv.Itoa(i)))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				acked.Add(1)
			}
		})
	}
	for acked.Load() < 100 {
		runtime.Gosched()
	}
	closeT(t, j)
	wg.Wait()
	_, got := openT(t, path, Options{})
	if int64(len(got)) != acked.Load() {
		t.Errorf("replayed %d records, %d were acknowledged", len(got), acked.Load())
	}
}

func TestAppendCanceledContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := openT(t, path, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Append(ctx, []byte("r")); !errors.Is(err, context.Canceled) {
		t.Errorf("Append = %v, want context.Canceled", err)
	}
	if err := j.AppendBatch(ctx, [][]byte{[]byte("r")}); !errors.Is(err, context.Canceled) {
		t.Errorf("AppendBatch = %v, want context.Canceled", err)
	}
	closeT(t, j)
	if _, got := openT(t, path, Options{}); len(got) != 0 {
		t.Errorf("replayed %d records, want 0", len(got))
	}
}

func TestTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := openT(t, path, Options{})
	ctx := context.Background()
	big := make([]byte, MaxRecordSize+1)
	if err := j.Append(ctx, big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append of %d bytes = %v, want ErrTooLarge", len(big), err)
	}
	max := big[:MaxRecordSize]
	if err := j.AppendBatch(ctx, [][]byte{max, max, max, max}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("AppendBatch above MaxBatchSize = %v, want ErrTooLarge", err)
	}
	if err := j.Append(ctx, max); err != nil {
		t.Errorf("Append of MaxRecordSize bytes = %v", err)
	}
	closeT(t, j)
	_, got := openT(t, path, Options{})
	equalRecords(t, got, [][]byte{max})
}

func TestReplayError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	writeJournal(t, path, [][]byte{[]byte("1"), []byte("2"), []byte("3")})
	before := fileBytes(t, path)
	errStop := errors.New("stop")
	n := 0
	_, err := Open(path, Options{}, func([]byte) error {
		if n++; n == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Open = %v, want the replay error", err)
	}
	if !bytes.Equal(fileBytes(t, path), before) {
		t.Error("a failed Open changed the file")
	}
	j, _ := openT(t, path, Options{}) // the lock was released
	closeT(t, j)
}

// TestReadWhileWriting runs ReadAll and Verify while a writer appends.
func TestReadWhileWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _ := openT(t, path, Options{})
	var acked atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := uint64(0); ctx.Err() == nil; i++ {
				if err := j.Append(context.Background(), idPayload(uint64(w)<<32|i)); err != nil {
					t.Error(err)
					return
				}
				acked.Add(1)
			}
		})
	}
	for acked.Load() < 10 {
		runtime.Gosched()
	}
	prev := int64(0)
	for range 30 {
		before := acked.Load()
		stats, err := ReadAll(path, func(_ int64, p []byte) error {
			_, err := decodeIDPayload(p)
			return err
		})
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		if stats.Records < before || stats.Records < prev {
			t.Fatalf("ReadAll saw %d records; %d were acknowledged before, %d seen before", stats.Records, before, prev)
		}
		prev = stats.Records
		rep, err := Verify(path)
		if err != nil || rep.Corruption != nil || rep.Records < prev {
			t.Fatalf("Verify = %+v, %v", rep, err)
		}
	}
	stop()
	wg.Wait()
	closeT(t, j)
	stats, err := ReadAll(path, nil)
	if err != nil || stats.Records != acked.Load() || stats.TornTail {
		t.Errorf("final ReadAll = %+v, %v; want %d records", stats, err, acked.Load())
	}
}

// FuzzTail appends arbitrary bytes to a valid journal and checks that Open,
// Verify and ReadAll agree, and that Open either cuts exactly the reported
// torn tail or changes nothing.
func FuzzTail(f *testing.F) {
	seed := saltSeed(testSalt)
	f.Add([]byte{})
	f.Add(make([]byte, 20))
	f.Add(appendFrame(nil, seed, []byte("valid")))
	f.Add(appendFrame(nil, seed, []byte("valid"))[:9])
	f.Add(append([]byte{1, 2, 3}, appendFrame(nil, seed, []byte("after garbage"))...))
	f.Add(append([]byte{1, 2, 3}, appendFrame(nil, 0, []byte("unsalted"))...))
	f.Add(appendFrame(nil, seed, appendFrame([]byte("x"), 0, []byte("embedded")))[:30])
	f.Fuzz(func(t *testing.T, tail []byte) {
		path := filepath.Join(t.TempDir(), "j")
		content := appendFrame(appendFrame(fileHeader(testSalt), seed, []byte("a")), seed, []byte("b"))
		content = append(content, tail...)
		writeFile(t, path, content)

		rep, err := Verify(path)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		_, rerr := ReadAll(path, nil)
		j, oerr := Open(path, Options{}, nil)
		if rep.Corruption != nil {
			var ce *CorruptError
			if !errors.As(oerr, &ce) || *ce != *rep.Corruption || !errors.As(rerr, &ce) {
				t.Fatalf("Verify found %v; Open = %v, ReadAll = %v", rep.Corruption, oerr, rerr)
			}
			if !bytes.Equal(fileBytes(t, path), content) {
				t.Fatal("Open changed a corrupt file")
			}
			return
		}
		if oerr != nil || rerr != nil {
			t.Fatalf("Verify = %+v; Open = %v, ReadAll = %v", rep, oerr, rerr)
		}
		defer closeT(t, j)
		if j.Records() != rep.Records || rep.Records < 2 || fileSize(t, path) != rep.ValidSize {
			t.Fatalf("Verify = %+v; Open kept %d records and %d bytes", rep, j.Records(), fileSize(t, path))
		}
	})
}
