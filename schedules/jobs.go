package schedules

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"html"
	"strconv"
	"strings"

	"gridbot/handlers"
	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

// lateMark heads a post that comes later than its time.
func lateMark(lang report.Lang, late bool) string {
	if !late {
		return ""
	}
	return lang.Pick("（补发）", "(late) ")
}

// post is a job's message to its chat.
func post(key string, chat int64, text string, buttons [][]handlers.Button) handlers.Action {
	return handlers.Action{Kind: handlers.Send, Key: key, Chat: chat, Text: text, Buttons: buttons}
}

// ReminderButton is the kind of the reminder's button (its callback data
// is ReminderButton + ":" + yyyymmdd).
const ReminderButton = "daily"

// mention links a member by user id, which works without a username.
func mention(m store.Member) string {
	return fmt.Sprintf(`<a href="tg://user?id=%d">%s</a>`, m.UserID, html.EscapeString(m.Name))
}

// reminderText renders the reminder for the members still missing.
func reminderText(lang report.Lang, day report.Date, missing []store.Member, late bool) string {
	names := make([]string, len(missing))
	for i, m := range missing {
		names[i] = mention(m)
	}
	sepZh, sepEn := "、", ", "
	if len(missing) > 20 {
		// a long list one mention a line, so a message too long for
		// Telegram splits between mentions, never inside one
		sepZh, sepEn = "\n", "\n"
	}
	return lateMark(lang, late) + lang.Pick(
		fmt.Sprintf("⏰ <b>日报提醒</b> %s\n以下网格员还没有报送今天的日报：%s\n今天没有情况的，点下面的按钮即可一键提交（按你今天已报的返乡、发热、婚丧数自动填写）。", day, strings.Join(names, sepZh)),
		fmt.Sprintf("⏰ <b>Daily report reminder</b> %s\nNot reported yet today: %s\nNothing to add? Press the button to file your daily report in one tap (filled in from what you reported today).", day, strings.Join(names, sepEn)))
}

func reminderButtons(lang report.Lang, day report.Date) [][]handlers.Button {
	return [][]handlers.Button{{{Text: lang.Pick("确认提交日报", "File my daily report"), Data: ReminderButton + ":" + strconv.Itoa(day.Int())}}}
}

func (s *Scheduler) reminder(ctx context.Context, b store.Binding, e handlers.ChatSettings, day report.Date, late bool, key string) ([]handlers.Action, error) {
	v, err := tally.OneVillage(ctx, s.store, b.Chat, day, e.Observation)
	if err != nil {
		return nil, err
	}
	roster, err := s.store.ActiveMembers(ctx, b.Chat)
	if err != nil {
		return nil, err
	}
	if len(roster) == 0 {
		// nobody to remind is a blind spot, not a quiet day
		return []handlers.Action{post(key, b.Chat, lateMark(e.Lang, late)+emptyRosterText(e.Lang, day), nil)}, nil
	}
	fixes, err := s.toFix(ctx, b.Chat, day, e.Lang)
	if err != nil {
		return nil, err
	}
	switch {
	case len(v.Missing) > 0:
		return []handlers.Action{post(key, b.Chat, reminderText(e.Lang, day, v.Missing, late)+fixes, reminderButtons(e.Lang, day))}, nil
	case fixes != "":
		head := lateMark(e.Lang, late) + e.Lang.Pick("⏰ <b>日报提醒</b> ", "⏰ <b>Daily report reminder</b> ") + day.String() + e.Lang.Pick("\n今天的日报都已报送，谢谢！", "\nEvery daily report is in. Thanks!")
		return []handlers.Action{post(key, b.Chat, head+fixes, nil)}, nil
	}
	return nil, nil // everyone reported and nothing waits for a fix: nobody to nag
}

// emptyRosterText is the reminder of a village whose roster is empty.
func emptyRosterText(lang report.Lang, day report.Date) string {
	return lang.Pick(
		fmt.Sprintf("⏰ <b>日报提醒</b> %s\n本村的日报名单还是空的：还没有网格员加入，所以没法提醒谁报日报。\n网格员请在本群发送 /join 加入名单；管理员也可以回复某人的消息发送 /roster add 把他加入。", day),
		fmt.Sprintf("⏰ <b>Daily report reminder</b> %s\nThis village's daily roster is empty: no grid worker has joined, so nobody can be reminded.\nGrid workers: send /join here. Admins: reply to someone's message with /roster add.", day))
}

