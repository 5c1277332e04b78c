package handlers

import (
	"context"
	"fmt"
	"html"

	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

// followupTarget finds the open case a follow-up (回访) closes: the
// person's latest fever case, or their home observation, in the village
// within its observation period. A 解除观察 looks for the observation
// first, any other result for the fever case first.
func (h *Handler) followupTarget(ctx context.Context, rev store.Revision) (target store.Revision, found bool, days int, err error) {
	days = tally.DefaultObservationDays
	_, group, err := h.villageOf(ctx, rev.Chat)
	if err != nil || group == 0 {
		return store.Revision{}, false, days, err
	}
	settings, err := h.store.Settings(ctx, group)
	if err != nil {
		return store.Revision{}, false, days, fmt.Errorf("handlers: follow-up: %w", err)
	}
	days = observationDays(settings)
	fevers, err := h.store.Reports(ctx, store.ReportQuery{Chat: group, Kind: report.Fever, From: rev.Day.AddDays(-days), To: rev.Day})
	if err != nil {
		return store.Revision{}, false, days, fmt.Errorf("handlers: follow-up: %w", err)
	}
	arrivals, err := h.store.Reports(ctx, store.ReportQuery{Chat: group, Kind: report.Arrival, EventFrom: rev.Day.AddDays(1 - days), EventTo: rev.Day})
	if err != nil {
		return store.Revision{}, false, days, fmt.Errorf("handlers: follow-up: %w", err)
	}
	latest := func(rs []store.Revision, ok func(store.Revision) bool) *store.Revision {
		var best *store.Revision
		for i, r := range rs {
			if tally.SameName(rev, r) && tally.Later(rev, r) && ok(r) && (best == nil || tally.Later(r, *best)) {
				best = &rs[i]
			}
		}
		return best
	}
	fever := latest(fevers, tally.Feverish)
	observed := latest(arrivals, func(store.Revision) bool { return true })
	order := []*store.Revision{fever, observed}
	if rev.Fields["result"] == tally.ResultReleased {
		order = []*store.Revision{observed, fever}
	}
	for _, r := range order {
		if r != nil {
			return *r, true, days, nil
		}
	}
	return store.Revision{}, false, days, nil
}

// followupLine says on a follow-up's receipt which case it closes.
func (h *Handler) followupLine(ctx context.Context, rev store.Revision, lang report.Lang) (string, error) {
	target, found, days, err := h.followupTarget(ctx, rev)
	if err != nil {
		return "", err
	}
	name := rev.Fields["name"]
	if !found {
		return "⚠️ " + html.EscapeString(lang.Pick(
			fmt.Sprintf("本村近 %d 天没有 %s 的发热报告或居家观察记录，已按回访记录；请核对姓名。", days, name),
			fmt.Sprintf("No fever report or home observation of %s in this village in the last %d days: recorded as a follow-up; check the name.", name, days))), nil
	}
	result := rev.Fields["result"]
	var what, outcome string
	if target.Kind == report.Fever {
		what = lang.Pick(
			fmt.Sprintf("%s 的发热报告（%s %s）", name, target.Day, report.DisplayValue("temperature", target.Fields["temperature"], lang, false)),
			fmt.Sprintf("%s's fever report (%s %s)", name, target.Day, report.DisplayValue("temperature", target.Fields["temperature"], lang, false)))
		switch result {
		case tally.ResultStillFever:
			outcome = lang.Pick("仍发热，请继续跟进", "still feverish: keep following up")
		case tally.ResultHospital:
			outcome = lang.Pick("已送医，病例结案", "taken to hospital: case closed")
		default:
			outcome = lang.Pick("已回访，病例结案", "followed up: case closed")
		}
	} else {
		arrived := target.EventDay()
		what = lang.Pick(
			fmt.Sprintf("%s 的居家观察（%s 返回，观察至 %s）", name, arrived, arrived.AddDays(days-1)),
			fmt.Sprintf("%s's home observation (arrived %s, until %s)", name, arrived, arrived.AddDays(days-1)))
		outcome = lang.Pick("已回访", "followed up")
		if result == tally.ResultReleased {
			outcome = lang.Pick("解除居家观察，不再计入观察人数", "observation ended: no longer counted as under observation")
		}
	}
	return "🔗 " + html.EscapeString(report.MaskText(lang.Pick("对应 ", "Closes ")+what+lang.Pick("：", ": ")+outcome)), nil
}
