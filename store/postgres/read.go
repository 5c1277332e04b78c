package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"gridbot/report"
	"gridbot/store/driver"
)

// Every read is one statement, so it sees one consistent snapshot.
// Bindings, members and settings are stored under the home their chat had
// when they were written (the chat's own id for a fact written before the
// migration that made it an alias, or by a commit that resolved it just
// before), so their reads cover every id of the chat, from chat_family,
// and fold across them; chat ids in their results are the chats' current
// ids, from chat_current. Reports are keyed by the chat their
// message was sent in, which they keep in results; a Chat filter on
// Reports covers every id of the chat, from chat_family. All three are SQL
// functions over chat_migrations, evaluated by the database on every call:
// no process keeps a copy that another replica's migration could make
// stale.

// Binding returns a chat's current binding.
func (e *Engine) Binding(ctx context.Context, chat int64) (driver.Binding, bool, error) {
	if err := e.check("binding"); err != nil {
		return driver.Binding{}, false, err
	}
	var b driver.Binding
	var role string
	var name []byte
	var at *int64
	err := e.pool.QueryRow(ctx, `SELECT chat_current(b.home_chat), b.role, b.name, b.by_user, b.at
		FROM bindings b WHERE b.home_chat = ANY ((SELECT chat_family($1::bigint))::bigint[]) ORDER BY b.seq DESC LIMIT 1`, chat).
		Scan(&b.Chat, &role, &name, &b.By, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return driver.Binding{}, false, nil
	}
	if err != nil {
		return driver.Binding{}, false, e.fail("binding", err)
	}
	if driver.Role(role) == driver.RoleNone {
		return driver.Binding{}, false, nil
	}
	b.Role, b.Name, b.At = driver.Role(role), string(name), timeOf(at)
	return b, true, nil
}

// Bindings lists every bound chat by current id.
func (e *Engine) Bindings(ctx context.Context) ([]driver.Binding, error) {
	if err := e.check("bindings"); err != nil {
		return nil, err
	}
	// homes is chat_home of every row, as one join
	rows, err := e.pool.Query(ctx, `WITH homes AS (
			SELECT coalesce(m.home_chat, b.home_chat) AS home, b.seq, b.role, b.name, b.by_user, b.at
			FROM bindings b LEFT JOIN chat_migrations m ON m.to_chat = b.home_chat
		), latest AS (
			SELECT DISTINCT ON (home) home, role, name, by_user, at
			FROM homes ORDER BY home, seq DESC
		)
		SELECT chat_current(home) AS chat, role, name, by_user, at
		FROM latest WHERE role <> '' ORDER BY 1`)
	if err != nil {
		return nil, e.fail("bindings", err)
	}
	var out []driver.Binding
	for rows.Next() {
		var b driver.Binding
		var role string
		var name []byte
		var at *int64
		if err := rows.Scan(&b.Chat, &role, &name, &b.By, &at); err != nil {
			rows.Close()
			return nil, e.fail("bindings", err)
		}
		b.Role, b.Name, b.At = driver.Role(role), string(name), timeOf(at)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, e.fail("bindings", err)
	}
	return out, nil
}

// CurrentChat follows migrations forward.
func (e *Engine) CurrentChat(ctx context.Context, chat int64) (int64, error) {
	if err := e.check("current chat"); err != nil {
		return 0, err
	}
	var cur int64
	if err := e.pool.QueryRow(ctx, `SELECT chat_current($1)`, chat).Scan(&cur); err != nil {
		return 0, e.fail("current chat", err)
	}
	return cur, nil
}

// Roster lists a chat's members, newest fact per user, by user id.
func (e *Engine) Roster(ctx context.Context, chat int64) ([]driver.Member, error) {
	if err := e.check("roster"); err != nil {
		return nil, err
	}
	rows, err := e.pool.Query(ctx, `WITH h AS MATERIALIZED (SELECT chat_family($1) AS family, chat_current($1) AS cur)
		SELECT DISTINCT ON (m.user_id) h.cur, m.user_id, m.name, m.has_left, m.at
		FROM h JOIN members m ON m.home_chat = ANY (h.family)
		ORDER BY m.user_id, m.seq DESC`, chat)
	if err != nil {
		return nil, e.fail("roster", err)
	}
	out := []driver.Member{}
	for rows.Next() {
		var m driver.Member
		var name []byte
		var at *int64
		if err := rows.Scan(&m.Chat, &m.UserID, &name, &m.Left, &at); err != nil {
			rows.Close()
			return nil, e.fail("roster", err)
		}
		m.Name, m.At = string(name), timeOf(at)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, e.fail("roster", err)
	}
	return out, nil
}

