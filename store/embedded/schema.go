package embedded

import "strconv"

// Table and column names. No name starts with an SQL keyword, although
// no statement is ever lexed.
const (
	tblRevisions   = "revisions"
	tblWithdrawals = "withdrawals"
	tblBindings    = "bindings"
	tblMigrations  = "migrations"
	tblMembers     = "members"
	tblSettings    = "settings"
	tblClaims      = "claims"
	tblOutbox      = "outbox"
	tblAttempts    = "attempts"

	colRKey    = "rkey"    // report key: home chat and message id
	colChatDay = "chatday" // home chat and Day
	colDay     = "day"     // Day as yyyymmdd
	colEDay    = "eday"    // EventDay as yyyymmdd, 0 for none
	colPhone   = "phone"   // the phone field, "" if none
	colIDNum   = "idno"    // the id_number field, "" if none
	colKind    = "kind"    // the report's kind
	colChat    = "chat"    // home chat id
	colCKey    = "ckey"    // claim key
	colMsgKey  = "msgkey"  // outbox message key
	colMsgID   = "msgid"   // outbox message id
	colBody    = "body"    // the fact, encoded as in the journal (codec.go)
)

// tables is the schema. Every fact is one row whose body column holds the
// fact as the journal encodes it; the other columns are keys for indexes
// and filters.
var tables = []tableDef{
	{
		name: tblRevisions,
		cols: []column{
			{colRKey, colKey}, {colChatDay, colKey}, {colDay, colInt}, {colEDay, colInt},
			{colPhone, colText}, {colIDNum, colText}, {colKind, colText}, {colBody, colKey},
		},
		indexes: []indexDef{{col: colRKey}, {col: colChatDay}, {col: colDay}, {col: colEDay}, {col: colPhone}, {col: colIDNum}},
	},
	{
		name:    tblWithdrawals,
		cols:    []column{{colRKey, colKey}, {colBody, colKey}},
		indexes: []indexDef{{col: colRKey}},
	},
	{
		name:    tblBindings,
		cols:    []column{{colChat, colKey}, {colBody, colKey}},
		indexes: []indexDef{{col: colChat}},
	},
	{
		name: tblMigrations,
		cols: []column{{colBody, colKey}},
	},
	{
		name:    tblMembers,
		cols:    []column{{colChat, colKey}, {colBody, colKey}},
		indexes: []indexDef{{col: colChat}},
	},
	{
		name:    tblSettings,
		cols:    []column{{colChat, colKey}, {colBody, colKey}},
		indexes: []indexDef{{col: colChat}},
	},
	{
		name:    tblClaims,
		cols:    []column{{colCKey, colText}, {colBody, colKey}},
		indexes: []indexDef{{col: colCKey, unique: true}},
	},
	{
		name:    tblOutbox,
		cols:    []column{{colMsgKey, colText}, {colMsgID, colKey}, {colBody, colKey}},
		indexes: []indexDef{{col: colMsgKey, unique: true}, {col: colMsgID}},
	},
	{
		name:    tblAttempts,
		cols:    []column{{colMsgID, colKey}, {colBody, colKey}},
		indexes: []indexDef{{col: colMsgID}},
	},
}

// Keys are text: chat, message and outbox ids are 64-bit, which gosql's
// INT cannot hold.

func chatKey(home int64) string { return strconv.FormatInt(home, 10) }

func idKey(id int64) string { return strconv.FormatInt(id, 10) }

func reportKey(home, msg int64) string {
	b := make([]byte, 0, 42)
	b = strconv.AppendInt(b, home, 10)
	b = append(b, '/')
	return string(strconv.AppendInt(b, msg, 10))
}

func chatDayKey(home int64, day int32) string {
	b := make([]byte, 0, 32)
	b = strconv.AppendInt(b, home, 10)
	b = append(b, '@')
	return string(strconv.AppendInt(b, int64(day), 10))
}

// repKey identifies a report: its home chat and message id.
type repKey struct{ chat, msg int64 }

// revKey identifies a revision.
type revKey struct {
	repKey
	rev int64
}
