package handlers

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"strings"

	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

// This file holds what the bot makes of the ways people answer it: a reply
// to its template, to its receipt, to its reminder; a bare /undo; an edit
// of a withdrawn report; a report typed without its kind.

// receiptLookback is how many days back a reply to a receipt is matched
// to the reports the receipt answered.
const receiptLookback = 3

// botReplied reports whether m replies to a message of this bot.
func (h *Handler) botReplied(m Message) bool {
	if m.ReplyTo == nil || !m.ReplyTo.From.IsBot {
		return false
	}
	return h.cfg.BotUsername == "" || m.ReplyTo.From.Username == "" || strings.EqualFold(m.ReplyTo.From.Username, h.cfg.BotUsername)
}

// repliedKind is what the bot's message a reply answers was.
type repliedKind int

const (
	repliedOther    repliedKind = iota
	repliedTemplate             // /template's answer: the reply is a report of that kind
	repliedReminder             // the 17:00 reminder: the reply is a daily report
)

// tagPattern strips HTML tags from the text of a bot message as a fake
// Telegram quotes it (Telegram itself quotes the rendered text).
var tagPattern = regexp.MustCompile(`<[^>]*>`)

// classifyReplied reads what a bot message was from its text.
func classifyReplied(text string) (repliedKind, report.Kind) {
	plain := html.UnescapeString(tagPattern.ReplaceAllString(text, ""))
	first, rest, _ := strings.Cut(plain, "\n")
	switch {
	case strings.Contains(first, "复制下面的模板") || strings.Contains(first, "Copy this template"):
		body, _, _ := strings.Cut(rest, "\n选填")
		body, _, _ = strings.Cut(body, "\nOptional")
		if k := report.Parse(body, report.Context{}).Kind; k != report.None {
			return repliedTemplate, k
		}
	case strings.Contains(first, "日报提醒") || strings.Contains(first, "Daily report reminder"):
		return repliedReminder, report.Daily
	}
	return repliedOther, report.None
}

// withKind puts the trigger of kind k in front of a text that has none.
func withKind(text string, k report.Kind) string {
	if report.Parse(text, report.Context{}).Kind != report.None {
		return text
	}
	return "/" + string(k) + "\n" + text
}

// replyToBot handles a reply to one of the bot's messages in a chat that
// takes reports. handled is false when the reply is an ordinary report or
// command, left to the usual route.
func (h *Handler) replyToBot(ctx context.Context, m Message, text string) (actions []Action, handled bool, err error) {
	b, bound, err := h.store.Binding(ctx, m.Chat.ID)
	if err != nil {
		return nil, false, fmt.Errorf("handlers: reply: binding: %w", err)
	}
	if bound && b.Role == store.RoleCommand && !m.Edited() {
		// the command group takes no reports, but a reply to the bot is
		// still answered
		if isCourtesy(text) {
			return h.ack(m), true, nil
		}
		return h.hint(m, langOf(m.From, m.Text), "replyInCommand"), true, nil
	}
	if !bound || (b.Role != store.RoleVillage && b.Role != store.RoleLandlord) {
		return nil, false, nil
	}
	// a reply to the template or the reminder is a report of that kind,
	// and so are its edits
	if kind, k := classifyReplied(m.ReplyTo.Text); kind != repliedOther && !isUndoWord(text) {
		m.Text = withKind(m.Text, k)
		actions, err := h.handleReport(ctx, m)
		return actions, true, err
	}
	if m.Edited() {
		return nil, false, nil
	}
	answered, err := h.reportsInReceipt(ctx, m.Chat.ID, m.ReplyTo.ID)
	if err != nil {
		return nil, false, err
	}
	if len(answered) == 0 {
		if answered, err = h.reportsNamedIn(ctx, m.Chat.ID, m.ReplyTo.Text); err != nil {
			return nil, false, err
		}
	}
	lang := langOf(m.From, m.Text)
	switch {
	case isUndoWord(text) && len(answered) > 0:
		target := pickReport(answered, m.From.ID, false)
		actions, err := h.undo(ctx, m, baseMessage(target.MessageID), false)
		return actions, true, err
	case isUndoWord(text):
		return h.hint(m, lang, "undoReplyNone"), true, nil
	}
	if r := report.Parse(text, report.Context{Now: m.Date, Location: h.cfg.Location}); r.Kind != report.None {
		return nil, false, nil // a new report that happens to be a reply
	}
	if len(answered) > 0 {
		for _, r := range answered {
			if !r.Valid() {
				actions, err := h.amend(ctx, m, b, pickReport(answered, m.From.ID, true))
				return actions, true, err
			}
		}
		if isCourtesy(text) {
			return h.ack(m), true, nil
		}
		return h.hint(m, lang, "replyToReceipt"), true, nil
	}
	if isCourtesy(text) {
		return h.ack(m), true, nil
	}
	return h.hint(m, lang, "replyToBot"), true, nil
}

