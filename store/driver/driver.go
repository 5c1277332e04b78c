// Package driver is the contract between gridbot's store and its engines:
// the values they exchange and the Engine interface every engine
// implements. Callers use package store, which re-exports these types and
// adds validation; engines (store/embedded, store/postgres) import only this
// package, so store can open them by URL without import cycles.
//
// The model is append-only facts. Nothing is ever updated or deleted: a
// correction is a newer revision, a withdrawal a tombstone, a setting a newer
// row, an outbox delivery a new attempt row. Reads fold the facts, newest
// (highest Seq) wins — except a report's revisions, which fold by
// Revision (the edit date) first: see Revision. Every fact gets a Seq from
// the engine, increasing in commit order, so history is totally ordered.
package driver

import (
	"context"
	"errors"
	"time"

	"gridbot/report"
)

// Errors every engine returns, wrapped with context (test with errors.Is).
var (
	ErrInvalid  = errors.New("invalid argument") // validation failed; nothing was written
	ErrNotFound = errors.New("not found")
	ErrClosed   = errors.New("store is closed")
	ErrReadOnly = errors.New("store is open read-only")
	ErrLocked   = errors.New("store is locked by another process")
)

// Role says what a bound chat is.
type Role string

// Roles of a bound chat.
const (
	RoleVillage  Role = "village"  // a village's or community's group
	RoleCommand  Role = "command"  // the subdistrict command's group
	RoleLandlord Role = "landlord" // a landlord's private chat, reporting for the village in Name
	RoleNone     Role = ""         // unbound (an /unbind tombstone)
)

// Binding ties a chat to a village or the command group.
type Binding struct {
	Chat int64
	Role Role   // RoleNone records an unbind
	Name string // the village's name (郝家店村) or the command group's
	By   int64  // the operator's user id
	At   time.Time
}

// Revision is one version of a report, as the bot recorded it. The key is
// (Chat, MessageID, Revision), Chat being the chat the message was sent in,
// never rewritten by a migration: a supergroup numbers its messages afresh,
// so its message 5 is not the old group's message 5. Revision is 0 for the
// message as first sent and grows with every edit (the bot uses the edit
// date in Unix seconds). A report's current revision is its highest
// Revision, then its highest Seq: the newest edit, even when the original
// or an older edit is recorded after it (parallel webhook connections,
// replicas, a retried delivery).
type Revision struct {
	Seq       int64 // assigned by the engine; ignored on write
	Chat      int64
	MessageID int64
	Revision  int64
	Kind      report.Kind
	Lang      report.Lang
	Fields    map[string]string // canonical names and values (report.Report.Fields)
	Problems  int               // how many problems the parser found; 0 means a valid report
	Text      string            // the message as typed, kept for the audit trail
	SenderID  int64
	Sender    string    // the sender's display name at the time
	SentAt    time.Time // when the message was sent (for an edit: the original send time)
	Day       report.Date
	At        time.Time // when the bot recorded this revision
}

// Valid reports whether the revision had no problems.
func (r Revision) Valid() bool { return r.Problems == 0 }

// EventDay is the date the report is about: arrived_on for an arrival, date
// for a gathering, moved_in for a tenant; the zero Date for other kinds or
// a missing or malformed value.
func (r Revision) EventDay() report.Date {
	spec, ok := report.Spec(r.Kind)
	if !ok || spec.DateField == "" {
		return report.Date{}
	}
	d, err := report.ParseDate(r.Fields[spec.DateField])
	if err != nil {
		return report.Date{}
	}
	return d
}

// Withdrawal is a tombstone: it hides a report (every revision recorded
// before it). A newer edit recorded after it brings the report back; an
// original or older edit recorded late does not.
type Withdrawal struct {
	Seq       int64 // assigned by the engine
	Chat      int64
	MessageID int64
	By        int64
	At        time.Time
}

// HistoryEvent is one fact in a report's history: a revision or a withdrawal.
type HistoryEvent struct {
	Revision   *Revision
	Withdrawal *Withdrawal
}

