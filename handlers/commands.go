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
		return h.reply(c, "templateUsage"), nil
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
	if c.binding.Role == store.RoleCommand {
		all, err := tally.AllVillages(ctx, h.store, day, h.ObservationDays(ctx))
		if err != nil {
			return nil, fmt.Errorf("handlers: today: %w", err)
		}
		return replyHTML(c, tally.RenderRollup(all, c.lang, c.lang.Pick("今日各村汇总", "Today, every village"))), nil
	}
	v, err := tally.OneVillage(ctx, h.store, c.m.Chat.ID, day, observationDays(settings))
	if err != nil {
		return nil, fmt.Errorf("handlers: today: %w", err)
	}
	return replyHTML(c, tally.RenderVillage(v, c.lang, c.lang.Pick("今日统计", "today"), tally.Brief, observationDays(settings))), nil
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

func (h *Handler) list(ctx context.Context, c *call) ([]Action, error) {
	kindText, dateText, _ := strings.Cut(c.args, " ")
	k := kindNamed(kindText)
	if k == report.None {
		return h.reply(c, "listUsage"), nil
	}
	settings, err := h.store.Settings(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: list: %w", err)
	}
	day := report.DateOf(h.now().In(h.location(settings)))
	if dateText = strings.TrimSpace(dateText); dateText != "" {
		d, ok := report.ParseDay(dateText, day)
		if !ok {
			return h.reply(c, "badDate", dateText), nil
		}
		day = d
	}
	rs, err := h.store.Reports(ctx, store.ReportQuery{Chat: c.m.Chat.ID, Kind: k, From: day, To: day})
	if err != nil {
		return nil, fmt.Errorf("handlers: list: %w", err)
	}
	kind := report.KindName(k, c.lang)
	if len(rs) == 0 {
		return h.reply(c, "listEmpty", day.String(), kind), nil
	}
	var b strings.Builder
	b.WriteString(say(c.lang, "listHead", day.String(), kind, len(rs)))
	for i, r := range rs {
		fmt.Fprintf(&b, "\n%d. %s", i+1, html.EscapeString(oneLine(r, c.lang)))
	}
	return replyHTML(c, b.String()), nil
}

// oneLine renders a report's fields on one line, numbers masked.
func oneLine(r store.Revision, lang report.Lang) string {
	spec, _ := report.Spec(r.Kind)
	var parts []string
	for _, f := range spec.Fields() {
		if v, ok := r.Fields[f]; ok && f != "note" {
			parts = append(parts, report.DisplayValue(f, v, lang, true))
		}
	}
	return strings.Join(parts, " ")
}

func (h *Handler) observation(ctx context.Context, c *call) ([]Action, error) {
	settings, err := h.store.Settings(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: observation: %w", err)
	}
	day := report.DateOf(h.now().In(h.location(settings)))
	days := observationDays(settings)
	v, err := tally.OneVillage(ctx, h.store, c.m.Chat.ID, day, days)
	if err != nil {
		return nil, fmt.Errorf("handlers: observation: %w", err)
	}
	return replyHTML(c, tally.RenderObservation(v.Observed, days, c.lang)), nil
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
	return h.reply(c, "joined", c.m.From.Name()), nil
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
		return h.undo(ctx, c.m, pickReport(answered, c.m.From.ID, false).MessageID, false)
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
	r, ok, err := h.store.Report(ctx, m.Chat.ID, target)
	if err != nil {
		return nil, fmt.Errorf("handlers: undo: %w", err)
	}
	if !ok {
		if quiet {
			return nil, nil
		}
		return h.reply(c, "undoNone"), nil
	}
	if r.SenderID != m.From.ID {
		admin, err := h.isAdmin(ctx, m.Chat.ID, m.From.ID)
		if err != nil {
			return nil, err
		}
		if !admin {
			return h.reply(c, "undoNotYours"), nil
		}
	}
	actions := h.reply(c, "undone", summaryLine(r, c.lang))
	actions = append(actions,
		Action{Kind: React, Key: key("react", m.Chat.ID, target, "undo", m.ID), Chat: m.Chat.ID, MessageID: target, Emoji: ""},
		h.receiptAction(ctx, m.Chat.ID, target, key("undo", m.ID)),
	)
	changes := store.Changes{Withdrawals: []store.Withdrawal{{Chat: m.Chat.ID, MessageID: target, By: m.From.ID, At: h.now()}}}
	if err := h.queue(&changes, actions); err != nil {
		return nil, err
	}
	if _, err := h.store.Commit(ctx, changes); err != nil {
		return nil, fmt.Errorf("handlers: undo: %w", err)
	}
	h.log.Info("report withdrawn", "chat", m.Chat.ID, "message", target, "kind", r.Kind)
	return actions, nil
}
