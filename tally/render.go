package tally

import (
	"fmt"
	"html"
	"sort"
	"strconv"
	"strings"

	"gridbot/report"
	"gridbot/store"
)

// The renderers below produce Telegram HTML: every user-supplied string is
// escaped, phone and ID numbers are masked.

// Detail says how much a village's rendering shows.
type Detail int

const (
	// Brief shows the numbers only (/today).
	Brief Detail = iota
	// Lists adds who and what: the evening summary.
	Lists
)

// esc escapes user text for HTML and masks anything in it that looks like
// a phone or ID number: everything rendered here is posted to a group.
func esc(s string) string { return html.EscapeString(report.MaskText(s)) }

// names joins members' names.
func names(ms []store.Member, lang report.Lang) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = esc(m.Name)
	}
	return strings.Join(out, lang.Pick("、", ", "))
}

// RenderVillage renders a village's day. title heads it (e.g. 今日统计 or
// 每日汇总); observation is the village's observation period in days.
func RenderVillage(v Village, lang report.Lang, title string, detail Detail, observation int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "📊 <b>%s</b> %s %s", esc(v.Name), esc(title), v.Day)
	c := v.Counts
	b.WriteString("\n" + lang.Pick(
		fmt.Sprintf("返乡 %d｜发热 %d｜婚丧 %d｜租户 %d", c.Arrivals, c.Fevers, c.Gatherings, c.Tenants),
		fmt.Sprintf("arrivals %d | fevers %d | gatherings %d | tenants %d", c.Arrivals, c.Fevers, c.Gatherings, c.Tenants)))
	if c.FollowUps > 0 {
		b.WriteString(lang.Pick(fmt.Sprintf("｜回访 %d", c.FollowUps), fmt.Sprintf(" | follow-ups %d", c.FollowUps)))
	}
	if detail == Lists {
		writeList(&b, lang, "🧳", lang.Pick("返乡", "Arrivals"), v.Of(report.Arrival), func(r store.Revision) string {
			return fmt.Sprintf("%s %s→%s %s %s", r.Fields["name"], r.Fields["origin"], r.Fields["address"], r.Fields["arrived_on"], report.MaskPhone(r.Fields["phone"]))
		})
		writeList(&b, lang, "🌡", lang.Pick("发热", "Fevers"), fevers(v), func(r store.Revision) string {
			return fmt.Sprintf("%s %s %s %s", r.Fields["name"], report.DisplayValue("temperature", r.Fields["temperature"], lang, false), r.Fields["address"], r.Fields["action"])
		})
		writeList(&b, lang, "🎎", lang.Pick("婚丧", "Gatherings"), v.Of(report.Gathering), func(r store.Revision) string {
			return gatheringLine(r, lang)
		})
		writeList(&b, lang, "🏘", lang.Pick("租户", "Tenants"), v.Of(report.Tenant), func(r store.Revision) string {
			return fmt.Sprintf("%s %s %s %s", r.Fields["name"], r.Fields["address"], report.MaskPhone(r.Fields["phone"]), r.Fields["pass"])
		})
		writeList(&b, lang, "🔁", lang.Pick("回访", "Follow-ups"), v.Of(report.Followup), func(r store.Revision) string {
			line := r.Fields["name"]
			if t := r.Fields["temperature"]; t != "" {
				line += " " + report.DisplayValue("temperature", t, lang, false)
			}
			if res := r.Fields["result"]; res != "" {
				line += " " + report.DisplayValue("result", res, lang, false)
			}
			return line
		})
	}
	fmt.Fprintf(&b, "\n🏠 %s", lang.Pick(fmt.Sprintf("居家观察 %d 人", c.UnderObservation), fmt.Sprintf("under home observation: %d", c.UnderObservation)))
	if detail == Lists {
		var ending []string
		tomorrow := v.Day.AddDays(1)
		for _, r := range v.Observed {
			if r.EventDay().AddDays(observation-1) == tomorrow {
				ending = append(ending, esc(r.Fields["name"]))
			}
		}
		if len(ending) > 0 {
			b.WriteString(lang.Pick("，明天解除：", "; ending tomorrow: ") + strings.Join(ending, lang.Pick("、", ", ")))
		}
	}
	// everyone who sent a daily report is on the roster (sending one joins)
	expected := len(v.Missing) + c.DailyReports
	if expected == 0 {
		b.WriteString("\n📝 " + lang.Pick("日报名单为空：网格员在本群发送 /join 加入", "the daily roster is empty: grid workers send /join here"))
		return b.String()
	}
	fmt.Fprintf(&b, "\n📝 %s", lang.Pick(fmt.Sprintf("日报 %d/%d 已报", c.DailyReports, expected), fmt.Sprintf("daily reports: %d of %d", c.DailyReports, expected)))
	if len(v.Missing) > 0 {
		b.WriteString(lang.Pick("；未报：", "; missing: ") + names(v.Missing, lang))
	}
	return b.String()
}

