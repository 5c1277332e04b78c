package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"gridbot/bot/telegramtest"
	"gridbot/store"
)

// virtualBot is the service running inside a synctest bubble: virtual
// time, the fake Telegram reached in memory, the embedded store on disk.
type virtualBot struct {
	t      *testing.T
	tg     *telegramtest.Server
	st     *store.Store
	svc    *service
	cancel context.CancelFunc
	done   chan struct{}
}

func startVirtual(t *testing.T, db string) *virtualBot {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	tg := telegramtest.New(telegramtest.WithReporter(t))
	st, err := store.Open(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{Token: "123:TEST", APIURL: "http://telegram.invalid", Location: loc, Operators: map[int64]bool{operator.ID: true}, ReceiptDelay: 3 * time.Second}
	log := slog.New(slog.DiscardHandler)
	svc, err := newService(cfg, st, tg.Client(), "gridbot", log, serviceOptions{now: time.Now, workers: 8, seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v := &virtualBot{t: t, tg: tg, st: st, svc: svc, cancel: cancel, done: make(chan struct{})}
	go func() { svc.run(ctx); close(v.done) }()
	return v
}

// stop stops the service and closes the store.
func (v *virtualBot) stop() {
	v.cancel()
	<-v.done
	v.st.Close()
	v.tg.Close()
}

// until waits, in virtual time, for a condition on the calls.
func (v *virtualBot) until(what string, limit time.Duration, cond func([]telegramtest.Call) bool) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if _, err := v.tg.WaitFor(ctx, cond); err != nil {
		v.t.Fatalf("waiting %v for %s: %v", limit, what, err)
	}
}

// maxPerMinute is the most calls in any 60 s window.
func maxPerMinute(calls []telegramtest.Call) int {
	most := 0
	for i := range calls {
		n := 0
		for j := i; j < len(calls) && calls[j].At.Sub(calls[i].At) < time.Minute; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

func messagesTo(calls []telegramtest.Call, chat int64) []telegramtest.Call {
	var out []telegramtest.Call
	for _, c := range calls {
		if c.Method == "sendMessage" && c.Int64("chat_id") == chat {
			out = append(out, c)
		}
	}
	return out
}

// TestPacing sends 100 reports and 100 commands into one group in a burst:
// at most 20 calls reach the group in any minute (messages and reactions
// alike), nothing is lost, the answers come in the order of the messages
// they answer, and the reactions come after them.
func TestPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := startVirtual(t, t.TempDir())
		defer v.stop()
		v.tg.AddChat(village)
		v.tg.SendMessage(village, operator, "/bind village 郝家店村")
		v.until("the binding", time.Minute, func(calls []telegramtest.Call) bool { return len(messagesTo(calls, village.ID)) == 1 })

		const n = 100
		for i := range n {
			v.tg.SendMessage(village, wang, fmt.Sprintf("#发热 姓名:病人%03d 体温:38.%d 住址:郝家店村%d组", i, i%10, i%5+1))
		}
		for i := range n {
			v.tg.SendMessage(village, li, fmt.Sprintf("/template 返乡 %d", i))
		}
		// every report named in a receipt, every command answered
		v.until("every answer", time.Hour, func(calls []telegramtest.Call) bool {
			text := ""
			templates := 0
			for _, c := range messagesTo(calls, village.ID) {
				text += c.Params["text"]
				if strings.Contains(c.Params["text"], "复制下面的模板") {
					templates++
				}
			}
			return templates == n && strings.Contains(text, fmt.Sprintf("病人%03d", n-1))
		})
		v.until("every reaction", time.Hour, func(calls []telegramtest.Call) bool {
			n := 0
			for _, c := range calls {
				if c.Method == "setMessageReaction" {
					n++
				}
			}
			return n == 100
		})
		var inGroup []telegramtest.Call
		for _, c := range v.tg.Calls() {
			if c.Method != "getUpdates" && c.Int64("chat_id") == village.ID {
				inGroup = append(inGroup, c)
			}
		}
		if most := maxPerMinute(inGroup); most > 20 {
			t.Errorf("%d calls reached the group within one minute; the limit is 20", most)
		}
		sends := messagesTo(v.tg.Calls(), village.ID)
		for i := 1; i < len(sends); i++ {
			if gap := sends[i].At.Sub(sends[i-1].At); gap < time.Second {
				t.Errorf("two messages %v apart; the limit is one a second", gap)
				break
			}
		}
		// receipts in the order of the reports
		all := ""
		for _, c := range sends {
			all += c.Params["text"]
		}
		last := -1
		for i := range n {
			at := strings.Index(all, fmt.Sprintf("病人%03d", i))
			if at < 0 {
				t.Fatalf("report %d has no receipt", i)
			}
			if at < last {
				t.Fatalf("the receipt of report %d came before an earlier report's", i)
			}
			last = at
		}
		if got := len(v.tg.CallsTo("setMessageReaction")); got != n {
			t.Errorf("%d reactions for %d reports", got, n)
		}
		t.Logf("%d messages carried %d receipts and %d answers over %v of virtual time; the reactions took %v more",
			len(sends), n, n, sends[len(sends)-1].At.Sub(sends[0].At), inGroup[len(inGroup)-1].At.Sub(sends[len(sends)-1].At))
	})
}
