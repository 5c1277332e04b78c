package handlers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gridbot/report"
	"gridbot/store"
)

// Settings a chat's admins change with /set. Times are HH:MM in the chat's
// zone, or "off".
const (
	SettingReminder = "reminder" // village: who has not sent the daily report
	SettingSummary  = "summary"  // village: the day's summary
	SettingFollowUp = "followup" // village: observation ending, gatherings today, fevers to follow up
	SettingRollup   = "rollup"   // command: every village's day
	SettingLang     = "lang"     // zh or en: the language of scheduled posts
)

// Clock is a time of day; Off means the job does not run.
type Clock struct {
	Hour, Minute int
	Off          bool
}

func (c Clock) String() string {
	if c.Off {
		return "off"
	}
	return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute)
}

// ChatSettings are a chat's settings with the defaults filled in.
type ChatSettings struct {
	Reminder, Summary, FollowUp, Rollup Clock
	Observation                         int
	Location                            *time.Location
	Lang                                report.Lang
	Active                              bool // false once Telegram refused the bot (403) or it was removed
	// Since holds, per job, when its time was last changed: a time moved
	// to one already past today takes effect tomorrow.
	Since map[string]time.Time
}

// sinceSuffix names the setting that records when a job's time changed.
const sinceSuffix = "_since"

// DefaultClocks are the job times a chat starts with.
var DefaultClocks = map[string]Clock{
	SettingReminder: {Hour: 17},
	SettingSummary:  {Hour: 20},
	SettingFollowUp: {Hour: 9},
	SettingRollup:   {Hour: 21},
}

// Effective reads a chat's stored settings, filling in the defaults.
func (h *Handler) Effective(settings map[string]string) ChatSettings {
	clock := func(key string) Clock {
		if c, ok := ParseClock(settings[key]); ok {
			return c
		}
		return DefaultClocks[key]
	}
	lang := report.Zh
	if settings[SettingLang] == string(report.En) {
		lang = report.En
	}
	since := map[string]time.Time{}
	for key := range DefaultClocks {
		if t, err := time.Parse(time.RFC3339, settings[key+sinceSuffix]); err == nil {
			since[key] = t
		}
	}
	return ChatSettings{
		Reminder: clock(SettingReminder), Summary: clock(SettingSummary), FollowUp: clock(SettingFollowUp), Rollup: clock(SettingRollup),
		Observation: observationDays(settings), Location: h.location(settings), Lang: lang,
		Active: settings[SettingActive] != "false", Since: since,
	}
}

// ParseClock reads a time of day as admins type it: 20:30, 2030, 20点30,
// 20点半, 8pm, off, 关闭.
func ParseClock(s string) (Clock, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "":
		return Clock{}, false
	case "off", "关", "关闭", "停", "停止", "no", "none":
		return Clock{Off: true}, true
	}
	pm, am, night := false, false, false
	for _, suffix := range []string{"pm", "p.m."} {
		if r, ok := strings.CutSuffix(s, suffix); ok {
			s, pm = strings.TrimSpace(r), true
		}
	}
	for _, suffix := range []string{"am", "a.m."} {
		if r, ok := strings.CutSuffix(s, suffix); ok {
			s, am = strings.TrimSpace(r), true
		}
	}
	for _, prefix := range []string{"晚上", "夜里"} {
		if r, ok := strings.CutPrefix(s, prefix); ok {
			s, pm, night = r, true, true
		}
	}
	for _, prefix := range []string{"下午", "傍晚"} {
		if r, ok := strings.CutPrefix(s, prefix); ok {
			s, pm = r, true
		}
	}
	for _, prefix := range []string{"上午", "早上", "凌晨"} {
		if r, ok := strings.CutPrefix(s, prefix); ok {
			s, am = r, true
		}
	}
	s = strings.TrimSuffix(s, "分")
	s = strings.Replace(s, "点半", ":30", 1)
	s = strings.Replace(s, "点", ":", 1)
	s = strings.Replace(s, "：", ":", 1)
	h, m := s, "0"
	if hh, mm, ok := strings.Cut(s, ":"); ok {
		h, m = hh, mm
	} else if len(s) == 4 {
		h, m = s[:2], s[2:]
	}
	if m == "" {
		m = "0"
	}
	hour, err1 := strconv.Atoi(h)
	minute, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hour < 0 || hour > 23 || minute < 0 || minute > 59 {
		return Clock{}, false
	}
	switch {
	case hour == 12 && (am || night): // 12am, 晚上12点: midnight
		hour = 0
	case pm && hour < 12:
		hour += 12
	}
	return Clock{Hour: hour, Minute: minute}, true
}