// reportsInReceipt returns the current reports (valid or not) whose
// receipt is the bot's message botMessage in chat.
func (h *Handler) reportsInReceipt(ctx context.Context, chat, botMessage int64) ([]store.Revision, error) {
	settings, err := h.store.Settings(ctx, chat)
	if err != nil {
		return nil, fmt.Errorf("handlers: receipt lookup: %w", err)
	}
	today := report.DateOf(h.now().In(h.location(settings)))
	rs, err := h.store.Reports(ctx, store.ReportQuery{Chat: chat, From: today.AddDays(-receiptLookback), To: today, IncludeInvalid: true})
	if err != nil {
		return nil, fmt.Errorf("handlers: receipt lookup: %w", err)
	}
	var out []store.Revision
	for _, r := range rs {
		o, ok, err := h.store.Outbox(ctx, key("receipt", r.Chat, baseMessage(r.MessageID)))
		if err != nil {
			return nil, fmt.Errorf("handlers: receipt lookup: %w", err)
		}
		if ok && o.State == store.OutboxSent && o.SentMessageID == botMessage {
			out = append(out, r)
		}
	}
	return out, nil
}

// problemHead reads the head of the bot's ❌ answer as Telegram quotes
// it: "❌ 王书记 的发热报告有 1 处需要修改：".
var problemHead = regexp.MustCompile(`^❌ (.+?) 的(\S+?)有 \d+ 处需要修改`)

// reportsNamedIn finds the report a ❌ answer is about from its text, for
// when its delivery was not recorded (yet): the latest report needing a
// fix that this sender filed today with that kind.
func (h *Handler) reportsNamedIn(ctx context.Context, chat int64, botText string) ([]store.Revision, error) {
	plain := html.UnescapeString(tagPattern.ReplaceAllString(botText, ""))
	m := problemHead.FindStringSubmatch(plain)
	if m == nil {
		return nil, nil
	}
	settings, err := h.store.Settings(ctx, chat)
	if err != nil {
		return nil, fmt.Errorf("handlers: receipt lookup: %w", err)
	}
	today := report.DateOf(h.now().In(h.location(settings)))
	rs, err := h.store.Reports(ctx, store.ReportQuery{Chat: chat, From: today.AddDays(-1), To: today, IncludeInvalid: true})
	if err != nil {
		return nil, fmt.Errorf("handlers: receipt lookup: %w", err)
	}
	var best *store.Revision
	for i, r := range rs {
		if !r.Valid() && r.Sender == m[1] && report.KindName(r.Kind, report.Zh) == m[2] && (best == nil || tally.Later(r, *best)) {
			best = &rs[i]
		}
	}
	if best == nil {
		return nil, nil
	}
	return []store.Revision{*best}, nil
}

// pickReport chooses among the reports one receipt answered: the
// sender's own first (the latest of them), then the latest of all. With
// invalid, only reports that need fixing are chosen when there are any.
func pickReport(rs []store.Revision, sender int64, invalid bool) store.Revision {
	var best *store.Revision
	better := func(r store.Revision) bool {
		if best == nil {
			return true
		}
		if (r.SenderID == sender) != (best.SenderID == sender) {
			return r.SenderID == sender
		}
		if invalid && r.Valid() != best.Valid() {
			return !r.Valid()
		}
		return tally.Later(r, *best)
	}
	for i := range rs {
		if invalid && rs[i].Valid() {
			continue
		}
		if better(rs[i]) {
			best = &rs[i]
		}
	}
	if best == nil {
		best = &rs[len(rs)-1]
	}
	return *best
}

