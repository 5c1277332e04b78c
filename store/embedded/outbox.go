package embedded

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/petar/GoLLRB/llrb"

	"gridbot/store/driver"
)

// The outbox's facts are rows of the outbox and attempts tables. What
// gosql cannot do cheaply — find the pending messages that are due without
// looking at the sent and dead ones — is done by pendingSet, derived state
// rebuilt on replay and updated on apply.
//
// A message's state folds its attempts: sent once any attempt was sent
// (a message cannot be unsent), else dead once any attempt was final, else
// pending, due at the RetryAt of its newest attempt (by Seq) or at its
// NotBefore if it has none. Sent and dead are final, so the order in which
// attempts are applied does not matter.

// timeID orders pending messages by a time, then id.
type timeID struct {
	t  time.Time
	id int64
}

// Less implements llrb.Item.
func (a timeID) Less(than llrb.Item) bool {
	b, ok := than.(timeID)
	if !ok { // llrb.Inf
		return !than.Less(a)
	}
	if !a.t.Equal(b.t) {
		return a.t.Before(b.t)
	}
	return a.id < b.id
}

// pendingMsg is what pendingSet knows of one pending message.
type pendingMsg struct {
	due      time.Time
	created  time.Time
	retrySeq int64 // Seq of the attempt that set due; 0 for NotBefore
}

// pendingSet indexes the pending outbox messages by due time and by
// creation time.
type pendingSet struct {
	byID      map[int64]*pendingMsg
	byDue     *llrb.LLRB // of timeID{due, id}
	byCreated *llrb.LLRB // of timeID{created, id}
}

func newPendingSet() pendingSet {
	return pendingSet{byID: map[int64]*pendingMsg{}, byDue: llrb.New(), byCreated: llrb.New()}
}

// add records a newly enqueued message.
func (p pendingSet) add(id int64, notBefore, created time.Time) {
	if _, ok := p.byID[id]; ok {
		return
	}
	p.byID[id] = &pendingMsg{due: notBefore, created: created}
	p.byDue.ReplaceOrInsert(timeID{notBefore, id})
	p.byCreated.ReplaceOrInsert(timeID{created, id})
}

// attempt folds one attempt into the set.
func (p pendingSet) attempt(id, seq int64, sent, final bool, retryAt time.Time) {
	m, ok := p.byID[id]
	if !ok {
		return // sent or dead already: final
	}
	switch {
	case sent || final:
		p.byDue.Delete(timeID{m.due, id})
		p.byCreated.Delete(timeID{m.created, id})
		delete(p.byID, id)
	case seq > m.retrySeq:
		p.byDue.Delete(timeID{m.due, id})
		m.due, m.retrySeq = retryAt, seq
		p.byDue.ReplaceOrInsert(timeID{m.due, id})
	}
}

// due returns the ids of at most limit messages due at now, oldest first.
func (p pendingSet) due(now time.Time, limit int) []int64 {
	var ids []int64
	p.byDue.AscendGreaterOrEqual(llrb.Inf(-1), func(it llrb.Item) bool {
		ti := it.(timeID)
		if ti.t.After(now) || len(ids) >= limit {
			return false
		}
		ids = append(ids, ti.id)
		return true
	})
	return ids
}

// oldest returns the creation time of the oldest pending message.
func (p pendingSet) oldest() time.Time {
	if it := p.byCreated.Min(); it != nil {
		return it.(timeID).t
	}
	return time.Time{}
}

// foldAttempts sets m's state from its attempts.
func foldAttempts(m *driver.OutboxMessage, attempts []seqAttempt) {
	sort.Slice(attempts, func(i, j int) bool { return attempts[i].seq < attempts[j].seq })
	m.State = driver.OutboxPending
	var sent, dead, last *driver.Attempt
	for i := range attempts {
		a := &attempts[i].a
		m.Attempts = max(m.Attempts, a.Attempt)
		last = a
		switch {
		case a.Sent:
			sent = a
		case a.Final:
			dead = a
			m.LastError = a.Error
		default:
			m.LastError = a.Error
		}
	}
	switch {
	case sent != nil:
		m.State, m.SentMessageID, m.DoneAt = driver.OutboxSent, sent.SentMessageID, sent.At
	case dead != nil:
		m.State, m.DoneAt = driver.OutboxDead, dead.At
	case last != nil:
		m.RetryAt = last.RetryAt
	}
}

// seqAttempt is an attempt with its Seq.
type seqAttempt struct {
	seq int64
	a   driver.Attempt
}

// outboxByID reads one message with its folded state. Callers hold st.mu.
func (st *state) outboxByID(id int64) (driver.OutboxMessage, bool, error) {
	return st.outboxWhere(eqCond(colMsgID, textVal(idKey(id))))
}

func (st *state) outboxWhere(c *cond) (driver.OutboxMessage, bool, error) {
	var m driver.OutboxMessage
	found := false
	err := st.db.selectText(query{table: tblOutbox, cols: []string{colBody}, eq: c}, func(body string) error {
		var err error
		m, err = decodeOutbox(body)
		found = true
		return err
	})
	if err != nil || !found {
		return m, false, err
	}
	var attempts []seqAttempt
	err = st.db.selectText(query{table: tblAttempts, cols: []string{colBody}, eq: eqCond(colMsgID, textVal(idKey(m.ID)))}, func(body string) error {
		seq, a, err := decodeAttempt(body)
		attempts = append(attempts, seqAttempt{seq, a})
		return err
	})
	if err != nil {
		return m, false, err
	}
	foldAttempts(&m, attempts)
	// stored under the chat's home when it was queued: that may be an id
	// that a migration made an alias since
	m.Chat = st.alias.currentOf(st.alias.resolve(m.Chat))
	return m, true, nil
}

// Due returns pending outbox messages whose NotBefore (or RetryAt after a
// failure) is at or before now, oldest first (by that time, then ID), at
// most limit. It reads only pending messages. While the disk is full it
// returns none (see WritesRefused).
func (e *Engine) Due(ctx context.Context, now time.Time, limit int) ([]driver.OutboxMessage, error) {
	if refusing, _ := e.WritesRefused(); refusing {
		// a message sent now could not be recorded as sent (see WritesRefused)
		return nil, nil
	}
	var out []driver.OutboxMessage
	err := e.read(ctx, func(st *state) error {
		if limit < 1 {
			return nil
		}
		for _, id := range st.pending.due(now, limit) {
			m, ok, err := st.outboxByID(id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("pending message %d has no row", id)
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: due: %w", err)
	}
	return out, nil
}

// Outbox returns one message by key with its folded state.
func (e *Engine) Outbox(ctx context.Context, key string) (driver.OutboxMessage, bool, error) {
	var (
		m  driver.OutboxMessage
		ok bool
	)
	err := e.read(ctx, func(st *state) error {
		var err error
		m, ok, err = st.outboxWhere(eqCond(colMsgKey, textVal(key)))
		return err
	})
	if err != nil {
		return driver.OutboxMessage{}, false, fmt.Errorf("embedded: outbox: %w", err)
	}
	return m, ok, nil
}

// OutboxStats returns how many messages are pending and the CreatedAt of
// the oldest.
func (e *Engine) OutboxStats(ctx context.Context) (int, time.Time, error) {
	var (
		n      int
		oldest time.Time
	)
	err := e.read(ctx, func(st *state) error {
		n, oldest = len(st.pending.byID), st.pending.oldest()
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("embedded: outbox stats: %w", err)
	}
	return n, oldest, nil
}
