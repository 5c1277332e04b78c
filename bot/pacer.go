package bot

import (
	"sync"
	"time"
)

// Telegram's limits, kept with a margin: a message a second per chat,
// 20 a minute into one group, 30 a second overall.
const (
	perChatGap       = time.Second
	perGroupMinute   = 20
	overallPerSecond = 30
)

// window remembers the times of the last n events, to allow at most n in
// any span of length d.
type window struct {
	n     int
	d     time.Duration
	times []time.Time // oldest first, at most n
}

// next returns the earliest time another event may happen.
func (w *window) next(now time.Time) time.Time {
	if len(w.times) < w.n {
		return now
	}
	if t := w.times[0].Add(w.d); t.After(now) {
		return t
	}
	return now
}

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

// earliest returns when a call to chat may be made; message says whether
// it posts a new message (which the per-chat limits count) rather than an
// edit, a reaction or an answer.
func (p *pacer) earliest(chat int64, message bool, now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.earliestLocked(chat, message, now)
}

// take reserves a call to chat at now and returns now if the limits allow
// it; otherwise it reserves nothing and returns when they will. Checking
// and reserving in one step keeps the sender's concurrent workers within
// the overall limit.
func (p *pacer) take(chat int64, message bool, now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.earliestLocked(chat, message, now); t.After(now) {
		return t
	}
	p.recordLocked(chat, message, now)
	return now
}

func (p *pacer) earliestLocked(chat int64, message bool, now time.Time) time.Time {
	t := p.overall.next(now)
	c := p.chat(chat)
	if c.blocked.After(t) {
		t = c.blocked
	}
	if message {
		if gap := c.last.Add(perChatGap); gap.After(t) {
			t = gap
		}
		if chat < 0 { // groups: 20 a minute
			if m := c.minute.next(now); m.After(t) {
				t = m
			}
		}
	}
	return t
}

// record notes a call made at now.
func (p *pacer) record(chat int64, message bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recordLocked(chat, message, now)
}

func (p *pacer) recordLocked(chat int64, message bool, now time.Time) {
	p.overall.add(now)
	if message {
		c := p.chat(chat)
		c.last = now
		c.minute.add(now)
	}
}

// block holds every call to chat until t (Telegram's retry_after).
func (p *pacer) block(chat int64, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.chat(chat); t.After(c.blocked) {
		c.blocked = t
	}
}
