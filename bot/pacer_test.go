package bot

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"gridbot/bot/telegramtest"
	"gridbot/handlers"
)

// most returns the largest number of calls within any span shorter than d.
func most(calls []telegramtest.Call, d time.Duration) int {
	best := 0
	for i := range calls {
		n := 0
		for j := i; j < len(calls) && calls[j].At.Sub(calls[i].At) < d; j++ {
			n++
		}
		best = max(best, n)
	}
	return best
}

// TestPacingPerChat: messages into one group go at most one a second and
// 20 a minute; into a private chat one a second; reactions and edits do
// not wait for the per-chat pace. Every message arrives, in order.
func TestPacingPerChat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		const private = 1001
		e.tg.AddChat(village)
		report := e.tg.SendMessage(village, wang, "零报告")
		const n = 45
		var actions []handlers.Action
		for i := range n {
			actions = append(actions, send(village.ID, fmt.Sprintf("g%02d", i), fmt.Sprintf("群消息 %02d", i)))
			actions = append(actions, send(private, fmt.Sprintf("p%02d", i), fmt.Sprintf("私聊 %02d", i)))
		}
		actions = append(actions, handlers.Action{Kind: handlers.React, Key: "react", Chat: village.ID, MessageID: int64(report), Emoji: "👌"})
		start := time.Now()
		e.queue(actions...)
		e.run()
		e.until("every message", time.Hour, func([]telegramtest.Call) bool {
			return len(e.tg.Sent(village.ID)) == n && len(e.tg.Sent(private)) == n
		})
		all := e.tg.Calls()
		for _, chat := range []int64{village.ID, private} {
			calls := callsTo(all, "sendMessage", chat)
			for i, c := range calls {
				if i > 0 && c.At.Sub(calls[i-1].At) < time.Second {
					t.Errorf("chat %d: messages %d and %d %v apart", chat, i-1, i, c.At.Sub(calls[i-1].At))
				}
				if want := fmt.Sprintf("%02d", i); c.Params["text"][len(c.Params["text"])-2:] != want {
					t.Errorf("chat %d: message %d is %q", chat, i, c.Params["text"])
				}
			}
			got := most(calls, time.Minute)
			switch {
			case chat < 0 && got > perGroupMinute:
				t.Errorf("%d messages reached the group within a minute", got)
			case chat > 0 && got <= perGroupMinute:
				t.Errorf("only %d messages a minute into a private chat: the group limit applied", got)
			}
		}
		// the reaction did not wait behind the group's messages
		if r := callsTo(all, "setMessageReaction", 0); len(r) != 1 || r[0].At.Sub(start) > time.Second {
			t.Errorf("the reaction came %v after it was queued", r[0].At.Sub(start))
		}
		// 45 into a group at 20 a minute take two minutes and more, no more than needed
		g := callsTo(all, "sendMessage", village.ID)
		if took := g[n-1].At.Sub(g[0].At); took < 2*time.Minute || took > 2*time.Minute+10*time.Second {
			t.Errorf("45 group messages took %v", took)
		}
	})
}

// TestPacingOverall: however many chats have something to send, at most
// 30 calls a second reach Telegram, all kinds counted.
func TestPacingOverall(t *testing.T) {
	for _, workers := range []int{1, 8, 32} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, envOptions{workers: workers})
				const chats = 120
				var actions []handlers.Action
				for c := range chats {
					chat := int64(-5000 - c)
					e.tg.AddChat(telegramtest.Chat{ID: chat})
					for i := range 3 {
						actions = append(actions, send(chat, fmt.Sprintf("c%d-%d", c, i), fmt.Sprintf("消息 %d", i)))
					}
				}
				e.queue(actions...)
				e.run()
				e.until("every message", time.Hour, func(calls []telegramtest.Call) bool { return len(calls) == len(actions) })
				calls := e.tg.Calls()
				if got := most(calls, time.Second); got > overallPerSecond {
					t.Errorf("%d calls within a second; the limit is %d", got, overallPerSecond)
				}
				// and not much slower than that
				if took := calls[len(calls)-1].At.Sub(calls[0].At); took > time.Duration(len(actions)/overallPerSecond+2)*time.Second {
					t.Errorf("%d calls took %v", len(actions), took)
				}
			})
		})
	}
}

func TestWindow(t *testing.T) {
	t0 := time.Date(2020, 2, 5, 9, 0, 0, 0, time.UTC)
	w := window{n: 3, d: time.Minute}
	for i := range 3 {
		if got := w.next(t0.Add(time.Duration(i) * time.Second)); !got.Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("event %d: next = %v", i, got)
		}
		w.add(t0.Add(time.Duration(i) * time.Second))
	}
	if got := w.next(t0.Add(3 * time.Second)); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("the 4th event may happen at %v, want a minute after the first", got)
	}
	w.add(t0.Add(time.Minute))
	if got := w.next(t0.Add(time.Minute)); !got.Equal(t0.Add(time.Minute + time.Second)) {
		t.Errorf("the 5th event may happen at %v, want a minute after the second", got)
	}
}

func TestPacerBlock(t *testing.T) {
	t0 := time.Date(2020, 2, 5, 9, 0, 0, 0, time.UTC)
	p := newPacer()
	p.block(-1, t0.Add(30*time.Second))
	for _, message := range []bool{true, false} {
		if got := p.earliest(-1, message, t0); !got.Equal(t0.Add(30 * time.Second)) {
			t.Errorf("message %v: earliest %v, want the end of the block", message, got)
		}
	}
	if got := p.earliest(-2, true, t0); !got.Equal(t0) {
		t.Errorf("another chat: earliest %v, want now", got)
	}
	p.block(-1, t0.Add(10*time.Second)) // a shorter block does not shorten it
	if got := p.earliest(-1, true, t0); !got.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("after a shorter block: earliest %v", got)
	}
}