// Settings returns a chat's settings, newest per key, without the reset
// ones. The map is never nil.
func (e *Engine) Settings(ctx context.Context, chat int64) (map[string]string, error) {
	if err := e.check("settings"); err != nil {
		return nil, err
	}
	rows, err := e.pool.Query(ctx, `SELECT DISTINCT ON (key) key, value
		FROM settings WHERE home_chat = ANY ((SELECT chat_family($1::bigint))::bigint[]) ORDER BY key, seq DESC`, chat)
	if err != nil {
		return nil, e.fail("settings", err)
	}
	out := map[string]string{}
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return nil, e.fail("settings", err)
		}
		if len(v) > 0 {
			out[string(k)] = string(v)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, e.fail("settings", err)
	}
	return out, nil
}

// Claimed reports whether a claim key is taken.
func (e *Engine) Claimed(ctx context.Context, key string) (bool, error) {
	if err := e.check("claimed"); err != nil {
		return false, err
	}
	var ok bool
	if err := e.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM claims WHERE key = $1)`, blob(key)).Scan(&ok); err != nil {
		return false, e.fail("claimed", err)
	}
	return ok, nil
}

// revisionColumns are the columns revisionRow reads, from revisions
// aliased r.
const revisionColumns = `r.seq, r.chat, r.message_id, r.revision, r.kind, r.lang, r.field_names, r.field_values, r.problems,
	r.text, r.sender_id, r.sender, r.sent_at, r.day, r.at`

// isCurrent holds for a revision r that is its report's current one: no
// newer edit (a higher revision, the edit date, or the same and a higher
// seq: an original or older edit recorded late does not supersede a newer
// edit), no withdrawal recorded after it.
const isCurrent = `NOT EXISTS (SELECT 1 FROM revisions n
		WHERE n.chat = r.chat AND n.message_id = r.message_id AND (n.revision, n.seq) > (r.revision, r.seq))
	AND NOT EXISTS (SELECT 1 FROM withdrawals w
		WHERE w.chat = r.chat AND w.message_id = r.message_id AND w.seq > r.seq)`

// currentReports selects, from the revisions matching a condition, those
// that are current, ordered by (Day, SentAt, Chat, MessageID).
const currentReports = `SELECT ` + revisionColumns + `
	FROM revisions r WHERE (%s) AND ` + isCurrent + `
	ORDER BY r.day, r.sent_at, r.chat, r.message_id`

// revisionRow receives the columns of revisionColumns.
type revisionRow struct {
	seq, chat int64
	msg, rev  int64
	kind      string
	lang      []byte
	names     []string
	values    [][]byte
	problems  int64
	text      []byte
	senderID  int64
	sender    []byte
	sentAt    *int64
	day       int32
	at        *int64
}

func (s *revisionRow) dest() []any {
	return []any{&s.seq, &s.chat, &s.msg, &s.rev, &s.kind, &s.lang, &s.names, &s.values, &s.problems,
		&s.text, &s.senderID, &s.sender, &s.sentAt, &s.day, &s.at}
}

func (s *revisionRow) revision() (driver.Revision, error) {
	r := driver.Revision{
		Seq: s.seq, Chat: s.chat, MessageID: s.msg, Revision: s.rev, Kind: report.Kind(s.kind), Lang: report.Lang(s.lang),
		Problems: int(s.problems), Text: string(s.text), SenderID: s.senderID, Sender: string(s.sender),
		SentAt: timeOf(s.sentAt), At: timeOf(s.at),
	}
	if s.day != 0 {
		r.Day = report.DateFromInt(int(s.day))
	}
	if len(s.names) != len(s.values) {
		return driver.Revision{}, fmt.Errorf("revision %d: %d field names, %d values", s.seq, len(s.names), len(s.values))
	}
	r.Fields = make(map[string]string, len(s.names))
	for i, k := range s.names {
		r.Fields[k] = string(s.values[i])
	}
	return r, nil
}

// queryRevisions runs a query returning revisionColumns. The result is
// never nil.
func (e *Engine) queryRevisions(ctx context.Context, op, sql string, args ...any) ([]driver.Revision, error) {
	rows, err := e.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, e.fail(op, err)
	}
	defer rows.Close()
	out := []driver.Revision{}
	for rows.Next() {
		var s revisionRow
		if err := rows.Scan(s.dest()...); err != nil {
			return nil, e.fail(op, err)
		}
		r, err := s.revision()
		if err != nil {
			return nil, e.fail(op, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, e.fail(op, err)
	}
	return out, nil
}

// Reports returns current reports. The condition is assembled from fixed
// fragments; every value is a parameter.
func (e *Engine) Reports(ctx context.Context, q driver.ReportQuery) ([]driver.Revision, error) {
	if err := e.check("reports"); err != nil {
		return nil, err
	}
	var conds []string
	var args []any
	param := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Chat != 0 {
		// Every id of the chat: a few probes of revisions_chat_day. The
		// subquery makes chat_family an InitPlan, run once per execution;
		// called directly, it keeps the plan cache on custom plans and
		// costs three times as much.
		conds = append(conds, "r.chat = ANY ((SELECT chat_family("+param(q.Chat)+"::bigint))::bigint[])")
	}
	if q.Kind != report.None {
		conds = append(conds, "r.kind = "+param(string(q.Kind)))
	}
	if !q.From.IsZero() {
		conds = append(conds, "r.day >= "+param(q.From.Int()))
	}
	if !q.To.IsZero() {
		conds = append(conds, "r.day <= "+param(q.To.Int()))
	}
	if !q.EventFrom.IsZero() || !q.EventTo.IsZero() {
		// A report without an event day is in no event range.
		conds = append(conds, "r.event_day <> 0")
		if !q.EventFrom.IsZero() {
			conds = append(conds, "r.event_day >= "+param(q.EventFrom.Int()))
		}
		if !q.EventTo.IsZero() {
			conds = append(conds, "r.event_day <= "+param(q.EventTo.Int()))
		}
	}
	if !q.IncludeInvalid {
		conds = append(conds, "r.problems = 0")
	}
	if len(conds) == 0 {
		conds = append(conds, "true")
	}
	return e.queryRevisions(ctx, "reports", fmt.Sprintf(currentReports, strings.Join(conds, " AND ")), args...)
}

// Report returns the current revision of one report, valid or not, by the
// chat its message was sent in.
func (e *Engine) Report(ctx context.Context, chat, messageID int64) (driver.Revision, bool, error) {
	if err := e.check("report"); err != nil {
		return driver.Revision{}, false, err
	}
	rs, err := e.queryRevisions(ctx, "report", `WITH r AS (
			SELECT * FROM revisions WHERE chat = $1 AND message_id = $2 ORDER BY revision DESC, seq DESC LIMIT 1
		)
		SELECT `+revisionColumns+` FROM r
		WHERE NOT EXISTS (SELECT 1 FROM withdrawals w
			WHERE w.chat = r.chat AND w.message_id = r.message_id AND w.seq > r.seq)`, chat, messageID)
	if err != nil || len(rs) == 0 {
		return driver.Revision{}, false, err
	}
	return rs[0], true, nil
}

// History returns every revision and withdrawal of one report, keyed like
// Report, in Seq order.
func (e *Engine) History(ctx context.Context, chat, messageID int64) ([]driver.HistoryEvent, error) {
	if err := e.check("history"); err != nil {
		return nil, err
	}
	rows, err := e.pool.Query(ctx, `SELECT false, `+revisionColumns+`, 0::bigint
		FROM revisions r WHERE r.chat = $1 AND r.message_id = $2
		UNION ALL
		SELECT true, w.seq, w.chat, w.message_id, 0, '', ''::bytea, NULL, NULL, 0, ''::bytea, 0, ''::bytea, NULL, 0, w.at, w.by_user
		FROM withdrawals w WHERE w.chat = $1 AND w.message_id = $2
		ORDER BY 2`, chat, messageID)
	if err != nil {
		return nil, e.fail("history", err)
	}
	defer rows.Close()
	out := []driver.HistoryEvent{}
	for rows.Next() {
		var withdrawal bool
		var by int64
		var s revisionRow
		if err := rows.Scan(append(append([]any{&withdrawal}, s.dest()...), &by)...); err != nil {
			return nil, e.fail("history", err)
		}
		if withdrawal {
			out = append(out, driver.HistoryEvent{Withdrawal: &driver.Withdrawal{
				Seq: s.seq, Chat: s.chat, MessageID: s.msg, By: by, At: timeOf(s.at),
			}})
			continue
		}
		r, err := s.revision()
		if err != nil {
			return nil, e.fail("history", err)
		}
		out = append(out, driver.HistoryEvent{Revision: &r})
	}
	if err := rows.Err(); err != nil {
		return nil, e.fail("history", err)
	}
	return out, nil
}

// FindIdentity returns current, valid arrival and tenant reports with the
// phone or ID number given, on or after since. The phone and id_number
// columns are indexed (partial indexes, empty values left out).
func (e *Engine) FindIdentity(ctx context.Context, phone, idNumber string, since report.Date) ([]driver.Revision, error) {
	if err := e.check("find identity"); err != nil {
		return nil, err
	}
	if phone == "" && idNumber == "" {
		return []driver.Revision{}, nil
	}
	cond := `(r.phone = $1 OR r.id_number = $2) AND r.kind IN ($3, $4) AND r.problems = 0 AND r.day >= $5`
	return e.queryRevisions(ctx, "find identity", fmt.Sprintf(currentReports, cond),
		identity(phone), identity(idNumber), string(report.Arrival), string(report.Tenant), since.Int())
}
