package handlers

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
	// a tenant's landlord defaults to the sender only where landlords
	// report: their private chat (a grid worker in the group is no landlord)
	landlord := ""
	if bound && b.Role == store.RoleLandlord {
		landlord = m.From.Name()
	}
	pc := report.Context{Now: m.Date, Location: loc, Sender: landlord, BotUsername: h.cfg.BotUsername}
	r := report.Parse(m.Text, pc)
	lang := r.Lang
	switch {
	case !bound && m.Chat.Private() && r.Kind != report.None && !m.Edited():
		return h.privateUnbound(ctx, m, lang)
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
			if k, ok := looksLikeReport(m.Text, pc); ok {
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

	revision := int64(0)
	if m.Edited() {
		revision = m.EditDate.Unix()
	}
	all := report.ParseAll(m.Text, pc)
	return h.record(ctx, b, recording{
		chat: m.Chat.ID, message: m.ID, text: m.Text, sender: m.From, sentAt: m.Date, day: report.DateOf(m.Date.In(loc)),
		revision: revision, edited: m.Edited(), reactions: true,
	}, all, prev, hadPrev)
}

// privateUnbound answers a report sent in a private chat not yet bound to
// a village: a grid worker is told to report in their village's group, a
// landlord to choose their village first.
func (h *Handler) privateUnbound(ctx context.Context, m Message, lang report.Lang) ([]Action, error) {
	reply := func(text string) []Action {
		return []Action{{Kind: Send, Key: key("reply", m.Chat.ID, m.ID), Chat: m.Chat.ID, ReplyTo: m.ID, Text: text}}
	}
	villages, err := h.workerVillages(ctx, m.From.ID)
	if err != nil {
		return nil, err
	}
	if len(villages) > 0 {
		return reply(say(lang, "reportInGroup", strings.Join(villages, lang.Pick("、", ", ")))), nil
	}
	return reply(say(lang, "chooseVillage")), nil
}

// workerVillages names the villages whose roster a user is on.
func (h *Handler) workerVillages(ctx context.Context, user int64) ([]string, error) {
	_, villages, err := h.villageNames(ctx)
	if err != nil {
		return nil, fmt.Errorf("handlers: worker villages: %w", err)
	}
	var out []string
	for _, v := range villages {
		members, err := h.store.ActiveMembers(ctx, v.Chat)
		if err != nil {
			return nil, fmt.Errorf("handlers: worker villages: %w", err)
		}
		for _, mb := range members {
			if mb.UserID == user {
				out = append(out, v.Name)
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
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
		// a tenant registered again keeps their pass number
		if earlier, found, err := h.earlierRegistration(ctx, *rev); err != nil {
			return store.Result{}, err
		} else if found && earlier.Fields["pass"] != "" {
			rev.Fields["pass"] = earlier.Fields["pass"]
			return h.store.Commit(ctx, changes)
		}
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
	people, err := h.peopleOf(ctx, m.Chat.ID, m.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: report: withdraw edited: %w", err)
	}
	var changes store.Changes
	for _, p := range people {
		changes.Withdrawals = append(changes.Withdrawals, store.Withdrawal{Chat: m.Chat.ID, MessageID: p.MessageID, By: m.From.ID, At: h.now()})
	}
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
func (h *Handler) autoJoin(ctx context.Context, chat int64, sender User, changes *store.Changes) error {
	if sender.ID == chat {
		return nil // an anonymous admin, writing as the group: nobody to remind
	}
	roster, err := h.store.Roster(ctx, chat)
	if err != nil {
		return fmt.Errorf("handlers: report: roster: %w", err)
	}
	for _, member := range roster {
		if member.UserID == sender.ID {
			return nil // on the roster, or left it: /leave is respected
		}
	}
	changes.Members = append(changes.Members, store.Member{Chat: chat, UserID: sender.ID, Name: sender.Name(), At: h.now()})
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