func gatheringLine(r store.Revision, lang report.Lang) string {
	line := fmt.Sprintf("%s %s %s %s %s", report.DisplayValue("type", r.Fields["type"], lang, false), r.Fields["host"], r.Fields["date"], r.Fields["address"],
		lang.Pick(r.Fields["guests"]+"人", r.Fields["guests"]+" guests"))
	if t := r.Fields["tables"]; t != "" {
		line += lang.Pick(" "+t+"桌", " "+t+" tables")
	}
	if AboveThreshold(r) {
		line += lang.Pick(" ⚠️须审批", " ⚠️ needs approval")
	}
	return line
}

// AboveThreshold reports a gathering over the filing threshold.
func AboveThreshold(r store.Revision) bool {
	guests, _ := strconv.Atoi(r.Fields["guests"])
	tables, _ := strconv.Atoi(r.Fields["tables"])
	return guests > report.GuestsThreshold || tables > report.TablesThreshold
}

func writeList(b *strings.Builder, lang report.Lang, icon, title string, rs []store.Revision, line func(store.Revision) string) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s %s：", icon, title)
	for i, r := range rs {
		fmt.Fprintf(b, "\n  %d. %s", i+1, esc(strings.Join(strings.Fields(line(r)), " ")))
	}
}

// RenderRollup renders every village's day for the command group.
func RenderRollup(d Day, lang report.Lang, title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "📋 <b>%s</b> %s", esc(title), d.Day)
	var missing []string
	var feverCases, gatherings []string
	for _, v := range d.Villages {
		c := v.Counts
		daily, complete := dailyMark(v, lang)
		if !complete {
			missing = append(missing, esc(v.Name)+missingWho(v, lang))
		}
		b.WriteString("\n" + esc(v.Name) + lang.Pick(
			fmt.Sprintf("：%s 返乡%d 发热%d 婚丧%d 租户%d 观察%d", daily, c.Arrivals, c.Fevers, c.Gatherings, c.Tenants, c.UnderObservation),
			fmt.Sprintf(": %s arrivals %d fevers %d gatherings %d tenants %d observed %d", daily, c.Arrivals, c.Fevers, c.Gatherings, c.Tenants, c.UnderObservation)))
		if c.FollowUps > 0 {
			b.WriteString(lang.Pick(fmt.Sprintf(" 回访%d", c.FollowUps), fmt.Sprintf(" follow-ups %d", c.FollowUps)))
		}
		for _, r := range fevers(v) {
			feverCases = append(feverCases, esc(fmt.Sprintf("%s %s %s（%s）", v.Name, r.Fields["name"], report.DisplayValue("temperature", r.Fields["temperature"], lang, false), r.Fields["address"])))
		}
		for _, r := range v.Of(report.Gathering) {
			if AboveThreshold(r) {
				gatherings = append(gatherings, esc(v.Name+" "+gatheringLine(r, lang)))
			}
		}
	}
	t := d.Totals
	reported := len(d.Villages) - len(missing)
	b.WriteString("\n" + lang.Pick(
		fmt.Sprintf("<b>合计</b>：返乡%d 发热%d 婚丧%d 租户%d 观察%d%s；日报 %d/%d 村报齐", t.Arrivals, t.Fevers, t.Gatherings, t.Tenants, t.UnderObservation, followUpsIf(t.FollowUps, " 回访%d"), reported, len(d.Villages)),
		fmt.Sprintf("<b>Total</b>: arrivals %d fevers %d gatherings %d tenants %d observed %d%s; daily reports complete in %d of %d villages", t.Arrivals, t.Fevers, t.Gatherings, t.Tenants, t.UnderObservation, followUpsIf(t.FollowUps, " follow-ups %d"), reported, len(d.Villages))))
	if len(feverCases) > 0 {
		b.WriteString("\n🌡 " + lang.Pick("发热：", "Fevers: ") + capped(lang, feverCases))
	}
	if len(gatherings) > 0 {
		b.WriteString("\n🎎 " + lang.Pick("超过50人或5桌的婚丧：", "Gatherings above 50 people or 5 tables: ") + capped(lang, gatherings))
	}
	if len(missing) > 0 {
		b.WriteString("\n❗ " + lang.Pick("日报未报齐：", "Daily reports incomplete: ") + strings.Join(missing, lang.Pick("；", "; ")))
	}
	return b.String()
}

