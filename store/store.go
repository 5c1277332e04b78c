// Package store records everything gridbot knows: bindings, rosters,
// settings, every revision of every report, claims for exactly-once posts,
// and the outbox of messages to send. It is append-only: see package
// driver for the model. Store validates every argument the same way for
// every engine, then hands the work to an engine chosen by Open's URL:
// a path opens the embedded engine (gosql made durable by a journal), a
// postgres:// URL opens PostgreSQL.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"gridbot/report"
	"gridbot/store/driver"
	"gridbot/store/embedded"
	"gridbot/store/postgres"
)

// The types callers use are the driver's.
type (
	Binding       = driver.Binding
	Revision      = driver.Revision
	Withdrawal    = driver.Withdrawal
	HistoryEvent  = driver.HistoryEvent
	Member        = driver.Member
	Setting       = driver.Setting
	Migration     = driver.Migration
	OutboxMessage = driver.OutboxMessage
	OutboxState   = driver.OutboxState
	Attempt       = driver.Attempt
	Changes       = driver.Changes
	Result        = driver.Result
	ReportQuery   = driver.ReportQuery
	Role          = driver.Role
	Engine        = driver.Engine
)

// Re-exported constants and errors.
const (
	RoleVillage   = driver.RoleVillage
	RoleCommand   = driver.RoleCommand
	RoleLandlord  = driver.RoleLandlord
	RoleNone      = driver.RoleNone
	OutboxPending = driver.OutboxPending
	OutboxSent    = driver.OutboxSent
	OutboxDead    = driver.OutboxDead
)

// Errors; test with errors.Is.
var (
	ErrInvalid  = driver.ErrInvalid
	ErrNotFound = driver.ErrNotFound
	ErrClosed   = driver.ErrClosed
	ErrReadOnly = driver.ErrReadOnly
	ErrLocked   = driver.ErrLocked
)

// Limits on what the store accepts.
const (
	MaxText    = 1 << 20 // bytes of any one text or payload
	MaxKey     = 256     // bytes of a claim or outbox key
	MaxBatch   = 1000    // items in one Commit
	MaxCommit  = 8 << 20 // bytes of text and payload in one Commit (the journal takes 16 MiB a record)
	maxFieldID = 64      // bytes of a setting key
)

// Options for Open.
type Options struct {
	// ReadOnly opens without taking the writer's lock, for `gridbot summary`
	// and `export` while the bot runs or after it was killed.
	ReadOnly bool
	// NoSync skips the embedded engine's fsyncs: not crash-safe. For
	// gridbot replay's throwaway store and for benchmarks only.
	NoSync bool
	Logger *slog.Logger
}

// Store is what the rest of gridbot uses.
type Store struct {
	e Engine
}

// New wraps an engine.
func New(e Engine) *Store { return &Store{e: e} }

// Open opens the store named by url: "postgres://…" or "postgresql://…"
// for PostgreSQL; a directory path or "file:PATH" for the embedded engine.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		e, err := postgres.Open(ctx, url, postgres.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		return New(e), nil
	case url == "":
		return nil, fmt.Errorf("store: open: no location given: %w", ErrInvalid)
	default:
		path := strings.TrimPrefix(url, "file:")
		e, err := embedded.Open(ctx, path, embedded.Options{ReadOnly: opts.ReadOnly, NoSync: opts.NoSync, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		return New(e), nil
	}
}

// Engine returns the engine under the store.
func (s *Store) Engine() Engine { return s.e }

// Close closes the engine.
func (s *Store) Close() error { return s.e.Close() }

// Commit validates changes and applies them as one durable step.
func (s *Store) Commit(ctx context.Context, c Changes) (Result, error) {
	if err := validate(c); err != nil {
		return Result{}, fmt.Errorf("store: commit: %w", err)
	}
	return s.e.Commit(ctx, c)
}

// Bind binds a chat to a village or the command group. A village name
// another chat is bound to is refused (ErrInvalid) and nothing is bound.
func (s *Store) Bind(ctx context.Context, b Binding) error {
	if b.Role == RoleNone {
		return fmt.Errorf("store: bind: no role: %w", ErrInvalid)
	}
	res, err := s.Commit(ctx, Changes{Bindings: []Binding{b}})
	if err == nil && res.NameTaken {
		return fmt.Errorf("store: bind: village %q is another chat's: %w", b.Name, ErrInvalid)
	}
	return err
}