// amend adds what a reply to the bot's ❌ says to the report it answered:
// the report is checked again as one text and its receipt edited.
func (h *Handler) amend(ctx context.Context, m Message, b store.Binding, orig store.Revision) ([]Action, error) {
	settings, err := h.store.Settings(ctx, m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: amend: settings: %w", err)
	}
	loc := h.location(settings)
	base := baseMessage(orig.MessageID)
	text := orig.Text + "\n" + m.Text
	landlord := ""
	if b.Role == store.RoleLandlord {
		landlord = orig.Sender
	}
	pc := report.Context{Now: orig.SentAt, Location: loc, Sender: landlord, BotUsername: h.cfg.BotUsername}
	all := report.ParseAll(text, pc)
	if all.Kind != orig.Kind {
		text = withKind(orig.Text, orig.Kind) + "\n" + m.Text
		all = report.ParseAll(text, pc)
	}
	first, hadFirst, err := h.store.Report(ctx, orig.Chat, base)
	if err != nil {
		return nil, fmt.Errorf("handlers: amend: %w", err)
	}
	allOK := all.OK()
	emoji := reactOK
	if !allOK {
		emoji = reactProblem
	}
	extra := []Action{
		{Kind: React, Key: key("react", m.Chat.ID, m.ID, 0), Chat: m.Chat.ID, MessageID: m.ID, Emoji: emoji},
		{Kind: React, Key: key("react", orig.Chat, base, "amend", m.ID), Chat: orig.Chat, MessageID: base, Emoji: emoji},
	}
	sender := User{ID: orig.SenderID, FirstName: orig.Sender}
	actions, err := h.record(ctx, b, recording{
		chat: orig.Chat, message: base, text: text, sender: sender, sentAt: orig.SentAt, day: orig.Day,
		revision: max(m.Date.Unix(), orig.Revision+1), extra: extra, reason: key("amend", m.ID),
	}, all, first, hadFirst)
	if err != nil {
		return nil, fmt.Errorf("handlers: amend: %w", err)
	}
	h.log.Info("report amended by a reply", "chat", orig.Chat, "message", base, "reply", m.ID)
	return actions, nil
}

// undoLatest withdraws the sender's latest report in this chat today: a
// bare /undo.
func (h *Handler) undoLatest(ctx context.Context, c *call) ([]Action, error) {
	settings, err := h.store.Settings(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: undo: %w", err)
	}
	today := report.DateOf(h.now().In(h.location(settings)))
	rs, err := h.store.Reports(ctx, store.ReportQuery{Chat: c.m.Chat.ID, From: today, To: today, IncludeInvalid: true})
	if err != nil {
		return nil, fmt.Errorf("handlers: undo: %w", err)
	}
	var latest *store.Revision
	for i, r := range rs {
		if r.SenderID != c.m.From.ID || r.Chat != c.m.Chat.ID || r.MessageID >= syntheticFloor {
			continue
		}
		if latest == nil || tally.Later(r, *latest) {
			latest = &rs[i]
		}
	}
	if latest == nil {
		return h.reply(c, "undoNoneToday"), nil
	}
	return h.undo(ctx, c.m, baseMessage(latest.MessageID), false)
}

// syntheticFloor is where the message ids of reports filed with a button
// (no message of their own) begin: a bare /undo leaves them alone.
const syntheticFloor = 1 << 53

// withdrawnEdit answers an edit of a message whose report was withdrawn:
// the edit does not bring it back.
func (h *Handler) withdrawnEdit(m Message, lang report.Lang) []Action {
	return []Action{
		{Kind: React, Key: key("react", m.Chat.ID, m.ID, "withdrawn", m.EditDate.Unix()), Chat: m.Chat.ID, MessageID: m.ID, Emoji: reactProblem},
		{Kind: Send, Key: key("reply", m.Chat.ID, m.ID, "withdrawn", m.EditDate.Unix()), Chat: m.Chat.ID, ReplyTo: m.ID, Text: say(lang, "withdrawnEdit")},
	}
}

// hint answers with 🤔 and what to do.
func (h *Handler) hint(m Message, lang report.Lang, text string, args ...any) []Action {
	return []Action{
		{Kind: React, Key: key("react", m.Chat.ID, m.ID, "hint"), Chat: m.Chat.ID, MessageID: m.ID, Emoji: reactProblem},
		{Kind: Send, Key: key("reply", m.Chat.ID, m.ID), Chat: m.Chat.ID, ReplyTo: m.ID, Text: say(lang, text, args...)},
	}
}

