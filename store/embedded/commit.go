package embedded

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"gridbot/store/driver"
	"gridbot/store/embedded/journal"
)

// The commit flow (see the package doc): plan under e.mu, append to the
// journal with no lock held, then apply under the state's write lock.

// inflight is a commit between its planning and its end.
type inflight struct {
	done chan struct{} // closed once the commit is applied or has failed
	err  error         // set before done is closed
}

func (f *inflight) wait() error {
	<-f.done
	return f.err
}

// reservations are what commits see beyond the applied state: the keys of
// in-flight commits and the aliases including in-flight migrations.
// Guarded by Engine.mu.
type reservations struct {
	alias  aliases
	migrTo map[int64]*inflight // ids aliased by an in-flight migration
	claims map[string]*inflight
	revs   map[revKey]reservedRev
	outbox map[string]reservedMsg
	names  map[string]reservedName // village names being bound
}

// reservedName is a village name an in-flight commit binds a chat to.
type reservedName struct {
	f    *inflight
	home int64
}

type reservedRev struct {
	f   *inflight
	seq int64
}

type reservedMsg struct {
	f  *inflight
	id int64
}

func newReservations() reservations {
	return reservations{
		alias:  newAliases(),
		migrTo: map[int64]*inflight{},
		claims: map[string]*inflight{},
		revs:   map[revKey]reservedRev{},
		outbox: map[string]reservedMsg{},
		names:  map[string]reservedName{},
	}
}

// villageName is a village name bound to a chat (by its home).
type villageName struct {
	name string
	home int64
}

// commitPlan is a planned commit: its result, its record and what it
// reserves.
type commitPlan struct {
	res     driver.Result
	rec     []byte  // nil: nothing to write
	entries []entry // rec, parsed: what apply inserts
	// before are in-flight commits whose migrations this one resolved chat
	// ids through: they must be durable before this record is appended.
	before []*inflight
	// after are in-flight commits holding keys this one found taken: it
	// returns only after they are durable.
	after []*inflight

	claims     []string
	rev        *revKey
	revSeq     int64
	outKeys    []string
	outIDs     []int64
	names      []villageName
	migrations []migration
	nextSeq    int64
	nextID     int64
}

// Commit applies changes as one durable step: it returns after their
// journal record is fsynced and they are visible to readers. Claims gate
// the whole step; a revision or outbox key that exists, or that a
// concurrent commit is writing, is skipped and reported. An attempt for an
// outbox message that does not exist is refused (driver.ErrNotFound).
func (e *Engine) Commit(ctx context.Context, c driver.Changes) (driver.Result, error) {
	res, err := e.commit(ctx, c)
	if err != nil {
		return driver.Result{}, fmt.Errorf("embedded: commit: %w", err)
	}
	return res, nil
}

func (e *Engine) commit(ctx context.Context, c driver.Changes) (driver.Result, error) {
	if e.readOnly {
		return driver.Result{}, driver.ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return driver.Result{}, err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return driver.Result{}, driver.ErrClosed
	}
	if err := e.failure(); err != nil {
		e.mu.Unlock()
		return driver.Result{}, err
	}
	p, err := e.plan(c)
	if err != nil {
		e.mu.Unlock()
		return driver.Result{}, err
	}
	var f *inflight
	if p.rec != nil {
		f = e.reserve(p)
		e.flights.Add(1)
	}
	e.mu.Unlock()

	if f != nil {
		if err := e.write(ctx, p, f); err != nil {
			return driver.Result{}, err
		}
	} else {
		p.after = append(p.after, p.before...)
	}
	for _, d := range p.after {
		if err := d.wait(); err != nil {
			return driver.Result{}, err
		}
	}
	return p.res, nil
}