// toFix lists the day's reports in the village group that still need
// fixing (❌), mentioning who sent them; "" when there are none.
func (s *Scheduler) toFix(ctx context.Context, chat int64, day report.Date, lang report.Lang) (string, error) {
	rs, err := s.store.Reports(ctx, store.ReportQuery{Chat: chat, From: day, To: day, IncludeInvalid: true})
	if err != nil {
		return "", err
	}
	var lines []string
	for _, r := range rs {
		if r.Valid() {
			continue
		}
		who := r.Fields["name"]
		if who == "" {
			who = r.Fields["host"]
		}
		item := mention(store.Member{UserID: r.SenderID, Name: r.Sender}) + " " + html.EscapeString(report.KindName(r.Kind, lang))
		if who != "" {
			item += lang.Pick("（", " (") + html.EscapeString(report.MaskText(who)) + lang.Pick("）", ")")
		}
		lines = append(lines, item)
		if len(lines) == 20 {
			break
		}
	}
	if len(lines) == 0 {
		return "", nil
	}
	return lang.Pick("\n❌ 还有报告没填全，没有记上：", "\n❌ Reports still to fix, not recorded yet: ") + strings.Join(lines, lang.Pick("、", ", ")) +
		lang.Pick("\n长按你的消息 → 编辑，或回复机器人的 ❌ 补上缺的内容即可。", "\nLong-press your message → Edit, or reply to the bot's ❌ with what is missing."), nil
}

func (s *Scheduler) summary(ctx context.Context, b store.Binding, e handlers.ChatSettings, day report.Date, late bool, key string) ([]handlers.Action, error) {
	v, err := tally.OneVillage(ctx, s.store, b.Chat, day, e.Observation)
	if err != nil {
		return nil, err
	}
	text := lateMark(e.Lang, late) + tally.RenderVillage(v, e.Lang, e.Lang.Pick("每日汇总", "daily summary"), tally.Lists, e.Observation)
	return []handlers.Action{post(key, b.Chat, text, nil)}, nil
}

func (s *Scheduler) rollup(ctx context.Context, b store.Binding, e handlers.ChatSettings, day report.Date, late bool, key string) ([]handlers.Action, error) {
	all, err := tally.AllVillages(ctx, s.store, day, s.settings.ObservationDays(ctx))
	if err != nil {
		return nil, err
	}
	text := lateMark(e.Lang, late) + tally.RenderRollup(all, e.Lang, e.Lang.Pick("各村汇总", "Every village"))
	return []handlers.Action{post(key, b.Chat, text, nil)}, nil
}

// followUp lists, in the morning, whose home observation ends today, the
// gatherings taking place today, and yesterday's fever cases that nobody
// has followed up (no later fever report of the same person).
func (s *Scheduler) followUp(ctx context.Context, b store.Binding, e handlers.ChatSettings, day report.Date, late bool, key string) ([]handlers.Action, error) {
	arrived := day.AddDays(1 - e.Observation)
	ending, err := s.store.Reports(ctx, store.ReportQuery{Chat: b.Chat, Kind: report.Arrival, EventFrom: arrived, EventTo: arrived})
	if err != nil {
		return nil, err
	}
	if len(ending) > 0 { // an observation ended early by a follow-up does not end today
		released, err := s.store.Reports(ctx, store.ReportQuery{Chat: b.Chat, Kind: report.Followup, From: arrived, To: day})
		if err != nil {
			return nil, err
		}
		ending = tally.StillObserved(ending, released)
	}
	gatherings, err := s.store.Reports(ctx, store.ReportQuery{Chat: b.Chat, Kind: report.Gathering, EventFrom: day, EventTo: day})
	if err != nil {
		return nil, err
	}
	fevers, err := s.store.Reports(ctx, store.ReportQuery{Chat: b.Chat, Kind: report.Fever, From: day.AddDays(-1), To: day})
	if err != nil {
		return nil, err
	}
	followups, err := s.store.Reports(ctx, store.ReportQuery{Chat: b.Chat, Kind: report.Followup, From: day.AddDays(-1), To: day})
	if err != nil {
		return nil, err
	}
	var open []store.Revision
	for i, f := range fevers {
		if f.Day != day.AddDays(-1) || !tally.Feverish(f) {
			continue // a reading below the threshold (often the follow-up itself) needs no visit
		}
		if !tally.FollowedUp(f, fevers[i+1:]) && !tally.FollowedUp(f, followups) {
			open = append(open, f)
		}
	}
	if len(ending) == 0 && len(gatherings) == 0 && len(open) == 0 {
		return nil, nil
	}
	lang := e.Lang
	var t strings.Builder
	t.WriteString(lateMark(lang, late) + lang.Pick("🔔 <b>今日提示</b> ", "🔔 <b>Today</b> ") + day.String())
	if len(ending) > 0 {
		t.WriteString("\n🏠 " + lang.Pick("今天解除居家观察：", "home observation ends today: "))
		t.WriteString(joinEscaped(lang, ending, func(r store.Revision) string {
			return r.Fields["name"] + lang.Pick("（", " (") + r.Fields["address"] + lang.Pick("）", ")")
		}))
	}
	if len(gatherings) > 0 {
		t.WriteString("\n🎎 " + lang.Pick("今天办事的婚丧：", "gatherings today: "))
		t.WriteString(joinEscaped(lang, gatherings, func(r store.Revision) string {
			return report.DisplayValue("type", r.Fields["type"], lang, false) + " " + r.Fields["host"] + " " + r.Fields["address"] + " " + r.Fields["guests"] + lang.Pick("人", " guests")
		}))
		t.WriteString(lang.Pick("。请提醒从简、不聚集。", ". Remind them to keep it small."))
	}
	if len(open) > 0 {
		t.WriteString("\n🌡 " + lang.Pick("昨天的发热病例尚未回访：", "yesterday's fever cases not yet followed up: "))
		t.WriteString(joinEscaped(lang, open, func(r store.Revision) string {
			return r.Fields["name"] + " " + report.DisplayValue("temperature", r.Fields["temperature"], lang, false)
		}))
		t.WriteString(lang.Pick("。回访后请发送，例如：回访 "+html.EscapeString(open[0].Fields["name"])+" 体温36.8 已退烧", ". After the visit send e.g. /followup "+html.EscapeString(open[0].Fields["name"])+" 36.8 recovered"))
	}
	return []handlers.Action{post(key, b.Chat, t.String(), nil)}, nil
}