// ack answers a thank-you with 👌 only.
func (h *Handler) ack(m Message) []Action {
	return []Action{{Kind: React, Key: key("react", m.Chat.ID, m.ID, "ack"), Chat: m.Chat.ID, MessageID: m.ID, Emoji: reactOK}}
}

// isCourtesy reports a reply that only acknowledges: 好的, 收到, 谢谢, 👍.
func isCourtesy(s string) bool {
	s = strings.ToLower(s)
	for _, w := range []string{"好的", "收到", "谢谢", "多谢", "辛苦了", "辛苦", "明白", "知道了", "了解", "好", "嗯", "okay", "ok", "thanks", "thank you", "👍", "🙏", "👌", "🌹"} {
		s = strings.ReplaceAll(s, w, "")
	}
	return strings.Trim(s, " 。.!！~～,，、") == ""
}

// Shapes that make a message look like a report even without its kind.
var (
	phoneShape = regexp.MustCompile(`(^|[^0-9])1[3-9][0-9]{9}([^0-9]|$)`)
	idShape    = regexp.MustCompile(`(^|[^0-9])[0-9]{17}[0-9Xx]([^0-9]|$)`)
	tempShape  = regexp.MustCompile(`(^|[^0-9])(3[5-9]|4[0-2])([.。，点][0-9])?\s*(℃|度|°)|体温`)
)

// triggerWords name a kind anywhere in a message, by the kind they name.
var triggerWords = []struct {
	word string
	kind report.Kind
}{
	{"返乡", report.Arrival}, {"返回", report.Arrival}, {"回来", report.Arrival}, {"到访", report.Arrival},
	{"发热", report.Fever}, {"发烧", report.Fever}, {"体温", report.Fever},
	{"婚丧", report.Gathering}, {"结婚", report.Gathering}, {"丧事", report.Gathering}, {"喜事", report.Gathering},
	{"租户", report.Tenant}, {"租房", report.Tenant}, {"出租", report.Tenant},
	{"日报", report.Daily},
	{"回访", report.Followup}, {"复查", report.Followup},
}

// looksLikeReport tells whether a message the parser took for chat reads
// like a report whose kind is missing: a phone, ID number or temperature
// together with a trigger word or a name. kind is the kind it names, if
// any.
func looksLikeReport(text string, c report.Context) (kind report.Kind, ok bool) {
	folded := strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return r - '０' + '0'
		}
		return r
	}, text)
	shaped := phoneShape.MatchString(folded) || idShape.MatchString(folded) || tempShape.MatchString(folded)
	if !shaped {
		return report.None, false
	}
	for _, t := range triggerWords {
		if strings.Contains(folded, t.word) {
			return t.kind, true
		}
	}
	if tempShape.MatchString(folded) && personLike(report.Parse("/fever\n"+text, c).Fields) {
		return report.Fever, true
	}
	if personLike(report.Parse("/arrival\n"+text, c).Fields) {
		return report.None, true
	}
	return report.None, false
}

// personLike reports fields that describe a person: a short name and at
// least two more facts about them.
func personLike(fields map[string]string) bool {
	name := []rune(fields["name"])
	if len(name) < 2 || len(name) > 4 || !hasHan(string(name)) {
		return false
	}
	n := 0
	for _, f := range []string{"phone", "id_number", "temperature", "address", "origin", "arrived_on", "age", "gender"} {
		if fields[f] != "" {
			n++
		}
	}
	return n >= 2
}

// missingKind answers a report typed without its kind.
func (h *Handler) missingKind(m Message, lang report.Lang, k report.Kind) []Action {
	if k != report.None {
		return h.hint(m, lang, "kindMissingOne", report.KindName(k, lang), shortTrigger(k, lang))
	}
	return h.hint(m, lang, "kindMissing")
}

// shortTrigger is the word to put in front of a report of kind k.
func shortTrigger(k report.Kind, lang report.Lang) string {
	if lang == report.En {
		return "/" + string(k)
	}
	switch k {
	case report.Arrival:
		return "返乡"
	case report.Fever:
		return "发热"
	case report.Gathering:
		return "婚丧"
	case report.Tenant:
		return "租户"
	case report.Daily:
		return "日报"
	case report.Followup:
		return "回访"
	}
	return report.KindName(k, lang)
}