// Unbind records that a chat is no longer bound.
func (s *Store) Unbind(ctx context.Context, chat, by int64, at time.Time) error {
	_, err := s.Commit(ctx, Changes{Bindings: []Binding{{Chat: chat, Role: RoleNone, By: by, At: at}}})
	return err
}

// Binding returns a chat's current binding.
func (s *Store) Binding(ctx context.Context, chat int64) (Binding, bool, error) {
	return s.e.Binding(ctx, chat)
}

// Bindings lists every bound chat.
func (s *Store) Bindings(ctx context.Context) ([]Binding, error) { return s.e.Bindings(ctx) }

// MigrateChat records that a group got a new id; its binding, roster,
// settings and reports follow it.
func (s *Store) MigrateChat(ctx context.Context, from, to int64, at time.Time) error {
	_, err := s.Commit(ctx, Changes{Migrations: []Migration{{From: from, To: to, At: at}}})
	return err
}

// CurrentChat returns the id to send to for a chat known by any of its ids.
func (s *Store) CurrentChat(ctx context.Context, chat int64) (int64, error) {
	return s.e.CurrentChat(ctx, chat)
}

// Join puts a grid worker on a chat's roster (again).
func (s *Store) Join(ctx context.Context, m Member) error {
	m.Left = false
	_, err := s.Commit(ctx, Changes{Members: []Member{m}})
	return err
}

// Leave takes a grid worker off a chat's roster.
func (s *Store) Leave(ctx context.Context, chat, user int64, name string, at time.Time) error {
	_, err := s.Commit(ctx, Changes{Members: []Member{{Chat: chat, UserID: user, Name: name, Left: true, At: at}}})
	return err
}

// Roster lists a chat's members, including those who left.
func (s *Store) Roster(ctx context.Context, chat int64) ([]Member, error) {
	return s.e.Roster(ctx, chat)
}

// ActiveMembers lists the members who have not left.
func (s *Store) ActiveMembers(ctx context.Context, chat int64) ([]Member, error) {
	all, err := s.e.Roster(ctx, chat)
	if err != nil {
		return nil, err
	}
	active := all[:0:0]
	for _, m := range all {
		if !m.Left {
			active = append(active, m)
		}
	}
	return active, nil
}

// SetSetting records a chat setting; value "" resets it to the default.
func (s *Store) SetSetting(ctx context.Context, st Setting) error {
	_, err := s.Commit(ctx, Changes{Settings: []Setting{st}})
	return err
}

// Settings returns a chat's current settings.
func (s *Store) Settings(ctx context.Context, chat int64) (map[string]string, error) {
	return s.e.Settings(ctx, chat)
}

// SaveReport records a revision of a report. saved is false when the same
// (chat, message, revision) was recorded before: a repeat delivery.
func (s *Store) SaveReport(ctx context.Context, r Revision) (saved bool, err error) {
	res, err := s.Commit(ctx, Changes{Revision: &r})
	if err != nil {
		return false, err
	}
	return !res.DuplicateRevision, nil
}

// Withdraw hides a report.
func (s *Store) Withdraw(ctx context.Context, w Withdrawal) error {
	_, err := s.Commit(ctx, Changes{Withdrawals: []Withdrawal{w}})
	return err
}

// Reports returns current reports.
func (s *Store) Reports(ctx context.Context, q ReportQuery) ([]Revision, error) {
	if q.Kind != report.None {
		if _, ok := report.Spec(q.Kind); !ok {
			return nil, fmt.Errorf("store: reports: kind %q: %w", q.Kind, ErrInvalid)
		}
	}
	return s.e.Reports(ctx, q)
}

// Report returns the current revision of one report.
func (s *Store) Report(ctx context.Context, chat, messageID int64) (Revision, bool, error) {
	return s.e.Report(ctx, chat, messageID)
}

// History returns every fact about one report.
func (s *Store) History(ctx context.Context, chat, messageID int64) ([]HistoryEvent, error) {
	return s.e.History(ctx, chat, messageID)
}

// UnderObservation returns the arrivals whose home observation covers day:
// arrived within the days before it, day included. chat 0 means every chat.
func (s *Store) UnderObservation(ctx context.Context, chat int64, day report.Date, days int) ([]Revision, error) {
	if days < 1 {
		return nil, fmt.Errorf("store: under observation: %d days: %w", days, ErrInvalid)
	}
	return s.e.Reports(ctx, ReportQuery{Chat: chat, Kind: report.Arrival, EventFrom: day.AddDays(1 - days), EventTo: day})
}

