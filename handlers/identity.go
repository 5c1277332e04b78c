package handlers

import (
	"context"
	"fmt"
	"html"
	"strings"

	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

// villageOf names the village a chat reports for ("" for none) and the
// chat of its group (0 when it has none).
func (h *Handler) villageOf(ctx context.Context, chat int64) (string, int64, error) {
	b, ok, err := h.store.Binding(ctx, chat)
	if err != nil || !ok || (b.Role != store.RoleVillage && b.Role != store.RoleLandlord) {
		return "", 0, err
	}
	group, err := h.villageGroup(ctx, b)
	if err != nil {
		return b.Name, 0, nil // a landlord's village without a group any more
	}
	return b.Name, group, nil
}

// earlierRegistration returns the registration rev updates: the latest
// earlier arrival or tenant of the same person (tally.SamePerson) in the
// same village within the village's observation period.
func (h *Handler) earlierRegistration(ctx context.Context, rev store.Revision) (store.Revision, bool, error) {
	if rev.Kind != report.Arrival && rev.Kind != report.Tenant {
		return store.Revision{}, false, nil
	}
	phone, id := rev.Fields["phone"], rev.Fields["id_number"]
	if id == "" && (phone == "" || rev.Fields["name"] == "") {
		return store.Revision{}, false, nil
	}
	name, group, err := h.villageOf(ctx, rev.Chat)
	if err != nil || name == "" {
		return store.Revision{}, false, err
	}
	days := tally.DefaultObservationDays
	if group != 0 {
		settings, err := h.store.Settings(ctx, group)
		if err != nil {
			return store.Revision{}, false, fmt.Errorf("handlers: earlier registration: %w", err)
		}
		days = observationDays(settings)
	}
	found, err := h.store.FindIdentity(ctx, phone, id, rev.Day.AddDays(-days))
	if err != nil {
		return store.Revision{}, false, fmt.Errorf("handlers: earlier registration: %w", err)
	}
	var best *store.Revision
	for i, f := range found {
		if baseMessage(f.MessageID) == baseMessage(rev.MessageID) && f.Chat == rev.Chat || !tally.Later(rev, f) || !tally.SamePerson(f, rev) {
			continue
		}
		if v, _, err := h.villageOf(ctx, f.Chat); err != nil {
			return store.Revision{}, false, err
		} else if v != name {
			continue
		}
		if best == nil || tally.Later(f, *best) {
			best = &found[i]
		}
	}
	if best == nil {
		return store.Revision{}, false, nil
	}
	return *best, true, nil
}

// changesFrom lists what rev changes in an earlier registration of the
// same person: 住址：郝家店村2组 → 郝家店村5组; numbers masked.
func changesFrom(earlier, rev store.Revision, lang report.Lang) []string {
	spec, _ := report.Spec(rev.Kind)
	var out []string
	for _, f := range spec.Fields() {
		if f == "note" || f == "pass" || f == "landlord" {
			continue
		}
		was, now := earlier.Fields[f], rev.Fields[f]
		if was == now || now == "" {
			continue // unchanged, or not stated again
		}
		show := func(v string) string {
			if v == "" {
				return lang.Pick("（未填）", "(none)")
			}
			return report.DisplayValue(f, v, lang, true)
		}
		out = append(out, report.Label(f, lang)+lang.Pick("：", ": ")+show(was)+" → "+show(now))
	}
	return out
}

// updateHeader heads the receipt of a registration that updates an
// earlier one, and says what changed.
func updateHeader(earlier, rev store.Revision, lang report.Lang) (head, changed string) {
	if hiddenUpdate(earlier, rev) {
		return privateUpdateHeader(lang), ""
	}
	who := html.EscapeString(rev.Sender)
	kind := report.KindName(rev.Kind, lang)
	person := html.EscapeString(earlier.Fields["name"])
	head = lang.Pick(
		fmt.Sprintf("✏️ 已更新 <b>%s</b> 的%s：%s 已于 %s 登记过，按同一人更新，不重复计数", who, kind, person, earlier.Day),
		fmt.Sprintf("✏️ Updated: <b>%s</b>'s %s — %s was registered on %s; this updates that registration and is counted once", who, kind, person, earlier.Day))
	diff := changesFrom(earlier, rev, lang)
	if len(diff) == 0 {
		return head, lang.Pick("变化：无", "Changed: nothing")
	}
	return head, html.EscapeString(lang.Pick("变化：", "Changed: ") + strings.Join(diff, lang.Pick("；", "; ")))
}

// sameVillagePerson reports whether f is a registration of rev's person
// in rev's village: not a duplicate to warn about, but one rev updates.
func (h *Handler) sameVillagePerson(ctx context.Context, f, rev store.Revision) (bool, error) {
	if !tally.SamePerson(f, rev) {
		return false, nil
	}
	a, _, err := h.villageOf(ctx, f.Chat)
	if err != nil {
		return false, err
	}
	b, _, err := h.villageOf(ctx, rev.Chat)
	return err == nil && a != "" && a == b, err
}
