package journal

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

const benchRecordSize = 300

// benchmarkAppend appends b.N records of 300 bytes from writers goroutines
// with real fsyncs and reports records per second.
func benchmarkAppend(b *testing.B, writers int) {
	j, _ := openT(b, filepath.Join(b.TempDir(), "bench.journal"), Options{})
	defer closeT(b, j)
	payload := make([]byte, benchRecordSize)
	for i := range payload {
		payload[i] = byte(i)
	}
	ctx := context.Background()

	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range writers {
		n := b.N / writers
		if w < b.N%writers {
			n++
		}
		wg.Go(func() {
			for range n {
				if err := j.Append(ctx, payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkAppend1(b *testing.B)  { benchmarkAppend(b, 1) }
func BenchmarkAppend64(b *testing.B) { benchmarkAppend(b, 64) }

// BenchmarkReplay opens a journal of 1,000,000 records of 300 bytes; one
// op is one full replay.
func BenchmarkReplay(b *testing.B) {
	const records = 1_000_000
	path := filepath.Join(b.TempDir(), "replay.journal")
	j, _ := openT(b, path, Options{NoSync: true})
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = make([]byte, benchRecordSize)
		batch[i][0] = byte(i)
	}
	for range records / len(batch) {
		if err := j.AppendBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	closeT(b, j)
	b.SetBytes(j.Size())

	b.ResetTimer()
	for range b.N {
		n := 0
		j, err := Open(path, Options{}, func(p []byte) error {
			n += len(p)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != records*benchRecordSize {
			b.Fatalf("replayed %d bytes", n)
		}
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRepair repairs a journal of 1,000,000 records of 300 bytes
// whose middle record is damaged; one op is one repair (a copy of the
// damaged file is made outside the timer).
func BenchmarkRepair(b *testing.B) {
	const records = 1_000_000
	dir := b.TempDir()
	src := filepath.Join(dir, "src.journal")
	j, _ := openT(b, src, Options{NoSync: true})
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = make([]byte, benchRecordSize)
		batch[i][0] = byte(i)
	}
	for range records / len(batch) {
		if err := j.AppendBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	closeT(b, j)
	damaged := fileBytes(b, src)
	damaged[int64(headerSize)+int64(records/2)*int64(frameSize(benchRecordSize))+20] ^= 1
	b.SetBytes(int64(len(damaged)))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		path := filepath.Join(dir, fmt.Sprintf("j%d", i))
		writeFile(b, path, damaged)
		b.StartTimer()
		rep, err := Repair(path, RepairOptions{Aside: path + ".damaged"})
		if err != nil || rep.Records != records-1 || len(rep.Lost) != 1 {
			b.Fatalf("Repair = %+v, %v", rep, err)
		}
	}
}
