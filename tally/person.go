package tally

import (
	"gridbot/report"
	"gridbot/store"
)

// One person is one person: an arrival or a tenant registered again in the
// same village within the observation period — the same ID number, or the
// same name and phone — updates the earlier registration and is counted
// once.

// identityKeys are the keys that make two registrations one person.
func identityKeys(r store.Revision) []string {
	var keys []string
	if id := r.Fields["id_number"]; id != "" {
		keys = append(keys, string(r.Kind)+"|id|"+id)
	}
	if name, phone := r.Fields["name"], r.Fields["phone"]; name != "" && phone != "" {
		keys = append(keys, string(r.Kind)+"|np|"+name+"|"+phone)
	}
	return keys
}

// SamePerson reports whether two registrations of the same kind
// (arrival or tenant) are of one person: the same ID number, or the same
// name and phone.
func SamePerson(a, b store.Revision) bool {
	if a.Kind != b.Kind || (a.Kind != report.Arrival && a.Kind != report.Tenant) {
		return false
	}
	for _, ka := range identityKeys(a) {
		for _, kb := range identityKeys(b) {
			if ka == kb {
				return true
			}
		}
	}
	return false
}

// registers reports whether a kind registers a person once.
func registers(k report.Kind) bool { return k == report.Arrival || k == report.Tenant }

// Later reports whether report a was sent after report b: the one order
// of reports (by day, then time sent, ties broken by chat and message id,
// so exactly one of two reports is the later).
func Later(a, b store.Revision) bool {
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

// onePerEach keeps, of the registrations of one person, the latest; other
// reports pass through in order. dropped are the registrations left out.
func onePerEach(rs []store.Revision) (kept, dropped []store.Revision) {
	latest := map[string]int{} // identity key → index of the latest with it
	winner := make([]int, len(rs))
	for i := range rs {
		winner[i] = i
	}
	// union the registrations that share a key, keeping the latest
	find := func(i int) int {
		for winner[i] != i {
			winner[i] = winner[winner[i]]
			i = winner[i]
		}
		return i
	}
	for i, r := range rs {
		if !registers(r.Kind) {
			continue
		}
		for _, k := range identityKeys(r) {
			j, ok := latest[k]
			if !ok {
				latest[k] = i
				continue
			}
			a, b := find(i), find(j)
			if a == b {
				continue
			}
			if Later(rs[a], rs[b]) {
				winner[b] = a
			} else {
				winner[a] = b
			}
			latest[k] = find(i)
		}
	}
	for i, r := range rs {
		if find(i) == i {
			kept = append(kept, r)
		} else {
			dropped = append(dropped, r)
		}
	}
	return kept, dropped
}

// newPeople splits a day's reports: registrations of a person already
// registered in earlier (the village's registrations of the days before,
// within the observation period) are updates, not new people.
func newPeople(day, earlier []store.Revision) (kept, updates []store.Revision) {
	known := map[string]bool{}
	for _, e := range earlier {
		for _, k := range identityKeys(e) {
			known[k] = true
		}
	}
	for _, r := range day {
		update := false
		if registers(r.Kind) {
			for _, k := range identityKeys(r) {
				update = update || known[k]
			}
		}
		if update {
			updates = append(updates, r)
		} else {
			kept = append(kept, r)
		}
	}
	return kept, updates
}

// OnePerPerson keeps, of several registrations of one person, the latest;
// other reports pass through in order.
func OnePerPerson(rs []store.Revision) []store.Revision {
	kept, _ := onePerEach(rs)
	return kept
}