// followUpsIf renders a count of follow-ups, or nothing when there are none.
func followUpsIf(n int, format string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(format, n)
}

// dailyMark renders a village's daily reports for the roll-up: ✅ 4/4
// only when everyone on the roster reported, 日报 3/4 when some did,
// ❌ 0/4 when none did, and an empty roster as such.
func dailyMark(v Village, lang report.Lang) (text string, complete bool) {
	got := v.Counts.DailyReports
	expected := got + len(v.Missing)
	switch {
	case expected == 0:
		return lang.Pick("日报❌ 名单为空", "daily ❌ empty roster"), false
	case len(v.Missing) == 0:
		return fmt.Sprintf(lang.Pick("日报✅ %d/%d", "daily ✅ %d/%d"), got, expected), true
	case got == 0:
		return fmt.Sprintf(lang.Pick("日报❌ 0/%d", "daily ❌ 0/%d"), expected), false
	}
	return fmt.Sprintf(lang.Pick("日报 %d/%d", "daily %d/%d"), got, expected), false
}

// missingWho names, after a village in the roll-up, who has not reported.
func missingWho(v Village, lang report.Lang) string {
	if len(v.Missing) == 0 {
		return lang.Pick("（名单为空）", " (empty roster)")
	}
	const most = 5
	shown := v.Missing
	more := ""
	if len(shown) > most {
		shown, more = shown[:most], fmt.Sprintf(lang.Pick("等%d人", " and %d more"), len(v.Missing)-most)
	}
	return lang.Pick("（", " (") + names(shown, lang) + more + lang.Pick("）", ")")
}

// rollupListMax bounds the lists in a roll-up: the villages' summaries
// carry the rest.
const rollupListMax = 30

// capped joins a roll-up list, cut at rollupListMax items.
func capped(lang report.Lang, items []string) string {
	more := len(items) - rollupListMax
	if more <= 0 {
		return strings.Join(items, lang.Pick("；", "; "))
	}
	return strings.Join(items[:rollupListMax], lang.Pick("；", "; ")) +
		lang.Pick(fmt.Sprintf("；……另有 %d 起，见各村汇总", more), fmt.Sprintf("; … and %d more in the villages' summaries", more))
}

// fevers are a village's fever cases: fever reports at or above 37.3 °C.
func fevers(v Village) []store.Revision {
	var out []store.Revision
	for _, r := range v.Of(report.Fever) {
		if Feverish(r) {
			out = append(out, r)
		}
	}
	return out
}

// RenderObservation lists the people under home observation and the day
// their observation ends.
func RenderObservation(observed []store.Revision, days int, lang report.Lang) string {
	if len(observed) == 0 {
		return lang.Pick("目前没有居家观察人员。", "Nobody is under home observation now.")
	}
	sorted := append([]store.Revision(nil), observed...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].EventDay().Compare(sorted[j].EventDay()) < 0 })
	var b strings.Builder
	b.WriteString(lang.Pick(fmt.Sprintf("🏠 居家观察 %d 人（%d 天）：", len(sorted), days), fmt.Sprintf("🏠 %d under home observation (%d days):", len(sorted), days)))
	for _, r := range sorted {
		arrived := r.EventDay()
		line := lang.Pick(
			fmt.Sprintf("%s（%s）%s 返回，观察至 %s", r.Fields["name"], r.Fields["address"], arrived, arrived.AddDays(days-1)),
			fmt.Sprintf("%s (%s) arrived %s, until %s", r.Fields["name"], r.Fields["address"], arrived, arrived.AddDays(days-1)))
		b.WriteString("\n• " + esc(line))
	}
	return b.String()
}
