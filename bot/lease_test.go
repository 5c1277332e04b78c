package bot

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"gridbot/bot/telegramtest"
)

// slowAPI carries out every sendMessage at once but answers it only
// after delay (the first only, when first is set), or when the call's
// context ends: a call Telegram carried out whose answer is slow to come.
type slowAPI struct {
	API
	delay time.Duration
	first bool
	calls atomic.Int32
}

func (s *slowAPI) SendMessage(ctx context.Context, p *tg.SendMessageParams) (*models.Message, error) {
	m, err := s.API.SendMessage(ctx, p)
	if n := s.calls.Add(1); !s.first || n == 1 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return m, err
}

// sentTexts counts the sendMessage calls by text.
func sentTexts(calls []telegramtest.Call) map[string]int {
	n := map[string]int{}
	for _, c := range calls {
		if c.Method == "sendMessage" {
			n[c.Params["text"]]++
		}
	}
	return n
}

// TestSenderLeaseSlowCalls: two replicas share the outbox; replica A
// takes the lease and sends while B looks every 2 s.
//
//   - many slow calls: a round of 30 calls of a second each, begun 40 s
//     into a minute, runs on past it; A must keep its turn (renewing the
//     lease before each call) and B must send none of A's messages.
//   - one stalled call: A's call is answered only after 10 s, its lease
//     runs out meanwhile and B takes over; B must not send the message A's
//     call carried, and A, back, must stop sending.
//
// Every message goes exactly once.
func TestSenderLeaseSlowCalls(t *testing.T) {
	for _, tc := range []struct {
		name  string
		at    time.Duration // into the minute
		delay time.Duration
		first bool
	}{
		{"many slow calls", 40 * time.Second, time.Second, false},
		{"one stalled call", 55 * time.Second, 10 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, envOptions{})
				slow := &slowAPI{API: e.api, delay: tc.delay, first: tc.first}
				a := NewSender(slow, e.st, e.h, time.Now, discard(), NewMetrics(), SenderOptions{Workers: 1, Lease: true, Holder: "a"})
				b := NewSender(e.api, e.st, e.h, time.Now, discard(), NewMetrics(), SenderOptions{Workers: 1, Lease: true, Holder: "b"})
				ctx := context.Background()
				time.Sleep(tc.at)
				var texts []string
				for i := range 30 {
					chat := telegramtest.Chat{ID: -1001000007000 - int64(i), Type: "supergroup"}
					e.tg.AddChat(chat)
					texts = append(texts, fmt.Sprint("第", i, "条"))
					e.queue(send(chat.ID, fmt.Sprint("m", i), texts[i]))
				}
				var wg sync.WaitGroup
				wg.Go(func() {
					if _, err := a.SendDue(ctx); err != nil {
						t.Error(err)
					}
				})
				for range 20 { // B looks every 2 s while A sends
					time.Sleep(2 * time.Second)
					if _, err := b.SendDue(ctx); err != nil {
						t.Error(err)
					}
				}
				wg.Wait()
				for range 30 { // then both, until everything went
					time.Sleep(2 * time.Second)
					for _, s := range []*Sender{a, b} {
						if _, err := s.SendDue(ctx); err != nil {
							t.Error(err)
						}
					}
				}
				got := sentTexts(e.tg.Calls())
				for _, text := range texts {
					if got[text] != 1 {
						t.Errorf("%q sent %d times, want once", text, got[text])
					}
				}
			})
		})
	}
}

// TestSenderLeaseRestart: a sender holding the lease dies (SIGKILL: it
// never gives the lease back); the process started in its place sends
// within 5 s, wherever in the minute the restart falls.
func TestSenderLeaseRestart(t *testing.T) {
	for _, into := range []time.Duration{5 * time.Second, 30 * time.Second, 50 * time.Second} {
		t.Run(fmt.Sprintf("%v into the minute", into), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, envOptions{})
				e.tg.AddChat(village)
				ctx := context.Background()
				time.Sleep(into)
				dead := NewSender(e.api, e.st, e.h, time.Now, discard(), NewMetrics(), SenderOptions{Workers: 1, Lease: true, Holder: "old"})
				e.queue(send(village.ID, "before", "重启前"))
				if _, err := dead.SendDue(ctx); err != nil {
					t.Fatal(err)
				}
				if n := len(e.tg.Sent(village.ID)); n != 1 {
					t.Fatalf("%d messages before the restart", n)
				}
				time.Sleep(500 * time.Millisecond) // killed, and started again
				restarted := time.Now()
				e.queue(send(village.ID, "after", "重启后"))
				e.sender = NewSender(e.api, e.st, e.h, time.Now, discard(), e.metrics, SenderOptions{Workers: 8, Lease: true, Holder: "new"})
				e.run()
				calls := e.until("a send after the restart", time.Minute, func([]telegramtest.Call) bool { return len(e.tg.Sent(village.ID)) == 2 })
				if took := calls[len(calls)-1].At.Sub(restarted); took > 5*time.Second {
					t.Errorf("the first send came %v after the restart, want within 5 s", took)
				}
			})
		})
	}
}