// settingsCommand shows a chat's settings.
func (h *Handler) settingsCommand(ctx context.Context, c *call) ([]Action, error) {
	stored, err := h.store.Settings(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: settings: %w", err)
	}
	e := h.Effective(stored)
	var lines []string
	if c.binding.Role == store.RoleCommand {
		lines = append(lines, say(c.lang, "setRollup", clockText(e.Rollup, c.lang)))
	} else {
		lines = append(lines,
			say(c.lang, "setReminder", clockText(e.Reminder, c.lang)),
			say(c.lang, "setSummary", clockText(e.Summary, c.lang)),
			say(c.lang, "setFollowUp", clockText(e.FollowUp, c.lang)),
			say(c.lang, "setObservation", e.Observation))
	}
	lines = append(lines, say(c.lang, "setTZ", e.Location.String()), say(c.lang, "setLang", say(c.lang, "lang"+strings.ToUpper(string(e.Lang)[:1])+string(e.Lang)[1:])))
	if !e.Active {
		lines = append(lines, say(c.lang, "setInactive"))
	}
	lines = append(lines, say(c.lang, "setHelp"))
	return replyHTML(c, strings.Join(lines, "\n")), nil
}

// set changes one setting; admins only.
func (h *Handler) set(ctx context.Context, c *call) ([]Action, error) {
	admin, err := h.isAdmin(ctx, c.m.Chat.ID, c.m.From.ID)
	if err != nil {
		return nil, err
	}
	if !admin {
		return h.reply(c, "notAdmin"), nil
	}
	name, value, _ := strings.Cut(strings.TrimSpace(c.args), " ")
	name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
	if alias, ok := settingAliases[name]; ok {
		name = alias
	}
	villageOnly := name == SettingReminder || name == SettingSummary || name == SettingFollowUp || name == SettingObservation
	if villageOnly && c.binding.Role != store.RoleVillage || name == SettingRollup && c.binding.Role != store.RoleCommand {
		return h.reply(c, "setNotHere", settingName(name, c.lang)), nil
	}
	var stored string
	var changes store.Changes
	note := say(c.lang, "setNow")
	switch name {
	case SettingReminder, SettingSummary, SettingFollowUp, SettingRollup:
		clock, ok := ParseClock(value)
		if !ok {
			return h.reply(c, "setBadTime", value), nil
		}
		stored = clock.String()
		now := h.now()
		changes.Settings = append(changes.Settings, store.Setting{Chat: c.m.Chat.ID, Key: name + sinceSuffix, Value: now.Format(time.RFC3339), By: c.m.From.ID, At: now})
		if settings, err := h.store.Settings(ctx, c.m.Chat.ID); err == nil && !clock.Off {
			local := now.In(h.location(settings))
			if slot := time.Date(local.Year(), local.Month(), local.Day(), clock.Hour, clock.Minute, 0, 0, local.Location()); slot.Before(local) {
				note = say(c.lang, "setTomorrow", clock.String())
			}
		}
	case SettingObservation:
		n, err := strconv.Atoi(strings.TrimSuffix(value, "天"))
		if err != nil || n < 1 || n > 60 {
			return h.reply(c, "setBadDays", value), nil
		}
		stored = strconv.Itoa(n)
	case SettingTZ:
		if _, err := time.LoadLocation(value); err != nil || value == "" || strings.EqualFold(value, "local") {
			return h.reply(c, "setBadTZ", value), nil
		}
		stored = value
	case SettingLang:
		switch strings.ToLower(value) {
		case "zh", "中文", "汉语", "chinese", "cn":
			stored = "zh"
		case "en", "英文", "英语", "english":
			stored = "en"
		default:
			return h.reply(c, "setBadLang", value), nil
		}
	default:
		return h.reply(c, "setUsage"), nil
	}
	changes.Settings = append(changes.Settings, store.Setting{Chat: c.m.Chat.ID, Key: name, Value: stored, By: c.m.From.ID, At: h.now()})
	if _, err := h.store.Commit(ctx, changes); err != nil {
		return nil, fmt.Errorf("handlers: set: %w", err)
	}
	h.log.Info("setting changed", "chat", c.m.Chat.ID, "key", name)
	if h.cfg.OnSettings != nil {
		h.cfg.OnSettings(c.m.Chat.ID)
	}
	shown := stored
	switch {
	case stored == "off":
		off := strings.TrimSuffix(strings.TrimSuffix(settingName(name, c.lang), "时间"), " time")
		return h.reply(c, "setDoneOff", off, safeHTML(note)), nil
	case name == SettingLang:
		shown = say(c.lang, "lang"+strings.ToUpper(stored[:1])+stored[1:])
	case name == SettingObservation:
		shown = c.lang.Pick(stored+" 天", stored+" days")
	}
	return h.reply(c, "setDone", settingName(name, c.lang), shown, safeHTML(note)), nil
}

