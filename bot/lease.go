package bot

import (
	"context"
	"sync"
	"time"

	"gridbot/store"
)

// lease is a sender's turn to send, one minute at a time. The holder
// claims the next minute before this one ends, so it keeps sending while
// it lives; another replica takes over the minute after it dies. No two
// replicas send in the same minute, so none sends a message twice.
type lease struct {
	store  SenderStore
	mu     sync.Mutex
	held   map[time.Time]bool // minutes claimed (true) or lost (false)
	prefix string
}

// leaseAhead is how early the holder claims the next minute.
const leaseAhead = 15 * time.Second

func (l *lease) hold(ctx context.Context, now time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	minute := now.Truncate(time.Minute)
	held, known := l.held[minute]
	if !known {
		ok, err := l.claim(ctx, minute)
		if err != nil {
			return false, err
		}
		held = ok
	}
	if held && now.After(minute.Add(time.Minute-leaseAhead)) {
		if _, known := l.held[minute.Add(time.Minute)]; !known {
			if _, err := l.claim(ctx, minute.Add(time.Minute)); err != nil {
				return false, err
			}
		}
	}
	for m := range l.held { // remember only what is still useful
		if m.Before(minute) {
			delete(l.held, m)
		}
	}
	return held, nil
}

func (l *lease) claim(ctx context.Context, minute time.Time) (bool, error) {
	res, err := l.store.Commit(ctx, store.Changes{Claims: []string{l.prefix + minute.UTC().Format("2006-01-02T15:04Z")}})
	if err != nil {
		return false, err
	}
	l.held[minute] = res.Claimed
	return res.Claimed, nil
}
