package handlers

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

// dayRange is the days a /list or /today covers, both included.
type dayRange struct{ from, to report.Date }

func (r dayRange) String() string {
	if r.from == r.to {
		return r.from.String()
	}
	return r.from.String() + "～" + r.to.String()
}

var recentDays = regexp.MustCompile(`^(?:近|最近|过去)([0-9]+|[一二三四五六七八九十]+)天$`)

// parseRange reads the days people ask for: 今天, 昨天, 2月5日, 本周,
// 上周, 近7天, 2月1日-2月7日 (also 至, 到, ~).
func parseRange(s string, today report.Date) (dayRange, bool) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return dayRange{today, today}, true
	case "本周", "这周", "这个星期", "this week":
		wd := int(today.Start(time.UTC).Weekday()+6) % 7 // Monday 0
		return dayRange{today.AddDays(-wd), today}, true
	case "上周", "上个星期", "last week":
		wd := int(today.Start(time.UTC).Weekday()+6) % 7
		return dayRange{today.AddDays(-wd - 7), today.AddDays(-wd - 1)}, true
	case "本月", "这个月", "this month":
		return dayRange{report.Date{Year: today.Year, Month: today.Month, Day: 1}, today}, true
	}
	if m := recentDays.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			n = chineseSmall(m[1])
		}
		if n < 1 || n > 366 {
			return dayRange{}, false
		}
		return dayRange{today.AddDays(1 - n), today}, true
	}
	for _, sep := range []string{"～", "~", "至", "到", "—", "－", "-"} {
		for i := 0; i < len(s); {
			j := strings.Index(s[i:], sep)
			if j < 0 {
				break
			}
			a, b := strings.TrimSpace(s[:i+j]), strings.TrimSpace(s[i+j+len(sep):])
			i += j + len(sep)
			if a == "" || b == "" {
				continue
			}
			from, ok1 := report.ParseDay(a, today)
			to, ok2 := report.ParseDay(b, today)
			if ok1 && ok2 && from.Compare(to) <= 0 && to.DaysSince(from) <= 366 {
				return dayRange{from, to}, true
			}
		}
	}
	if d, ok := report.ParseDay(s, today); ok {
		return dayRange{d, d}, true
	}
	return dayRange{}, false
}

// chineseSmall reads 一 … 三十 (up to 99).
func chineseSmall(s string) int {
	digits := map[rune]int{'一': 1, '二': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}
	n := 0
	for _, r := range s {
		switch {
		case r == '十':
			n = max(n, 1) * 10
		case digits[r] > 0:
			n += digits[r]
		default:
			return 0
		}
	}
	return n
}

// kindsList is what /list and /template accept, for their answers.
func kindsList(lang report.Lang) string {
	var names []string
	for _, k := range report.Kinds() {
		names = append(names, shortTrigger(k, lang))
	}
	return strings.Join(names, lang.Pick("、", ", "))
}

// listChats returns the chats whose reports a /list in chat covers,
// grouped by village: a village group covers its landlords' private chats
// too; the command group covers every village; a landlord their own chat.
func (h *Handler) listChats(ctx context.Context, c *call) ([]string, map[string][]int64, error) {
	if c.binding.Role == store.RoleLandlord {
		return []string{c.binding.Name}, map[string][]int64{c.binding.Name: {c.m.Chat.ID}}, nil
	}
	all, err := h.store.Bindings(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("handlers: list: %w", err)
	}
	chats := map[string][]int64{}
	var names []string
	for _, b := range all {
		if b.Role == store.RoleVillage && (c.binding.Role == store.RoleCommand || b.Chat == c.binding.Chat) {
			chats[b.Name] = append([]int64{b.Chat}, chats[b.Name]...)
			names = append(names, b.Name)
		}
	}
	for _, b := range all {
		if _, ok := chats[b.Name]; ok && b.Role == store.RoleLandlord {
			chats[b.Name] = append(chats[b.Name], b.Chat)
		}
	}
	sort.Strings(names)
	return names, chats, nil
}

