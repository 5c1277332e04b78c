package embedded

import (
	"fmt"
	"sync/atomic"
)

// replayBatch is how many entries the reader hands the applier at a time.
const replayBatch = 1024

// replayer replays a journal on two goroutines: the journal's reader
// decodes records (record, called for each in order) while an applier
// goroutine inserts them into the state, in the same order. Replay is
// deterministic: the applier sees exactly the sequence a single goroutine
// would.
type replayer struct {
	st      *state
	batches chan []entry
	done    chan struct{}
	err     atomic.Pointer[error] // the applier's failure
	batch   []entry
	records int64
}

func newReplayer(st *state) *replayer {
	r := &replayer{st: st, batches: make(chan []entry, 4), done: make(chan struct{}), batch: make([]entry, 0, replayBatch)}
	go r.apply()
	return r
}

// apply is the applier goroutine. After a failure it drains the channel so
// that record never blocks.
func (r *replayer) apply() {
	defer close(r.done)
	var applied int64
	for b := range r.batches {
		if r.err.Load() != nil {
			continue
		}
		if err := r.st.applySafe(b); err != nil {
			err = fmt.Errorf("replaying after %d entries: %w", applied, err)
			r.err.Store(&err)
		}
		applied += int64(len(b))
	}
}

// record decodes one journal record and queues its entries. p is only
// valid during the call.
func (r *replayer) record(p []byte) error {
	if errp := r.err.Load(); errp != nil {
		return *errp
	}
	var err error
	r.batch, err = parseRecord(r.batch, string(p))
	if err != nil {
		return err
	}
	r.records++
	if len(r.batch) >= replayBatch {
		r.batches <- r.batch
		r.batch = make([]entry, 0, replayBatch)
	}
	return nil
}

// finish waits for the applier and returns its failure. It must be called
// once, whether reading succeeded or not.
func (r *replayer) finish() error {
	if len(r.batch) > 0 {
		r.batches <- r.batch
		r.batch = nil
	}
	close(r.batches)
	<-r.done
	if errp := r.err.Load(); errp != nil {
		return *errp
	}
	return nil
}