func joinEscaped(lang report.Lang, rs []store.Revision, f func(store.Revision) string) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = html.EscapeString(report.MaskText(f(r)))
	}
	return strings.Join(parts, lang.Pick("、", "; "))
}

// syntheticMessage returns the message id under which a daily report
// filed with the reminder's button is recorded in chat: above any real
// message id (Telegram's fit in 32 bits), one per user and day. A user id
// (up to 52 bits) and a day do not both fit in an int64 beside that
// offset, and no part of either may be dropped (user ids 2^33 apart once
// shared an id, and the second worker's report was taken for a repeat of
// the first's), so the id is a 62-bit hash of both, and an id already
// holding another user's or day's report is passed over for the next.
func (s *Scheduler) syntheticMessage(ctx context.Context, chat, user int64, day report.Date) (int64, error) {
	const bits = 1<<62 - 1
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(user))
	binary.BigEndian.PutUint64(b[8:], uint64(day.Int()))
	h := fnv.New64a()
	h.Write(b[:])
	id := int64(h.Sum64() & bits)
	for range maxProbes {
		msg := 1<<62 | id
		hist, err := s.store.History(ctx, chat, msg)
		if err != nil {
			return 0, fmt.Errorf("synthetic message id: %w", err)
		}
		taken := false
		for _, ev := range hist {
			if r := ev.Revision; r != nil && (r.SenderID != user || r.Day != day) {
				taken = true
			}
		}
		if !taken {
			return msg, nil
		}
		id = (id + 1) & bits
	}
	return 0, fmt.Errorf("synthetic message id: %d ids in a row taken", maxProbes)
}

// maxProbes bounds the search for a free synthetic message id; with 62-bit
// hashes a second probe is already astronomically rare.
const maxProbes = 64

