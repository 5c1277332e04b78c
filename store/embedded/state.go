package embedded

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// state is what readers see: the gosql tables and the state derived from
// them, both built by applying journal entries. mu guards all of it:
// readers hold it shared, apply holds it exclusively.
type state struct {
	mu     sync.RWMutex
	closed bool

	db    *sqlDB
	alias aliases

	// reports folds every report to the Seq of its current revision and
	// of its newest withdrawal, so a query checks in O(1) whether a
	// revision it found is current.
	reports map[repKey]repState
	// Row counts per Day and per EventDay (non-zero), with their keys in
	// order, and per home chat: ranges become one indexed equality per day
	// that has rows, and the query plan picks the index with fewer rows.
	dayRows, edayRows map[int32]int
	days, edays       []int32
	chatRows          map[int64]int
	totalRows         int

	pending pendingSet

	maxSeq, maxID int64
}

// repState is the fold of one report. Its current revision is the newest
// edit: the highest Revision (the edit date; the original's is 0), then
// the highest Seq, so an original or an older edit recorded late does not
// replace a newer edit.
type repState struct {
	rev    int64 // Seq of the current revision; 0 if none
	revNum int64 // its Revision
	wd     int64 // Seq of the newest withdrawal; 0 if none
}

// current reports whether the revision with Seq seq is the report's
// current one: its newest edit, and not withdrawn after it was recorded.
func (r repState) current(seq int64) bool { return r.rev == seq && r.wd < seq }

// newer reports whether a revision (Revision num, Seq seq) supersedes the
// report's current one.
func (r repState) newer(num, seq int64) bool {
	return r.rev == 0 || num > r.revNum || num == r.revNum && seq > r.rev
}

func newState() (*state, error) {
	db, err := newSQLDB(tables...)
	if err != nil {
		return nil, err
	}
	return &state{
		db:       db,
		alias:    newAliases(),
		reports:  map[repKey]repState{},
		dayRows:  map[int32]int{},
		edayRows: map[int32]int{},
		chatRows: map[int64]int{},
		pending:  newPendingSet(),
	}, nil
}

// release marks st closed and drops its tables and maps for the garbage
// collector.
func (st *state) release() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closed = true
	st.db, st.reports = nil, nil
	st.dayRows, st.edayRows, st.days, st.edays, st.chatRows = nil, nil, nil, nil, nil
	st.pending = pendingSet{}
	st.alias = aliases{}
}

// applyLocked applies entries under st.mu, turning a panic into an error.
func (st *state) applyLocked(entries []entry) (err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.applySafe(entries)
}

// applySafe is apply with a panic turned into an error.
func (st *state) applySafe(entries []entry) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic applying entries: %v", r)
		}
	}()
	return st.apply(entries)
}

// apply inserts entries into the tables and updates the derived state.
// Callers hold st.mu exclusively (or own st alone, during replay). An
// error leaves st partly applied: the engine must not be used after it.
func (st *state) apply(entries []entry) error {
	for i := range entries {
		en := &entries[i]
		if err := st.applyOne(en); err != nil {
			return fmt.Errorf("apply entry %d (tag %d, seq %d): %w", i, en.tag, en.seq, err)
		}
		st.maxSeq = max(st.maxSeq, en.seq)
	}
	return nil
}

func (st *state) applyOne(en *entry) error {
	db := st.db
	body := textVal(en.body)
	switch en.tag {
	case tagRevision:
		err := db.insert(tblRevisions,
			textVal(en.rkey), textVal(en.cday),
			intVal(int64(en.day)), intVal(int64(en.eday)),
			textVal(en.phone), textVal(en.idNum), textVal(string(en.kind)), body)
		if err != nil {
			return err
		}
		k := repKey{en.chat, en.msg}
		r := st.reports[k]
		if r.newer(en.rev, en.seq) {
			r.rev, r.revNum = en.seq, en.rev
		}
		st.reports[k] = r
		st.days = countDay(st.dayRows, st.days, en.day)
		if en.eday != 0 {
			st.edays = countDay(st.edayRows, st.edays, en.eday)
		}
		st.chatRows[en.chat]++
		st.totalRows++
	case tagWithdrawal:
		if err := db.insert(tblWithdrawals, textVal(en.rkey), body); err != nil {
			return err
		}
		k := repKey{en.chat, en.msg}
		r := st.reports[k]
		r.wd = max(r.wd, en.seq)
		st.reports[k] = r
	case tagBinding:
		return db.insert(tblBindings, textVal(chatKey(en.chat)), body)
	case tagMigration:
		if err := db.insert(tblMigrations, body); err != nil {
			return err
		}
		st.alias.add(migration{from: en.from, to: en.to, home: en.chat})
	case tagMember:
		return db.insert(tblMembers, textVal(chatKey(en.chat)), body)
	case tagSetting:
		return db.insert(tblSettings, textVal(chatKey(en.chat)), body)
	case tagClaim:
		return db.insert(tblClaims, textVal(en.key), body)
	case tagOutbox:
		if err := db.insert(tblOutbox, textVal(en.key), textVal(idKey(en.id)), body); err != nil {
			return err
		}
		st.pending.add(en.id, en.due, en.created)
		st.maxID = max(st.maxID, en.id)
	case tagAttempt:
		if err := db.insert(tblAttempts, textVal(idKey(en.id)), body); err != nil {
			return err
		}
		st.pending.attempt(en.id, en.seq, en.sent, en.final, en.due)
	default:
		return fmt.Errorf("unknown entry tag %d", en.tag)
	}
	return nil
}

// countDay counts a row for day and returns keys with day in order.
func countDay(rows map[int32]int, keys []int32, day int32) []int32 {
	rows[day]++
	if rows[day] > 1 {
		return keys
	}
	i, _ := slices.BinarySearch(keys, day)
	return slices.Insert(keys, i, day)
}

// daysIn returns the keys in [lo, hi] and the rows they count.
func daysIn(rows map[int32]int, keys []int32, lo, hi int64) ([]int32, int) {
	if lo > hi || lo > math.MaxInt32 || hi < math.MinInt32 {
		return nil, 0
	}
	i := 0
	if lo > math.MinInt32 {
		i, _ = slices.BinarySearch(keys, int32(lo))
	}
	j := len(keys)
	if hi < math.MaxInt32 {
		j, _ = slices.BinarySearch(keys, int32(hi)+1)
	}
	if i >= j {
		return nil, 0
	}
	n := 0
	for _, k := range keys[i:j] {
		n += rows[k]
	}
	return keys[i:j], n
}
