package embedded

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"gridbot/report"
	"gridbot/store/driver"
)

// Reports returns current reports ordered by (Day, SentAt, Chat,
// MessageID). A Chat filter covers every id of the chat (its home and its
// aliases); each report keeps the Chat it was sent in.
//
// gosql serves only indexed equalities cheaply (a range walks the index to
// its end), so a range of days becomes one lookup per day that has rows:
// on the chat+day index for each id of the chat when a chat is given, on
// the day index otherwise, or on the event-day index when the event range
// promises fewer rows. Every candidate is then checked in Go: current (by
// the reports fold), chat, kind, validity and both ranges.
func (e *Engine) Reports(ctx context.Context, q driver.ReportQuery) ([]driver.Revision, error) {
	var out []driver.Revision
	err := e.read(ctx, func(st *state) error {
		var err error
		out, err = st.queryReports(q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: reports: %w", err)
	}
	return out, nil
}

// bounds turns a date range with open (zero) ends into yyyymmdd bounds.
func bounds(from, to report.Date) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !from.IsZero() {
		lo = int64(from.Year)*10000 + int64(from.Month)*100 + int64(from.Day)
	}
	if !to.IsZero() {
		hi = int64(to.Year)*10000 + int64(to.Month)*100 + int64(to.Day)
	}
	return lo, hi
}

// probes is a query plan: one indexed equality per key.
type probes struct {
	col  string
	keys []value
	rows float64 // estimated rows read
}

// plan picks the index for q; chats are the ids of q.Chat (nil for every
// chat).
func (st *state) plan(q driver.ReportQuery, chats []int64) probes {
	dayLo, dayHi := bounds(q.From, q.To)
	days, dayRows := daysIn(st.dayRows, st.days, dayLo, dayHi)
	var best probes
	if chats != nil {
		share := 0
		for _, c := range chats {
			share += st.chatRows[c]
		}
		best = probes{col: colChatDay, rows: float64(dayRows)}
		if st.totalRows > 0 {
			best.rows *= float64(share) / float64(st.totalRows)
		}
		for _, c := range chats {
			if st.chatRows[c] == 0 {
				continue
			}
			for _, d := range days {
				best.keys = append(best.keys, textVal(chatDayKey(c, d)))
			}
		}
	} else {
		best = probes{col: colDay, rows: float64(dayRows)}
		for _, d := range days {
			best.keys = append(best.keys, intVal(int64(d)))
		}
	}
	if !q.EventFrom.IsZero() || !q.EventTo.IsZero() {
		evLo, evHi := bounds(q.EventFrom, q.EventTo)
		edays, edayRows := daysIn(st.edayRows, st.edays, evLo, evHi)
		if float64(edayRows) < best.rows {
			best = probes{col: colEDay, rows: float64(edayRows)}
			for _, d := range edays {
				best.keys = append(best.keys, intVal(int64(d)))
			}
		}
	}
	return best
}

func (st *state) queryReports(q driver.ReportQuery) ([]driver.Revision, error) {
	var chats []int64
	if q.Chat != 0 {
		chats = st.alias.ids(q.Chat)
	}
	pl := st.plan(q, chats)
	var filters []filter
	if q.Kind != report.None {
		filters = append(filters, fEq(colKind, textVal(string(q.Kind))))
	}
	dayLo, dayHi := bounds(q.From, q.To)
	evSet := !q.EventFrom.IsZero() || !q.EventTo.IsZero()
	evLo, evHi := bounds(q.EventFrom, q.EventTo)
	out := []driver.Revision{}
	for _, key := range pl.keys {
		err := st.db.selectText(query{table: tblRevisions, cols: []string{colBody}, eq: eqCond(pl.col, key), filters: filters}, func(body string) error {
			h, err := decodeRevisionHeadOnly(body)
			if err != nil {
				return err
			}
			day, _ := dayInt(h.Day)
			switch {
			case !st.reports[repKey{h.Chat, h.MessageID}].current(h.Seq),
				chats != nil && !slices.Contains(chats, h.Chat),
				q.Kind != report.None && h.Kind != q.Kind,
				!q.IncludeInvalid && h.Problems != 0,
				int64(day) < dayLo || int64(day) > dayHi,
				evSet && (h.eventDay == 0 || int64(h.eventDay) < evLo || int64(h.eventDay) > evHi):
				return nil
			}
			r, err := decodeRevision(body)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return reportLess(&out[i], &out[j]) })
	return out, nil
}

// reportLess orders by (Day, SentAt, Chat, MessageID).
func reportLess(a, b *driver.Revision) bool {
	if c := a.Day.Compare(b.Day); c != 0 {
		return c < 0
	}
	if !a.SentAt.Equal(b.SentAt) {
		return a.SentAt.Before(b.SentAt)
	}
	if a.Chat != b.Chat {
		return a.Chat < b.Chat
	}
	return a.MessageID < b.MessageID
}

// revisionsOf returns every revision of one report, in Seq order.
func (st *state) revisionsOf(chat, msg int64) ([]driver.Revision, error) {
	var out []driver.Revision
	err := st.db.selectText(query{table: tblRevisions, cols: []string{colBody}, eq: eqCond(colRKey, textVal(reportKey(chat, msg)))}, func(body string) error {
		r, err := decodeRevision(body)
		out = append(out, r)
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, err
}

// Report returns the current revision of one report, valid or not, by the
// chat its message was sent in (not resolved through migrations); ok false
// when there is none or it is withdrawn.
func (e *Engine) Report(ctx context.Context, chat, messageID int64) (driver.Revision, bool, error) {
	var (
		r  driver.Revision
		ok bool
	)
	err := e.read(ctx, func(st *state) error {
		fold := st.reports[repKey{chat, messageID}]
		if fold.rev == 0 || fold.wd > fold.rev {
			return nil
		}
		revs, err := st.revisionsOf(chat, messageID)
		if err != nil {
			return err
		}
		for _, rv := range revs {
			if rv.Seq == fold.rev {
				r, ok = rv, true
			}
		}
		if !ok {
			return fmt.Errorf("report %d/%d: current revision %d has no row", chat, messageID, fold.rev)
		}
		return nil
	})
	if err != nil {
		return driver.Revision{}, false, fmt.Errorf("embedded: report: %w", err)
	}
	return r, ok, nil
}

// History returns every fact about one report in Seq order, keyed like
// Report.
func (e *Engine) History(ctx context.Context, chat, messageID int64) ([]driver.HistoryEvent, error) {
	out := []driver.HistoryEvent{}
	err := e.read(ctx, func(st *state) error {
		if _, ok := st.reports[repKey{chat, messageID}]; !ok {
			return nil
		}
		revs, err := st.revisionsOf(chat, messageID)
		if err != nil {
			return err
		}
		for i := range revs {
			out = append(out, driver.HistoryEvent{Revision: &revs[i]})
		}
		return st.db.selectText(query{table: tblWithdrawals, cols: []string{colBody}, eq: eqCond(colRKey, textVal(reportKey(chat, messageID)))}, func(body string) error {
			w, err := decodeWithdrawal(body)
			out = append(out, driver.HistoryEvent{Withdrawal: &w})
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: history: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return eventSeq(out[i]) < eventSeq(out[j]) })
	return out, nil
}

func eventSeq(ev driver.HistoryEvent) int64 {
	if ev.Revision != nil {
		return ev.Revision.Seq
	}
	return ev.Withdrawal.Seq
}

// FindIdentity returns current, valid arrival and tenant reports in any
// chat whose phone equals phone or whose id_number equals idNumber (an
// empty argument matches nothing), with Day on or after since, ordered by
// (Day, SentAt), then chat and message.
func (e *Engine) FindIdentity(ctx context.Context, phone, idNumber string, since report.Date) ([]driver.Revision, error) {
	out := []driver.Revision{}
	err := e.read(ctx, func(st *state) error {
		sinceLo, _ := bounds(since, report.Date{})
		kinds := fOr(fEq(colKind, textVal(string(report.Arrival))), fEq(colKind, textVal(string(report.Tenant))))
		seen := map[int64]bool{}
		for _, pr := range []struct{ col, v string }{{colPhone, phone}, {colIDNum, idNumber}} {
			if pr.v == "" {
				continue
			}
			err := st.db.selectText(query{table: tblRevisions, cols: []string{colBody}, eq: eqCond(pr.col, textVal(pr.v)), filters: []filter{kinds}}, func(body string) error {
				h, err := decodeRevisionHeadOnly(body)
				if err != nil {
					return err
				}
				day, _ := dayInt(h.Day)
				switch {
				case seen[h.Seq],
					!st.reports[repKey{h.Chat, h.MessageID}].current(h.Seq),
					h.Kind != report.Arrival && h.Kind != report.Tenant,
					h.Problems != 0,
					int64(day) < sinceLo:
					return nil
				}
				seen[h.Seq] = true
				r, err := decodeRevision(body)
				if err != nil {
					return err
				}
				out = append(out, r)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: find identity: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return reportLess(&out[i], &out[j]) })
	return out, nil
}
