package journal

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The crash helper runs in a child process started by TestCrashRecovery.
const (
	helperPathEnv  = "GRIDBOT_JOURNAL_CRASH_HELPER_PATH"
	helperRoundEnv = "GRIDBOT_JOURNAL_CRASH_HELPER_ROUND"
)

// TestHelperProcess is not a test: in a child started by TestCrashRecovery
// it appends records from several goroutines and prints the id of each
// record on stdout as soon as its append returns, until it is killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperPathEnv)
	if path == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	round, err := strconv.ParseUint(os.Getenv(helperRoundEnv), 10, 32)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	j, err := Open(path, Options{}, func(p []byte) error {
		_, err := decodeIDPayload(p)
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var wg sync.WaitGroup
	for w := range uint64(8) {
		wg.Go(func() {
			var line []byte
			for i := uint64(0); i < 1e5; {
				// Mostly single records, some batches, sizes up to 2 KB.
				n := uint64(1)
				if i%7 == 3 {
					n = 1 + i%5
				}
				batch := make([][]byte, n)
				for k := range batch {
					batch[k] = idPayload(round<<40 | w<<32 | (i + uint64(k)))
				}
				if err := j.AppendBatch(context.Background(), batch); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				line = line[:0]
				for k := range n {
					line = strconv.AppendUint(line, round<<40|w<<32|(i+k), 10)
					line = append(line, '\n')
				}
				if _, err := os.Stdout.Write(line); err != nil {
					os.Exit(2) // the parent is gone
				}
				i += n
			}
		})
	}
	wg.Wait()
	j.Close()
	os.Exit(0)
}

// TestCrashRecovery kills a writer process at random moments and checks
// that every record it acknowledged survives intact and that the journal
// holds nothing half-written.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	path := filepath.Join(t.TempDir(), "crash.journal")
	r := rand.New(rand.NewPCG(5, 6))
	acked := make(map[uint64]bool)
	recovered := 0
	for round := range 20 {
		killAfter := 1 + r.IntN(3000)

		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperPathEnv+"="+path, helperRoundEnv+"="+strconv.Itoa(round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			id, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				t.Fatalf("round %d: child printed %q", round, sc.Text())
			}
			acked[id] = true
			// Lines read after the kill were printed before it: they are
			// acknowledged too.
			if n++; n == killAfter {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
		}
		err = cmd.Wait()
		if n < killAfter {
			t.Fatalf("round %d: child exited after %d acknowledgements (%v): %s", round, n, err, stderr.String())
		}
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("round %d: child ended with %v, want killed: %s", round, err, stderr.String())
		}

		seen := make(map[uint64]bool)
		j, err := Open(path, Options{}, func(p []byte) error {
			id, err := decodeIDPayload(p)
			if err != nil {
				return err
			}
			if seen[id] {
				return fmt.Errorf("record %d appears twice", id)
			}
			seen[id] = true
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		if j.Recovery() != (Recovery{}) {
			recovered++
		}
		closeT(t, j)
		for id := range acked {
			if !seen[id] {
				t.Fatalf("round %d: acknowledged record %d is missing", round, id)
			}
		}
	}
	t.Logf("%d acknowledged records survived 20 kills; %d reopens cut a torn tail", len(acked), recovered)
}
