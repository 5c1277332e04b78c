package embedded

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"gridbot/report"
	"gridbot/store/driver"
)

func TestTimeRoundTrip(t *testing.T) {
	tests := []time.Time{
		{},
		time.Unix(0, 0),
		time.Unix(-1, 999_999_999),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 123456789, time.FixedZone("X", -7*3600)),
		time.Date(2020, 2, 7, 10, 0, 0, 123456000, time.FixedZone("CST", 8*3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Unix(1<<40, 5),
	}
	for _, want := range tests {
		var e encoder
		e.time(want)
		d := decoder{s: string(e.b)}
		got := d.time()
		if err := d.done("time"); err != nil || !got.Equal(want) || got.IsZero() != want.IsZero() {
			t.Errorf("%v came back as %v (%v)", want, got, err)
		}
	}
}

func TestVarintRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, math.MaxInt64, math.MinInt64, math.MinInt64 + 1, 1 << 53} {
		var e encoder
		e.varint(v)
		d := decoder{s: string(e.b)}
		if got := d.varint(); got != v || d.done("varint") != nil {
			t.Errorf("%d came back as %d (%v)", v, got, d.err)
		}
	}
	for _, bad := range []string{"", "\x80", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"} {
		d := decoder{s: bad}
		d.uvarint()
		if !errors.Is(d.err, errCorruptRecord) {
			t.Errorf("uvarint(%q): err = %v", bad, d.err)
		}
	}
}

// allFacts encodes one fact of every kind, with hostile texts and extreme
// values, and returns the record.
func allFacts() ([]byte, driver.Revision, driver.OutboxMessage, driver.Attempt) {
	hostile := "it's \x00 \xff '; DROP --" + strings.Repeat("长", 50)
	at := time.Date(2020, 2, 7, 10, 0, 0, 123456789, time.UTC)
	rev := driver.Revision{
		Seq: 5, Chat: math.MinInt64 + 1, MessageID: math.MaxInt64, Revision: 1581043200, Kind: report.Arrival, Lang: report.En,
		Fields:   map[string]string{"name": hostile, "phone": "13812345678", "id_number": "42010219900718351X", "arrived_on": "2020-02-06", "note": ""},
		Problems: 3, Text: hostile, SenderID: -7, Sender: "", SentAt: at, Day: report.Date{Year: 2020, Month: 2, Day: 7}, At: time.Time{},
	}
	msg := driver.OutboxMessage{ID: 9, Key: "k:" + hostile, Chat: -100, Method: "sendMessage", Payload: []byte("\x00\x01\xff"), NotBefore: time.Time{}, CreatedAt: at}
	att := driver.Attempt{MessageID: 9, Attempt: 2, Sent: false, Final: true, Error: hostile, RetryAt: at, At: at}
	e := encoder{b: []byte{recordVersion}}
	e.binding(1, driver.Binding{Chat: -1, Role: driver.RoleVillage, Name: hostile, By: 2, At: at})
	e.migration(2, migration{from: -1, to: -1001, home: -1, at: at})
	e.member(3, driver.Member{Chat: -1, UserID: math.MaxInt64, Name: hostile, Left: true, At: at})
	e.setting(4, driver.Setting{Chat: -1, Key: "summary", Value: hostile, By: 2, At: at})
	e.revision(5, &rev, 20200206)
	e.withdrawal(6, driver.Withdrawal{Chat: -1, MessageID: 1, By: 3, At: at})
	e.outbox(7, &msg)
	e.attempt(8, att)
	e.claim(9, hostile)
	return e.b, rev, msg, att
}

