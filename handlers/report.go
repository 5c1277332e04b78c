package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gridbot/report"
	"gridbot/store"
)

// Reactions the bot puts on report messages (from Telegram's allowed list).
const (
	reactOK      = "👌"
	reactProblem = "🤔"
)

// handleReport records a report (or a new revision of one) and answers.
func (h *Handler) handleReport(ctx context.Context, m Message) ([]Action, error) {
	b, bound, err := h.store.Binding(ctx, m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: report: binding: %w", err)
	}
	settings, err := h.store.Settings(ctx, m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: report: settings: %w", err)
	}
	loc := h.location(settings)
	r := report.Parse(m.Text, report.Context{Now: m.Date, Location: loc, Sender: m.From.Name(), BotUsername: h.cfg.BotUsername})
	lang := r.Lang
	switch {
	case !bound && m.Chat.Private() && r.Kind != report.None && !m.Edited():
		return []Action{{Kind: Send, Key: key("reply", m.Chat.ID, m.ID), Chat: m.Chat.ID, ReplyTo: m.ID, Text: say(lang, "chooseVillage")}}, nil
	case !bound || (b.Role != store.RoleVillage && b.Role != store.RoleLandlord):
		return nil, nil // unbound groups and the command group take no reports
	case b.Role == store.RoleLandlord && r.Kind != report.None && r.Kind != report.Tenant:
		return []Action{{Kind: Send, Key: key("reply", m.Chat.ID, m.ID), Chat: m.Chat.ID, ReplyTo: m.ID, Text: say(lang, "privateKinds")}}, nil
	}

	if b.Role == store.RoleLandlord && r.Kind == report.Tenant {
		if _, err := h.villageGroup(ctx, b); errors.Is(err, store.ErrNotFound) {
			// the village chosen with /village has no group any more
			return []Action{{Kind: Send, Key: key("reply", m.Chat.ID, m.ID, m.EditDate.Unix()), Chat: m.Chat.ID, ReplyTo: m.ID, Text: say(lang, "villageGone", b.Name)}}, nil
		} else if err != nil {
			return nil, err
		}
	}
	prev, hadPrev, err := h.store.Report(ctx, m.Chat.ID, m.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: report: previous: %w", err)
	}
	if r.Kind == report.None {
		if m.Edited() && hadPrev {
			return h.editedAway(ctx, m)
		}
		if !m.Edited() && !strings.HasPrefix(m.Text, "/") { // a command for another bot is not ours
			if k, ok := looksLikeReport(m.Text, report.Context{Now: m.Date, Location: loc, Sender: m.From.Name()}); ok {
				return h.missingKind(m, langOf(m.From, m.Text), k), nil
			}
		}
		return nil, nil // ordinary chat
	}
	if m.Edited() && !hadPrev {
		if withdrawn, err := h.wasWithdrawn(ctx, m.Chat.ID, m.ID); err != nil {
			return nil, err
		} else if withdrawn {
			return h.withdrawnEdit(m, lang), nil
		}
	}

	rev := store.Revision{
		Chat: m.Chat.ID, MessageID: m.ID, Kind: r.Kind, Lang: r.Lang, Fields: r.Fields,
		Problems: len(r.Problems), Text: m.Text, SenderID: m.From.ID, Sender: m.From.Name(),
		SentAt: m.Date, Day: report.DateOf(m.Date.In(loc)), At: h.now(),
	}
	if m.Edited() {
		rev.Revision = m.EditDate.Unix()
	}
	// the report and the answers to it are one durable step
	emoji := reactOK
	if !r.OK() {
		emoji = reactProblem
	}
	actions := []Action{}
	// an original or older edit handled after a newer edit is recorded, but
	// the newer edit stays current (the store folds by edit date): its
	// reaction stands
	stale := hadPrev && prev.Revision > rev.Revision
	if !stale && (!m.Edited() || !hadPrev || prev.Valid() != r.OK()) {
		actions = append(actions, Action{Kind: React, Key: key("react", m.Chat.ID, m.ID, rev.Revision), Chat: m.Chat.ID, MessageID: m.ID, Emoji: emoji})
	}
	actions = append(actions, h.receiptAction(ctx, m.Chat.ID, m.ID, key("rev", rev.Revision)))
	changes := store.Changes{Revision: &rev}
	if err := h.queue(&changes, actions); err != nil {
		return nil, err
	}
	if r.Kind == report.Daily && r.OK() {
		if err := h.autoJoin(ctx, m, &changes); err != nil {
			return nil, err
		}
	}
	outcome := "valid"
	if !r.OK() {
		outcome = "invalid"
	}
	res, err := h.commitRevision(ctx, b, changes, &rev, prev, hadPrev, r.OK())
	if err != nil {
		return nil, fmt.Errorf("handlers: report: save: %w", err)
	}
	if res.DuplicateRevision {
		outcome = "repeat"
	}
	h.cfg.OnReport(string(r.Kind), outcome)
	h.log.Info("report recorded", "chat", m.Chat.ID, "message", m.ID, "revision", rev.Revision, "kind", r.Kind, "problems", len(r.Problems))
	return actions, nil
}

// commitRevision records a report's revision with changes: a tenant's
// first valid revision gets the village's next pass number, later ones
// keep it.
func (h *Handler) commitRevision(ctx context.Context, b store.Binding, changes store.Changes, rev *store.Revision, prev store.Revision, hadPrev, ok bool) (store.Result, error) {
	switch {
	case rev.Kind == report.Tenant && ok && hadPrev && prev.Fields["pass"] != "":
		rev.Fields["pass"] = prev.Fields["pass"]
		return h.store.Commit(ctx, changes)
	case rev.Kind == report.Tenant && ok:
		return h.commitTenant(ctx, b, changes, rev)
	}
	return h.store.Commit(ctx, changes)
}

