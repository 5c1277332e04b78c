package bot

import (
	"fmt"
	"slices"
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
// 19 a minute; into a private chat one a second; a reaction counts in the
// group's minute but does not wait a second behind a message. Every
// message arrives, in order.
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
			return len(e.tg.Sent(village.ID)) == n && len(e.tg.Sent(private)) == n && len(e.tg.Reactions(village.ID, report)) == 1
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
		// the reaction counted in the group's pace
		inGroup := append(callsTo(all, "sendMessage", village.ID), callsTo(all, "setMessageReaction", village.ID)...)
		slices.SortFunc(inGroup, func(a, b telegramtest.Call) int { return a.At.Compare(b.At) })
		if got := most(inGroup, time.Minute); got > perGroupMinute {
			t.Errorf("%d calls into the group within a minute, reaction included", got)
		}
		// 45 messages and a reaction into a group at 19 a minute take two
		// minutes and more, no more than needed
		g := callsTo(all, "sendMessage", village.ID)
		if took := g[n-1].At.Sub(start); took < 2*time.Minute || took > 2*time.Minute+10*time.Second {
			t.Errorf("45 group messages took %v", took)
		}
	})
}

// TestPacingOverall: however many chats have something to send, at most
// 25 calls a second (30 is Telegram's limit) reach Telegram, all kinds counted.
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

// TestPacingFlood: a flood through the real handlers — 150 reports into one
// group, 5 into each of 40 others, and 60 answers to button presses in the
// flooded group. Every call Telegram sees counts: at most 30 reach it in
// any second, at most 20 reach one group in any minute (reactions, receipts
// and edits alike), answers to presses are not held behind the group's
// pace (60 of them at the group's pace would take three minutes; they wait
// only for the calls queued before them), and every report gets its
// reaction.
func TestPacingFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{receiptDelay: 3 * time.Second})
		e.bind(village, "郝家店村")
		var others []telegramtest.Chat
		for i := range 40 {
			c := telegramtest.Chat{ID: -1001000005000 - int64(i), Type: "supergroup", Title: fmt.Sprintf("村%02d群", i)}
			others = append(others, c)
			e.bind(c, fmt.Sprintf("村%02d", i))
		}
		e.run()
		start := time.Now()
		reports := 0
		for i := range 150 {
			e.tg.SendMessage(village, []telegramtest.User{wang, li}[i%2], fmt.Sprintf("#发热 姓名:病人%03d 体温:38.%d 住址:郝家店村%d组", i, i%10, i%9+1))
			reports++
			if i%30 == 29 {
				e.deliver()
			}
		}
		for _, c := range others {
			for i := range 5 {
				e.tg.SendMessage(c, wang, fmt.Sprintf("#发热 姓名:外村%d 体温:38.%d 住址:%s%d组", i, i, c.Title, i+1))
				reports++
			}
		}
		e.deliver()
		var answers []handlers.Action
		for i := range 60 {
			answers = append(answers, handlers.Action{Kind: handlers.Answer, Key: fmt.Sprint("answer", i), Chat: village.ID, CallbackID: fmt.Sprint("q", i), Text: "好"})
		}
		e.queue(answers...)
		e.sender.Wake()
		e.settled(2 * time.Hour)
		var all []telegramtest.Call // what the sender called (not the test's getUpdates)
		for _, c := range e.tg.Calls() {
			if c.Method != "getUpdates" {
				all = append(all, c)
			}
		}
		if got := len(callsTo(all, "setMessageReaction", 0)); got != reports {
			t.Errorf("%d reactions for %d reports", got, reports)
		}
		peakSecond := most(all, time.Second)
		if peakSecond > 30 {
			t.Errorf("%d calls reached Telegram within one second; the limit is 30", peakSecond)
		}
		peakGroup := 0
		for _, c := range append(others, village) {
			var inGroup []telegramtest.Call
			for _, call := range all {
				if call.Int64("chat_id") == c.ID && call.Method != "answerCallbackQuery" {
					inGroup = append(inGroup, call)
				}
			}
			peakGroup = max(peakGroup, most(inGroup, time.Minute))
		}
		if peakGroup > 20 {
			t.Errorf("%d calls reached one group within a minute; the limit is 20", peakGroup)
		}
		if a := callsTo(all, "answerCallbackQuery", 0); len(a) != 60 || a[59].At.Sub(start) > 30*time.Second {
			t.Errorf("%d answers, the last %v after the flood began: held behind the group's pace", len(a), a[len(a)-1].At.Sub(start))
		}
		t.Logf("%d calls for %d reports over %v: at most %d in a second, %d into one group in a minute",
			len(all), reports, all[len(all)-1].At.Sub(start).Round(time.Second), peakSecond, peakGroup)
	})
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
	for _, class := range []callClass{answerCall, inChatCall, messageCall} {
		if got := p.earliest(-1, class, t0); !got.Equal(t0.Add(30 * time.Second)) {
			t.Errorf("class %v: earliest %v, want the end of the block", class, got)
		}
	}
	if got := p.earliest(-2, messageCall, t0); !got.Equal(t0) {
		t.Errorf("another chat: earliest %v, want now", got)
	}
	p.block(-1, t0.Add(10*time.Second)) // a shorter block does not shorten it
	if got := p.earliest(-1, messageCall, t0); !got.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("after a shorter block: earliest %v", got)
	}
}

// TestPacerKeepsRoomForMessages: reactions and edits take at most 14 of a
// group's 19 calls a minute; a message still goes after them.
func TestPacerKeepsRoomForMessages(t *testing.T) {
	t0 := time.Date(2020, 2, 5, 9, 0, 0, 0, time.UTC)
	p := newPacer()
	for i := range perGroupMinute - messageReserve {
		if got := p.take(-1, inChatCall, t0.Add(time.Duration(i)*time.Millisecond)); got.After(t0.Add(time.Second)) {
			t.Fatalf("reaction %d held until %v", i, got)
		}
	}
	if got := p.take(-1, inChatCall, t0.Add(time.Second)); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("another reaction may go at %v, want a minute after the first", got)
	}
	if got := p.take(-1, messageCall, t0.Add(time.Second)); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("a message after 14 reactions may go at %v, want at once", got)
	}
}
