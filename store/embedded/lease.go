package embedded

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gridbot/store/driver"
)

// leases are kept in memory, not journaled: only one process writes an
// embedded store (it holds the journal's lock), so no other process could
// hold one, and a lease must not outlive the process that holds it.
type leases struct {
	mu   sync.Mutex
	held map[string]lease
}

type lease struct {
	holder string
	until  time.Time
}

// Lease takes, renews or checks a lease: see driver.Engine.
func (e *Engine) Lease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	if e.readOnly {
		return false, fmt.Errorf("embedded: lease: %w", driver.ErrReadOnly)
	}
	if err := e.read(ctx, func(*state) error { return nil }); err != nil { // closed or failed
		return false, fmt.Errorf("embedded: lease: %w", err)
	}
	e.leases.mu.Lock()
	defer e.leases.mu.Unlock()
	if e.leases.held == nil {
		e.leases.held = map[string]lease{}
	}
	if l, ok := e.leases.held[name]; ok && l.holder != holder && l.until.After(now) {
		return false, nil
	}
	e.leases.held[name] = lease{holder: holder, until: until}
	return true, nil
}
