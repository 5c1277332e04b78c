package embedded

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"gridbot/store/driver"
	"gridbot/store/embedded/journal"
)

// The crash helper runs in a child process started by TestCrash (see
// TestMain): it commits reports from several goroutines and prints the
// key of each as soon as its Commit returns, until it is killed.
const (
	crashDirEnv   = "GRIDBOT_EMBEDDED_CRASH_DIR"
	crashRoundEnv = "GRIDBOT_EMBEDDED_CRASH_ROUND"
	crashWorkers  = 8
)

// crashReport is the report the helper saves under (chat, msg): its
// content follows from its key, so the parent can check it.
func crashReport(chat, msg int64) driver.Revision {
	r := testReport(chat, msg, today.AddDays(int(msg%5)))
	r.Sender = hostileNames[msg%int64(len(hostileNames))]
	r.Fields["note"] = r.Sender + r.Sender
	return r
}

var hostileNames = []string{"王", "it's", "\x00\xff", "'; DROP TABLE revisions; --", "", "😷"}

func crashHelper() int {
	dir := os.Getenv(crashDirEnv)
	round, err := strconv.ParseInt(os.Getenv(crashRoundEnv), 10, 32)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	e, err := Open(ctx, dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var (
		mu  sync.Mutex
		out = bufio.NewWriter(os.Stdout)
		wg  sync.WaitGroup
	)
	for w := range int64(crashWorkers) {
		wg.Go(func() {
			chat := -100 - w%3
			for i := int64(1); i <= 100_000; i++ {
				msg := round<<32 | w<<24 | i
				r := crashReport(chat, msg)
				c := driver.Changes{Revision: &r}
				if i%4 == 0 { // some records with several facts
					c.Members = []driver.Member{{Chat: chat, UserID: msg, Name: r.Sender, At: r.At}}
					c.Outbox = []driver.OutboxMessage{{Key: fmt.Sprint(msg), Chat: chat, Method: "sendMessage", Payload: []byte(r.Text), CreatedAt: r.At}}
				}
				if _, err := e.Commit(ctx, c); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(out, "%d %d\n", chat, msg)
				err := out.Flush()
				mu.Unlock()
				if err != nil {
					os.Exit(4)
				}
			}
		})
	}
	wg.Wait()
	return 0
}

// TestCrash kills a writer at random moments, 20 times, and checks after
// each that every acknowledged report survived intact and that every
// record in the journal decodes.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, JournalFile)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	acked := map[[2]int64]bool{}
	for round := range 20 {
		killAt := rng.IntN(600) // acknowledgements to wait for; 0 kills at start
		n := runCrashChild(t, dir, round, killAt, acked)
		t.Logf("round %d: killed after %d acknowledgements (%d in all)", round, n, len(acked))

		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && len(acked) == 0 {
			continue // killed before it created the journal
		}
		// Every complete record decodes; at most the last is torn.
		stats, err := journal.ReadAll(path, func(off int64, p []byte) error {
			entries, err := parseRecord(nil, string(p))
			for _, en := range entries {
				if en.tag == tagRevision {
					if _, err := decodeRevision(en.body); err != nil {
						return err
					}
				}
			}
			return err
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if stats.TornTail {
			t.Logf("round %d: torn tail of %d bytes (%s)", round, stats.FileSize-stats.ValidSize, stats.TornReason)
		}
		// What the killed writer left is readable read-only, then by a
		// writer, which cuts off the torn tail.
		for _, opts := range []Options{{ReadOnly: true}, {}} {
			e, err := Open(context.Background(), dir, opts)
			if err != nil {
				t.Fatalf("round %d: open (read-only %v): %v", round, opts.ReadOnly, err)
			}
			checkAcked(t, e, acked)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// runCrashChild runs the helper until it has acknowledged killAt reports,
// kills it and adds what it acknowledged to acked.
func runCrashChild(t *testing.T, dir string, round, killAt int, acked map[[2]int64]bool) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			if err := cmd.Process.Kill(); err != nil {
				t.Errorf("kill: %v", err)
			}
		}
	}
	if killAt == 0 {
		kill()
	}
	n := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var chat, msg int64
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &chat, &msg); err != nil {
			t.Fatalf("round %d: helper printed %q", round, sc.Text())
		}
		acked[[2]int64{chat, msg}] = true
		n++
		if n >= killAt {
			kill()
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !killed || !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("round %d: helper ended by itself (%v): %s", round, err, stderr.String())
	}
	return n
}

func checkAcked(t *testing.T, e *Engine, acked map[[2]int64]bool) {
	t.Helper()
	ctx := context.Background()
	all, err := e.Reports(ctx, driver.ReportQuery{IncludeInvalid: true})
	if err != nil || len(all) < len(acked) {
		t.Fatalf("%d reports, %d acknowledged: %v", len(all), len(acked), err)
	}
	for _, r := range all { // acknowledged or not, every report is whole
		if want := crashReport(r.Chat, r.MessageID); !sameReport(r, want) {
			t.Fatalf("report %d/%d damaged:\n got %+v\nwant %+v", r.Chat, r.MessageID, r, want)
		}
	}
	for k := range acked {
		got, ok, err := e.Report(ctx, k[0], k[1])
		if err != nil || !ok {
			t.Fatalf("acknowledged report %v lost: %v %v", k, ok, err)
		}
		if want := crashReport(k[0], k[1]); !sameReport(got, want) {
			t.Fatalf("acknowledged report %v damaged:\n got %+v\nwant %+v", k, got, want)
		}
	}
}
