package tally

import (
	"testing"
	"time"

	"gridbot/report"
	"gridbot/store"
)

func reg(kind report.Kind, msg int64, day int, fields map[string]string) store.Revision {
	return store.Revision{Chat: -100, MessageID: msg, Kind: kind, Fields: fields,
		Day: report.Date{Year: 2020, Month: 2, Day: day}, SentAt: time.Date(2020, 2, day, 9, int(msg), 0, 0, time.UTC)}
}

// TestSamePerson: the same ID number, or the same name and phone, of the
// same kind; a shared phone alone is a different person.
func TestSamePerson(t *testing.T) {
	a := reg(report.Arrival, 1, 6, map[string]string{"name": "张三", "phone": "13812345678", "id_number": "420102199007183514"})
	tests := []struct {
		name string
		b    store.Revision
		want bool
	}{
		{"same name and phone", reg(report.Arrival, 2, 7, map[string]string{"name": "张三", "phone": "13812345678"}), true},
		{"same ID, new phone", reg(report.Arrival, 2, 7, map[string]string{"name": "张三", "phone": "13900000000", "id_number": "420102199007183514"}), true},
		{"same phone, other name", reg(report.Arrival, 2, 7, map[string]string{"name": "李四", "phone": "13812345678"}), false},
		{"same name, other phone", reg(report.Arrival, 2, 7, map[string]string{"name": "张三", "phone": "13900000000"}), false},
		{"a tenant is not an arrival", reg(report.Tenant, 2, 7, map[string]string{"name": "张三", "phone": "13812345678"}), false},
		{"fevers do not register", reg(report.Fever, 2, 7, map[string]string{"name": "张三", "phone": "13812345678"}), false},
	}
	for _, tt := range tests {
		if got := SamePerson(a, tt.b); got != tt.want {
			t.Errorf("%s: SamePerson = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestOnePerPersonKeepsTheLatest: three registrations of one person (one
// by name and phone, one by ID) and another person: two kept, the latest
// of the first person's.
func TestOnePerPersonKeepsTheLatest(t *testing.T) {
	rs := []store.Revision{
		reg(report.Arrival, 1, 6, map[string]string{"name": "张三", "phone": "13812345678", "id_number": "420102199007183514"}),
		reg(report.Arrival, 2, 6, map[string]string{"name": "李四", "phone": "13900000000"}),
		reg(report.Arrival, 3, 7, map[string]string{"name": "张三", "phone": "13812345678"}),
		reg(report.Arrival, 4, 7, map[string]string{"name": "张三", "phone": "13700000000", "id_number": "420102199007183514"}),
		reg(report.Daily, 5, 7, map[string]string{"households": "5"}),
	}
	kept, dropped := onePerEach(rs)
	if len(kept) != 3 || len(dropped) != 2 {
		t.Fatalf("kept %d, dropped %d; want 3 and 2", len(kept), len(dropped))
	}
	ids := map[int64]bool{}
	for _, r := range kept {
		ids[r.MessageID] = true
	}
	if !ids[2] || !ids[4] || !ids[5] {
		t.Errorf("kept %v; want 李四 (2), 张三's latest (4) and the daily report (5)", ids)
	}
}

// TestNewPeople: a registration of a person registered on an earlier day
// is an update, not a new person.
func TestNewPeople(t *testing.T) {
	earlier := []store.Revision{reg(report.Tenant, 1, 5, map[string]string{"name": "罗娟", "id_number": "41050519870601006X"})}
	day := []store.Revision{
		reg(report.Tenant, 2, 7, map[string]string{"name": "罗娟", "phone": "15837209999", "id_number": "41050519870601006X"}),
		reg(report.Tenant, 3, 7, map[string]string{"name": "田甜", "phone": "13937265432"}),
	}
	kept, updates := newPeople(day, earlier)
	if len(kept) != 1 || kept[0].MessageID != 3 || len(updates) != 1 || updates[0].MessageID != 2 {
		t.Errorf("kept %v, updates %v; want 田甜 new and 罗娟 an update", kept, updates)
	}
}

// TestStillObserved: 解除观察 ends the observation of the person it names
// (the same phone when both give one), from its day on.
func TestStillObserved(t *testing.T) {
	observed := []store.Revision{
		reg(report.Arrival, 1, 5, map[string]string{"name": "张三", "phone": "13812345678"}),
		reg(report.Arrival, 2, 5, map[string]string{"name": "王强", "phone": "13598765432"}),
		reg(report.Arrival, 3, 5, map[string]string{"name": "赵敏", "phone": "13700001111"}),
	}
	released := releases([]store.Revision{
		reg(report.Followup, 4, 6, map[string]string{"name": "张三", "result": ResultReleased}),
		reg(report.Followup, 5, 6, map[string]string{"name": "王强", "phone": "13000000000", "result": ResultReleased}), // another 王强
		reg(report.Followup, 6, 6, map[string]string{"name": "赵敏", "result": ResultRecovered}),                        // not a release
	})
	got := stillObserved(observed, released)
	if len(got) != 2 || got[0].Fields["name"] != "王强" || got[1].Fields["name"] != "赵敏" {
		t.Errorf("still observed: %v; want 王强 and 赵敏", got)
	}
	if !FollowedUp(observed[2], []store.Revision{reg(report.Followup, 7, 6, map[string]string{"name": "赵敏"})}) {
		t.Error("a later follow-up of the same name does not follow the case up")
	}
	if FollowedUp(observed[2], []store.Revision{reg(report.Followup, 0, 4, map[string]string{"name": "赵敏"})}) {
		t.Error("an earlier follow-up follows the case up")
	}
}
