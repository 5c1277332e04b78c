package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gridbot/report"
	"gridbot/store"
)

// A message that lists several people gives one report per person. The
// first is recorded under the message's id, person i under
// personID(message, i): Telegram's message ids fit in 32 bits, so the
// person's number goes above them. All of a message's people share its
// reaction and its receipt, and are withdrawn together.
const personShift = 32

// maxPersons bounds the people of one message.
const maxPersons = 200

// personID is the id person i of message is recorded under.
func personID(message int64, i int) int64 { return message + int64(i)<<personShift }

// baseMessage is the message a report's id belongs to.
func baseMessage(id int64) int64 {
	if id >= syntheticFloor || id < 0 {
		return id
	}
	return id & (1<<personShift - 1)
}

// personIndex is the number of a report's person in its message.
func personIndex(id int64) int {
	if id >= syntheticFloor || id < 0 {
		return 0
	}
	return int(id >> personShift)
}

// parsePerson parses a stored report's text again and returns its
// person's report.
func parsePerson(rev store.Revision, c report.Context) report.Report {
	all := report.ParseAll(rev.Text, c)
	if i := personIndex(rev.MessageID); i < len(all.Reports) && all.Reports[i].Kind == rev.Kind {
		return all.Reports[i]
	}
	return report.Parse(rev.Text, c)
}

// recording is one message's reports being recorded.
type recording struct {
	chat, message int64
	text          string
	sender        User
	sentAt        time.Time
	day           report.Date
	revision      int64
	edited        bool
	// reactions: react on the message itself (an amendment reacts on the
	// reply instead, and passes extra actions)
	reactions bool
	extra     []Action
	reason    string // makes the receipt refresh's key unique; default rev:<revision>
}

// record records the reports of one message — one per person — as a new
// revision, withdraws the people an edit removed, and queues the reaction
// and the receipt with the first. prev is the message's current first
// report, if any.
func (h *Handler) record(ctx context.Context, b store.Binding, in recording, all report.Result, prev store.Revision, hadPrev bool) ([]Action, error) {
	people := all.Reports
	if len(people) > maxPersons {
		people = people[:maxPersons]
	}
	allOK := true
	for _, r := range people {
		allOK = allOK && r.OK()
	}
	emoji := reactOK
	if !allOK {
		emoji = reactProblem
	}
	var actions []Action
	// an original or older edit handled after a newer edit is recorded, but
	// the newer edit stays current (the store folds by edit date): its
	// reaction stands
	stale := hadPrev && prev.Revision > in.revision
	if in.reactions && !stale && (!in.edited || !hadPrev || prev.Valid() != allOK) {
		actions = append(actions, Action{Kind: React, Key: key("react", in.chat, in.message, in.revision), Chat: in.chat, MessageID: in.message, Emoji: emoji})
	}
	actions = append(actions, in.extra...)
	reason := in.reason
	if reason == "" {
		reason = key("rev", in.revision)
	}
	actions = append(actions, h.receiptAction(ctx, in.chat, in.message, reason))

	// the people an edit removed
	var gone []store.Withdrawal
	for i := len(people); i < maxPersons; i++ {
		_, ok, err := h.store.Report(ctx, in.chat, personID(in.message, i))
		if err != nil {
			return nil, fmt.Errorf("handlers: report: previous: %w", err)
		}
		if !ok {
			break
		}
		gone = append(gone, store.Withdrawal{Chat: in.chat, MessageID: personID(in.message, i), By: in.sender.ID, At: h.now()})
	}
	for i, r := range people {
		id := personID(in.message, i)
		prevI, hadPrevI := prev, hadPrev
		if i > 0 {
			var err error
			if prevI, hadPrevI, err = h.store.Report(ctx, in.chat, id); err != nil {
				return nil, fmt.Errorf("handlers: report: previous: %w", err)
			}
		}
		rev := store.Revision{
			Chat: in.chat, MessageID: id, Kind: r.Kind, Lang: r.Lang, Fields: r.Fields,
			Problems: len(r.Problems), Text: in.text, SenderID: in.sender.ID, Sender: in.sender.Name(),
			SentAt: in.sentAt, Day: in.day, At: h.now(), Revision: in.revision,
		}
		changes := store.Changes{Revision: &rev}
		if i == 0 {
			// the report and the answers to it are one durable step
			if err := h.queue(&changes, actions); err != nil {
				return nil, err
			}
			changes.Withdrawals = gone
			if r.Kind == report.Daily && r.OK() {
				if err := h.autoJoin(ctx, in.chat, in.sender, &changes); err != nil {
					return nil, err
				}
			}
		}
		res, err := h.commitRevision(ctx, b, changes, &rev, prevI, hadPrevI, r.OK())
		if err != nil {
			return nil, fmt.Errorf("handlers: report: save: %w", err)
		}
		outcome := "valid"
		switch {
		case res.DuplicateRevision:
			outcome = "repeat"
		case !r.OK():
			outcome = "invalid"
		}
		h.cfg.OnReport(string(r.Kind), outcome)
		h.log.Info("report recorded", "chat", in.chat, "message", id, "revision", in.revision, "kind", r.Kind, "problems", len(r.Problems))
	}
	return actions, nil
}

// peopleOf returns the current reports of every person of a message.
func (h *Handler) peopleOf(ctx context.Context, chat, message int64) ([]store.Revision, error) {
	var out []store.Revision
	for i := 0; i < maxPersons; i++ {
		r, ok, err := h.store.Report(ctx, chat, personID(message, i))
		if err != nil {
			return nil, fmt.Errorf("handlers: people of %d: %w", message, err)
		}
		if !ok {
			if i == 0 {
				continue // the first withdrawn by an older version: look on
			}
			break
		}
		out = append(out, r)
	}
	return out, nil
}

// namesOf joins the names (or hosts) of reports: 张三、李四.
func namesOf(rs []store.Revision, lang report.Lang) string {
	var names []string
	for _, r := range rs {
		if n := r.Fields["name"]; n != "" {
			names = append(names, n)
		} else if n := r.Fields["host"]; n != "" {
			names = append(names, n)
		}
	}
	return strings.Join(names, lang.Pick("、", ", "))
}
