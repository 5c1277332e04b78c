package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"gridbot/bot/telegramtest"
	"gridbot/store"
)

// TestHelperServe is not a test: it is `gridbot serve` in a child process
// for TestKillAfterConfirm, selected by GRIDBOT_TEST_HELPER.
func TestHelperServe(t *testing.T) {
	if os.Getenv("GRIDBOT_TEST_HELPER") != "serve" {
		t.Skip("helper process for TestKillAfterConfirm")
	}
	err := run(context.Background(), []string{"serve"}, os.Getenv, strings.NewReader(""), os.Stdout, os.Stderr)
	fmt.Fprintln(os.Stderr, "serve returned:", err)
	os.Exit(3)
}

// TestKillAfterConfirm kills a `gridbot serve` with SIGKILL right after it
// told Telegram it had received a batch of updates, five times over, and
// checks that every report Telegram was told about is in the store.
func TestKillAfterConfirm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	// no Reporter: a request cut short by the kill is expected here
	tg := telegramtest.New()
	ts := httptest.NewServer(tg)
	t.Cleanup(ts.Close)
	t.Cleanup(tg.Close)
	url := ts.URL
	db := t.TempDir()
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$")
		cmd.Env = append(os.Environ(), "GRIDBOT_TEST_HELPER=serve", "TELEGRAM_BOT_TOKEN=123:TEST", "TELEGRAM_API_URL="+url,
			"GRIDBOT_DB="+db, "GRIDBOT_OPERATORS=7", "GRIDBOT_HTTP=127.0.0.1:0", "GRIDBOT_LOG_LEVEL=error", "GRIDBOT_RECEIPT_DELAY=0s")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := tg.WaitFor(ctx, func([]telegramtest.Call) bool { return cond() }); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	child := start()
	tg.AddChat(village)
	tg.SendMessage(village, operator, "/bind village 郝家店村")
	wait("the binding", func() bool { return len(tg.Sent(village.ID)) > 0 })

	sent := 0
	for round := range 5 {
		// a burst of reports, then a kill the moment the last is confirmed
		for range 20 + 7*round {
			tg.SendMessage(village, wang, fmt.Sprintf("#发热 姓名:病人%03d 体温:38.5 住址:郝家店村1组", sent))
			sent++
		}
		last := tg.LastUpdateID()
		wait("the confirmation", func() bool { return tg.Confirmed() >= last })
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		child.Wait()

		st, err := store.Open(context.Background(), db, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: open after kill: %v", round, err)
		}
		rs, err := st.Reports(context.Background(), store.ReportQuery{Chat: village.ID})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != sent {
			t.Fatalf("round %d: %d reports in the store, but Telegram was told %d were received", round, len(rs), sent)
		}
		child = start()
		wait("the restarted bot to poll", func() bool { return tg.Pending() == 0 })
	}
	tg.SendMessage(village, wang, "/today")
	wait("/today", func() bool {
		for _, m := range tg.Sent(village.ID) {
			if strings.Contains(m.Text, fmt.Sprintf("发热 %d", sent)) {
				return true
			}
		}
		return false
	})
}