// write appends p's record, applies it and ends the flight f.
func (e *Engine) write(ctx context.Context, p *commitPlan, f *inflight) (err error) {
	defer e.flights.Done()
	defer func() {
		e.mu.Lock()
		e.unreserve(p, f)
		if err != nil { // refused (disk full): its migrations never happened
			for _, m := range p.migrations {
				e.resv.alias.remove(m)
			}
		}
		e.mu.Unlock()
		f.err = err
		close(f.done)
	}()
	for _, d := range p.before {
		if err := d.wait(); err != nil {
			return err
		}
	}
	// Once reserved, a commit is written whatever ctx does: other commits
	// may already rely on its keys.
	if err := e.j.Append(context.WithoutCancel(ctx), p.rec); err != nil {
		if errors.Is(err, journal.ErrNoSpace) {
			// Not written: the engine goes on, reads included (see refuse).
			return e.refuse(err)
		}
		e.fail(err)
		return e.failure()
	}
	if err := e.st.applyLocked(p.entries); err != nil {
		e.fail(err)
		return e.failure()
	}
	return nil
}

// reserve registers p's keys and counters. Callers hold e.mu.
func (e *Engine) reserve(p *commitPlan) *inflight {
	f := &inflight{done: make(chan struct{})}
	for _, k := range p.claims {
		e.resv.claims[k] = f
	}
	if p.rev != nil {
		e.resv.revs[*p.rev] = reservedRev{f, p.revSeq}
	}
	for i, k := range p.outKeys {
		e.resv.outbox[k] = reservedMsg{f, p.outIDs[i]}
	}
	for _, n := range p.names {
		e.resv.names[n.name] = reservedName{f, n.home}
	}
	for _, m := range p.migrations {
		e.resv.alias.add(m)
		e.resv.migrTo[m.to] = f
	}
	e.nextSeq, e.nextID = p.nextSeq, p.nextID
	return f
}

// unreserve drops the keys p reserved as flight f, which the state now
// holds. Callers hold e.mu.
func (e *Engine) unreserve(p *commitPlan, f *inflight) {
	for _, k := range p.claims {
		delete(e.resv.claims, k)
	}
	if p.rev != nil {
		delete(e.resv.revs, *p.rev)
	}
	for _, k := range p.outKeys {
		delete(e.resv.outbox, k)
	}
	for _, n := range p.names {
		if e.resv.names[n.name].f == f {
			delete(e.resv.names, n.name)
		}
	}
	for _, m := range p.migrations {
		delete(e.resv.migrTo, m.to)
	}
}

// planner holds what planning one commit needs.
type planner struct {
	e  *Engine
	st *state
	p  *commitPlan
	// This commit's own migrations, seen before the rest of it.
	localHome, localCurrent map[int64]int64
}

func (pl *planner) resolve(id int64) int64 {
	if h, ok := pl.localHome[id]; ok {
		return h
	}
	if f := pl.e.resv.migrTo[id]; f != nil && !slices.Contains(pl.p.before, f) {
		pl.p.before = append(pl.p.before, f)
	}
	return pl.e.resv.alias.resolve(id)
}

func (pl *planner) known(id int64) bool {
	_, alias := pl.localHome[id]
	_, home := pl.localCurrent[id]
	return alias || home || pl.e.resv.alias.known(id)
}

func (pl *planner) wait(f *inflight) {
	if !slices.Contains(pl.p.after, f) {
		pl.p.after = append(pl.p.after, f)
	}
}

