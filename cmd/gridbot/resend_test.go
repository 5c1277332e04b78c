package main

// BenchmarkKillResend measures what a SIGKILL costs the outbox: reports
// flow into ten village groups at 20 a second while a child `gridbot
// serve` is killed at a random moment and started again, round after
// round, on each engine (PostgreSQL when GRIDBOT_TEST_POSTGRES_URL is
// set; there also with two replicas, one of them killed each round). It
// reports the receipts sent twice per kill (a report named in two
// messages) and, with one process, the time from starting the new process
// to its first call to Telegram for the outbox:
//
//	go test ./cmd/gridbot -run '^$' -bench KillResend -benchtime 1x

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gridbot/bot/telegramtest"
)

func BenchmarkKillResend(b *testing.B) {
	b.Run("embedded", func(b *testing.B) { benchKillResend(b, b.TempDir(), 1) })
	b.Run("postgres", func(b *testing.B) { benchKillResend(b, killSchema(b), 1) })
	b.Run("postgres-2-replicas", func(b *testing.B) { benchKillResend(b, killSchema(b), 2) })
}

// killSchema creates an empty PostgreSQL schema for the benchmark and
// returns a store URL using it, or skips.
func killSchema(b *testing.B) string {
	base := os.Getenv("GRIDBOT_TEST_POSTGRES_URL")
	if base == "" {
		b.Skip("GRIDBOT_TEST_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	schema := fmt.Sprintf("gridbot_kill_%d", rand.Uint64()%1e12)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

var patientName = regexp.MustCompile(`病人\d{5}`)

func benchKillResend(b *testing.B, db string, replicas int) {
	const (
		rounds   = 10
		villages = 10
		rate     = 20 // reports a second
	)
	tg := telegramtest.New() // no Reporter: calls cut short by a kill are expected
	ts := httptest.NewServer(tg)
	b.Cleanup(ts.Close)
	b.Cleanup(tg.Close)
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$")
		cmd.Env = append(os.Environ(), "GRIDBOT_TEST_HELPER=serve", "TELEGRAM_BOT_TOKEN=123:TEST", "TELEGRAM_API_URL="+ts.URL,
			"GRIDBOT_DB="+db, "GRIDBOT_OPERATORS=7", "GRIDBOT_HTTP=127.0.0.1:0", "GRIDBOT_LOG_LEVEL=error")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	wait := func(what string, limit time.Duration, cond func([]telegramtest.Call) bool) {
		b.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		if _, err := tg.WaitFor(ctx, cond); err != nil {
			b.Fatalf("waiting for %s: %v", what, err)
		}
	}
	outboxCall := func(c telegramtest.Call) bool {
		return c.Method == "sendMessage" || c.Method == "setMessageReaction" || c.Method == "editMessageText"
	}
	chat := func(v int) telegramtest.Chat {
		return telegramtest.Chat{ID: -1003000000000 - int64(v), Type: "supergroup", Title: fmt.Sprintf("杀%02d村群", v)}
	}
	children := []*exec.Cmd{start()}
	for v := range villages {
		tg.AddChat(chat(v))
		tg.SendMessage(chat(v), operator, fmt.Sprintf("/bind village 杀%02d村", v))
	}
	wait("the bindings", time.Minute, func([]telegramtest.Call) bool {
		for v := range villages {
			if len(tg.Sent(chat(v).ID)) == 0 {
				return false
			}
		}
		return true
	})
	for len(children) < replicas {
		children = append(children, start())
	}

	// reports at a steady rate until stopped
	var mu sync.Mutex
	sent := 0
	stop := make(chan struct{})
	var feed sync.WaitGroup
	feed.Go(func() {
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			i := sent
			sent++
			mu.Unlock()
			v := i % villages
			tg.SendMessage(chat(v), wang, fmt.Sprintf("#发热 姓名:病人%05d 体温:38.5 住址:杀%02d村1组", i, v))
		}
	})

	var resume []time.Duration
	for range rounds {
		time.Sleep(time.Second + rand.N(2*time.Second)) // a random moment of the load
		k := rand.N(len(children))
		if err := children[k].Process.Signal(syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		children[k].Wait()
		restarted := time.Now()
		children[k] = start()
		if replicas > 1 {
			continue // the other replica goes on sending
		}
		wait("a send after the restart", time.Minute, func(calls []telegramtest.Call) bool {
			for _, c := range slices.Backward(calls) {
				if c.At.Before(restarted) {
					return false
				}
				if outboxCall(c) {
					resume = append(resume, c.At.Sub(restarted))
					return true
				}
			}
			return false
		})
	}
	close(stop)
	feed.Wait()
	mu.Lock()
	total := sent
	mu.Unlock()
	wait("a receipt for every report", 10*time.Minute, func(calls []telegramtest.Call) bool {
		seen := map[string]bool{}
		for _, c := range calls {
			if c.Method == "sendMessage" {
				for _, n := range patientName.FindAllString(c.Params["text"], -1) {
					seen[n] = true
				}
			}
		}
		return len(seen) == total
	})
	named := map[string]int{}
	for _, c := range tg.Calls() {
		if c.Method == "sendMessage" {
			for _, n := range patientName.FindAllString(c.Params["text"], -1) {
				named[n]++
			}
		}
	}
	twice, worst := 0, 0
	for _, n := range named {
		twice += n - 1
		worst = max(worst, n)
	}
	b.ReportMetric(float64(twice)/rounds, "receipts_twice/kill")
	b.ReportMetric(float64(total), "reports")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d kills, %d replicas, %d reports: %d receipts sent twice (a receipt at most %d times)", rounds, replicas, total, twice, worst)
	if len(resume) > 0 {
		slices.Sort(resume)
		b.ReportMetric(float64(resume[len(resume)/2].Milliseconds()), "resume_p50_ms")
		b.ReportMetric(float64(resume[len(resume)-1].Milliseconds()), "resume_max_ms")
		b.Logf("first send %v–%v after a restart", resume[0].Round(time.Millisecond), resume[len(resume)-1].Round(time.Millisecond))
	}
}