// FindIdentity finds earlier arrivals and tenants with the same phone or
// ID number, in any chat, reported on or after since.
func (s *Store) FindIdentity(ctx context.Context, phone, idNumber string, since report.Date) ([]Revision, error) {
	return s.e.FindIdentity(ctx, phone, idNumber, since)
}

// Claim takes a unique key once across every process sharing the store.
func (s *Store) Claim(ctx context.Context, key string) (bool, error) {
	res, err := s.Commit(ctx, Changes{Claims: []string{key}})
	if err != nil {
		return false, err
	}
	return res.Claimed, nil
}

// Claimed reports whether a claim key is taken.
func (s *Store) Claimed(ctx context.Context, key string) (bool, error) { return s.e.Claimed(ctx, key) }

// Enqueue adds messages to the outbox; enqueued[i] is false when message
// i's key was queued before.
func (s *Store) Enqueue(ctx context.Context, msgs ...OutboxMessage) (enqueued []bool, err error) {
	res, err := s.Commit(ctx, Changes{Outbox: msgs})
	if err != nil {
		return nil, err
	}
	return res.Enqueued, nil
}

// Due returns the messages to send now.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]OutboxMessage, error) {
	if limit < 1 {
		return nil, fmt.Errorf("store: due: limit %d: %w", limit, ErrInvalid)
	}
	return s.e.Due(ctx, now, limit)
}

// MarkSent records a successful delivery.
func (s *Store) MarkSent(ctx context.Context, id int64, attempt int, sentMessageID int64, at time.Time) error {
	_, err := s.Commit(ctx, Changes{Attempts: []Attempt{{MessageID: id, Attempt: attempt, Sent: true, SentMessageID: sentMessageID, At: at}}})
	return err
}

// MarkFailed records a failed delivery: retried at retryAt, or never again
// when final.
func (s *Store) MarkFailed(ctx context.Context, id int64, attempt int, reason string, retryAt time.Time, final bool, at time.Time) error {
	_, err := s.Commit(ctx, Changes{Attempts: []Attempt{{MessageID: id, Attempt: attempt, Error: reason, RetryAt: retryAt, Final: final, At: at}}})
	return err
}

// Outbox returns one message by key.
func (s *Store) Outbox(ctx context.Context, key string) (OutboxMessage, bool, error) {
	return s.e.Outbox(ctx, key)
}

// Lease takes, renews or checks a named lease for holder until `until`
// (see driver.Engine): it reports whether holder holds it now.
func (s *Store) Lease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	if err := checkKey("lease", name); err != nil {
		return false, fmt.Errorf("store: lease: %w", err)
	}
	if err := checkKey("lease holder", holder); err != nil {
		return false, fmt.Errorf("store: lease: %w", err)
	}
	if now.IsZero() || !until.After(now) {
		return false, fmt.Errorf("store: lease: %w", invalid("lease", "until %v is not after now %v", until, now))
	}
	return s.e.Lease(ctx, name, holder, now, until)
}

// OutboxStats returns the outbox's depth and the age of its oldest message.
func (s *Store) OutboxStats(ctx context.Context) (int, time.Time, error) { return s.e.OutboxStats(ctx) }

