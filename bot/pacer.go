package bot

import (
	"sync"
	"time"

	"gridbot/handlers"
)

// Telegram's limits are about 30 calls a second overall, 20 a minute into
// one group and one a second into one chat. The pacer keeps below them by
// a margin: it times a call when it reserves it, but Telegram counts it
// when it arrives, and the time in between varies (the network, the
// scheduler, a busy machine). 25 a second leaves 200 ms of that jitter,
// 19 a minute 3 s, before the arrivals could reach the limits.
const (
	perChatGap       = time.Second
	perGroupMinute   = 19
	overallPerSecond = 25
	// messageReserve of a group's minute are kept for messages: edits and
	// reactions may take the rest, so that under a flood of reports their
	// reactions cannot leave a command's answer waiting for the next minute.
	messageReserve = 5
)

// callClass says which limits a call counts against. Every call counts
// against the overall limit. Telegram applies its group limit to what the
// bot does in the group, not only to new messages: sendMessage,
// sendDocument, editMessageText and setMessageReaction all show in the
// chat and all count against its 19 a minute. The one-a-second spacing
// is Telegram's advice for new messages; an edit or a reaction need not
// wait a second after the message before it. answerCallbackQuery shows
// only to the user who pressed, and must come within seconds or their
// button keeps spinning: it counts against the overall limit only.
type callClass int

const (
	answerCall  callClass = iota // the overall limit only
	inChatCall                   // and the group's minute
	messageCall                  // and the chat's one a second
)

// classOf returns the class of an action's call.
func classOf(kind handlers.ActionKind) callClass {
	switch kind {
	case handlers.Answer:
		return answerCall
	case handlers.Send, handlers.Receipt, handlers.Document:
		return messageCall
	}
	return inChatCall
}

// window remembers the times of the last n events, to allow at most n in
// any span of length d.
type window struct {
	n     int
	d     time.Duration
	times []time.Time // oldest first, at most n
}

// next returns the earliest time another event may happen.
func (w *window) next(now time.Time) time.Time { return w.nextOf(w.n, now) }

// nextOf returns the earliest time another event may happen if at most
// k ≤ n may happen in any span of length d.
func (w *window) nextOf(k int, now time.Time) time.Time {
	if len(w.times) < k {
		return now
	}
	if t := w.times[len(w.times)-k].Add(w.d); t.After(now) {
		return t
	}
	return now
}

// add records an event at t, which is no earlier than any recorded.
func (w *window) add(t time.Time) {
	if len(w.times) == w.n {
		w.times = append(w.times[:0], w.times[1:]...)
	}
	w.times = append(w.times, t)
}

// pacer spaces the sender's calls.
type pacer struct {
	mu      sync.Mutex
	overall window
	chats   map[int64]*chatPace
	latest  time.Time // the latest call reserved: reservations never go back in time
}

type chatPace struct {
	last    time.Time
	minute  window
	blocked time.Time // after a 429: nothing to this chat before then
}

func newPacer() *pacer {
	return &pacer{overall: window{n: overallPerSecond, d: time.Second}, chats: map[int64]*chatPace{}}
}

func (p *pacer) chat(id int64) *chatPace {
	c, ok := p.chats[id]
	if !ok {
		c = &chatPace{minute: window{n: perGroupMinute, d: time.Minute}}
		p.chats[id] = c
	}
	return c
}

// earliest returns when a call of a class to chat may be made.
func (p *pacer) earliest(chat int64, class callClass, now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.earliestLocked(chat, class, p.clamp(now))
}

// take reserves a call to chat at now and returns now if the limits allow
// it; otherwise it reserves nothing and returns when they will. Checking
// and reserving in one step keeps the sender's concurrent workers within
// the overall limit.
func (p *pacer) take(chat int64, class callClass, now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	now = p.clamp(now)
	if t := p.earliestLocked(chat, class, now); t.After(now) {
		return t
	}
	p.latest = now
	p.overall.add(now)
	c := p.chat(chat)
	if class >= inChatCall {
		c.minute.add(now)
	}
	if class == messageCall {
		c.last = now
	}
	return now
}

// clamp keeps the windows in order: workers read the clock before they
// take the lock, and one that read it earlier may come second.
func (p *pacer) clamp(now time.Time) time.Time {
	if now.Before(p.latest) {
		return p.latest
	}
	return now
}

func (p *pacer) earliestLocked(chat int64, class callClass, now time.Time) time.Time {
	t := p.overall.next(now)
	c := p.chat(chat)
	if c.blocked.After(t) {
		t = c.blocked
	}
	if class == messageCall {
		if gap := c.last.Add(perChatGap); gap.After(t) {
			t = gap
		}
	}
	if class >= inChatCall && chat < 0 { // groups: a limit a minute
		k := perGroupMinute
		if class == inChatCall {
			k -= messageReserve
		}
		if m := c.minute.nextOf(k, now); m.After(t) {
			t = m
		}
	}
	return t
}

// block holds every call to chat until t (Telegram's retry_after).
func (p *pacer) block(chat int64, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.chat(chat); t.After(c.blocked) {
		c.blocked = t
	}
}