func TestRecordRoundTrip(t *testing.T) {
	rec, rev, msg, att := allFacts()
	entries, err := parseRecord(nil, string(rec))
	if err != nil {
		t.Fatal(err)
	}
	wantTags := []byte{tagBinding, tagMigration, tagMember, tagSetting, tagRevision, tagWithdrawal, tagOutbox, tagAttempt, tagClaim}
	if len(entries) != len(wantTags) {
		t.Fatalf("%d entries", len(entries))
	}
	for i, en := range entries {
		if en.tag != wantTags[i] || en.seq != int64(i+1) {
			t.Errorf("entry %d: tag %d seq %d", i, en.tag, en.seq)
		}
	}
	gotRev, err := decodeRevision(entries[4].body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotRev.Fields, rev.Fields) || gotRev.Text != rev.Text || gotRev.Chat != rev.Chat ||
		gotRev.MessageID != rev.MessageID || gotRev.Revision != rev.Revision || gotRev.Problems != 3 || gotRev.Day != rev.Day ||
		!gotRev.SentAt.Equal(rev.SentAt) || !gotRev.At.IsZero() || gotRev.Lang != report.En || gotRev.SenderID != -7 || gotRev.Seq != 5 {
		t.Errorf("revision: got %+v\nwant %+v", gotRev, rev)
	}
	if en := entries[4]; en.phone != "13812345678" || en.idNum != "42010219900718351X" || en.eday != 20200206 || en.day != 20200207 {
		t.Errorf("revision keys: %+v", en)
	}
	gotMsg, err := decodeOutbox(entries[6].body)
	if err != nil || gotMsg.Key != msg.Key || string(gotMsg.Payload) != string(msg.Payload) || !gotMsg.NotBefore.IsZero() || gotMsg.ID != 9 {
		t.Errorf("outbox: %+v %v", gotMsg, err)
	}
	seq, gotAtt, err := decodeAttempt(entries[7].body)
	if err != nil || seq != 8 || gotAtt.Error != att.Error || !gotAtt.Final || gotAtt.Sent || gotAtt.Attempt != 2 {
		t.Errorf("attempt: %+v %v", gotAtt, err)
	}
	if entries[8].key != "it's \x00 \xff '; DROP --"+strings.Repeat("长", 50) {
		t.Errorf("claim key %q", entries[8].key)
	}
	if _, m, err := decodeMember(entries[2].body); err != nil || !m.Left || m.UserID != math.MaxInt64 {
		t.Errorf("member: %+v %v", m, err)
	}
}

func TestParseRecordRejects(t *testing.T) {
	rec, _, _, _ := allFacts()
	tests := map[string]string{
		"empty":             "",
		"future version":    "\x02" + string(rec[1:]),
		"unknown tag":       "\x01\x63\x01\x02",
		"truncated":         string(rec[:len(rec)-3]),
		"length past end":   "\x01\x01\x7f\x02",
		"trailing in body":  "\x01\x09\x03\x02\x00\x00",
		"bad attempt flags": "\x01\x08\x0a\x10\x12\x04\x04\x00\x00\x00\x00\x00\x00",
	}
	for name, in := range tests {
		if _, err := parseRecord(nil, in); !errors.Is(err, errCorruptRecord) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// FuzzParseRecord: no input makes the decoder panic, and whatever it
// accepts decodes fully.
func FuzzParseRecord(f *testing.F) {
	rec, _, _, _ := allFacts()
	f.Add(rec)
	f.Add([]byte{recordVersion})
	f.Add([]byte{recordVersion, tagClaim, 2, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseRecord(nil, string(data))
		if err != nil {
			return
		}
		for _, en := range entries {
			var err error
			switch en.tag {
			case tagRevision:
				_, err = decodeRevision(en.body)
			case tagOutbox:
				_, err = decodeOutbox(en.body)
			case tagAttempt:
				_, _, err = decodeAttempt(en.body)
			case tagBinding:
				_, _, err = decodeBinding(en.body)
			case tagMember:
				_, _, err = decodeMember(en.body)
			case tagSetting:
				_, err = decodeSetting(en.body)
			case tagWithdrawal:
				_, err = decodeWithdrawal(en.body)
			}
			if err != nil {
				t.Fatalf("entry with tag %d parsed but does not decode: %v", en.tag, err)
			}
		}
	})
}