// Member is a grid worker on a village's roster, expected to send the
// daily report.
type Member struct {
	Chat   int64
	UserID int64
	Name   string
	Left   bool // true records a /leave
	At     time.Time
}

// Setting is one chat setting (summary time, reminder on/off, observation
// days, time zone, active). Value "" records a reset to the default.
type Setting struct {
	Chat  int64
	Key   string
	Value string
	By    int64
	At    time.Time
}

// Migration records that a group became a supergroup with a new id. Every
// read and write by either id then means the same chat; see Engine.
type Migration struct {
	From, To int64
	At       time.Time
}

// OutboxMessage is something the bot will send. Key is unique: enqueueing a
// key that exists is a no-op, which makes every send idempotent and gives
// scheduled posts their exactly-once claim.
type OutboxMessage struct {
	ID        int64 // assigned by the engine; ignored on write
	Key       string
	Chat      int64
	Method    string // the Bot API method: sendMessage, editMessageText, …
	Payload   []byte // method-specific, opaque to the store (JSON)
	NotBefore time.Time
	CreatedAt time.Time

	// State, folded from the delivery attempts; ignored on write.
	Attempts      int
	State         OutboxState
	SentMessageID int64 // the message id Telegram gave a sent message
	LastError     string
	RetryAt       time.Time // when a failed message is next due
	DoneAt        time.Time // when it was sent or given up
}

// OutboxState is where a message is in its life.
type OutboxState string

// Outbox states.
const (
	OutboxPending OutboxState = "pending" // waiting or retrying
	OutboxSent    OutboxState = "sent"
	OutboxDead    OutboxState = "dead" // given up; will never be sent
)

// Attempt records the outcome of one delivery attempt.
type Attempt struct {
	MessageID     int64 // OutboxMessage.ID
	Attempt       int   // 1 for the first attempt
	Sent          bool
	SentMessageID int64     // when Sent
	Error         string    // when not Sent; never personal data
	RetryAt       time.Time // when not Sent and not Final: the next try
	Final         bool      // when not Sent: give up (the message becomes dead)
	At            time.Time
}

// Changes is one durable step: everything in it is committed together, in
// one journal record or one transaction, or not at all.
//
// Claims gate the whole step: if any claim key was taken before, nothing is
// applied and Result.Claimed is false. So does a village's name: a
// village binding (RoleVillage) whose name another chat is bound to now
// (by a village binding of its own) applies nothing and sets
// Result.NameTaken; of two chats binding one name at once, exactly one
// gets it. Otherwise each part applies on its own terms: a report revision
// whose key exists is skipped (Result.DuplicateRevision), outbox messages
// whose key exists are skipped (Result.Enqueued[i] false), everything else
// is appended.
type Changes struct {
	Claims      []string
	Bindings    []Binding
	Migrations  []Migration
	Members     []Member
	Settings    []Setting
	Revision    *Revision
	Withdrawals []Withdrawal
	Outbox      []OutboxMessage
	Attempts    []Attempt
}

// Result says what a Commit did.
type Result struct {
	Claimed           bool // false: a claim was taken already; nothing was applied
	NameTaken         bool // a village binding's name is another chat's; nothing was applied
	RevisionSeq       int64
	DuplicateRevision bool    // the revision's key existed; it was not written again
	Enqueued          []bool  // per Changes.Outbox: false when its key existed
	OutboxIDs         []int64 // per Changes.Outbox: the message's id (existing or new)
}

// ReportQuery selects current reports: for each (chat, message) the
// current revision (see Revision), unless withdrawn. Zero fields do not filter.
type ReportQuery struct {
	Chat           int64       // 0: every chat
	Kind           report.Kind // "": every kind
	From, To       report.Date // Day range, inclusive
	EventFrom      report.Date // EventDay range, inclusive; a zero
	EventTo        report.Date //   bound is open
	IncludeInvalid bool        // include reports whose current revision has problems
}