func (h *Handler) list(ctx context.Context, c *call) ([]Action, error) {
	kindText, rangeText, _ := strings.Cut(strings.TrimSpace(c.args), " ")
	if kindText == "" {
		return h.reply(c, "listUsage", kindsList(c.lang)), nil
	}
	k := kindNamed(kindText)
	if k == report.None {
		return h.reply(c, "listUnknownKind", kindText, kindsList(c.lang)), nil
	}
	settings, err := h.store.Settings(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: list: %w", err)
	}
	loc := h.location(settings)
	today := report.DateOf(h.now().In(loc))
	days, ok := parseRange(rangeText, today)
	if !ok {
		return h.reply(c, "badRange", strings.TrimSpace(rangeText)), nil
	}
	names, chats, err := h.listChats(ctx, c)
	if err != nil {
		return nil, err
	}
	kind := report.KindName(k, c.lang)
	var b strings.Builder
	total := 0
	for _, name := range names {
		var rs []store.Revision
		for _, chat := range chats[name] {
			got, err := h.store.Reports(ctx, store.ReportQuery{Chat: chat, Kind: k, From: days.from, To: days.to})
			if err != nil {
				return nil, fmt.Errorf("handlers: list: %w", err)
			}
			rs = append(rs, got...)
		}
		rs = tally.OnePerPerson(rs)
		sort.SliceStable(rs, func(i, j int) bool { return tally.Later(rs[j], rs[i]) })
		if len(rs) == 0 {
			continue
		}
		if len(names) > 1 || c.binding.Role == store.RoleCommand {
			fmt.Fprintf(&b, "\n<b>%s</b>（%d）", html.EscapeString(name), len(rs))
		}
		for _, r := range rs {
			total++
			fmt.Fprintf(&b, "\n%d. %s", total, html.EscapeString(report.MaskText(listLine(r, c.lang, loc, days.from != days.to, true))))
		}
	}
	if total == 0 {
		return h.reply(c, "listEmpty", days.String(), kind), nil
	}
	return replyHTML(c, say(c.lang, "listHead", days.String(), kind, total)+b.String()), nil
}

// listLine renders one report for /list: who and what, with labels.
func listLine(r store.Revision, lang report.Lang, loc *time.Location, withDay, withWhen bool) string {
	when := r.SentAt.In(loc).Format("15:04")
	if withDay {
		when = r.SentAt.In(loc).Format("1/2 15:04")
	}
	stamp := lang.Pick("（"+when+" "+r.Sender+"）", " ("+when+" "+r.Sender+")")
	if !withWhen {
		stamp = ""
	}
	f := r.Fields
	switch r.Kind {
	case report.Daily:
		parts := []string{r.Sender}
		if v := f["households"]; v != "" {
			parts = append(parts, lang.Pick("排查"+v+"户", "households "+v))
		}
		for _, c := range []struct{ field, zh, en string }{{"arrivals", "返乡", "arrivals "}, {"fevers", "发热", "fevers "}, {"gatherings", "婚丧", "gatherings "}} {
			v := f[c.field]
			if v == "" {
				v = "0"
			}
			parts = append(parts, lang.Pick(c.zh+v, c.en+v))
		}
		if v := f["note"]; v != "" {
			parts = append(parts, v)
		}
		return strings.Join(parts, " ") + lang.Pick("（"+when+"）", " ("+when+")")
	case report.Gathering:
		line := fmt.Sprintf("%s %s %s %s %s", report.DisplayValue("type", f["type"], lang, false), f["host"], f["date"], f["address"], lang.Pick(f["guests"]+"人", f["guests"]+" guests"))
		if t := f["tables"]; t != "" {
			line += lang.Pick(" "+t+"桌", " "+t+" tables")
		}
		if tally.AboveThreshold(r) {
			line += lang.Pick(" ⚠️须审批", " ⚠️ needs approval")
		}
		return strings.Join(strings.Fields(line), " ") + stamp
	}
	spec, _ := report.Spec(r.Kind)
	parts := []string{f[spec.NameField]}
	if parts[0] == "" {
		parts = parts[:0]
	}
	for _, field := range spec.Fields() {
		v, ok := f[field]
		if !ok || v == "" || field == "note" || field == spec.NameField {
			continue
		}
		parts = append(parts, report.Label(field, lang)+lang.Pick("：", ": ")+report.DisplayValue(field, v, lang, true))
	}
	return strings.Join(parts, " ") + stamp
}
