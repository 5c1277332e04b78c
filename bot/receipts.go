package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"gridbot/handlers"
	"gridbot/store"
)

// Renderer renders receipts when they are sent. *handlers.Handler
// implements it.
type Renderer interface {
	RenderReceipts(ctx context.Context, chat int64, ids []int64) (string, error)
}

// composition is the outbox method of a record that remembers which
// reports' receipts one sent message holds, so an edit can re-render it.
const composition = "composition"

// mergeable splits a chat's queue, which starts with a receipt, into the
// receipts that may go out together in one message — every receipt before
// the next message of another kind; reactions, edits and answers between
// them do not keep them apart — and the rest, in order.
func mergeable(ms []store.OutboxMessage) (receipts, rest []store.OutboxMessage) {
	blocked := false
	for _, m := range ms {
		switch {
		case m.Method == string(handlers.Receipt) && !blocked:
			receipts = append(receipts, m)
		default:
			blocked = blocked || m.Method == string(handlers.Send) || m.Method == string(handlers.Document)
			rest = append(rest, m)
		}
	}
	return receipts, rest
}

// sortForChat orders a chat's queue: by the rank of its kind (answers,
// messages, edits, reactions), then as the outbox does, by due time, then
// id.
func sortForChat(ms []store.OutboxMessage) {
	rank := func(m store.OutboxMessage) int {
		switch handlers.ActionKind(m.Method) {
		case handlers.Answer:
			return 0
		case handlers.Send, handlers.Receipt, handlers.Document:
			return 1
		case handlers.React:
			return 3
		}
		return 2 // edits, refreshed receipts; composition records
	}
	due := func(m store.OutboxMessage) time.Time {
		if !m.RetryAt.IsZero() {
			return m.RetryAt
		}
		return m.NotBefore
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if a, b := rank(ms[i]), rank(ms[j]); a != b {
			return a < b
		}
		if a, b := due(ms[i]), due(ms[j]); !a.Equal(b) {
			return a.Before(b)
		}
		return ms[i].ID < ms[j].ID
	})
}

// sendReceipts sends the receipts due in a row as few messages as fit:
// one message now, the rest when the pace allows. It returns how many of
// ms it dealt with.
func (s *Sender) sendReceipts(ctx context.Context, chat, dest int64, ms []store.OutboxMessage) int {
	type part struct {
		m    store.OutboxMessage
		a    handlers.Action
		text string
	}
	var parts []part
	size, used := 0, 0
	for _, m := range ms {
		var a handlers.Action
		if err := json.Unmarshal(m.Payload, &a); err != nil {
			s.finish(ctx, m, rejected, 0, "undecodable payload")
			used++
			continue
		}
		text, err := s.render.RenderReceipts(ctx, a.Chat, []int64{a.MessageID})
		if err != nil {
			s.log.Error("rendering a receipt", "chat", chat, "err", err)
			s.finish(ctx, m, transient, 0, "render: "+scrub(err))
			used++
			break
		}
		if text == "" {
			s.finish(ctx, m, sent, 0, "")
			used++
			continue
		}
		n := visibleLen(text)
		if len(parts) > 0 && size+n+2 > textLimit {
			break
		}
		parts = append(parts, part{m: m, a: a, text: text})
		size += n + 2
		used++
	}
	if len(parts) == 0 {
		return max(used, 1)
	}
	fenced := make([]store.OutboxMessage, len(parts))
	for i, p := range parts {
		fenced[i] = p.m
	}
	if !s.fence(ctx, handlers.Receipt, fenced...) {
		return used
	}
	texts := make([]string, len(parts))
	ids := make([]int64, len(parts))
	for i, p := range parts {
		texts[i], ids[i] = p.text, p.a.MessageID
	}
	text := strings.Join(texts, "\n\n")
	text, whole := clip(text, textLimit) // one receipt alone can be too long
	if !whole {
		s.log.Warn("a receipt is too long: its end is cut", "chat", chat)
	}
	params := &tg.SendMessageParams{Text: text, ParseMode: models.ParseModeHTML,
		ReplyParameters: &models.ReplyParameters{MessageID: int(parts[0].a.ReplyTo), AllowSendingWithoutReply: true}}
	r := s.call(ctx, chat, dest, handlers.Receipt, func(ctx context.Context, dest int64) callResult {
		params.ChatID = dest
		return result(s.api.SendMessage(ctx, params))
	})
	if r.o != sent {
		for _, p := range parts {
			s.finish(ctx, p.m, r.o, r.retryAfter, errText(r.err))
		}
		return used
	}
	// one durable step: every receipt sent, and — when the message holds
	// several — which reports it holds (a receipt alone needs no record: a
	// refresh renders just its own report)
	var changes store.Changes
	if len(ids) > 1 {
		payload, _ := json.Marshal(ids)
		changes.Outbox = []store.OutboxMessage{{
			Key: compositionKey(parts[0].a.Chat, r.messageID), Chat: chat, Method: composition, Payload: payload, NotBefore: s.now(), CreatedAt: s.now(),
		}}
	}
	for _, p := range parts {
		changes.Attempts = append(changes.Attempts, store.Attempt{MessageID: p.m.ID, Attempt: p.m.Attempts + 1, Sent: true, SentMessageID: r.messageID, At: s.now()})
	}
	if _, err := s.store.Commit(ctx, changes); err != nil {
		s.log.Error("recording sent receipts", "chat", chat, "err", err)
	}
	return used
}

func compositionKey(chat, messageID int64) string {
	return "composition:" + strconv.FormatInt(chat, 10) + ":" + strconv.FormatInt(messageID, 10)
}

// refresh edits the message holding a report's receipt to show the
// reports in it as they are now.
func (s *Sender) refresh(ctx context.Context, chat, dest int64, a handlers.Action) callResult {
	receipt, ok, err := s.store.Outbox(ctx, fmt.Sprintf("receipt:%d:%d", a.Chat, a.MessageID))
	if err != nil {
		return callResult{o: transient, err: err}
	}
	if !ok || receipt.State != store.OutboxSent || receipt.SentMessageID == 0 {
		return callResult{o: sent} // not sent yet: it will show the report as it is when it is
	}
	ids := []int64{a.MessageID}
	if comp, ok, err := s.store.Outbox(ctx, compositionKey(a.Chat, receipt.SentMessageID)); err != nil {
		return callResult{o: transient, err: err}
	} else if ok {
		var held []int64
		if json.Unmarshal(comp.Payload, &held) == nil && len(held) > 0 {
			ids = held
		}
	}
	text, err := s.render.RenderReceipts(ctx, a.Chat, ids)
	if err != nil {
		return callResult{o: transient, err: err}
	}
	if text == "" {
		return callResult{o: sent}
	}
	text, whole := clip(text, textLimit) // edited reports can outgrow the message
	if !whole {
		s.log.Warn("a refreshed receipt is too long: its end is cut", "chat", chat)
	}
	return s.call(ctx, chat, dest, a.Kind, func(ctx context.Context, dest int64) callResult {
		return result(s.api.EditMessageText(ctx, &tg.EditMessageTextParams{ChatID: dest, MessageID: int(receipt.SentMessageID), Text: text, ParseMode: models.ParseModeHTML}))
	})
}