// wasWithdrawn reports whether a message held a report that is withdrawn.
func (h *Handler) wasWithdrawn(ctx context.Context, chat, id int64) (bool, error) {
	hist, err := h.store.History(ctx, chat, id)
	if err != nil {
		return false, fmt.Errorf("handlers: report: history: %w", err)
	}
	return len(hist) > 0 && hist[len(hist)-1].Withdrawal != nil, nil
}

// queue adds the outbox messages of actions to changes, so they are
// recorded in the same durable step, and marks the actions Queued: the
// caller need not queue them again.
func (h *Handler) queue(changes *store.Changes, actions []Action) error {
	now := h.now()
	for i := range actions {
		m, err := actions[i].OutboxMessage(now)
		if err != nil {
			return fmt.Errorf("handlers: %w", err)
		}
		changes.Outbox = append(changes.Outbox, m)
		actions[i].Queued = true
	}
	return nil
}

// editedAway withdraws a report whose message was edited into ordinary
// text, and says so on its receipt.
func (h *Handler) editedAway(ctx context.Context, m Message) ([]Action, error) {
	actions := []Action{
		{Kind: React, Key: key("react", m.Chat.ID, m.ID, "away", m.EditDate.Unix()), Chat: m.Chat.ID, MessageID: m.ID},
		h.receiptAction(ctx, m.Chat.ID, m.ID, key("away", m.EditDate.Unix())),
	}
	changes := store.Changes{Withdrawals: []store.Withdrawal{{Chat: m.Chat.ID, MessageID: m.ID, By: m.From.ID, At: h.now()}}}
	if err := h.queue(&changes, actions); err != nil {
		return nil, err
	}
	if _, err := h.store.Commit(ctx, changes); err != nil {
		return nil, fmt.Errorf("handlers: report: withdraw edited: %w", err)
	}
	return actions, nil
}

// receiptAction refreshes the receipt of a report when one was queued
// before, and queues one otherwise. reason makes the refresh's key unique.
func (h *Handler) receiptAction(ctx context.Context, chat, messageID int64, reason string) Action {
	if _, queued, err := h.store.Outbox(ctx, key("receipt", chat, messageID)); err == nil && queued {
		return Action{Kind: RefreshReceipt, Key: key("refresh", chat, messageID, reason), Chat: chat, MessageID: messageID}
	}
	return Action{
		Kind: Receipt, Key: key("receipt", chat, messageID), Chat: chat, MessageID: messageID, ReplyTo: messageID,
		NotBefore: h.now().Add(h.cfg.ReceiptDelay),
	}
}

// autoJoin puts the sender of a daily report on the roster, unless they
// are on it or left it.
func (h *Handler) autoJoin(ctx context.Context, m Message, changes *store.Changes) error {
	if m.From.ID == m.Chat.ID {
		return nil // an anonymous admin, writing as the group: nobody to remind
	}
	roster, err := h.store.Roster(ctx, m.Chat.ID)
	if err != nil {
		return fmt.Errorf("handlers: report: roster: %w", err)
	}
	for _, member := range roster {
		if member.UserID == m.From.ID {
			return nil // on the roster, or left it: /leave is respected
		}
	}
	changes.Members = append(changes.Members, store.Member{Chat: m.Chat.ID, UserID: m.From.ID, Name: m.From.Name(), At: h.now()})
	return nil
}

// maxPassTries bounds the search for a free pass number.
const maxPassTries = 1000

// commitTenant records a tenant report with the village's next pass number
// (出入证编号). A claim per number makes each one unique across every bot
// process sharing the store; the counter in the village's settings makes
// finding the next one cheap.
func (h *Handler) commitTenant(ctx context.Context, b store.Binding, changes store.Changes, rev *store.Revision) (store.Result, error) {
	group, err := h.villageGroup(ctx, b)
	if err != nil {
		return store.Result{}, err
	}
	settings, err := h.store.Settings(ctx, group)
	if err != nil {
		return store.Result{}, fmt.Errorf("handlers: tenant: settings: %w", err)
	}
	n, _ := strconv.Atoi(settings[settingPassNext])
	if n < 1 {
		n = 1
	}
	base := changes.Settings
	for range maxPassTries {
		fields := make(map[string]string, len(rev.Fields)+1)
		for k, v := range rev.Fields {
			fields[k] = v
		}
		fields["pass"] = PassNumber(b.Name, n)
		rev.Fields = fields
		changes.Claims = []string{key("pass", b.Name, n)}
		changes.Settings = append(base, store.Setting{Chat: group, Key: settingPassNext, Value: strconv.Itoa(n + 1), At: h.now()})
		res, err := h.store.Commit(ctx, changes)
		if err != nil {
			return store.Result{}, fmt.Errorf("handlers: tenant: save: %w", err)
		}
		if res.Claimed {
			return res, nil
		}
		n++
	}
	return store.Result{}, fmt.Errorf("handlers: tenant: no free pass number after %d tries", maxPassTries)
}

// villageGroup returns the group chat of the village a chat reports for.
func (h *Handler) villageGroup(ctx context.Context, b store.Binding) (int64, error) {
	if b.Role == store.RoleVillage {
		return b.Chat, nil
	}
	_, villages, err := h.villageNames(ctx)
	if err != nil {
		return 0, fmt.Errorf("handlers: village group: %w", err)
	}
	for _, v := range villages {
		if v.Name == b.Name {
			return v.Chat, nil
		}
	}
	return 0, fmt.Errorf("handlers: village %q has no group: %w", b.Name, store.ErrNotFound)
}

// PassNumber renders a tenant's entry pass number: 郝家店村-0007.
func PassNumber(village string, n int) string {
	return fmt.Sprintf("%s-%04d", village, n)
}