// validate checks everything an engine may assume.
func validate(c Changes) error {
	if n := len(c.Claims) + len(c.Bindings) + len(c.Migrations) + len(c.Members) + len(c.Settings) +
		len(c.Withdrawals) + len(c.Outbox) + len(c.Attempts); n > MaxBatch {
		return fmt.Errorf("%d items in one step: %w", n, ErrInvalid)
	}
	if n := commitBytes(c); n > MaxCommit {
		return fmt.Errorf("%d bytes in one step, over %d: %w", n, MaxCommit, ErrInvalid)
	}
	for _, k := range c.Claims {
		if err := checkKey("claim", k); err != nil {
			return err
		}
	}
	for _, b := range c.Bindings {
		if b.Chat == 0 || b.At.IsZero() || (b.Role != RoleNone && b.Role != RoleVillage && b.Role != RoleCommand && b.Role != RoleLandlord) {
			return invalid("binding", "chat %d role %q", b.Chat, b.Role)
		}
		if err := checkText("binding name", b.Name); err != nil {
			return err
		}
	}
	for _, m := range c.Migrations {
		if m.From == 0 || m.To == 0 || m.From == m.To || m.At.IsZero() {
			return invalid("migration", "from %d to %d", m.From, m.To)
		}
	}
	for _, m := range c.Members {
		if m.Chat == 0 || m.UserID == 0 || m.At.IsZero() {
			return invalid("member", "chat %d user %d", m.Chat, m.UserID)
		}
		if err := checkText("member name", m.Name); err != nil {
			return err
		}
	}
	for _, st := range c.Settings {
		if st.Chat == 0 || st.Key == "" || len(st.Key) > maxFieldID || st.At.IsZero() {
			return invalid("setting", "chat %d key %q", st.Chat, st.Key)
		}
		if err := checkText("setting value", st.Value); err != nil {
			return err
		}
	}
	if r := c.Revision; r != nil {
		if err := validateRevision(*r); err != nil {
			return err
		}
	}
	for _, w := range c.Withdrawals {
		if w.Chat == 0 || w.MessageID <= 0 || w.At.IsZero() {
			return invalid("withdrawal", "chat %d message %d", w.Chat, w.MessageID)
		}
	}
	keys := map[string]bool{}
	for _, m := range c.Outbox {
		if err := checkKey("outbox", m.Key); err != nil {
			return err
		}
		if keys[m.Key] {
			return invalid("outbox", "key %q twice in one step", m.Key)
		}
		keys[m.Key] = true
		if m.Chat == 0 || m.Method == "" || len(m.Method) > maxFieldID || m.CreatedAt.IsZero() || len(m.Payload) > MaxText {
			return invalid("outbox message", "chat %d method %q", m.Chat, m.Method)
		}
	}
	for _, a := range c.Attempts {
		if a.MessageID <= 0 || a.Attempt < 1 || a.At.IsZero() || (!a.Sent && !a.Final && a.RetryAt.IsZero()) {
			return invalid("attempt", "message %d attempt %d", a.MessageID, a.Attempt)
		}
		if err := checkText("attempt error", a.Error); err != nil {
			return err
		}
	}
	return nil
}

// commitBytes is how many bytes of text and payload a step holds.
func commitBytes(c Changes) int {
	n := 0
	for _, k := range c.Claims {
		n += len(k)
	}
	for _, b := range c.Bindings {
		n += len(b.Name)
	}
	for _, m := range c.Members {
		n += len(m.Name)
	}
	for _, s := range c.Settings {
		n += len(s.Key) + len(s.Value)
	}
	if r := c.Revision; r != nil {
		n += len(r.Text) + len(r.Sender)
		for k, v := range r.Fields {
			n += len(k) + len(v)
		}
	}
	for _, m := range c.Outbox {
		n += len(m.Key) + len(m.Method) + len(m.Payload)
	}
	for _, a := range c.Attempts {
		n += len(a.Error)
	}
	return n
}

func validateRevision(r Revision) error {
	spec, ok := report.Spec(r.Kind)
	if !ok || r.Chat == 0 || r.MessageID <= 0 || r.Revision < 0 || r.SentAt.IsZero() || r.At.IsZero() || r.Day.IsZero() || r.Problems < 0 {
		return invalid("revision", "chat %d message %d revision %d kind %q", r.Chat, r.MessageID, r.Revision, r.Kind)
	}
	allowed := map[string]bool{}
	for _, f := range spec.Fields() {
		allowed[f] = true
	}
	for k, v := range r.Fields {
		if !allowed[k] {
			return invalid("revision", "field %q is not one of %s", k, r.Kind)
		}
		if err := checkText("field "+k, v); err != nil {
			return err
		}
	}
	for name, v := range map[string]string{"text": r.Text, "sender": r.Sender} {
		if err := checkText(name, v); err != nil {
			return err
		}
	}
	return nil
}

func checkKey(what, k string) error {
	if k == "" || len(k) > MaxKey || !utf8.ValidString(k) {
		return invalid(what+" key", "%d bytes", len(k))
	}
	return nil
}

// checkText accepts any bytes up to MaxText: engines store text byte for
// byte, NUL and invalid UTF-8 included.
func checkText(what, v string) error {
	if len(v) > MaxText {
		return invalid(what, "%d bytes, over %d", len(v), MaxText)
	}
	return nil
}

func invalid(what, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", what, fmt.Sprintf(format, args...), ErrInvalid)
}
