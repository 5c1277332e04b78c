package embedded

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"gridbot/report"
	"gridbot/store/driver"
)

// The journal record format (see the package doc for the overview).
//
//	record = version:byte entry*
//	entry  = tag:byte length:uvarint body[length]
//
// Every body starts with the fact's Seq and holds the fact exactly as it is
// stored in its table's body column, so replay inserts it as it is: the
// chat of a binding, member, setting or outbox message is already resolved
// to the chat's home id; that of a revision or withdrawal is the chat the
// message was sent in; a migration carries the home it joins. Integers are varints
// (zig-zag for signed), strings and byte strings are a uvarint length and
// the bytes, times are Unix seconds (varint) and nanoseconds (uvarint),
// dates are year, month and day as varints, booleans one byte.
//
//	binding:    seq chat role name by at
//	migration:  seq from to home at
//	member:     seq chat user name left at
//	setting:    seq chat key value by at
//	revision:   seq chat msg rev kind lang problems day eventDay senderID
//	            sentAt at sender text nfields (name value)*
//	withdrawal: seq chat msg by at
//	outbox:     seq id key chat method payload notBefore createdAt
//	attempt:    seq msgID attempt flags sentMsgID error retryAt at
//	claim:      seq key
//
// eventDay is the revision's EventDay as yyyymmdd (0 for none); fields are
// sorted by name, so encoding is deterministic. An unknown version or tag
// is an error: a newer engine's journal is never half understood.

// recordVersion is the first byte of every record this engine writes.
const recordVersion byte = 1

// Entry tags.
const (
	tagBinding byte = 1 + iota
	tagMigration
	tagMember
	tagSetting
	tagRevision
	tagWithdrawal
	tagOutbox
	tagAttempt
	tagClaim
)

// Attempt flags.
const (
	flagSent  = 1 << 0
	flagFinal = 1 << 1
)

// errCorruptRecord is wrapped by every decoding error.
var errCorruptRecord = errors.New("malformed journal record")

// encoder appends to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) byte1(c byte) { e.b = append(e.b, c) }

func (e *encoder) uvarint(x uint64) {
	for x >= 0x80 {
		e.b = append(e.b, byte(x)|0x80)
		x >>= 7
	}
	e.b = append(e.b, byte(x))
}