// nameTaken reports whether a chat other than home is bound to a village
// called name: by its newest binding, applied, or by a commit in flight
// (then this one waits for it to be durable before it answers).
func (pl *planner) nameTaken(name string, home int64) (bool, error) {
	resolve := pl.e.resv.alias.resolve
	for _, n := range pl.p.names {
		if n.name == name && n.home != home {
			return true, nil
		}
	}
	if r, ok := pl.e.resv.names[name]; ok && resolve(r.home) != home {
		pl.wait(r.f)
		return true, nil
	}
	type folded struct {
		seq int64
		b   driver.Binding
	}
	newest := map[int64]folded{} // by home
	err := pl.st.db.selectText(query{table: tblBindings, cols: []string{colBody}}, func(body string) error {
		seq, b, err := decodeBinding(body)
		if h := resolve(b.Chat); err == nil && seq > newest[h].seq {
			newest[h] = folded{seq, b}
		}
		return err
	})
	if err != nil {
		return false, err
	}
	for h, f := range newest {
		if h != home && f.b.Role == driver.RoleVillage && f.b.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// plan decides what c does against the applied state plus the in-flight
// reservations, assigns Seqs and outbox ids and encodes the record.
// Callers hold e.mu; plan changes nothing in e.
func (e *Engine) plan(c driver.Changes) (*commitPlan, error) {
	st := e.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.closed {
		return nil, driver.ErrClosed
	}
	pl := &planner{e: e, st: st, p: &commitPlan{res: driver.Result{Claimed: true}}}
	p := pl.p

	// Claims gate everything.
	for _, k := range c.Claims {
		if slices.Contains(p.claims, k) {
			continue
		}
		if f := e.resv.claims[k]; f != nil {
			p.res.Claimed = false
			pl.wait(f)
			continue
		}
		taken, err := st.claimTaken(k)
		if err != nil {
			return nil, err
		}
		if taken {
			p.res.Claimed = false
			continue
		}
		p.claims = append(p.claims, k)
	}
	if !p.res.Claimed {
		p.claims = nil
		return p, nil
	}

	seq, id := e.nextSeq, e.nextID
	enc := encoder{b: make([]byte, 1, 512)}
	enc.b[0] = recordVersion

	for _, m := range c.Migrations {
		mg, ok, err := planMigration(pl.resolve, pl.known, m.From, m.To, m.At)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if pl.localHome == nil {
			pl.localHome, pl.localCurrent = map[int64]int64{}, map[int64]int64{}
		}
		pl.localHome[mg.to] = mg.home
		pl.localCurrent[mg.home] = mg.to
		p.migrations = append(p.migrations, mg)
	}
	// A village's name gates the step like a claim.
	for _, b := range c.Bindings {
		if b.Role != driver.RoleVillage {
			continue
		}
		home := pl.resolve(b.Chat)
		taken, err := pl.nameTaken(b.Name, home)
		if err != nil {
			return nil, err
		}
		if taken {
			p.res.NameTaken, p.claims = true, nil
			return p, nil
		}
		p.names = append(p.names, villageName{b.Name, home})
	}
	for _, b := range c.Bindings {
		b.Chat = pl.resolve(b.Chat)
		enc.binding(seq, b)
		seq++
	}
	for _, m := range p.migrations {
		enc.migration(seq, m)
		seq++
	}
	for _, m := range c.Members {
		m.Chat = pl.resolve(m.Chat)
		enc.member(seq, m)
		seq++
	}
	for _, s := range c.Settings {
		s.Chat = pl.resolve(s.Chat)
		enc.setting(seq, s)
		seq++
	}
	if c.Revision != nil {
		r := *c.Revision // keyed by the chat it was sent in: never resolved
		if _, ok := dayInt(r.Day); !ok {
			return nil, fmt.Errorf("revision: day %v out of range: %w", r.Day, driver.ErrInvalid)
		}
		k := revKey{repKey{r.Chat, r.MessageID}, r.Revision}
		if rv, ok := e.resv.revs[k]; ok {
			p.res.DuplicateRevision, p.res.RevisionSeq = true, rv.seq
			pl.wait(rv.f)
		} else if old, ok, err := st.revisionSeq(k); err != nil {
			return nil, err
		} else if ok {
			p.res.DuplicateRevision, p.res.RevisionSeq = true, old
		} else {
			var eventDay int32
			if n, ok := dayInt(r.EventDay()); ok {
				eventDay = n
			}
			p.rev, p.revSeq, p.res.RevisionSeq = &k, seq, seq
			enc.revision(seq, &r, eventDay)
			seq++
		}
	}
	for _, w := range c.Withdrawals {
		enc.withdrawal(seq, w)
		seq++
	}
	if len(c.Outbox) > 0 {
		p.res.Enqueued = make([]bool, len(c.Outbox))
		p.res.OutboxIDs = make([]int64, len(c.Outbox))
	}
	for i, m := range c.Outbox {
		if j := slices.Index(p.outKeys, m.Key); j >= 0 {
			p.res.OutboxIDs[i] = p.outIDs[j]
			continue
		}
		if rm, ok := e.resv.outbox[m.Key]; ok {
			p.res.OutboxIDs[i] = rm.id
			pl.wait(rm.f)
			continue
		}
		old, ok, err := st.outboxIDByKey(m.Key)
		if err != nil {
			return nil, err
		}
		if ok {
			p.res.OutboxIDs[i] = old
			continue
		}
		m.ID, m.Chat = id, pl.resolve(m.Chat)
		id++
		p.outKeys, p.outIDs = append(p.outKeys, m.Key), append(p.outIDs, m.ID)
		p.res.Enqueued[i], p.res.OutboxIDs[i] = true, m.ID
		enc.outbox(seq, &m)
		seq++
	}
	for _, a := range c.Attempts {
		ok, err := st.outboxExists(a.MessageID)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("attempt for outbox message %d: %w", a.MessageID, driver.ErrNotFound)
		}
		enc.attempt(seq, a)
		seq++
	}
	for _, k := range p.claims {
		enc.claim(seq, k)
		seq++
	}

	if len(enc.b) == 1 {
		return p, nil // nothing to write
	}
	if len(enc.b) > journal.MaxRecordSize {
		return nil, fmt.Errorf("changes encode to %d bytes, over the journal's limit of %d: %w", len(enc.b), journal.MaxRecordSize, driver.ErrInvalid)
	}
	entries, err := parseRecord(nil, string(enc.b))
	if err != nil {
		return nil, fmt.Errorf("encoding a record: %w", err)
	}
	p.rec, p.entries, p.nextSeq, p.nextID = enc.b, entries, seq, id
	return p, nil
}

// claimTaken reports whether a claim key is in the claims table.
func (st *state) claimTaken(key string) (bool, error) {
	found := false
	err := st.db.selectText(query{table: tblClaims, cols: []string{colCKey}, eq: eqCond(colCKey, textVal(key))}, func(string) error {
		found = true
		return nil
	})
	return found, err
}

// revisionSeq returns the Seq of the revision with key k, if it exists.
func (st *state) revisionSeq(k revKey) (seq int64, found bool, err error) {
	err = st.db.selectText(query{table: tblRevisions, cols: []string{colBody}, eq: eqCond(colRKey, textVal(reportKey(k.chat, k.msg)))}, func(body string) error {
		h, err := decodeRevisionHeadOnly(body)
		if err != nil {
			return err
		}
		if h.Revision.Revision == k.rev {
			seq, found = h.Seq, true
		}
		return nil
	})
	return seq, found, err
}

// outboxIDByKey returns the id of the outbox message with key, if any.
func (st *state) outboxIDByKey(key string) (id int64, found bool, err error) {
	err = st.db.selectText(query{table: tblOutbox, cols: []string{colMsgID}, eq: eqCond(colMsgKey, textVal(key))}, func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		id, found = n, true
		return err
	})
	return id, found, err
}

// outboxExists reports whether an outbox message with this id is applied.
func (st *state) outboxExists(id int64) (bool, error) {
	if _, ok := st.pending.byID[id]; ok {
		return true, nil
	}
	found := false
	err := st.db.selectText(query{table: tblOutbox, cols: []string{colMsgID}, eq: eqCond(colMsgID, textVal(idKey(id)))}, func(string) error {
		found = true
		return nil
	})
	return found, err
}
