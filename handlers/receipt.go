package handlers

import (
	"context"
	"fmt"
	"html"
	"strings"
	"time"

	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

// duplicateWindow is how far back an arrival or tenant is looked for under
// the same phone or ID number.
const duplicateWindow = 14

// RenderReceipts renders the reply to the reports in messages ids of chat,
// as they are now, for one message: the bot's sender calls it when the
// receipt is sent (several receipts of a chat due together are merged) and
// again when a report is edited or withdrawn after its receipt was sent.
// Reports that never existed are left out; if none is left the text is "".
func (h *Handler) RenderReceipts(ctx context.Context, chat int64, ids []int64) (string, error) {
	settings, err := h.store.Settings(ctx, chat)
	if err != nil {
		return "", fmt.Errorf("handlers: receipt: settings: %w", err)
	}
	loc := h.location(settings)
	var sections []string
	for _, id := range ids {
		section, err := h.renderReceipt(ctx, chat, id, loc)
		if err != nil {
			return "", err
		}
		if section != "" {
			sections = append(sections, section)
		}
	}
	return fitToPost(chat, strings.Join(sections, "\n\n")), nil
}

// renderReceipt renders the receipt of message id: one section per person
// it holds.
func (h *Handler) renderReceipt(ctx context.Context, chat, id int64, loc *time.Location) (string, error) {
	people, err := h.peopleOf(ctx, chat, id)
	if err != nil {
		return "", fmt.Errorf("handlers: receipt: %w", err)
	}
	if len(people) == 0 {
		return h.renderWithdrawn(ctx, chat, id)
	}
	if len(people) == 1 {
		return h.renderPerson(ctx, people[0], loc)
	}
	return h.renderPeople(ctx, people, loc)
}

// renderPeople renders the receipt of a message that lists several
// people: one line per person, then what each needs fixed or was warned
// about.
func (h *Handler) renderPeople(ctx context.Context, people []store.Revision, loc *time.Location) (string, error) {
	first := people[0]
	lang := first.Lang
	ok := 0
	for _, p := range people {
		if p.Valid() {
			ok++
		}
	}
	var b strings.Builder
	kind := report.KindName(first.Kind, lang)
	who := html.EscapeString(first.Sender)
	if ok == len(people) {
		b.WriteString(lang.Pick(fmt.Sprintf("✅ <b>%s</b> 的%s已记录，共 %d 人：", who, kind, len(people)),
			fmt.Sprintf("✅ <b>%s</b>: %s recorded for %d people:", who, kind, len(people))))
	} else {
		b.WriteString(lang.Pick(fmt.Sprintf("<b>%s</b> 的%s共 %d 人：%d 人已记录，%d 人需要修改（直接编辑原消息即可）", who, kind, len(people), ok, len(people)-ok),
			fmt.Sprintf("<b>%s</b>'s %s, %d people: %d recorded, %d to fix (edit your message)", who, kind, len(people), ok, len(people)-ok)))
	}
	for i, rev := range people {
		r := parsePerson(rev, report.Context{Now: rev.SentAt, Location: loc, BotUsername: h.cfg.BotUsername})
		mark := "✅"
		if !rev.Valid() {
			mark = "❌"
		}
		earlier, isUpdate, err := h.earlierRegistration(ctx, rev)
		if err != nil {
			return "", err
		}
		if isUpdate {
			mark = "✏️"
		}
		fmt.Fprintf(&b, "\n%d. %s %s", i+1, mark, html.EscapeString(report.MaskText(listLine(rev, lang, loc, false, false))))
		switch {
		case isUpdate && hiddenUpdate(earlier, rev):
			b.WriteString(lang.Pick("（近期已有登记，按同一人更新）", " (registered recently, updated)"))
		case isUpdate:
			_, changed := updateHeader(earlier, rev, lang)
			b.WriteString(lang.Pick("（已于 ", " (registered on ") + earlier.Day.String() + lang.Pick(" 登记过，按同一人更新）", ", updated)") + changed)
		}
		for _, p := range r.Problems {
			b.WriteString("\n   ❗ " + html.EscapeString(p.Message))
		}
		for _, w := range r.Warnings {
			b.WriteString("\n   ⚠️ " + html.EscapeString(w.Message))
		}
		dups, err := h.duplicates(ctx, rev, earlier, isUpdate)
		if err != nil {
			return "", err
		}
		for _, d := range dups {
			b.WriteString("\n   ⚠️ " + d)
		}
	}
	return b.String(), nil
}

// renderPerson renders the receipt of one report.
func (h *Handler) renderPerson(ctx context.Context, rev store.Revision, loc *time.Location) (string, error) {
	r := parsePerson(rev, report.Context{Now: rev.SentAt, Location: loc, Sender: rev.Sender, BotUsername: h.cfg.BotUsername})
	lang := rev.Lang
	who := html.EscapeString(rev.Sender)
	kind := report.KindName(rev.Kind, lang)
	var b strings.Builder
	if !rev.Valid() {
		if lang == report.En {
			fmt.Fprintf(&b, "❌ <b>%s</b>: the %s report needs %d fix(es):", who, kind, len(r.Problems))
		} else {
			fmt.Fprintf(&b, "❌ <b>%s</b> 的%s有 %d 处需要修改：", who, kind, len(r.Problems))
		}
		for i, p := range r.Problems {
			fmt.Fprintf(&b, "\n%d. %s", i+1, html.EscapeString(p.Message))
		}
		shown := report.Report{Kind: rev.Kind, Lang: lang, Fields: rev.Fields}
		if lang == report.En {
			b.WriteString("\nLong-press your message → Edit to fix it, reply to this message with what is missing, or send this again completed:")
		} else {
			b.WriteString("\n长按你的消息 → 编辑，改好后我会重新检查；也可以回复这条消息补上缺的内容，或补全下面的模板重新发送：")
		}
		b.WriteString("\n<pre>" + html.EscapeString(report.FillTemplate(shown, true)) + "</pre>")
		return b.String(), nil
	}
	earlier, isUpdate, err := h.earlierRegistration(ctx, rev)
	if err != nil {
		return "", err
	}
	var changed string
	switch {
	case isUpdate:
		var head string
		head, changed = updateHeader(earlier, rev, lang)
		b.WriteString(head)
	case lang == report.En:
		fmt.Fprintf(&b, "✅ <b>%s</b>: %s recorded", who, kind)
	default:
		fmt.Fprintf(&b, "✅ <b>%s</b> 的%s已记录", who, kind)
	}
	formatted := report.Format(report.Report{Kind: rev.Kind, Lang: lang, Fields: rev.Fields}, report.FormatOptions{Mask: true})
	if _, body, ok := strings.Cut(formatted, "\n"); ok {
		b.WriteString("\n" + html.EscapeString(body))
	}
	if changed != "" {
		b.WriteString("\n" + changed)
	}
	if rev.Kind == report.Followup {
		line, err := h.followupLine(ctx, rev, lang)
		if err != nil {
			return "", err
		}
		b.WriteString("\n" + line)
	}
	for _, w := range r.Warnings {
		b.WriteString("\n⚠️ " + html.EscapeString(w.Message))
	}
	dups, err := h.duplicates(ctx, rev, earlier, isUpdate)
	if err != nil {
		return "", err
	}
	for _, d := range dups {
		b.WriteString("\n⚠️ " + d)
	}
	return b.String(), nil
}

// renderWithdrawn renders a report that was withdrawn, or "" for a message
// that never held a report.
func (h *Handler) renderWithdrawn(ctx context.Context, chat, id int64) (string, error) {
	var lasts []store.Revision
	for i := 0; i < maxPersons; i++ {
		hist, err := h.store.History(ctx, chat, personID(id, i))
		if err != nil {
			return "", fmt.Errorf("handlers: receipt: history: %w", err)
		}
		var last *store.Revision // the newest edit, as the store folds them
		for _, ev := range hist {
			if r := ev.Revision; r != nil && (last == nil || r.Revision >= last.Revision) {
				last = r
			}
		}
		if last == nil {
			break
		}
		lasts = append(lasts, *last)
	}
	if len(lasts) == 0 {
		return "", nil
	}
	return say(lasts[0].Lang, "undone", summaryOf(lasts, lasts[0].Lang)), nil
}

// summaryOf names the reports of one message in a few words: 王书记
// 的返乡登记（张三、李四）.
func summaryOf(rs []store.Revision, lang report.Lang) string {
	r := rs[0]
	who := namesOf(rs, lang)
	kind := report.KindName(r.Kind, lang)
	if lang == report.En {
		if who != "" {
			return fmt.Sprintf("%s's %s report (%s)", r.Sender, kind, who)
		}
		return fmt.Sprintf("%s's %s report", r.Sender, kind)
	}
	if who != "" {
		return fmt.Sprintf("%s 的%s（%s）", r.Sender, kind, who)
	}
	return fmt.Sprintf("%s 的%s", r.Sender, kind)
}

// duplicates warns when an arrival or tenant's phone or ID number is on
// record already, naming the village and the day of the earlier report.
func (h *Handler) duplicates(ctx context.Context, rev, updated store.Revision, isUpdate bool) ([]string, error) {
	if rev.Kind != report.Arrival && rev.Kind != report.Tenant {
		return nil, nil
	}
	phone, id := rev.Fields["phone"], rev.Fields["id_number"]
	if phone == "" && id == "" {
		return nil, nil
	}
	found, err := h.store.FindIdentity(ctx, phone, id, rev.Day.AddDays(-duplicateWindow))
	if err != nil {
		return nil, fmt.Errorf("handlers: receipt: duplicates: %w", err)
	}
	if !isGroup(rev.Chat) {
		return privateDuplicates(rev, found), nil
	}
	var out []string
	names := map[int64]string{}
	warned := map[string]bool{}
	for _, f := range found {
		if f.Chat == rev.Chat && f.MessageID == rev.MessageID {
			continue
		}
		if tally.Later(f, rev) {
			continue // a later report is the duplicate, not this one
		}
		if isUpdate && (tally.SamePerson(f, updated) && f.Chat == updated.Chat || f.Chat == updated.Chat && f.MessageID == updated.MessageID) {
			continue // the registration this one updates: said above
		}
		if same, err := h.sameVillagePerson(ctx, f, rev); err != nil {
			return nil, err
		} else if same {
			continue // an older registration of the person in this village, updated since
		}
		name, ok := names[f.Chat]
		if !ok {
			b, bound, err := h.store.Binding(ctx, f.Chat)
			if err != nil {
				return nil, fmt.Errorf("handlers: receipt: duplicates: %w", err)
			}
			if bound {
				name = b.Name
			}
			names[f.Chat] = name
		}
		kind := report.KindName(f.Kind, rev.Lang)
		if seen := name + "|" + f.Fields["name"] + "|" + kind; warned[seen] {
			continue // one warning per village and person: the first registration there
		} else {
			warned[seen] = true
		}
		same := report.MaskPhone(f.Fields["phone"])
		if f.Fields["id_number"] != "" && f.Fields["id_number"] == rev.Fields["id_number"] {
			same = report.MaskID(f.Fields["id_number"])
		}
		if rev.Lang == report.En {
			out = append(out, html.EscapeString(fmt.Sprintf("%s (%s) was already registered on %s in %s (%s): do not register the same person twice", f.Fields["name"], same, f.Day, name, kind)))
		} else {
			out = append(out, html.EscapeString(fmt.Sprintf("%s（%s）已于 %s 在 %s 登记过（%s），同一人请勿重复登记", f.Fields["name"], same, f.Day, name, kind)))
		}
		if len(out) == 3 {
			break
		}
	}
	return out, nil
}