// clockText shows a job's time to people: 17:00, or 关闭 when it is off.
func clockText(c Clock, lang report.Lang) string {
	if c.Off {
		return lang.Pick("关闭", "off")
	}
	return c.String()
}

// settingNames are what the settings are called in replies.
var settingNames = map[string][2]string{
	SettingReminder:    {"日报提醒时间", "the daily report reminder time"},
	SettingSummary:     {"每日汇总时间", "the daily summary time"},
	SettingFollowUp:    {"早间提示时间", "the morning follow-up time"},
	SettingRollup:      {"各村汇总时间", "the roll-up time"},
	SettingObservation: {"居家观察天数", "home observation days"},
	SettingTZ:          {"时区", "the time zone"},
	SettingLang:        {"定时消息语言", "the language of scheduled posts"},
}

// settingName names a setting for people; an unknown one as typed.
func settingName(name string, lang report.Lang) string {
	if n, ok := settingNames[name]; ok {
		return lang.Pick(n[0], n[1])
	}
	return name
}

// settingAliases are the Chinese names admins may use in /set.
var settingAliases = map[string]string{
	"提醒": SettingReminder, "日报提醒": SettingReminder, "汇总": SettingSummary, "每日汇总": SettingSummary, "各村汇总": SettingRollup, "回访": SettingFollowUp, "跟进": SettingFollowUp, "总汇总": SettingRollup,
	"观察": SettingObservation, "观察天数": SettingObservation, "时区": SettingTZ, "语言": SettingLang, "timezone": SettingTZ,
	"follow-up": SettingFollowUp, "language": SettingLang,
}

// HandleMembership records the bot's own membership of a chat changing:
// removed (scheduled posts pause, as after a 403) or added back (they
// resume).
func (h *Handler) HandleMembership(ctx context.Context, chat int64, status string) error {
	value := ""
	switch status {
	case "left", "kicked":
		value = "false"
	case "member", "administrator", "creator", "restricted":
	default:
		return nil
	}
	st := store.Setting{Chat: chat, Key: SettingActive, Value: value, At: h.now()}
	if _, err := h.store.Commit(ctx, store.Changes{Settings: []store.Setting{st}}); err != nil {
		return fmt.Errorf("handlers: membership: %w", err)
	}
	h.log.Info("bot membership changed", "chat", chat, "status", status)
	return nil
}
