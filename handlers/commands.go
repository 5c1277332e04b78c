package handlers

import (
	"context"
	"fmt"
	"html"
	"sort"
	"strings"
	"unicode/utf8"

	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

func (h *Handler) help(ctx context.Context, c *call) ([]Action, error) {
	example := safeHTML("<code>" + html.EscapeString(report.Template(report.Arrival, c.lang)) + "</code>")
	switch {
	case c.m.Chat.Private():
		return h.reply(c, "helpPrivate", safeHTML("<code>"+html.EscapeString(report.Template(report.Tenant, c.lang))+"</code>")), nil
	case !c.bound:
		return h.reply(c, "helpUnbound"), nil
	case c.binding.Role == store.RoleCommand:
		return h.reply(c, "helpCommand", c.binding.Name), nil
	}
	return h.reply(c, "helpVillage", c.binding.Name, example), nil
}

// kindNamed reads a kind from what users type after /template or /list:
// arrival, 返乡, 返乡登记, #返乡.
func kindNamed(s string) report.Kind {
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	if s == "" {
		return report.None
	}
	r := report.Parse("#"+s, report.Context{})
	return r.Kind
}

func (h *Handler) template(ctx context.Context, c *call) ([]Action, error) {
	k := kindNamed(c.args)
	if k == report.None {
		return h.reply(c, "templateUsage", kindsList(c.lang)), nil
	}
	var optional string
	if opt := report.OptionalFields(k, c.lang); opt != "" {
		optional = say(c.lang, "optional", opt)
	}
	return h.reply(c, "template", report.Template(k, c.lang), safeHTML(optional)), nil
}

func (h *Handler) today(ctx context.Context, c *call) ([]Action, error) {
	settings, err := h.store.Settings(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: today: %w", err)
	}
	day := report.DateOf(h.now().In(h.location(settings)))
	title := c.lang.Pick("今日", "today")
	if arg := strings.TrimSpace(c.args); arg != "" {
		d, ok := report.ParseDay(arg, day)
		if !ok {
			return h.reply(c, "badDate", arg), nil
		}
		if d != day {
			title = ""
		}
		day = d
	}
	if c.binding.Role == store.RoleCommand {
		all, err := tally.AllVillages(ctx, h.store, day, h.ObservationDays(ctx))
		if err != nil {
			return nil, fmt.Errorf("handlers: today: %w", err)
		}
		return replyHTML(c, tally.RenderRollup(all, c.lang, title+c.lang.Pick("各村汇总", ", every village"))), nil
	}
	v, err := tally.OneVillage(ctx, h.store, c.m.Chat.ID, day, observationDays(settings))
	if err != nil {
		return nil, fmt.Errorf("handlers: today: %w", err)
	}
	return replyHTML(c, tally.RenderVillage(v, c.lang, title+c.lang.Pick("统计", ""), tally.Brief, observationDays(settings))), nil
}

// ObservationDays returns each chat's home observation period, read from
// its settings: what tally.AllVillages needs for the roll-up, /today in the
// command group and `gridbot summary`.
func (h *Handler) ObservationDays(ctx context.Context) tally.ObservationDays {
	return func(chat int64) int {
		settings, err := h.store.Settings(ctx, chat)
		if err != nil {
			return tally.DefaultObservationDays
		}
		return observationDays(settings)
	}
}

func (h *Handler) observation(ctx context.Context, c *call) ([]Action, error) {
	settings, err := h.store.Settings(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: observation: %w", err)
	}
	day := report.DateOf(h.now().In(h.location(settings)))
	if c.binding.Role == store.RoleCommand {
		return h.observationEverywhere(ctx, c, day)
	}
	days := observationDays(settings)
	v, err := tally.OneVillage(ctx, h.store, c.m.Chat.ID, day, days)
	if err != nil {
		return nil, fmt.Errorf("handlers: observation: %w", err)
	}
	return replyHTML(c, tally.RenderObservation(v.Observed, days, c.lang)), nil
}

// observationEverywhere lists, in the command group, the people under
// home observation in every village, grouped by village.
func (h *Handler) observationEverywhere(ctx context.Context, c *call, day report.Date) ([]Action, error) {
	days := h.ObservationDays(ctx)
	all, err := tally.AllVillages(ctx, h.store, day, days)
	if err != nil {
		return nil, fmt.Errorf("handlers: observation: %w", err)
	}
	var parts []string
	for _, v := range all.Villages {
		if len(v.Observed) > 0 {
			parts = append(parts, "<b>"+html.EscapeString(v.Name)+"</b> "+tally.RenderObservation(v.Observed, days(v.Chat), c.lang))
		}
	}
	if len(parts) == 0 {
		return replyHTML(c, tally.RenderObservation(nil, tally.DefaultObservationDays, c.lang)), nil
	}
	return replyHTML(c, strings.Join(parts, "\n\n")), nil
}

func (h *Handler) join(ctx context.Context, c *call) ([]Action, error) {
	roster, err := h.store.Roster(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: join: %w", err)
	}
	for _, m := range roster {
		if m.UserID == c.m.From.ID && !m.Left {
			return h.reply(c, "alreadyJoined", c.m.From.Name()), nil
		}
	}
	if _, err := h.store.Commit(ctx, store.Changes{Members: []store.Member{{Chat: c.m.Chat.ID, UserID: c.m.From.ID, Name: c.m.From.Name(), At: h.now()}}}); err != nil {
		return nil, fmt.Errorf("handlers: join: %w", err)
	}
	return h.joinedReply(ctx, c, c.m.From.Name())
}

// joinedReply tells a new roster member when the group's reminder comes.
func (h *Handler) joinedReply(ctx context.Context, c *call, name string) ([]Action, error) {
	settings, err := h.store.Settings(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: join: %w", err)
	}
	if r := h.Effective(settings).Reminder; !r.Off {
		return h.reply(c, "joined", name, r.String()), nil
	}
	return h.reply(c, "joinedNoReminder", name), nil
}

func (h *Handler) leave(ctx context.Context, c *call) ([]Action, error) {
	roster, err := h.store.Roster(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: leave: %w", err)
	}
	member := false
	for _, m := range roster {
		member = member || (m.UserID == c.m.From.ID && !m.Left)
	}
	if !member {
		return h.reply(c, "notJoined", c.m.From.Name()), nil
	}
	if _, err := h.store.Commit(ctx, store.Changes{Members: []store.Member{{Chat: c.m.Chat.ID, UserID: c.m.From.ID, Name: c.m.From.Name(), Left: true, At: h.now()}}}); err != nil {
		return nil, fmt.Errorf("handlers: leave: %w", err)
	}
	return h.reply(c, "left", c.m.From.Name()), nil
}

func (h *Handler) whoami(ctx context.Context, c *call) ([]Action, error) {
	admin := false
	if !c.m.Chat.Private() {
		var err error
		if admin, err = h.isAdmin(ctx, c.m.Chat.ID, c.m.From.ID); err != nil {
			h.log.Warn("admin check failed", "chat", c.m.Chat.ID, "err", err)
		}
	}
	chat := say(c.lang, "chatUnbound")
	if c.bound {
		switch c.binding.Role {
		case store.RoleVillage:
			chat = say(c.lang, "chatVillage", c.binding.Name)
		case store.RoleCommand:
			chat = say(c.lang, "chatCommand", c.binding.Name)
		case store.RoleLandlord:
			chat = say(c.lang, "chatLandlord", c.binding.Name)
		}
	}
	return h.reply(c, "whoami", c.m.From.ID, c.m.From.Name(), yesNo(c.lang, h.cfg.Operators[c.m.From.ID]), yesNo(c.lang, admin), safeHTML(chat)), nil
}

// villageNames lists the bound villages for a hint.
func (h *Handler) villageNames(ctx context.Context) (string, []store.Binding, error) {
	all, err := h.store.Bindings(ctx)
	if err != nil {
		return "", nil, err
	}
	var names []string
	var villages []store.Binding
	for _, b := range all {
		if b.Role == store.RoleVillage {
			names = append(names, b.Name)
			villages = append(villages, b)
		}
	}
	sort.Strings(names)
	return strings.Join(names, "、"), villages, nil
}

// maxNameRunes bounds a village or command group name.
const maxNameRunes = 64

func (h *Handler) bind(ctx context.Context, c *call) ([]Action, error) {
	if !h.cfg.Operators[c.m.From.ID] {
		return h.reply(c, "notOperator"), nil
	}
	roleText, name, _ := strings.Cut(c.args, " ")
	name = strings.TrimSpace(name)
	var role store.Role
	switch strings.ToLower(roleText) {
	case "village", "村", "社区", "community":
		role = store.RoleVillage
	case "command", "指挥部":
		role = store.RoleCommand
	}
	if role == store.RoleNone || name == "" || utf8.RuneCountInString(name) > maxNameRunes {
		return h.reply(c, "bindUsage"), nil
	}
	if role == store.RoleVillage {
		_, villages, err := h.villageNames(ctx)
		if err != nil {
			return nil, fmt.Errorf("handlers: bind: %w", err)
		}
		for _, v := range villages {
			if v.Name == name && v.Chat != c.m.Chat.ID {
				return h.reply(c, "nameTaken", name), nil
			}
		}
	}
	b := store.Binding{Chat: c.m.Chat.ID, Role: role, Name: name, By: c.m.From.ID, At: h.now()}
	// binding (again) also resumes scheduled posts paused by a 403
	active := store.Setting{Chat: c.m.Chat.ID, Key: SettingActive, Value: "", By: c.m.From.ID, At: h.now()}
	res, err := h.store.Commit(ctx, store.Changes{Bindings: []store.Binding{b}, Settings: []store.Setting{active}})
	if err != nil {
		return nil, fmt.Errorf("handlers: bind: %w", err)
	}
	if res.NameTaken { // another group took the name since the check above
		return h.reply(c, "nameTaken", name), nil
	}
	h.log.Info("chat bound", "chat", c.m.Chat.ID, "role", role)
	if role == store.RoleCommand {
		return h.privacyNote(c, h.reply(c, "boundCommand", name)), nil
	}
	return h.privacyNote(c, h.reply(c, "boundVillage", name)), nil
}

func (h *Handler) unbind(ctx context.Context, c *call) ([]Action, error) {
	if !h.cfg.Operators[c.m.From.ID] {
		return h.reply(c, "notOperator"), nil
	}
	if !c.bound {
		return h.reply(c, "notBound"), nil
	}
	b := store.Binding{Chat: c.m.Chat.ID, Role: store.RoleNone, By: c.m.From.ID, At: h.now()}
	if _, err := h.store.Commit(ctx, store.Changes{Bindings: []store.Binding{b}}); err != nil {
		return nil, fmt.Errorf("handlers: unbind: %w", err)
	}
	h.log.Info("chat unbound", "chat", c.m.Chat.ID)
	return h.reply(c, "unbound"), nil
}

func (h *Handler) undoCommand(ctx context.Context, c *call) ([]Action, error) {
	if c.m.ReplyTo == nil {
		return h.undoLatest(ctx, c)
	}
	if h.botReplied(c.m) {
		answered, err := h.reportsInReceipt(ctx, c.m.Chat.ID, c.m.ReplyTo.ID)
		if err != nil {
			return nil, err
		}
		if len(answered) == 0 {
			return h.reply(c, "undoReplyNone"), nil
		}
		return h.undo(ctx, c.m, baseMessage(pickReport(answered, c.m.From.ID, false).MessageID), false)
	}
	return h.undo(ctx, c.m, c.m.ReplyTo.ID, false)
}

// undo withdraws the report in message target, if the sender may. A reply
// with an undo word (quiet) to a message holding no report is ordinary
// chat: silence.
func (h *Handler) undo(ctx context.Context, m Message, target int64, quiet bool) ([]Action, error) {
	c := &call{m: m, lang: langOf(m.From, m.Text)}
	b, bound, err := h.store.Binding(ctx, m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: undo: %w", err)
	}
	if !bound || (b.Role != store.RoleVillage && b.Role != store.RoleLandlord) {
		return nil, nil
	}
	people, err := h.peopleOf(ctx, m.Chat.ID, target)
	if err != nil {
		return nil, fmt.Errorf("handlers: undo: %w", err)
	}
	if len(people) == 0 {
		if quiet {
			return nil, nil
		}
		return h.reply(c, "undoNone"), nil
	}
	r := people[0]
	if r.SenderID != m.From.ID {
		admin, err := h.isAdmin(ctx, m.Chat.ID, m.From.ID)
		if err != nil {
			return nil, err
		}
		if !admin {
			return h.reply(c, "undoNotYours"), nil
		}
	}
	actions := h.reply(c, "undone", summaryOf(people, c.lang))
	actions = append(actions,
		Action{Kind: React, Key: key("react", m.Chat.ID, target, "undo", m.ID), Chat: m.Chat.ID, MessageID: target, Emoji: ""},
		h.receiptAction(ctx, m.Chat.ID, target, key("undo", m.ID)),
	)
	var changes store.Changes
	for _, p := range people {
		changes.Withdrawals = append(changes.Withdrawals, store.Withdrawal{Chat: m.Chat.ID, MessageID: p.MessageID, By: m.From.ID, At: h.now()})
	}
	if err := h.queue(&changes, actions); err != nil {
		return nil, err
	}
	if _, err := h.store.Commit(ctx, changes); err != nil {
		return nil, fmt.Errorf("handlers: undo: %w", err)
	}
	h.log.Info("report withdrawn", "chat", m.Chat.ID, "message", target, "kind", r.Kind)
	return actions, nil
}