func (e *encoder) varint(x int64) { e.uvarint(uint64(x<<1) ^ uint64(x>>63)) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) bytes(p []byte) {
	e.uvarint(uint64(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) time(t time.Time) {
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

func (e *encoder) date(d report.Date) {
	e.varint(int64(d.Year))
	e.varint(int64(d.Month))
	e.varint(int64(d.Day))
}

func (e *encoder) bool1(v bool) {
	if v {
		e.byte1(1)
	} else {
		e.byte1(0)
	}
}

// entry starts an entry: it returns the offset where the body starts, for
// finish.
func (e *encoder) entry(tag byte) int {
	e.byte1(tag)
	// Reserve one length byte; finish moves the body if it needs more.
	e.b = append(e.b, 0)
	return len(e.b)
}

// finish writes the length of the body that started at start.
func (e *encoder) finish(start int) {
	n := len(e.b) - start
	if n < 0x80 {
		e.b[start-1] = byte(n)
		return
	}
	var lenBuf encoder
	lenBuf.uvarint(uint64(n))
	extra := len(lenBuf.b) - 1
	e.b = append(e.b, make([]byte, extra)...)
	copy(e.b[start+extra:], e.b[start:start+n])
	copy(e.b[start-1:], lenBuf.b)
}

// decoder reads from a string; the first error sticks and later reads
// return zero values.
type decoder struct {
	s   string
	i   int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s at byte %d", errCorruptRecord, what, d.i)
	}
}

func (d *decoder) byte1() byte {
	if d.err != nil || d.i >= len(d.s) {
		d.fail("byte")
		return 0
	}
	c := d.s[d.i]
	d.i++
	return c
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	for shift := uint(0); ; shift += 7 {
		if d.err != nil || d.i >= len(d.s) || shift > 63 {
			d.fail("varint")
			return 0
		}
		c := d.s[d.i]
		d.i++
		if shift == 63 && c > 1 {
			d.fail("varint")
			return 0
		}
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// int reads a varint that must fit in an int.
func (d *decoder) int() int {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("small int")
		return 0
	}
	return int(v)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)-d.i) {
		d.fail("string length")
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec > 999_999_999 {
		d.fail("nanoseconds")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) date() report.Date {
	y, m, dd := d.int(), d.int(), d.int()
	return report.Date{Year: y, Month: time.Month(m), Day: dd}
}

func (d *decoder) bool1() bool {
	switch d.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bool")
	return false
}

// done reports the decoder's error, or an error if bytes are left over.
func (d *decoder) done(what string) error {
	if d.err == nil && d.i != len(d.s) {
		d.fail(what + " (trailing bytes)")
	}
	if d.err != nil {
		return fmt.Errorf("%s: %w", what, d.err)
	}
	return nil
}

// dayInt returns d as yyyymmdd, and false if that does not fit the 32-bit
// INT columns (or is 0, which means "no day").
func dayInt(d report.Date) (int32, bool) {
	n := int64(d.Year)*10000 + int64(d.Month)*100 + int64(d.Day)
	if n == 0 || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, false
	}
	return int32(n), true
}

// --- encoding facts ---

func (e *encoder) binding(seq int64, b driver.Binding) {
	s := e.entry(tagBinding)
	e.varint(seq)
	e.varint(b.Chat)
	e.str(string(b.Role))
	e.str(b.Name)
	e.varint(b.By)
	e.time(b.At)
	e.finish(s)
}

func (e *encoder) migration(seq int64, m migration) {
	s := e.entry(tagMigration)
	e.varint(seq)
	e.varint(m.from)
	e.varint(m.to)
	e.varint(m.home)
	e.time(m.at)
	e.finish(s)
}

func (e *encoder) member(seq int64, m driver.Member) {
	s := e.entry(tagMember)
	e.varint(seq)
	e.varint(m.Chat)
	e.varint(m.UserID)
	e.str(m.Name)
	e.bool1(m.Left)
	e.time(m.At)
	e.finish(s)
}

func (e *encoder) setting(seq int64, st driver.Setting) {
	s := e.entry(tagSetting)
	e.varint(seq)
	e.varint(st.Chat)
	e.str(st.Key)
	e.str(st.Value)
	e.varint(st.By)
	e.time(st.At)
	e.finish(s)
}

// revision encodes r (Chat already the home id) with its event day.
func (e *encoder) revision(seq int64, r *driver.Revision, eventDay int32) {
	s := e.entry(tagRevision)
	e.varint(seq)
	e.varint(r.Chat)
	e.varint(r.MessageID)
	e.varint(r.Revision)
	e.str(string(r.Kind))
	e.str(string(r.Lang))
	e.uvarint(uint64(r.Problems))
	e.date(r.Day)
	e.varint(int64(eventDay))
	e.varint(r.SenderID)
	e.time(r.SentAt)
	e.time(r.At)
	e.str(r.Sender)
	e.str(r.Text)
	names := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	e.uvarint(uint64(len(names)))
	for _, k := range names {
		e.str(k)
		e.str(r.Fields[k])
	}
	e.finish(s)
}

func (e *encoder) withdrawal(seq int64, w driver.Withdrawal) {
	s := e.entry(tagWithdrawal)
	e.varint(seq)
	e.varint(w.Chat)
	e.varint(w.MessageID)
	e.varint(w.By)
	e.time(w.At)
	e.finish(s)
}

func (e *encoder) outbox(seq int64, m *driver.OutboxMessage) {
	s := e.entry(tagOutbox)
	e.varint(seq)
	e.varint(m.ID)
	e.str(m.Key)
	e.varint(m.Chat)
	e.str(m.Method)
	e.bytes(m.Payload)
	e.time(m.NotBefore)
	e.time(m.CreatedAt)
	e.finish(s)
}

func (e *encoder) attempt(seq int64, a driver.Attempt) {
	s := e.entry(tagAttempt)
	e.varint(seq)
	e.varint(a.MessageID)
	e.varint(int64(a.Attempt))
	var flags byte
	if a.Sent {
		flags |= flagSent
	}
	if a.Final {
		flags |= flagFinal
	}
	e.byte1(flags)
	e.varint(a.SentMessageID)
	e.str(a.Error)
	e.time(a.RetryAt)
	e.time(a.At)
	e.finish(s)
}

func (e *encoder) claim(seq int64, key string) {
	s := e.entry(tagClaim)
	e.varint(seq)
	e.str(key)
	e.finish(s)
}

// --- decoding records ---

// entry is one decoded journal entry: its tag, its body (what the body
// column stores) and what applying it needs.
type entry struct {
	tag  byte
	body string
	seq  int64

	chat, msg int64 // home chat and message (revision, withdrawal); home chat of others
	key       string
	id        int64 // outbox: its id; attempt: the message's id

	// revision
	rev          int64 // its Revision: the edit date, 0 for the original
	kind         report.Kind
	day, eday    int32
	phone, idNum string
	rkey, cday   string // reportKey (also withdrawal) and chatDayKey

	// outbox and attempt
	due, created time.Time
	sent, final  bool

	// migration
	from, to int64
}

// parseRecord splits a record into entries, appended to dst. The entries'
// bodies are substrings of rec.
func parseRecord(dst []entry, rec string) ([]entry, error) {
	if len(rec) == 0 {
		return dst, fmt.Errorf("%w: empty record", errCorruptRecord)
	}
	if rec[0] != recordVersion {
		return dst, fmt.Errorf("%w: record version %d, this engine reads %d", errCorruptRecord, rec[0], recordVersion)
	}
	d := decoder{s: rec, i: 1}
	n := len(dst)
	for d.err == nil && d.i < len(d.s) {
		tag := d.byte1()
		body := d.str()
		if d.err != nil {
			break
		}
		en, err := parseEntry(tag, body)
		if err != nil {
			return dst[:n], fmt.Errorf("entry %d: %w", len(dst)-n, err)
		}
		dst = append(dst, en)
	}
	if err := d.done("record"); err != nil {
		return dst[:n], err
	}
	return dst, nil
}

func parseEntry(tag byte, body string) (entry, error) {
	en := entry{tag: tag, body: body}
	d := decoder{s: body}
	en.seq = d.varint()
	switch tag {
	case tagBinding:
		b := decodeBindingRest(&d)
		en.chat = b.Chat
		return en, d.done("binding")
	case tagMigration:
		en.from, en.to, en.chat = d.varint(), d.varint(), d.varint()
		d.time()
		return en, d.done("migration")
	case tagMember:
		m := decodeMemberRest(&d)
		en.chat = m.Chat
		return en, d.done("member")
	case tagSetting:
		st := decodeSettingRest(&d)
		en.chat = st.Chat
		return en, d.done("setting")
	case tagRevision:
		h := decodeRevisionHead(&d, en.seq)
		en.chat, en.msg, en.rev, en.kind, en.eday = h.Chat, h.MessageID, h.Revision.Revision, h.Kind, h.eventDay
		day, ok := dayInt(h.Day)
		if !ok && d.err == nil {
			d.fail("day")
		}
		en.day = day
		en.rkey, en.cday = reportKey(en.chat, en.msg), chatDayKey(en.chat, en.day)
		d.str() // sender
		d.str() // text
		n := d.uvarint()
		for i := uint64(0); i < n && d.err == nil; i++ {
			k, v := d.str(), d.str()
			switch k {
			case "phone":
				en.phone = v
			case "id_number":
				en.idNum = v
			}
		}
		return en, d.done("revision")
	case tagWithdrawal:
		w := decodeWithdrawalRest(&d, en.seq)
		en.chat, en.msg = w.Chat, w.MessageID
		en.rkey = reportKey(en.chat, en.msg)
		return en, d.done("withdrawal")
	case tagOutbox:
		m := decodeOutboxRest(&d)
		en.id, en.key, en.chat, en.due, en.created = m.ID, m.Key, m.Chat, m.NotBefore, m.CreatedAt
		return en, d.done("outbox message")
	case tagAttempt:
		a := decodeAttemptRest(&d)
		en.id, en.sent, en.final, en.due = a.MessageID, a.Sent, a.Final, a.RetryAt
		return en, d.done("attempt")
	case tagClaim:
		en.key = d.str()
		return en, d.done("claim")
	}
	return en, fmt.Errorf("%w: unknown entry tag %d", errCorruptRecord, tag)
}

// --- decoding bodies into driver values ---

func decodeBindingRest(d *decoder) driver.Binding {
	return driver.Binding{Chat: d.varint(), Role: driver.Role(d.str()), Name: d.str(), By: d.varint(), At: d.time()}
}

func decodeMemberRest(d *decoder) driver.Member {
	return driver.Member{Chat: d.varint(), UserID: d.varint(), Name: d.str(), Left: d.bool1(), At: d.time()}
}

// settingRow is a decoded settings row.
type settingRow struct {
	seq int64
	driver.Setting
}

func decodeSettingRest(d *decoder) driver.Setting {
	return driver.Setting{Chat: d.varint(), Key: d.str(), Value: d.str(), By: d.varint(), At: d.time()}
}

func decodeWithdrawalRest(d *decoder, seq int64) driver.Withdrawal {
	return driver.Withdrawal{Seq: seq, Chat: d.varint(), MessageID: d.varint(), By: d.varint(), At: d.time()}
}

func decodeOutboxRest(d *decoder) driver.OutboxMessage {
	m := driver.OutboxMessage{ID: d.varint(), Key: d.str(), Chat: d.varint(), Method: d.str()}
	if p := d.str(); len(p) > 0 {
		m.Payload = []byte(p)
	}
	m.NotBefore = d.time()
	m.CreatedAt = d.time()
	return m
}

func decodeAttemptRest(d *decoder) driver.Attempt {
	a := driver.Attempt{MessageID: d.varint(), Attempt: d.int()}
	flags := d.byte1()
	if flags&^(flagSent|flagFinal) != 0 {
		d.fail("attempt flags")
	}
	a.Sent, a.Final = flags&flagSent != 0, flags&flagFinal != 0
	a.SentMessageID = d.varint()
	a.Error = d.str()
	a.RetryAt = d.time()
	a.At = d.time()
	return a
}

// revHead is the part of a revision body before the texts: enough to
// filter, fold and sort without decoding the fields.
type revHead struct {
	driver.Revision // without Sender, Text and Fields
	eventDay        int32
}

func decodeRevisionHead(d *decoder, seq int64) revHead {
	var h revHead
	h.Seq = seq
	h.Chat, h.MessageID, h.Revision.Revision = d.varint(), d.varint(), d.varint()
	h.Kind, h.Lang = report.Kind(d.str()), report.Lang(d.str())
	p := d.uvarint()
	if p > math.MaxInt32 {
		d.fail("problems")
	}
	h.Problems = int(p)
	h.Day = d.date()
	ev := d.varint()
	if ev < math.MinInt32 || ev > math.MaxInt32 {
		d.fail("event day")
	}
	h.eventDay = int32(ev)
	h.SenderID = d.varint()
	h.SentAt, h.At = d.time(), d.time()
	return h
}

// decodeRevisionHeadOnly decodes the head of a revision body.
func decodeRevisionHeadOnly(body string) (revHead, error) {
	d := decoder{s: body}
	h := decodeRevisionHead(&d, d.varint())
	if d.err != nil {
		return h, fmt.Errorf("revision: %w", d.err)
	}
	return h, nil
}

// decodeRevision decodes a whole revision body; Chat is the home id.
func decodeRevision(body string) (driver.Revision, error) {
	d := decoder{s: body}
	h := decodeRevisionHead(&d, d.varint())
	r := h.Revision
	r.Sender, r.Text = d.str(), d.str()
	n := d.uvarint()
	if n > uint64(len(body)) {
		d.fail("field count")
	}
	if d.err == nil {
		r.Fields = make(map[string]string, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			k := d.str()
			r.Fields[k] = d.str()
		}
	}
	return r, d.done("revision")
}

func decodeBinding(body string) (int64, driver.Binding, error) {
	d := decoder{s: body}
	seq := d.varint()
	b := decodeBindingRest(&d)
	return seq, b, d.done("binding")
}

func decodeMember(body string) (int64, driver.Member, error) {
	d := decoder{s: body}
	seq := d.varint()
	m := decodeMemberRest(&d)
	return seq, m, d.done("member")
}

func decodeSetting(body string) (settingRow, error) {
	d := decoder{s: body}
	seq := d.varint()
	st := decodeSettingRest(&d)
	return settingRow{seq: seq, Setting: st}, d.done("setting")
}

func decodeWithdrawal(body string) (driver.Withdrawal, error) {
	d := decoder{s: body}
	seq := d.varint()
	w := decodeWithdrawalRest(&d, seq)
	return w, d.done("withdrawal")
}

func decodeOutbox(body string) (driver.OutboxMessage, error) {
	d := decoder{s: body}
	d.varint() // seq
	m := decodeOutboxRest(&d)
	return m, d.done("outbox message")
}

func decodeAttempt(body string) (int64, driver.Attempt, error) {
	d := decoder{s: body}
	seq := d.varint()
	a := decodeAttemptRest(&d)
	return seq, a, d.done("attempt")
}