// Press handles a press on the reminder's button: a grid worker who has
// not reported files the daily report drafted from what they recorded
// today. It is registered with handlers.Handler.HandlePresses.
func (s *Scheduler) Press(ctx context.Context, p handlers.Press, answer handlers.Action) ([]handlers.Action, error) {
	stored, err := s.store.Settings(ctx, p.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("schedules: press: %w", err)
	}
	e := s.settings.Effective(stored)
	lang := e.Lang
	if b, ok, err := s.binding(ctx, p.Chat.ID); err != nil {
		return nil, err
	} else if !ok || b.Role != store.RoleVillage {
		answer.Text = lang.Pick("这个按钮已失效：本群不再是村群。", "This button is no longer active: this is not a village group any more.")
		return []handlers.Action{answer}, nil
	}
	today := report.DateOf(p.At.In(e.Location))
	_, dayText, _ := strings.Cut(p.Data, ":")
	if n, err := strconv.Atoi(dayText); err != nil || report.DateFromInt(n) != today {
		answer.Text = lang.Pick("这是以前的提醒，已失效。", "This reminder is from an earlier day.")
		return []handlers.Action{answer}, nil
	}
	v, err := tally.OneVillage(ctx, s.store, p.Chat.ID, today, e.Observation)
	if err != nil {
		return nil, fmt.Errorf("schedules: press: %w", err)
	}
	missing := false
	for _, m := range v.Missing {
		missing = missing || m.UserID == p.From.ID
	}
	if !missing {
		reported := false
		for _, m := range v.Reported {
			reported = reported || m.UserID == p.From.ID
		}
		answer.Text = lang.Pick("你不在日报名单中，无需报送。", "You are not on the daily roster: nothing to file.")
		if reported {
			answer.Text = lang.Pick("你今天已经报过日报了，谢谢！", "You have already filed today's daily report. Thanks!")
		}
		return []handlers.Action{answer}, nil
	}
	counts := map[report.Kind]int{}
	for _, r := range v.Reports {
		if r.SenderID == p.From.ID {
			counts[r.Kind]++
		}
	}
	text := fmt.Sprintf("#日报 返乡人数:%d 发热人数:%d 婚丧:%d 备注:提醒按钮一键提交", counts[report.Arrival], counts[report.Fever], counts[report.Gathering])
	parsed := report.Parse(text, report.Context{Now: p.At, Location: e.Location})
	msg, err := s.syntheticMessage(ctx, p.Chat.ID, p.From.ID, today)
	if err != nil {
		return nil, fmt.Errorf("schedules: press: %w", err)
	}
	rev := store.Revision{
		Chat: p.Chat.ID, MessageID: msg, Kind: report.Daily, Lang: lang, Fields: parsed.Fields,
		Problems: len(parsed.Problems), Text: text, SenderID: p.From.ID, Sender: p.From.Name(), SentAt: p.At, Day: today, At: s.now(),
	}
	answer.Text = lang.Pick(
		fmt.Sprintf("已提交今天的日报：返乡%d 发热%d 婚丧%d。", counts[report.Arrival], counts[report.Fever], counts[report.Gathering]),
		fmt.Sprintf("Daily report filed: arrivals %d, fevers %d, gatherings %d.", counts[report.Arrival], counts[report.Fever], counts[report.Gathering]))
	var still []store.Member
	for _, m := range v.Missing {
		if m.UserID != p.From.ID {
			still = append(still, m)
		}
	}
	edit := handlers.Action{Kind: handlers.Edit, Key: fmt.Sprintf("reminder-edit:%d:%d:%d", p.Chat.ID, p.MessageID, p.From.ID), Chat: p.Chat.ID, MessageID: p.MessageID}
	if len(still) == 0 {
		edit.Text = lang.Pick("✅ <b>今天的日报已全部报送</b> ", "✅ <b>Every daily report is in</b> ") + today.String()
	} else {
		edit.Text = reminderText(lang, today, still, false)
		edit.Buttons = reminderButtons(lang, today)
	}
	// the report and its answers are one durable step: a crash between
	// them would leave the report filed and the reminder naming its sender
	actions := []handlers.Action{answer, edit}
	changes := store.Changes{Revision: &rev}
	for i := range actions {
		m, err := actions[i].OutboxMessage(s.now())
		if err != nil {
			return nil, fmt.Errorf("schedules: press: %w", err)
		}
		changes.Outbox = append(changes.Outbox, m)
		actions[i].Queued = true
	}
	if _, err := s.store.Commit(ctx, changes); err != nil {
		return nil, fmt.Errorf("schedules: press: %w", err)
	}
	return actions, nil
}

// Carrier names the outbox message that carries the reminder's button
// pressed in p: the reminder of the day in its data, in p's chat. It is
// registered with handlers.Handler.HandlePresses with Press.
func (s *Scheduler) Carrier(ctx context.Context, p handlers.Press) (string, error) {
	_, dayText, _ := strings.Cut(p.Data, ":")
	n, err := strconv.Atoi(dayText)
	if err != nil {
		return "", nil
	}
	day := report.DateFromInt(n)
	stored, err := s.store.Settings(ctx, p.Chat.ID)
	if err != nil {
		return "", fmt.Errorf("schedules: press: %w", err)
	}
	return claimKey(Reminder, claimChat(p.Chat.ID, stored), day), nil
}
