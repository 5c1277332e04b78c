// Package tally computes a village's numbers for a day from the store: the
// numbers /today shows, the evening summary and the command's roll-up
// report, and `gridbot summary` prints. One definition serves them all:
//
//   - a report counts on the local day its message was sent (Revision.Day);
//   - only its current revision counts, only if valid, never if withdrawn;
//   - a village is its group chat plus the landlords' private chats bound to
//     the same village name;
//   - a fever counts when its temperature is at or above 37.3 °C;
//   - daily reports count the distinct grid workers who sent one; missing
//     are the roster members (who have not left) who did not;
//   - under observation are the arrivals whose observation period (days
//     from arrived_on, 14 by default) covers the day;
//   - one person is one person: an arrival or tenant registered again in
//     the village within the observation period (the same ID number, or
//     name and phone) updates the earlier registration and is counted once
//     (see SamePerson).
package tally

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"

	"gridbot/report"
	"gridbot/store"
)

// DefaultObservationDays is the home observation period after an arrival.
const DefaultObservationDays = 14

// Source is what tally reads from the store.
type Source interface {
	Bindings(ctx context.Context) ([]store.Binding, error)
	Reports(ctx context.Context, q store.ReportQuery) ([]store.Revision, error)
	ActiveMembers(ctx context.Context, chat int64) ([]store.Member, error)
	// CurrentChat follows migrations: a report keeps the id of the chat it
	// was sent in, which may be a group's id from before it became a
	// supergroup.
	CurrentChat(ctx context.Context, chat int64) (int64, error)
}

// Counts are a village's (or all villages') numbers for a day.
type Counts struct {
	Arrivals         int `json:"arrivals"`
	Fevers           int `json:"fevers"`
	Gatherings       int `json:"gatherings"`
	Tenants          int `json:"tenants"`
	DailyReports     int `json:"daily_reports"`
	UnderObservation int `json:"under_observation"`
	FollowUps        int `json:"followups"`
}

func (c *Counts) add(o Counts) {
	c.Arrivals += o.Arrivals
	c.Fevers += o.Fevers
	c.Gatherings += o.Gatherings
	c.Tenants += o.Tenants
	c.DailyReports += o.DailyReports
	c.UnderObservation += o.UnderObservation
	c.FollowUps += o.FollowUps
}

// Village is one village's day.
type Village struct {
	Name   string
	Chat   int64 // the village group's current chat id
	Day    report.Date
	Counts Counts
	// Reports are the day's current valid reports, in order.
	Reports []store.Revision
	// Observed are the arrivals under observation on the day.
	Observed []store.Revision
	// Reported and Missing split the roster by whether they sent a daily
	// report; Reported may include senders who are not on the roster.
	Reported []store.Member
	Missing  []store.Member
	// Updates are the day's registrations of a person registered before
	// (the same ID number, or name and phone, within the observation
	// period): they update that registration and are not counted again.
	Updates []store.Revision

	earlier  []store.Revision // registrations of the days before, in the observation period
	released []store.Revision // follow-ups up to the day that ended an observation early
}

// Of returns the reports of one kind.
func (v Village) Of(k report.Kind) []store.Revision {
	var out []store.Revision
	for _, r := range v.Reports {
		if r.Kind == k {
			out = append(out, r)
		}
	}
	return out
}

// Day is every village's day.
type Day struct {
	Day      report.Date
	Villages []Village
	Totals   Counts
}

// ObservationDays returns the observation period for a village chat: its
// setting, or the default.
type ObservationDays func(chat int64) int

