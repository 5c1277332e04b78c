package handlers

import (
	"context"
	"fmt"
	"html"
	"strings"
	"time"

	"gridbot/report"
	"gridbot/store"
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

func (h *Handler) renderReceipt(ctx context.Context, chat, id int64, loc *time.Location) (string, error) {
	rev, ok, err := h.store.Report(ctx, chat, id)
	if err != nil {
		return "", fmt.Errorf("handlers: receipt: %w", err)
	}
	if !ok {
		return h.renderWithdrawn(ctx, chat, id)
	}
	r := report.Parse(rev.Text, report.Context{Now: rev.SentAt, Location: loc, Sender: rev.Sender, BotUsername: h.cfg.BotUsername})
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
			b.WriteString("\nEdit your message to fix it, or send this again completed:")
		} else {
			b.WriteString("\n直接编辑原消息即可修改，或补全下面的模板重新发送：")
		}
		b.WriteString("\n<pre>" + html.EscapeString(report.FillTemplate(shown, true)) + "</pre>")
		return b.String(), nil
	}
	if lang == report.En {
		fmt.Fprintf(&b, "✅ <b>%s</b>: %s recorded", who, kind)
	} else {
		fmt.Fprintf(&b, "✅ <b>%s</b> 的%s已记录", who, kind)
	}
	formatted := report.Format(report.Report{Kind: rev.Kind, Lang: lang, Fields: rev.Fields}, report.FormatOptions{Mask: true})
	if _, body, ok := strings.Cut(formatted, "\n"); ok {
		b.WriteString("\n" + html.EscapeString(body))
	}
	for _, w := range r.Warnings {
		b.WriteString("\n⚠️ " + html.EscapeString(w.Message))
	}
	dups, err := h.duplicates(ctx, rev)
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
	hist, err := h.store.History(ctx, chat, id)
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
		return "", nil
	}
	return say(last.Lang, "undone", summaryLine(*last, last.Lang)), nil
}

// summaryLine names a report in a few words: 王书记 的返乡登记（张三）.
func summaryLine(r store.Revision, lang report.Lang) string {
	who := r.Fields["name"]
	if who == "" {
		who = r.Fields["host"]
	}
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

// later reports whether report a was sent after report b (ties broken by
// chat and message id, so exactly one of two reports is the later).
func later(a, b store.Revision) bool {
	switch {
	case a.Day != b.Day:
		return a.Day.Compare(b.Day) > 0
	case !a.SentAt.Equal(b.SentAt):
		return a.SentAt.After(b.SentAt)
	case a.Chat != b.Chat:
		return a.Chat > b.Chat
	}
	return a.MessageID > b.MessageID
}

// duplicates warns when an arrival or tenant's phone or ID number is on
// record already, naming the village and the day of the earlier report.
func (h *Handler) duplicates(ctx context.Context, rev store.Revision) ([]string, error) {
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
	for _, f := range found {
		if f.Chat == rev.Chat && f.MessageID == rev.MessageID {
			continue
		}
		if later(f, rev) {
			continue // a later report is the duplicate, not this one
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
