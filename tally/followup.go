package tally

import (
	"gridbot/report"
	"gridbot/store"
)

// A follow-up (回访) closes the open case of a person in the village: a
// fever case (已退烧, 已送医 …) or a home observation. 解除观察 ends an
// observation early: from the day of the follow-up the person is no
// longer counted as under observation.

// Follow-up results, as the parser normalises them.
const (
	ResultRecovered  = "recovered"
	ResultStillFever = "still_fever"
	ResultHospital   = "hospital"
	ResultReleased   = "released"
)

// SameName reports whether a follow-up names the person of a report: the
// same name, and the same phone when both give one.
func SameName(followup, r store.Revision) bool {
	name := followup.Fields["name"]
	if name == "" || name != r.Fields["name"] {
		return false
	}
	a, b := followup.Fields["phone"], r.Fields["phone"]
	return a == "" || b == "" || a == b
}

// releases are the follow-ups that end an observation early.
func releases(rs []store.Revision) []store.Revision {
	var out []store.Revision
	for _, r := range rs {
		if r.Kind == report.Followup && r.Fields["result"] == ResultReleased {
			out = append(out, r)
		}
	}
	return out
}

// stillObserved drops the arrivals whose observation a follow-up ended.
func stillObserved(observed, released []store.Revision) []store.Revision {
	if len(released) == 0 {
		return observed
	}
	out := observed[:0:0]
	for _, r := range observed {
		ended := false
		for _, f := range released {
			ended = ended || SameName(f, r) && !Later(r, f)
		}
		if !ended {
			out = append(out, r)
		}
	}
	return out
}

// StillObserved drops from observed the arrivals whose home observation a
// follow-up among followups (解除观察, sent after the arrival) ended early.
func StillObserved(observed, followups []store.Revision) []store.Revision {
	return stillObserved(observed, releases(followups))
}

// FollowedUp reports whether a fever case has a follow-up of the person
// sent after it among rs (follow-ups or later fever reports).
func FollowedUp(fever store.Revision, rs []store.Revision) bool {
	for _, r := range rs {
		if (r.Kind == report.Followup || r.Kind == report.Fever) && SameName(r, fever) && Later(r, fever) {
			return true
		}
	}
	return false
}
