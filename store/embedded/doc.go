// Package embedded is gridbot's default store engine: gosql tables in
// memory, made durable by an append-only journal (package journal) in one
// directory. It implements driver.Engine. A copy of the journal file
// (JournalFile) is a consistent backup.
//
// # Tables
//
// Every fact is one row; its body column holds the fact encoded exactly as
// in the journal (see codec.go). Bindings, members, settings and outbox
// messages are stored under the chat's home (first) id as it was when they
// were written — the chat's own id for facts written before a migration
// made that id an alias — so their reads cover every id of the chat;
// revisions and withdrawals under the chat the message was sent in, as the
// contract keys reports. The other columns are the keys that indexes and
// filters need.
// All indexes serve indexed equality, the only lookup gosql does cheaply.
//
//	revisions   rkey (chat/msg), chatday (chat@yyyymmdd), day (yyyymmdd INT),
//	            eday (event day, INT, 0 if none), phone, idno, kind, body;
//	            indexes on rkey, chatday, day, eday, phone, idno
//	withdrawals rkey, body; index on rkey
//	bindings    chat, body; index on chat
//	migrations  body
//	members     chat, body; index on chat
//	settings    chat, body; index on chat
//	claims      ckey, body; unique index on ckey
//	outbox      msgkey, msgid, body; unique index on msgkey, index on msgid
//	attempts    msgid, body; index on msgid
//
// gosql's quirks are contained in sqlmem.go: values go in as AST literals,
// never through its lexer; no cell is ever empty (gosql's NULL): a text
// value that may be "" carries a one-byte prefix; ints must fit in 32 bits
// (ids, Seqs and times live in text keys and bodies); each query uses one
// index, its other conditions written so gosql cannot use one; uniqueness
// is checked before an insert; every call holds a lock and recovers
// panics. A revision's key (chat, message, revision) is unique by the
// commit's check, not by an index: gosql indexes one column, and a
// seventh index would add about 0.7 s per million reports to replay.
//
// # Derived state
//
// Rebuilt on replay and updated on apply, in Go, where gosql cannot do the
// job efficiently: the chat migration aliases (alias → home, home →
// current id, home → aliases, so a Chat filter on reports covers every id
// of the chat); per report the Seq of its newest revision and withdrawal,
// so a query knows in O(1) whether a row it found is current; row counts
// per day, event day and chat, so a date range becomes one indexed lookup
// per day that has rows and the cheaper index is chosen; the pending outbox
// messages ordered by due time and by creation time, so Due and
// OutboxStats never look at sent or dead messages; the next Seq and outbox
// id.
//
// # Journal records
//
// One record per Commit: a version byte, then one entry per fact (tag,
// length, body), holding everything the engine assigned or decided (Seqs,
// outbox ids, home chat ids, migrations, which revision and messages were
// new), so replay inserts without validating. The exact layout is
// documented in codec.go.
//
// # Commit flow
//
// Under a short engine mutex, Commit checks claims, revision keys and
// outbox keys against the applied state plus the reservations of commits
// in flight, assigns Seqs and ids, encodes the record and reserves its
// keys. Then, with no lock held, it appends the record to the journal,
// whose group commit shares one fsync among concurrent committers. Then it
// applies the record under the state's write lock and drops the
// reservations. Readers therefore see only durable facts. Folding is by
// Seq, never by the order of application, so concurrent commits may apply
// in any order. A commit that finds a key reserved by a commit in flight
// reports it as taken (duplicate, not claimed, not enqueued) and returns
// only once that commit is durable. If the journal fails, the engine fails:
// every later call returns the error. A full disk is not a failure: the
// journal refuses the write (journal.ErrNoSpace) and takes it back, the
// commit returns the error with its reservations and migrations undone,
// reads go on, Due hands out nothing (a send could not be recorded), and
// the journal resumes by itself when space returns (WritesRefused reports
// the state and counts refusals).
//
// # Opening
//
// A writer locks the journal (a second writer gets driver.ErrLocked),
// replays it (the journal's reader decodes records while a second
// goroutine inserts them, in order) and cuts off a torn tail left by a
// crash; any other damage, the header's included, fails Open with an error
// naming its offset, and so does a journal missing or emptied in a
// directory that held one (journal.ErrLost). A read-only engine takes no lock and never writes: it replays up
// to the last complete record, so it works beside a running writer and on
// the journal of a killed one.
package embedded