// OneVillage computes the day of the village whose group is chat.
func OneVillage(ctx context.Context, src Source, chat int64, day report.Date, observation int) (Village, error) {
	chat, err := src.CurrentChat(ctx, chat) // bindings are listed under a chat's current id
	if err != nil {
		return Village{}, fmt.Errorf("tally: current chat: %w", err)
	}
	bindings, err := src.Bindings(ctx)
	if err != nil {
		return Village{}, fmt.Errorf("tally: bindings: %w", err)
	}
	var group *store.Binding
	for i, b := range bindings {
		if b.Chat == chat && b.Role == store.RoleVillage {
			group = &bindings[i]
		}
	}
	if group == nil {
		return Village{}, fmt.Errorf("tally: chat %d is not a village group: %w", chat, store.ErrNotFound)
	}
	chats := []int64{group.Chat}
	for _, b := range bindings {
		if b.Role == store.RoleLandlord && b.Name == group.Name {
			chats = append(chats, b.Chat)
		}
	}
	v := Village{Name: group.Name, Chat: group.Chat, Day: day}
	for _, c := range chats {
		rs, err := src.Reports(ctx, store.ReportQuery{Chat: c, From: day, To: day})
		if err != nil {
			return Village{}, fmt.Errorf("tally: reports: %w", err)
		}
		v.Reports = append(v.Reports, rs...)
		obs, err := src.Reports(ctx, store.ReportQuery{Chat: c, Kind: report.Arrival, EventFrom: day.AddDays(1 - observation), EventTo: day})
		if err != nil {
			return Village{}, fmt.Errorf("tally: observation: %w", err)
		}
		v.Observed = append(v.Observed, obs...)
		for _, k := range []report.Kind{report.Arrival, report.Tenant} {
			before, err := src.Reports(ctx, store.ReportQuery{Chat: c, Kind: k, From: day.AddDays(-observation), To: day.AddDays(-1)})
			if err != nil {
				return Village{}, fmt.Errorf("tally: earlier registrations: %w", err)
			}
			v.earlier = append(v.earlier, before...)
		}
		fus, err := src.Reports(ctx, store.ReportQuery{Chat: c, Kind: report.Followup, From: day.AddDays(-observation), To: day})
		if err != nil {
			return Village{}, fmt.Errorf("tally: follow-ups: %w", err)
		}
		v.released = append(v.released, releases(fus)...)
	}
	if err := finish(ctx, src, &v); err != nil {
		return Village{}, err
	}
	return v, nil
}

// AllVillages computes the day of every bound village, ordered by name.
func AllVillages(ctx context.Context, src Source, day report.Date, observation ObservationDays) (Day, error) {
	bindings, err := src.Bindings(ctx)
	if err != nil {
		return Day{}, fmt.Errorf("tally: bindings: %w", err)
	}
	byName := map[string]*Village{}
	villageOf := map[int64]*Village{}
	longest := DefaultObservationDays
	for _, b := range bindings {
		if b.Role != store.RoleVillage {
			continue
		}
		v := &Village{Name: b.Name, Chat: b.Chat, Day: day}
		byName[b.Name] = v
		villageOf[b.Chat] = v
		if n := observation(b.Chat); n > longest {
			longest = n
		}
	}
	for _, b := range bindings {
		if b.Role == store.RoleLandlord {
			if v, ok := byName[b.Name]; ok {
				villageOf[b.Chat] = v
			}
		}
	}
	// a report sent before its group became a supergroup: follow it forward
	village := func(chat int64) (*Village, error) {
		if v, ok := villageOf[chat]; ok {
			return v, nil
		}
		current, err := src.CurrentChat(ctx, chat)
		if err != nil {
			return nil, fmt.Errorf("tally: current chat: %w", err)
		}
		villageOf[chat] = villageOf[current] // nil for a chat of no village
		return villageOf[chat], nil
	}
	rs, err := src.Reports(ctx, store.ReportQuery{From: day, To: day})
	if err != nil {
		return Day{}, fmt.Errorf("tally: reports: %w", err)
	}
	for _, r := range rs {
		v, err := village(r.Chat)
		if err != nil {
			return Day{}, err
		}
		if v != nil {
			v.Reports = append(v.Reports, r)
		}
	}
	obs, err := src.Reports(ctx, store.ReportQuery{Kind: report.Arrival, EventFrom: day.AddDays(1 - longest), EventTo: day})
	if err != nil {
		return Day{}, fmt.Errorf("tally: observation: %w", err)
	}
	for _, r := range obs {
		v, err := village(r.Chat)
		if err != nil {
			return Day{}, err
		}
		if v == nil {
			continue
		}
		if r.EventDay().Compare(day.AddDays(1-observation(v.Chat))) >= 0 {
			v.Observed = append(v.Observed, r)
		}
	}
	for _, k := range []report.Kind{report.Arrival, report.Tenant} {
		before, err := src.Reports(ctx, store.ReportQuery{Kind: k, From: day.AddDays(-longest), To: day.AddDays(-1)})
		if err != nil {
			return Day{}, fmt.Errorf("tally: earlier registrations: %w", err)
		}
		for _, r := range before {
			v, err := village(r.Chat)
			if err != nil {
				return Day{}, err
			}
			if v != nil && r.Day.Compare(day.AddDays(-observation(v.Chat))) >= 0 {
				v.earlier = append(v.earlier, r)
			}
		}
	}
	fus, err := src.Reports(ctx, store.ReportQuery{Kind: report.Followup, From: day.AddDays(-longest), To: day})
	if err != nil {
		return Day{}, fmt.Errorf("tally: follow-ups: %w", err)
	}
	for _, r := range releases(fus) {
		v, err := village(r.Chat)
		if err != nil {
			return Day{}, err
		}
		if v != nil {
			v.released = append(v.released, r)
		}
	}
	out := Day{Day: day}
	for _, v := range byName {
		if err := finish(ctx, src, v); err != nil {
			return Day{}, err
		}
		out.Villages = append(out.Villages, *v)
		out.Totals.add(v.Counts)
	}
	sort.Slice(out.Villages, func(i, j int) bool { return out.Villages[i].Name < out.Villages[j].Name })
	return out, nil
}

