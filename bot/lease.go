package bot

import (
	"context"
	"strconv"
	"sync"
	"time"

	"gridbot/store"
)

// Replicas sharing one store take turns sending by a lease with a short
// expiry. The holder renews it while it sends — before a call whenever
// less than leaseRenew of it is left — so it keeps its turn while it
// lives; when it dies or hangs, the lease runs out within leaseTTL and
// another replica, or the same one restarted, takes over. A restarted
// process is a new holder: it waits out its predecessor's lease, at most
// leaseTTL.
//
// The lease decides who sends, which keeps the replicas within one
// pacer's limits; it does not by itself keep a message from going twice
// (a holder can stall past its lease, for instance in a slow call). Each
// send is fenced: before the call the sender claims the message's
// attempt and records the attempt as in flight in one durable step (see
// Sender.fence), so two replicas can never both make the same attempt,
// and the message is not due for anyone while its call may still be
// under way.
const (
	leaseName  = "sender"
	leaseTTL   = 3 * time.Second
	leaseRenew = 2 * time.Second
)

// lease is this process's view of the sender's lease.
type lease struct {
	store  SenderStore
	holder string

	mu    sync.Mutex
	until time.Time // when the lease this process holds runs out; zero: not held
}

// hold reports whether this process holds the lease at now, renewing it
// (or trying to take it) when less than leaseRenew of it is left.
func (l *lease) hold(ctx context.Context, now time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.until.Sub(now) >= leaseRenew {
		return true, nil
	}
	held, err := l.store.Lease(ctx, leaseName, l.holder, now, now.Add(leaseTTL))
	if err != nil {
		l.until = time.Time{}
		return false, err
	}
	if held {
		l.until = now.Add(leaseTTL)
	} else {
		l.until = time.Time{}
	}
	return held, nil
}

// fenceKey is the claim a sender takes before an attempt at a message.
func fenceKey(m store.OutboxMessage, attempt int) string {
	return "send:" + strconv.FormatInt(m.ID, 10) + ":" + strconv.Itoa(attempt)
}