// Engine is what a storage engine implements. Every method is safe for
// concurrent use. Chat ids in arguments may be either side of a migration:
// engines resolve them to the chat's first id (its home) before writing
// bindings, rosters and settings, read them from every id of the chat
// (what was written under an id before its migration was recorded stays
// part of the chat, folded newest-wins with the rest), and Reports for a
// chat covers every id of the chat, so a group's history follows it. A
// report itself (Revision, Withdrawal, Report, History) is always keyed by
// the chat its message was sent in, exactly as given.
//
// Reads return facts folded newest-wins, in a deterministic order stated on
// each method. A read-only engine returns ErrReadOnly from Commit.
type Engine interface {
	// Commit applies changes as one durable step; it returns only after they
	// would survive a crash.
	Commit(ctx context.Context, c Changes) (Result, error)

	// Binding returns a chat's current binding (ok false if it has none or
	// was unbound). Chat is reported as the chat's current id.
	Binding(ctx context.Context, chat int64) (b Binding, ok bool, err error)
	// Bindings lists every currently bound chat, ordered by chat id.
	Bindings(ctx context.Context) ([]Binding, error)
	// CurrentChat follows migrations forward: the id to send to now.
	CurrentChat(ctx context.Context, chat int64) (int64, error)

	// Roster lists a chat's members, newest fact per user, including those
	// who left (Left true), ordered by user id.
	Roster(ctx context.Context, chat int64) ([]Member, error)
	// Settings returns a chat's settings, newest per key; a key whose newest
	// value is "" is absent.
	Settings(ctx context.Context, chat int64) (map[string]string, error)

	// Reports returns current reports ordered by (Day, SentAt, Chat,
	// MessageID). A Chat filter matches the reports of every id of that
	// chat (before and after migrations); each report keeps the Chat it
	// was sent in.
	Reports(ctx context.Context, q ReportQuery) ([]Revision, error)
	// Report returns the current revision of one report, by the chat its
	// message was sent in (not resolved through migrations); ok false when
	// there is none or it is withdrawn.
	Report(ctx context.Context, chat, messageID int64) (r Revision, ok bool, err error)
	// History returns every fact about one report in Seq order, keyed like
	// Report.
	History(ctx context.Context, chat, messageID int64) ([]HistoryEvent, error)
	// FindIdentity returns current, valid arrival and tenant reports in any
	// chat whose phone equals phone or whose id_number equals idNumber (an
	// empty argument matches nothing), with Day on or after since, ordered
	// by (Day, SentAt).
	FindIdentity(ctx context.Context, phone, idNumber string, since report.Date) ([]Revision, error)

	// Due returns pending outbox messages whose NotBefore (or RetryAt after
	// a failure) is at or before now, oldest first (by that time, then ID),
	// at most limit. It must not scan sent or dead messages.
	Due(ctx context.Context, now time.Time, limit int) ([]OutboxMessage, error)
	// Outbox returns one message by key with its folded state.
	Outbox(ctx context.Context, key string) (m OutboxMessage, ok bool, err error)
	// OutboxStats returns how many messages are pending and the CreatedAt
	// of the oldest.
	OutboxStats(ctx context.Context) (pending int, oldest time.Time, err error)
	// Claimed reports whether a claim key is taken.
	Claimed(ctx context.Context, key string) (bool, error)

	// Lease takes, renews or checks the lease called name for holder: it
	// gives holder the lease until `until` when nobody holds it, when
	// holder holds it already, or when its holder's lease ran out at or
	// before now (the holder stopped renewing it: it died or hangs). It
	// reports whether holder holds the lease now; when not, it changes
	// nothing. A lease is coordination between live processes, not a
	// fact: it is the one thing an engine keeps in place rather than
	// appends, and an engine with one writing process may keep it in
	// memory. Times are compared as given (the callers' clocks).
	Lease(ctx context.Context, name, holder string, now, until time.Time) (held bool, err error)

	Close() error
}