// Feverish reports whether a fever report's temperature is at or above
// the fever threshold (37.3 °C). A report below it is accepted with a
// warning — often a follow-up reading — but is no fever case: it is not
// counted or listed as one.
func Feverish(r store.Revision) bool {
	t, err := strconv.ParseFloat(r.Fields["temperature"], 64)
	return err != nil || math.Round(t*10) >= report.FeverThreshold
}

// finish counts the reports and splits the roster.
func finish(ctx context.Context, src Source, v *Village) error {
	// one person is one person
	var again []store.Revision
	v.Reports, again = onePerEach(v.Reports)
	v.Reports, v.Updates = newPeople(v.Reports, v.earlier)
	v.Updates = append(v.Updates, again...)
	v.Observed, _ = onePerEach(v.Observed)
	v.Observed = stillObserved(v.Observed, v.released)
	reporters := map[int64]store.Member{}
	for _, r := range v.Reports {
		switch r.Kind {
		case report.Arrival:
			v.Counts.Arrivals++
		case report.Fever:
			if Feverish(r) {
				v.Counts.Fevers++
			}
		case report.Gathering:
			v.Counts.Gatherings++
		case report.Tenant:
			v.Counts.Tenants++
		case report.Followup:
			v.Counts.FollowUps++
		case report.Daily:
			if _, ok := reporters[r.SenderID]; !ok {
				reporters[r.SenderID] = store.Member{Chat: v.Chat, UserID: r.SenderID, Name: r.Sender, At: r.At}
			}
		}
	}
	v.Counts.DailyReports = len(reporters)
	v.Counts.UnderObservation = len(v.Observed)
	roster, err := src.ActiveMembers(ctx, v.Chat)
	if err != nil {
		return fmt.Errorf("tally: roster: %w", err)
	}
	for _, m := range roster {
		if _, ok := reporters[m.UserID]; ok {
			continue
		}
		v.Missing = append(v.Missing, m)
	}
	for _, m := range reporters {
		v.Reported = append(v.Reported, m)
	}
	sort.Slice(v.Reported, func(i, j int) bool { return v.Reported[i].UserID < v.Reported[j].UserID })
	return nil
}
