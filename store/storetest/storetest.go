// Package storetest is the conformance suite every store engine passes:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{Open: func(t *testing.T) (driver.Engine, func() (driver.Engine, error)) { … }})
//	}
//
// It exercises every method of driver.Engine through its documented
// semantics: idempotent saves, revisions and tombstones folded newest-wins,
// chat migrations, claims under contention, the outbox under concurrency,
// hostile text byte for byte, extreme ids, and reopening.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gridbot/report"
	"gridbot/store/driver"
)

// Harness opens the engine under test.
type Harness struct {
	// Open returns a new, empty engine and a function that opens the same
	// data again; the suite closes the first engine before calling reopen.
	Open func(t *testing.T) (e driver.Engine, reopen func() (driver.Engine, error))
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Bindings", testBindings},
		{"VillageNames", testVillageNames},
		{"VillageNameRace", testVillageNameRace},
		{"Migration", testMigration},
		{"MigrationAfterFacts", testMigrationAfterFacts},
		{"MigrationRace", testMigrationRace},
		{"Roster", testRoster},
		{"Settings", testSettings},
		{"Revisions", testRevisions},
		{"EditOrder", testEditOrder},
		{"Withdrawals", testWithdrawals},
		{"ReportQueries", testReportQueries},
		{"FindIdentity", testFindIdentity},
		{"Claims", testClaims},
		{"ClaimContention", testClaimContention},
		{"ClaimGatesCommit", testClaimGatesCommit},
		{"Lease", testLease},
		{"LeaseContention", testLeaseContention},
		{"Outbox", testOutbox},
		{"OutboxConcurrency", testOutboxConcurrency},
		{"HostileText", testHostileText},
		{"ExtremeIDs", testExtremeIDs},
		{"Reopen", testReopen},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

// t0 is the suite's epoch: 2020-02-07 10:00 in Shanghai, at microsecond
// precision (what PostgreSQL keeps).
var t0 = time.Date(2020, 2, 7, 10, 0, 0, 123456000, time.FixedZone("CST", 8*3600))

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

var day0 = report.Date{Year: 2020, Month: 2, Day: 7}

func open(t *testing.T, h Harness) (driver.Engine, func() (driver.Engine, error)) {
	t.Helper()
	e, reopen := h.Open(t)
	t.Cleanup(func() { e.Close() })
	return e, reopen
}

func commit(t *testing.T, e driver.Engine, c driver.Changes) driver.Result {
	t.Helper()
	res, err := e.Commit(context.Background(), c)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return res
}

// arrival builds a valid arrival revision.
func arrival(chat, msg, rev int64, name, phone string, day report.Date, arrived report.Date) driver.Revision {
	return driver.Revision{
		Chat: chat, MessageID: msg, Revision: rev, Kind: report.Arrival, Lang: report.Zh,
		Fields: map[string]string{"name": name, "phone": phone, "origin": "武汉", "arrived_on": arrived.String(), "address": "郝家店村3组"},
		Text:   "#返乡 " + name, SenderID: 1001, Sender: "王书记",
		SentAt: day.Start(t0.Location()).Add(10 * time.Hour), Day: day, At: day.Start(t0.Location()).Add(10*time.Hour + time.Duration(rev)*time.Second),
	}
}

func fever(chat, msg int64, name string, day report.Date) driver.Revision {
	return driver.Revision{
		Chat: chat, MessageID: msg, Kind: report.Fever, Lang: report.Zh,
		Fields: map[string]string{"name": name, "temperature": "38.5", "address": "相台村"},
		Text:   "#发热 " + name, SenderID: 1002, Sender: "李网格",
		SentAt: day.Start(t0.Location()).Add(11 * time.Hour), Day: day, At: day.Start(t0.Location()).Add(11 * time.Hour),
	}
}

func save(t *testing.T, e driver.Engine, r driver.Revision) driver.Result {
	t.Helper()
	return commit(t, e, driver.Changes{Revision: &r})
}

func sameTime(a, b time.Time) bool { return a.Equal(b) }

func testBindings(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	if _, ok, err := e.Binding(ctx, -100101); err != nil || ok {
		t.Fatalf("binding of an unknown chat: ok=%v err=%v", ok, err)
	}
	commit(t, e, driver.Changes{Bindings: []driver.Binding{
		{Chat: -100101, Role: driver.RoleVillage, Name: "郝家店村", By: 7, At: at(0)},
		{Chat: -100300, Role: driver.RoleCommand, Name: "指挥部", By: 7, At: at(1)},
		{Chat: -100202, Role: driver.RoleVillage, Name: "相台村", By: 7, At: at(2)},
	}})
	b, ok, err := e.Binding(ctx, -100101)
	if err != nil || !ok || b.Role != driver.RoleVillage || b.Name != "郝家店村" || b.By != 7 || !sameTime(b.At, at(0)) || b.Chat != -100101 {
		t.Fatalf("binding: %+v ok=%v err=%v", b, ok, err)
	}
	// rebinding: newest wins
	commit(t, e, driver.Changes{Bindings: []driver.Binding{{Chat: -100101, Role: driver.RoleVillage, Name: "郝家店", By: 8, At: at(3)}}})
	if b, _, _ := e.Binding(ctx, -100101); b.Name != "郝家店" || b.By != 8 {
		t.Fatalf("rebinding: %+v", b)
	}
	all, err := e.Bindings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := chats(all); !reflect.DeepEqual(got, []int64{-100300, -100202, -100101}) {
		t.Fatalf("bindings ordered by chat id: %v", got)
	}
	// unbind
	commit(t, e, driver.Changes{Bindings: []driver.Binding{{Chat: -100202, Role: driver.RoleNone, By: 7, At: at(4)}}})
	if _, ok, _ := e.Binding(ctx, -100202); ok {
		t.Fatal("an unbound chat still has a binding")
	}
	if all, _ := e.Bindings(ctx); !reflect.DeepEqual(chats(all), []int64{-100300, -100101}) {
		t.Fatalf("bindings after unbind: %v", chats(all))
	}
	// and bind again
	commit(t, e, driver.Changes{Bindings: []driver.Binding{{Chat: -100202, Role: driver.RoleVillage, Name: "相台村", By: 7, At: at(5)}}})
	if _, ok, _ := e.Binding(ctx, -100202); !ok {
		t.Fatal("rebinding after unbind failed")
	}
}

// testVillageNames: a village's name belongs to one chat at a time.
func testVillageNames(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	bind := func(chat int64, role driver.Role, name string) driver.Result {
		t.Helper()
		return commit(t, e, driver.Changes{
			Bindings: []driver.Binding{{Chat: chat, Role: role, Name: name, By: 7, At: at(0)}},
			Settings: []driver.Setting{{Chat: chat, Key: "active", Value: "", By: 7, At: at(0)}},
		})
	}
	if res := bind(-101, driver.RoleVillage, "郝家店村"); res.NameTaken {
		t.Fatal("a free name was taken")
	}
	if res := bind(-202, driver.RoleVillage, "郝家店村"); !res.NameTaken {
		t.Fatal("a second chat got a village name another chat holds")
	}
	if _, ok, _ := e.Binding(ctx, -202); ok {
		t.Fatal("the refused binding was applied")
	}
	if s, _ := e.Settings(ctx, -202); len(s) != 0 {
		t.Errorf("the refused step applied its other parts: settings %v", s)
	}
	if res := bind(-101, driver.RoleVillage, "郝家店村"); res.NameTaken {
		t.Error("the holder binding its own name again was refused")
	}
	// a landlord's private chat and the command group may share the name
	if res := bind(555, driver.RoleLandlord, "郝家店村"); res.NameTaken {
		t.Error("a landlord choosing a village was refused")
	}
	if res := bind(-300, driver.RoleCommand, "郝家店村"); res.NameTaken {
		t.Error("a command group named like a village was refused")
	}
	// after a migration the chat holds the name under its new id
	commit(t, e, driver.Changes{Migrations: []driver.Migration{{From: -101, To: -1001000000101, At: at(1)}}})
	if res := bind(-1001000000101, driver.RoleVillage, "郝家店村"); res.NameTaken {
		t.Error("the migrated holder binding its name under its new id was refused")
	}
	// renamed or unbound, the holder frees the name
	bind(-1001000000101, driver.RoleVillage, "郝家店")
	if res := bind(-202, driver.RoleVillage, "郝家店村"); res.NameTaken {
		t.Error("a name freed by a rename is still taken")
	}
	bind(-202, driver.RoleNone, "")
	if res := bind(-404, driver.RoleVillage, "郝家店村"); res.NameTaken {
		t.Error("a name freed by an unbind is still taken")
	}
	all, _ := e.Bindings(ctx)
	holders := 0
	for _, b := range all {
		if b.Role == driver.RoleVillage && b.Name == "郝家店村" {
			holders++
		}
	}
	if holders != 1 {
		t.Errorf("%d villages named 郝家店村: %+v", holders, all)
	}
}

// testVillageNameRace: chats binding one village name at once: exactly
// one gets it, every other is told it is taken, and only one is bound.
func testVillageNameRace(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	for round := range 5 {
		name := fmt.Sprintf("同名村%d", round)
		const n = 16
		var (
			wg  sync.WaitGroup
			won atomic.Int32
		)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := e.Commit(ctx, driver.Changes{Bindings: []driver.Binding{{Chat: int64(-1000*(round+1) - i), Role: driver.RoleVillage, Name: name, By: 7, At: at(i)}}})
				if err != nil {
					t.Error(err)
					return
				}
				if !res.NameTaken {
					won.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 {
			t.Errorf("round %d: %d of %d chats binding %s at once got it, want exactly 1", round, won.Load(), n, name)
		}
		all, err := e.Bindings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bound := 0
		for _, b := range all {
			if b.Name == name {
				bound++
			}
		}
		if bound != 1 {
			t.Errorf("round %d: %d chats bound to %s", round, bound, name)
		}
	}
}

func chats(bs []driver.Binding) []int64 {
	out := []int64{}
	for _, b := range bs {
		out = append(out, b.Chat)
	}
	return out
}

func testMigration(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	const old, mid, cur = -101, -1001000000101, -1001000000999
	commit(t, e, driver.Changes{
		Bindings: []driver.Binding{{Chat: old, Role: driver.RoleVillage, Name: "郝家店村", By: 7, At: at(0)}},
		Members:  []driver.Member{{Chat: old, UserID: 1001, Name: "王", At: at(0)}},
		Settings: []driver.Setting{{Chat: old, Key: "summary", Value: "20:30", By: 7, At: at(0)}},
	})
	save(t, e, arrival(old, 5, 0, "张三", "13812345678", day0, day0))
	commit(t, e, driver.Changes{Migrations: []driver.Migration{{From: old, To: mid, At: at(1)}}})
	// written under the new id after the migration
	save(t, e, arrival(mid, 6, 0, "李四", "13912345678", day0, day0))
	commit(t, e, driver.Changes{Migrations: []driver.Migration{{From: mid, To: cur, At: at(2)}}})
	commit(t, e, driver.Changes{Members: []driver.Member{{Chat: cur, UserID: 1002, Name: "李", At: at(3)}}})

	for _, id := range []int64{old, mid, cur} {
		if c, err := e.CurrentChat(ctx, id); err != nil || c != cur {
			t.Errorf("CurrentChat(%d) = %d, %v; want %d", id, c, err, cur)
		}
		b, ok, err := e.Binding(ctx, id)
		if err != nil || !ok || b.Chat != cur || b.Name != "郝家店村" {
			t.Errorf("Binding(%d) = %+v, %v, %v; want the binding under the current id", id, b, ok, err)
		}
		roster, err := e.Roster(ctx, id)
		if err != nil || len(roster) != 2 {
			t.Errorf("Roster(%d) = %+v, %v; want both members", id, roster, err)
		}
		settings, err := e.Settings(ctx, id)
		if err != nil || settings["summary"] != "20:30" {
			t.Errorf("Settings(%d) = %v, %v", id, settings, err)
		}
		reports, err := e.Reports(ctx, driver.ReportQuery{Chat: id})
		if err != nil || len(reports) != 2 {
			t.Fatalf("Reports(%d) = %d reports, %v; want 2", id, len(reports), err)
		}
		for _, r := range reports {
			if want := map[int64]int64{5: old, 6: mid}[r.MessageID]; r.Chat != want {
				t.Errorf("Reports(%d): message %d reported in chat %d, want the chat it was sent in, %d", id, r.MessageID, r.Chat, want)
			}
		}
	}
	// a report is keyed by the chat its message was sent in
	if r, ok, err := e.Report(ctx, old, 5); err != nil || !ok || r.Fields["name"] != "张三" || r.Chat != old {
		t.Errorf("Report(old, 5) = %+v, %v, %v", r, ok, err)
	}
	if _, ok, err := e.Report(ctx, cur, 5); err != nil || ok {
		t.Errorf("Report(cur, 5) found the old group's message 5: ok=%v err=%v", ok, err)
	}
	// the supergroup numbers its messages afresh: its message 5 is a new report
	if res := save(t, e, arrival(cur, 5, 0, "王五", "13700000000", day0, day0)); res.DuplicateRevision {
		t.Error("the supergroup's message 5 was taken for the old group's message 5")
	}
	if reports, _ := e.Reports(ctx, driver.ReportQuery{Chat: old}); len(reports) != 3 {
		t.Errorf("Reports after a new message in the supergroup: %d, want 3", len(reports))
	}
	commit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: cur, MessageID: 5, By: 1, At: at(9)}}})
	if _, ok, _ := e.Report(ctx, old, 5); !ok {
		t.Error("withdrawing the supergroup's message 5 withdrew the old group's message 5")
	}
	if all, _ := e.Bindings(ctx); len(all) != 1 || all[0].Chat != cur {
		t.Errorf("Bindings after migration: %+v", all)
	}
	if c, err := e.CurrentChat(ctx, -555); err != nil || c != -555 {
		t.Errorf("CurrentChat of a chat never migrated = %d, %v", c, err)
	}
}

// testMigrationAfterFacts: facts recorded under a supergroup's id before
// its migration was recorded (the supergroup's updates handled before the
// old group's, a commit that resolved the chat just before the migration
// committed) stay part of the chat afterwards: folded with the old id's,
// newest wins.
func testMigrationAfterFacts(t *testing.T, h Harness) {
	e, reopen := open(t, h)
	ctx := context.Background()
	const old, super = -202, -1001000000202
	commit(t, e, driver.Changes{
		Bindings: []driver.Binding{{Chat: old, Role: driver.RoleVillage, Name: "相台村", By: 7, At: at(0)}},
		Members:  []driver.Member{{Chat: old, UserID: 1001, Name: "王", At: at(0)}},
		Settings: []driver.Setting{
			{Chat: old, Key: "summary", Value: "20:30", By: 7, At: at(0)},
			{Chat: old, Key: "reminder", Value: "17:30", By: 7, At: at(0)},
		},
	})
	// under the supergroup's id, before anything says it is the same chat
	commit(t, e, driver.Changes{
		Members:  []driver.Member{{Chat: super, UserID: 1002, Name: "李", At: at(1)}, {Chat: super, UserID: 1001, Name: "王", Left: true, At: at(1)}},
		Settings: []driver.Setting{{Chat: super, Key: "summary", Value: "21:00", By: 7, At: at(1)}, {Chat: super, Key: "tz", Value: "Asia/Urumqi", By: 7, At: at(1)}},
	})
	save(t, e, arrival(super, 2, 0, "张三", "13812345678", day0, day0))
	commit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{outboxMsg("before-migration", super, at(1))}})
	commit(t, e, driver.Changes{Migrations: []driver.Migration{{From: old, To: super, At: at(2)}}})

	check := func(e driver.Engine, when string) {
		t.Helper()
		for _, id := range []int64{old, super} {
			b, ok, err := e.Binding(ctx, id)
			if err != nil || !ok || b.Name != "相台村" || b.Chat != super {
				t.Errorf("%s: Binding(%d) = %+v, %v, %v; want the old group's binding under the supergroup's id", when, id, b, ok, err)
			}
			roster, err := e.Roster(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range roster {
				got = append(got, fmt.Sprintf("%d/%v/%d", m.UserID, m.Left, m.Chat))
			}
			if want := []string{fmt.Sprintf("1001/true/%d", super), fmt.Sprintf("1002/false/%d", super)}; !reflect.DeepEqual(got, want) {
				t.Errorf("%s: Roster(%d) = %v, want %v", when, id, got, want)
			}
			settings, err := e.Settings(ctx, id)
			if want := map[string]string{"summary": "21:00", "reminder": "17:30", "tz": "Asia/Urumqi"}; err != nil || !reflect.DeepEqual(settings, want) {
				t.Errorf("%s: Settings(%d) = %v, %v; want %v", when, id, settings, err, want)
			}
			if rs, err := e.Reports(ctx, driver.ReportQuery{Chat: id}); err != nil || len(rs) != 1 || rs[0].Chat != super {
				t.Errorf("%s: Reports(%d) = %+v, %v; want the supergroup's report", when, id, rs, err)
			}
		}
		all, err := e.Bindings(ctx)
		if err != nil || len(all) != 1 || all[0].Chat != super || all[0].Name != "相台村" {
			t.Errorf("%s: Bindings = %+v, %v; want one, under the supergroup's id", when, all, err)
		}
	}
	check(e, "after the migration")
	// a newer fact under either id wins
	commit(t, e, driver.Changes{Settings: []driver.Setting{{Chat: old, Key: "tz", Value: "", By: 7, At: at(3)}}})
	if s, _ := e.Settings(ctx, super); s["tz"] != "" {
		t.Errorf("a reset under the old id after the migration left tz = %q", s["tz"])
	}
	commit(t, e, driver.Changes{Settings: []driver.Setting{{Chat: super, Key: "tz", Value: "Asia/Urumqi", By: 7, At: at(4)}}})
	e.Close()
	e2, err := reopen()
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	check(e2, "reopened")
	// and when the chat moves on, all of it follows to the newest id
	const next = -1001000000303
	commit(t, e2, driver.Changes{Migrations: []driver.Migration{{From: super, To: next, At: at(5)}}})
	if m, ok, err := e2.Outbox(ctx, "before-migration"); err != nil || !ok || m.Chat != next {
		t.Errorf("a message queued under the supergroup's id before its migration goes to %d (%v, %v), want the newest id %d", m.Chat, ok, err, next)
	}
	if due, err := e2.Due(ctx, at(10), 10); err != nil || len(due) != 1 || due[0].Chat != next {
		t.Errorf("Due = %+v, %v; want the message, to %d", due, err, next)
	}
	if b, ok, _ := e2.Binding(ctx, old); !ok || b.Chat != next {
		t.Errorf("Binding after a second migration: %+v", b)
	}
}

// testMigrationRace: members and settings written under a supergroup's id
// while its migration commits (each commit resolving the chat's home at
// its own moment, before or after the migration) all end up in the chat.
func testMigrationRace(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	for round := range 4 {
		old, super := int64(-300-round), int64(-1001000000300-round)
		commit(t, e, driver.Changes{Bindings: []driver.Binding{{Chat: old, Role: driver.RoleVillage, Name: fmt.Sprintf("竞争村%d", round), By: 7, At: at(0)}}})
		const writers = 12
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := e.Commit(ctx, driver.Changes{
					Members:  []driver.Member{{Chat: super, UserID: int64(1000 + i), Name: "员", At: at(1)}},
					Settings: []driver.Setting{{Chat: super, Key: fmt.Sprintf("k%d", i), Value: "v", By: 7, At: at(1)}},
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := e.Commit(ctx, driver.Changes{Migrations: []driver.Migration{{From: old, To: super, At: at(1)}}}); err != nil {
				t.Error(err)
			}
		}()
		close(start)
		wg.Wait()
		for _, id := range []int64{old, super} {
			if roster, err := e.Roster(ctx, id); err != nil || len(roster) != writers {
				t.Errorf("round %d: Roster(%d) has %d members, %v; want %d", round, id, len(roster), err, writers)
			}
			if s, err := e.Settings(ctx, id); err != nil || len(s) != writers {
				t.Errorf("round %d: Settings(%d) has %d keys, %v; want %d", round, id, len(s), err, writers)
			}
			if b, ok, err := e.Binding(ctx, id); err != nil || !ok || b.Chat != super {
				t.Errorf("round %d: Binding(%d) = %+v, %v, %v", round, id, b, ok, err)
			}
		}
	}
}

func testRoster(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	const chat = -100101
	if r, err := e.Roster(ctx, chat); err != nil || len(r) != 0 {
		t.Fatalf("empty roster: %v, %v", r, err)
	}
	commit(t, e, driver.Changes{Members: []driver.Member{
		{Chat: chat, UserID: 3003, Name: "赵", At: at(0)},
		{Chat: chat, UserID: 1001, Name: "王", At: at(0)},
		{Chat: chat, UserID: 2002, Name: "李", At: at(0)},
		{Chat: -100202, UserID: 4004, Name: "别村", At: at(0)},
	}})
	commit(t, e, driver.Changes{Members: []driver.Member{{Chat: chat, UserID: 2002, Name: "李", Left: true, At: at(1)}}})
	commit(t, e, driver.Changes{Members: []driver.Member{{Chat: chat, UserID: 3003, Name: "赵", Left: true, At: at(2)}}})
	commit(t, e, driver.Changes{Members: []driver.Member{{Chat: chat, UserID: 3003, Name: "赵改名", At: at(3)}}})
	r, err := e.Roster(ctx, chat)
	if err != nil {
		t.Fatal(err)
	}
	want := []driver.Member{
		{Chat: chat, UserID: 1001, Name: "王", At: at(0)},
		{Chat: chat, UserID: 2002, Name: "李", Left: true, At: at(1)},
		{Chat: chat, UserID: 3003, Name: "赵改名", At: at(3)},
	}
	if len(r) != len(want) {
		t.Fatalf("roster: %+v", r)
	}
	for i := range want {
		if r[i].UserID != want[i].UserID || r[i].Name != want[i].Name || r[i].Left != want[i].Left || !sameTime(r[i].At, want[i].At) || r[i].Chat != chat {
			t.Errorf("roster[%d] = %+v, want %+v", i, r[i], want[i])
		}
	}
}

func testSettings(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	const chat = -100101
	if s, err := e.Settings(ctx, chat); err != nil || len(s) != 0 {
		t.Fatalf("no settings: %v, %v", s, err)
	}
	commit(t, e, driver.Changes{Settings: []driver.Setting{
		{Chat: chat, Key: "summary", Value: "20:00", By: 7, At: at(0)},
		{Chat: chat, Key: "reminder", Value: "off", By: 7, At: at(0)},
		{Chat: chat, Key: "tz", Value: "Asia/Shanghai", By: 7, At: at(0)},
	}})
	commit(t, e, driver.Changes{Settings: []driver.Setting{{Chat: chat, Key: "summary", Value: "20:30", By: 8, At: at(1)}}})
	commit(t, e, driver.Changes{Settings: []driver.Setting{{Chat: chat, Key: "reminder", Value: "", By: 8, At: at(2)}}})
	s, err := e.Settings(ctx, chat)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"summary": "20:30", "tz": "Asia/Shanghai"}; !reflect.DeepEqual(s, want) {
		t.Fatalf("settings = %v, want %v", s, want)
	}
	if other, _ := e.Settings(ctx, -100202); len(other) != 0 {
		t.Fatalf("settings leaked to another chat: %v", other)
	}
}

func testRevisions(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	r0 := arrival(-100101, 42, 0, "张三", "13812345678", day0, day0)
	res := save(t, e, r0)
	if res.DuplicateRevision || res.RevisionSeq <= 0 {
		t.Fatalf("first save: %+v", res)
	}
	again := save(t, e, r0)
	if !again.DuplicateRevision {
		t.Fatal("saving the same (chat, message, revision) twice was not reported as a duplicate")
	}
	// a repeat with different content is still the same key: not written
	changed := r0
	changed.Fields = map[string]string{"name": "改过"}
	if !save(t, e, changed).DuplicateRevision {
		t.Fatal("a different revision under an existing key was written")
	}
	got, ok, err := e.Report(ctx, -100101, 42)
	if err != nil || !ok {
		t.Fatalf("report: %v %v", ok, err)
	}
	assertRevision(t, got, r0)
	if got.Seq != res.RevisionSeq {
		t.Errorf("Seq = %d, want %d", got.Seq, res.RevisionSeq)
	}
	// an edit: newer revision wins
	r1 := arrival(-100101, 42, 1581043200, "张三丰", "13812345678", day0, day0.AddDays(-1))
	res1 := save(t, e, r1)
	if res1.DuplicateRevision || res1.RevisionSeq <= res.RevisionSeq {
		t.Fatalf("edit: %+v (first seq %d)", res1, res.RevisionSeq)
	}
	got, _, _ = e.Report(ctx, -100101, 42)
	assertRevision(t, got, r1)
	// an edit that breaks the report: the current revision is invalid
	r2 := r1
	r2.Revision, r2.Problems, r2.Fields = 1581043300, 2, map[string]string{"name": "张三丰"}
	save(t, e, r2)
	cur, ok, _ := e.Report(ctx, -100101, 42)
	if !ok || cur.Problems != 2 {
		t.Fatalf("Report returns the current revision even when invalid: %+v ok=%v", cur, ok)
	}
	if rs, _ := e.Reports(ctx, driver.ReportQuery{Chat: -100101}); len(rs) != 0 {
		t.Fatalf("an invalid current revision was listed: %+v", rs)
	}
	if rs, _ := e.Reports(ctx, driver.ReportQuery{Chat: -100101, IncludeInvalid: true}); len(rs) != 1 || rs[0].Problems != 2 {
		t.Fatalf("IncludeInvalid: %+v", rs)
	}
	hist, err := e.History(ctx, -100101, 42)
	if err != nil || len(hist) != 3 {
		t.Fatalf("history: %d events, %v", len(hist), err)
	}
	for i, ev := range hist {
		if ev.Revision == nil || ev.Withdrawal != nil {
			t.Fatalf("history[%d]: %+v", i, ev)
		}
		if i > 0 && ev.Revision.Seq <= hist[i-1].Revision.Seq {
			t.Fatalf("history not in Seq order")
		}
	}
	assertRevision(t, *hist[0].Revision, r0)
	assertRevision(t, *hist[2].Revision, r2)
	if _, ok, err := e.Report(ctx, -100101, 43); ok || err != nil {
		t.Fatalf("an unknown report: ok=%v err=%v", ok, err)
	}
	if hist, err := e.History(ctx, -100101, 43); err != nil || len(hist) != 0 {
		t.Fatalf("history of an unknown report: %v %v", hist, err)
	}
}

// testEditOrder: the current revision of a report is its newest edit by
// edit date (Revision; the original, 0, is the oldest), then by commit
// order — not the revision committed last. Parallel webhook connections,
// replicas or a retried delivery can hand the bot an original after its
// edit, or an edit after a newer one.
func testEditOrder(t *testing.T, h Harness) {
	e, reopen := open(t, h)
	ctx := context.Background()
	const chat = -100101
	orig := arrival(chat, 7, 0, "张三", "13812345678", day0, day0)
	edit1 := arrival(chat, 7, 1581043200, "张三丰", "13812345678", day0, day0)
	edit2 := arrival(chat, 7, 1581043260, "张三峰", "13812345678", day0, day0)
	save(t, e, edit2)
	save(t, e, orig)  // the original, late
	save(t, e, edit1) // an older edit, late
	check := func(e driver.Engine, when string, want driver.Revision) {
		t.Helper()
		got, ok, err := e.Report(ctx, chat, 7)
		if err != nil || !ok || got.Revision != want.Revision || got.Fields["name"] != want.Fields["name"] {
			t.Errorf("%s: Report = revision %d %q, %v, %v; want the newest edit, revision %d %q", when, got.Revision, got.Fields["name"], ok, err, want.Revision, want.Fields["name"])
		}
		rs, err := e.Reports(ctx, driver.ReportQuery{Chat: chat})
		if err != nil || len(rs) != 1 || rs[0].Revision != want.Revision {
			t.Errorf("%s: Reports = %+v, %v; want one, revision %d", when, rs, err, want.Revision)
		}
		ids, err := e.FindIdentity(ctx, "13812345678", "", day0)
		if err != nil || len(ids) != 1 || ids[0].Revision != want.Revision {
			t.Errorf("%s: FindIdentity = %+v, %v; want one, revision %d", when, ids, err, want.Revision)
		}
	}
	check(e, "edits out of order", edit2)
	// a withdrawal hides the newest edit; the late original cannot bring
	// the report back, a newer edit can
	commit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: chat, MessageID: 7, By: 1001, At: at(5)}}})
	late := arrival(chat, 8, 0, "李四", "13912345678", day0, day0)
	lateEdit := arrival(chat, 8, 1581043300, "李四改", "13912345678", day0, day0)
	save(t, e, lateEdit)
	commit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: chat, MessageID: 8, By: 1001, At: at(5)}}})
	save(t, e, late)
	if r, ok, _ := e.Report(ctx, chat, 8); ok {
		t.Errorf("an original recorded after its edit was withdrawn brought the report back: %+v", r)
	}
	if _, ok, _ := e.Report(ctx, chat, 7); ok {
		t.Error("a withdrawn report is still current")
	}
	edit3 := arrival(chat, 7, 1581043400, "张三", "13812345678", day0, day0)
	save(t, e, edit3)
	check(e, "an edit after the withdrawal", edit3)
	e.Close()
	e2, err := reopen()
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	check(e2, "reopened", edit3)
	if _, ok, _ := e2.Report(ctx, chat, 8); ok {
		t.Error("reopened: the withdrawn report is back")
	}
}

// assertRevision compares what was written with what was read.
func assertRevision(t *testing.T, got, want driver.Revision) {
	t.Helper()
	if got.Chat != want.Chat || got.MessageID != want.MessageID || got.Revision != want.Revision || got.Kind != want.Kind ||
		got.Lang != want.Lang || got.Problems != want.Problems || got.Text != want.Text || got.SenderID != want.SenderID ||
		got.Sender != want.Sender || got.Day != want.Day || !sameTime(got.SentAt, want.SentAt) || !sameTime(got.At, want.At) {
		t.Errorf("revision read back differs:\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(got.Fields, want.Fields) && !(len(got.Fields) == 0 && len(want.Fields) == 0) {
		t.Errorf("fields read back differ:\n got %q\nwant %q", got.Fields, want.Fields)
	}
}

func testWithdrawals(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	save(t, e, arrival(-100101, 1, 0, "张三", "13812345678", day0, day0))
	save(t, e, arrival(-100101, 2, 0, "李四", "13912345678", day0, day0))
	commit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: -100101, MessageID: 1, By: 1001, At: at(5)}}})
	if _, ok, _ := e.Report(ctx, -100101, 1); ok {
		t.Fatal("a withdrawn report is still current")
	}
	if rs, _ := e.Reports(ctx, driver.ReportQuery{Chat: -100101}); len(rs) != 1 || rs[0].MessageID != 2 {
		t.Fatalf("withdrawn report listed: %+v", rs)
	}
	if rs, _ := e.Reports(ctx, driver.ReportQuery{Chat: -100101, IncludeInvalid: true}); len(rs) != 1 {
		t.Fatalf("IncludeInvalid must not bring back a withdrawn report: %d", len(rs))
	}
	// an edit after the withdrawal brings it back: newest wins
	save(t, e, arrival(-100101, 1, 100, "张三改", "13812345678", day0, day0))
	r, ok, _ := e.Report(ctx, -100101, 1)
	if !ok || r.Fields["name"] != "张三改" {
		t.Fatalf("a revision after a withdrawal did not bring the report back: %+v %v", r, ok)
	}
	// withdraw again; the old revision 0 re-delivered is a duplicate and changes nothing
	commit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: -100101, MessageID: 1, By: 7, At: at(9)}}})
	if !save(t, e, arrival(-100101, 1, 0, "张三", "13812345678", day0, day0)).DuplicateRevision {
		t.Fatal("a re-delivered revision was written again")
	}
	if _, ok, _ := e.Report(ctx, -100101, 1); ok {
		t.Fatal("a re-delivered old revision resurrected a withdrawn report")
	}
	hist, _ := e.History(ctx, -100101, 1)
	var kinds []string
	for _, ev := range hist {
		switch {
		case ev.Revision != nil:
			kinds = append(kinds, fmt.Sprintf("rev%d", ev.Revision.Revision))
		case ev.Withdrawal != nil:
			kinds = append(kinds, fmt.Sprintf("withdrawn by %d", ev.Withdrawal.By))
			if ev.Withdrawal.Seq <= 0 {
				t.Error("a withdrawal without Seq")
			}
		}
	}
	if want := []string{"rev0", "withdrawn by 1001", "rev100", "withdrawn by 7"}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("history = %v, want %v", kinds, want)
	}
	// withdrawing something that was never reported is recorded, harmlessly
	commit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: -100101, MessageID: 99, By: 7, At: at(9)}}})
	if _, ok, _ := e.Report(ctx, -100101, 99); ok {
		t.Fatal("a withdrawal created a report")
	}
}

func testReportQueries(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	d := func(n int) report.Date { return day0.AddDays(n) }
	// three chats, five days, three kinds
	var msg int64 = 1
	for day := -2; day <= 2; day++ {
		for _, chat := range []int64{-100101, -100202, -100303} {
			save(t, e, arrival(chat, msg, 0, fmt.Sprintf("A%d", msg), "13812345678", d(day), d(day-1)))
			msg++
			save(t, e, fever(chat, msg, fmt.Sprintf("F%d", msg), d(day)))
			msg++
		}
	}
	g := driver.Revision{Chat: -100101, MessageID: 1000, Kind: report.Gathering, Lang: report.Zh,
		Fields: map[string]string{"type": "wedding", "host": "马超", "date": d(5).String(), "address": "郝家店村", "guests": "30"},
		Text:   "#婚丧", SenderID: 1, Sender: "x", SentAt: at(0), Day: d(0), At: at(0)}
	save(t, e, g)
	daily := driver.Revision{Chat: -100101, MessageID: 1001, Kind: report.Daily, Lang: report.Zh,
		Fields: map[string]string{"arrivals": "0", "fevers": "0", "gatherings": "0"}, Text: "零报告", SenderID: 1, Sender: "x",
		SentAt: at(1), Day: d(0), At: at(1)}
	save(t, e, daily)

	count := func(q driver.ReportQuery) int {
		t.Helper()
		rs, err := e.Reports(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	tests := []struct {
		name string
		q    driver.ReportQuery
		want int
	}{
		{"everything", driver.ReportQuery{}, 32},
		{"one chat", driver.ReportQuery{Chat: -100101}, 12},
		{"one kind", driver.ReportQuery{Kind: report.Fever}, 15},
		{"one chat one kind", driver.ReportQuery{Chat: -100202, Kind: report.Arrival}, 5},
		{"one day", driver.ReportQuery{From: d(0), To: d(0)}, 8},
		{"a day range", driver.ReportQuery{From: d(-1), To: d(1)}, 20},
		{"open start", driver.ReportQuery{To: d(-1)}, 12},
		{"open end", driver.ReportQuery{From: d(2)}, 6},
		{"a chat's day", driver.ReportQuery{Chat: -100303, From: d(1), To: d(1)}, 2},
		{"observation window", driver.ReportQuery{Kind: report.Arrival, EventFrom: d(-2), EventTo: d(0)}, 9},
		{"event day of a gathering", driver.ReportQuery{Kind: report.Gathering, EventFrom: d(5), EventTo: d(5)}, 1},
		{"event bound open", driver.ReportQuery{Kind: report.Arrival, EventFrom: d(1)}, 3},
		{"event filter excludes kinds without a date", driver.ReportQuery{EventFrom: d(-10), EventTo: d(10)}, 16},
		{"no match", driver.ReportQuery{Chat: -999}, 0},
	}
	for _, tt := range tests {
		if got := count(tt.q); got != tt.want {
			t.Errorf("%s: %d reports, want %d", tt.name, got, tt.want)
		}
	}
	// order: (Day, SentAt, Chat, MessageID)
	rs, _ := e.Reports(ctx, driver.ReportQuery{})
	for i := 1; i < len(rs); i++ {
		a, b := rs[i-1], rs[i]
		if less(b, a) {
			t.Fatalf("reports out of order at %d: %+v before %+v", i, a, b)
		}
	}
}

func less(a, b driver.Revision) bool {
	if c := a.Day.Compare(b.Day); c != 0 {
		return c < 0
	}
	if !a.SentAt.Equal(b.SentAt) {
		return a.SentAt.Before(b.SentAt)
	}
	if a.Chat != b.Chat {
		return a.Chat < b.Chat
	}
	return a.MessageID < b.MessageID
}

func testFindIdentity(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	a1 := arrival(-100101, 1, 0, "张三", "13812345678", day0.AddDays(-20), day0.AddDays(-20))
	a2 := arrival(-100202, 2, 0, "张三", "13812345678", day0.AddDays(-3), day0.AddDays(-3))
	a3 := arrival(-100303, 3, 0, "王五", "13700000000", day0, day0)
	a3.Fields["id_number"] = "420102199007183514"
	tenant := driver.Revision{Chat: -100101, MessageID: 4, Kind: report.Tenant, Lang: report.Zh,
		Fields: map[string]string{"name": "罗娟", "phone": "13812345678", "address": "钢花路", "moved_in": day0.String()},
		Text:   "#租户", SenderID: 5, Sender: "何明", SentAt: at(0), Day: day0, At: at(0)}
	f := fever(-100101, 5, "张三", day0)
	f.Fields["phone"] = "13812345678"
	invalid := arrival(-100404, 6, 0, "错", "13812345678", day0, day0)
	invalid.Problems = 1
	withdrawn := arrival(-100404, 7, 0, "撤", "13812345678", day0, day0)
	for _, r := range []driver.Revision{a1, a2, a3, tenant, f, invalid, withdrawn} {
		save(t, e, r)
	}
	commit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: -100404, MessageID: 7, By: 1, At: at(1)}}})

	got := func(phone, id string, since report.Date) []int64 {
		t.Helper()
		rs, err := e.FindIdentity(ctx, phone, id, since)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, r := range rs {
			ids = append(ids, r.MessageID)
		}
		return ids
	}
	if ids := got("13812345678", "", day0.AddDays(-14)); !reflect.DeepEqual(ids, []int64{2, 4}) {
		t.Errorf("by phone within 14 days: %v, want [2 4] (not the fever, the invalid, the withdrawn or the old one)", ids)
	}
	if ids := got("13812345678", "", day0.AddDays(-30)); !reflect.DeepEqual(ids, []int64{1, 2, 4}) {
		t.Errorf("by phone within 30 days: %v", ids)
	}
	if ids := got("", "420102199007183514", day0.AddDays(-14)); !reflect.DeepEqual(ids, []int64{3}) {
		t.Errorf("by ID number: %v", ids)
	}
	if ids := got("13700000000", "420102199007183514", day0.AddDays(-14)); !reflect.DeepEqual(ids, []int64{3}) {
		t.Errorf("by both, matching one report: %v", ids)
	}
	if ids := got("", "", day0.AddDays(-30)); len(ids) != 0 {
		t.Errorf("empty arguments matched: %v", ids)
	}
}

func testClaims(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	key := "summary:-100101:2020-02-07"
	if ok, err := e.Claimed(ctx, key); err != nil || ok {
		t.Fatalf("Claimed before: %v %v", ok, err)
	}
	if res := commit(t, e, driver.Changes{Claims: []string{key}}); !res.Claimed {
		t.Fatal("first claim failed")
	}
	if res := commit(t, e, driver.Changes{Claims: []string{key}}); res.Claimed {
		t.Fatal("second claim succeeded")
	}
	if ok, _ := e.Claimed(ctx, key); !ok {
		t.Fatal("Claimed after: false")
	}
	if res := commit(t, e, driver.Changes{Claims: []string{"summary:-100101:2020-02-08"}}); !res.Claimed {
		t.Fatal("a different key was refused")
	}
	// a commit without claims counts as claimed
	if res := commit(t, e, driver.Changes{}); !res.Claimed {
		t.Fatal("an empty commit reported Claimed=false")
	}
}

// testLease: a lease goes to the first taker, is renewed by its holder
// only, is refused to others until it runs out, and is taken over once it
// has; the old holder then loses it. Leases are independent by name.
func testLease(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	steps := []struct {
		name, holder string
		now, until   time.Time
		want         bool
	}{
		{"sender", "a", sec(0), sec(3), true},   // free: taken
		{"sender", "b", sec(1), sec(4), false},  // held by a
		{"sender", "a", sec(2), sec(5), true},   // a renews
		{"sender", "b", sec(4), sec(7), false},  // a's runs to 5
		{"other", "b", sec(4), sec(7), true},    // another name is another lease
		{"sender", "a", sec(4), sec(7), true},   // a checks and renews
		{"sender", "b", sec(7), sec(10), true},  // a's ran out at 7: b takes over
		{"sender", "a", sec(8), sec(11), false}, // a lost it
		{"sender", "b", sec(9), sec(12), true},
	}
	for i, s := range steps {
		got, err := e.Lease(ctx, s.name, s.holder, s.now, s.until)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != s.want {
			t.Errorf("step %d: %s asks for %q at +%v: held %v, want %v", i, s.holder, s.name, s.now.Sub(t0), got, s.want)
		}
	}
}

// testLeaseContention: many holders asking at once for a free lease, one
// gets it.
func testLeaseContention(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			held, err := e.Lease(ctx, "sender", fmt.Sprint("holder", i), t0, t0.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if held {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Errorf("%d holders got one lease", n)
	}
}

func testClaimContention(t *testing.T, h Harness) {
	e, _ := open(t, h)
	const workers = 64
	for round := range 3 {
		key := fmt.Sprintf("rollup:-100300:2020-02-%02d", round+1)
		var winners atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := e.Commit(context.Background(), driver.Changes{
					Claims: []string{key},
					Outbox: []driver.OutboxMessage{{Key: fmt.Sprintf("%s:post:%d", key, i), Chat: -100300, Method: "sendMessage", Payload: []byte(`{}`), NotBefore: at(0), CreatedAt: at(0)}},
				})
				if err != nil {
					errs <- err
					return
				}
				if res.Claimed {
					winners.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := winners.Load(); n != 1 {
			t.Fatalf("round %d: %d winners of one claim, want exactly 1", round, n)
		}
	}
	// only the winners' posts were queued
	if n, _, err := e.OutboxStats(context.Background()); err != nil || n != 3 {
		t.Fatalf("outbox holds %d messages, want 3 (one per claim): %v", n, err)
	}
}

func testClaimGatesCommit(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	commit(t, e, driver.Changes{Claims: []string{"k"}})
	r := arrival(-100101, 1, 0, "张三", "13812345678", day0, day0)
	res := commit(t, e, driver.Changes{
		Claims:   []string{"k2", "k"}, // k is taken
		Revision: &r,
		Members:  []driver.Member{{Chat: -100101, UserID: 1, Name: "x", At: at(0)}},
		Outbox:   []driver.OutboxMessage{{Key: "m", Chat: -100101, Method: "sendMessage", Payload: []byte("{}"), NotBefore: at(0), CreatedAt: at(0)}},
	})
	if res.Claimed {
		t.Fatal("a commit with a taken claim reported Claimed")
	}
	if _, ok, _ := e.Report(ctx, -100101, 1); ok {
		t.Error("the revision was applied although a claim failed")
	}
	if m, _ := e.Roster(ctx, -100101); len(m) != 0 {
		t.Error("the member was applied although a claim failed")
	}
	if _, ok, _ := e.Outbox(ctx, "m"); ok {
		t.Error("the message was queued although a claim failed")
	}
	if ok, _ := e.Claimed(ctx, "k2"); ok {
		t.Error("the other claim of the failed commit was taken")
	}
}

func outboxMsg(key string, chat int64, notBefore time.Time) driver.OutboxMessage {
	return driver.OutboxMessage{Key: key, Chat: chat, Method: "sendMessage", Payload: []byte(`{"text":"` + key + `"}`), NotBefore: notBefore, CreatedAt: at(0)}
}

func testOutbox(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	res := commit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{
		outboxMsg("b", -100101, at(2)),
		outboxMsg("a", -100101, at(1)),
		outboxMsg("later", -100202, at(60)),
	}})
	if !reflect.DeepEqual(res.Enqueued, []bool{true, true, true}) || len(res.OutboxIDs) != 3 || res.OutboxIDs[0] == res.OutboxIDs[1] {
		t.Fatalf("enqueue: %+v", res)
	}
	idB, idA := res.OutboxIDs[0], res.OutboxIDs[1]
	dup := commit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{outboxMsg("a", -100101, at(0)), outboxMsg("c", -100101, at(3))}})
	if !reflect.DeepEqual(dup.Enqueued, []bool{false, true}) || dup.OutboxIDs[0] != idA {
		t.Fatalf("enqueue with an existing key: %+v (a is %d)", dup, idA)
	}
	due := func(now time.Time, limit int) []string {
		t.Helper()
		ms, err := e.Due(ctx, now, limit)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, m := range ms {
			keys = append(keys, m.Key)
		}
		return keys
	}
	if got := due(at(0), 10); len(got) != 0 {
		t.Fatalf("due before anything is due: %v", got)
	}
	if got := due(at(2), 10); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("due at 2: %v, want [a b] (by NotBefore)", got)
	}
	if got := due(at(10), 2); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("due with limit 2: %v", got)
	}
	m, ok, err := e.Outbox(ctx, "a")
	if err != nil || !ok || m.ID != idA || m.Chat != -100101 || m.Method != "sendMessage" || string(m.Payload) != `{"text":"a"}` ||
		m.State != driver.OutboxPending || m.Attempts != 0 || !sameTime(m.NotBefore, at(1)) || !sameTime(m.CreatedAt, at(0)) {
		t.Fatalf("outbox a: %+v %v %v", m, ok, err)
	}
	// a fails and is retried at 20; b is sent; c fails for good
	commit(t, e, driver.Changes{Attempts: []driver.Attempt{
		{MessageID: idA, Attempt: 1, Error: "429 retry after 17s", RetryAt: at(20), At: at(3)},
		{MessageID: idB, Attempt: 1, Sent: true, SentMessageID: 5001, At: at(3)},
		{MessageID: dup.OutboxIDs[1], Attempt: 1, Error: "400 chat not found", Final: true, At: at(3)},
	}})
	if got := due(at(10), 10); len(got) != 0 {
		t.Fatalf("due at 10 after the attempts: %v", got)
	}
	if got := due(at(20), 10); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("due at 20: %v, want the retry", got)
	}
	if got := due(at(60), 10); !reflect.DeepEqual(got, []string{"a", "later"}) {
		t.Fatalf("due at 60: %v, want [a later] (a's retry at 20 first)", got)
	}
	m, _, _ = e.Outbox(ctx, "a")
	if m.Attempts != 1 || m.State != driver.OutboxPending || m.LastError != "429 retry after 17s" || !sameTime(m.RetryAt, at(20)) {
		t.Fatalf("a after a failure: %+v", m)
	}
	m, _, _ = e.Outbox(ctx, "b")
	if m.State != driver.OutboxSent || m.SentMessageID != 5001 || m.Attempts != 1 || !sameTime(m.DoneAt, at(3)) {
		t.Fatalf("b after sending: %+v", m)
	}
	m, _, _ = e.Outbox(ctx, "c")
	if m.State != driver.OutboxDead || m.LastError != "400 chat not found" {
		t.Fatalf("c after a final failure: %+v", m)
	}
	n, oldest, err := e.OutboxStats(ctx)
	if err != nil || n != 2 || !sameTime(oldest, at(0)) {
		t.Fatalf("stats: %d %v %v", n, oldest, err)
	}
	commit(t, e, driver.Changes{Attempts: []driver.Attempt{{MessageID: idA, Attempt: 2, Sent: true, SentMessageID: 5002, At: at(21)}}})
	m, _, _ = e.Outbox(ctx, "a")
	if m.State != driver.OutboxSent || m.Attempts != 2 || m.SentMessageID != 5002 {
		t.Fatalf("a after the retry: %+v", m)
	}
	if _, ok, err := e.Outbox(ctx, "nope"); ok || err != nil {
		t.Fatalf("unknown key: %v %v", ok, err)
	}
	if n, _, _ := e.OutboxStats(ctx); n != 1 {
		t.Fatalf("pending after sends: %d", n)
	}
}

func testOutboxConcurrency(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	const producers, each = 8, 50
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// every key is enqueued twice, by two producers
				key := fmt.Sprintf("m%d", (p/2)*each+i)
				if _, err := e.Commit(ctx, driver.Changes{Outbox: []driver.OutboxMessage{outboxMsg(key, int64(-100-p), at(0))}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// senders take what is due and mark it sent, concurrently with the producers
	var sent sync.Map
	var sends atomic.Int32
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for idle := 0; idle < 200; {
				ms, err := e.Due(ctx, at(1), 16)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ms) == 0 {
					idle++
					runtime.Gosched()
					continue
				}
				for _, m := range ms {
					if _, loaded := sent.LoadOrStore(m.ID, true); loaded {
						continue // another sender took it: the bot's sender dedupes the same way
					}
					sends.Add(1)
					if _, err := e.Commit(ctx, driver.Changes{Attempts: []driver.Attempt{{MessageID: m.ID, Attempt: 1, Sent: true, SentMessageID: m.ID, At: at(1)}}}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	// drain what the senders' idle budget left behind
	for {
		ms, err := e.Due(ctx, at(1), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			break
		}
		for _, m := range ms {
			if _, loaded := sent.LoadOrStore(m.ID, true); !loaded {
				sends.Add(1)
			}
			commit(t, e, driver.Changes{Attempts: []driver.Attempt{{MessageID: m.ID, Attempt: 1, Sent: true, SentMessageID: m.ID, At: at(1)}}})
		}
	}
	if got, want := int(sends.Load()), producers/2*each; got != want {
		t.Fatalf("%d distinct messages sent, want %d", got, want)
	}
	if n, _, _ := e.OutboxStats(ctx); n != 0 {
		t.Fatalf("%d messages still pending", n)
	}
}

// hostile are texts that break naive storage: quotes, backslashes, NUL,
// invalid UTF-8, emoji, SQL, 4 KB and more.
var hostile = []string{
	"it's", `a "quoted" \ backslash \\`, "'; DROP TABLE revisions; --", "\x00", "a\x00b", "\xff\xfe invalid", "😷🦠👍🏽",
	"\u202eRTL", "line\nbreak\r\n", strings.Repeat("长", 1400), strings.Repeat("x", 4096), "%_*?", "NULL", "null",
	" leading and trailing ", "#", "''", "\\x00", "\t",
}

func testHostileText(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	for i, s := range hostile {
		chat := int64(-1000 - i)
		r := arrival(chat, 1, 0, s, "13812345678", day0, day0)
		r.Text, r.Sender = s, s
		r.Fields["note"] = s
		r.Fields["address"] = s + s
		save(t, e, r)
		payload := []byte(s + "\x00\x01\xff")
		commit(t, e, driver.Changes{
			Bindings: []driver.Binding{{Chat: chat, Role: driver.RoleVillage, Name: s, By: 1, At: at(0)}},
			Members:  []driver.Member{{Chat: chat, UserID: 1, Name: s, At: at(0)}},
			Settings: []driver.Setting{{Chat: chat, Key: "k", Value: s, By: 1, At: at(0)}},
			Outbox:   []driver.OutboxMessage{{Key: fmt.Sprintf("hostile:%d:%s", i, strings.ToValidUTF8(s, "?")), Chat: chat, Method: "sendMessage", Payload: payload, NotBefore: at(0), CreatedAt: at(0)}},
		})
		got, ok, err := e.Report(ctx, chat, 1)
		if err != nil || !ok {
			t.Fatalf("%q: %v %v", s, ok, err)
		}
		assertRevision(t, got, r)
		if b, _, _ := e.Binding(ctx, chat); b.Name != s {
			t.Errorf("binding name %q came back as %q", s, b.Name)
		}
		if m, _ := e.Roster(ctx, chat); len(m) != 1 || m[0].Name != s {
			t.Errorf("member name %q came back as %+v", s, m)
		}
		if st, _ := e.Settings(ctx, chat); st["k"] != s && s != "" {
			t.Errorf("setting %q came back as %q", s, st["k"])
		}
		m, ok, _ := e.Outbox(ctx, fmt.Sprintf("hostile:%d:%s", i, strings.ToValidUTF8(s, "?")))
		if !ok || !bytes.Equal(m.Payload, payload) {
			t.Errorf("payload %q came back as %q", payload, m.Payload)
		}
	}
	// empty strings are values too, not NULL
	r := arrival(-999, 1, 0, "张三", "13812345678", day0, day0)
	r.Text, r.Sender, r.Fields = "", "", map[string]string{}
	save(t, e, r)
	got, _, _ := e.Report(ctx, -999, 1)
	assertRevision(t, got, r)
	// an empty outbox payload and an empty claim-free commit
	commit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{{Key: "empty", Chat: -999, Method: "deleteMessage", Payload: nil, NotBefore: at(0), CreatedAt: at(0)}}})
	if m, ok, _ := e.Outbox(ctx, "empty"); !ok || len(m.Payload) != 0 {
		t.Errorf("empty payload: %+v %v", m, ok)
	}
}

func testExtremeIDs(t *testing.T, h Harness) {
	e, _ := open(t, h)
	ctx := context.Background()
	ids := []int64{math.MaxInt64, math.MinInt64 + 1, -1001234567890123, 1 << 40, 1}
	for i, chat := range ids {
		msg := int64(1<<53 + i)
		r := arrival(chat, msg, math.MaxInt64-int64(i), "张三", "13812345678", day0, day0)
		r.SenderID = chat
		save(t, e, r)
		commit(t, e, driver.Changes{
			Members:  []driver.Member{{Chat: chat, UserID: chat, Name: "x", At: at(0)}},
			Bindings: []driver.Binding{{Chat: chat, Role: driver.RoleVillage, Name: fmt.Sprintf("v%d", i), By: chat, At: at(0)}},
		})
		got, ok, err := e.Report(ctx, chat, msg)
		if err != nil || !ok {
			t.Fatalf("chat %d: %v %v", chat, ok, err)
		}
		assertRevision(t, got, r)
		if m, _ := e.Roster(ctx, chat); len(m) != 1 || m[0].UserID != chat {
			t.Errorf("roster of %d: %+v", chat, m)
		}
		if b, ok, _ := e.Binding(ctx, chat); !ok || b.By != chat || b.Chat != chat {
			t.Errorf("binding of %d: %+v", chat, b)
		}
	}
	if bs, _ := e.Bindings(ctx); len(bs) != len(ids) || bs[0].Chat != math.MinInt64+1 || bs[len(bs)-1].Chat != math.MaxInt64 {
		t.Errorf("bindings of extreme ids not ordered numerically: %v", chats(bs))
	}
	// dates far apart still order and filter
	old := arrival(-5, 1, 0, "旧", "13812345678", report.Date{Year: 1999, Month: 12, Day: 31}, report.Date{Year: 1999, Month: 12, Day: 31})
	future := arrival(-5, 2, 0, "新", "13812345678", report.Date{Year: 2099, Month: 1, Day: 1}, report.Date{Year: 2099, Month: 1, Day: 1})
	save(t, e, future)
	save(t, e, old)
	rs, _ := e.Reports(ctx, driver.ReportQuery{Chat: -5})
	if len(rs) != 2 || rs[0].MessageID != 1 {
		t.Errorf("reports across a century: %+v", rs)
	}
}

func testReopen(t *testing.T, h Harness) {
	e, reopen := h.Open(t)
	ctx := context.Background()
	commit(t, e, driver.Changes{
		Bindings:   []driver.Binding{{Chat: -101, Role: driver.RoleVillage, Name: "郝家店村", By: 7, At: at(0)}},
		Members:    []driver.Member{{Chat: -101, UserID: 1001, Name: "王", At: at(0)}},
		Settings:   []driver.Setting{{Chat: -101, Key: "summary", Value: "20:30", By: 7, At: at(0)}},
		Claims:     []string{"claim-1"},
		Migrations: nil,
	})
	r0 := arrival(-101, 1, 0, "张三", "13812345678", day0, day0)
	save(t, e, r0)
	r1 := arrival(-101, 1, 5, "张三丰", "13812345678", day0, day0)
	save(t, e, r1)
	save(t, e, arrival(-101, 2, 0, "李四", "13912345678", day0, day0))
	commit(t, e, driver.Changes{Withdrawals: []driver.Withdrawal{{Chat: -101, MessageID: 2, By: 7, At: at(3)}}})
	commit(t, e, driver.Changes{Migrations: []driver.Migration{{From: -101, To: -1001000000101, At: at(4)}}})
	res := commit(t, e, driver.Changes{Outbox: []driver.OutboxMessage{outboxMsg("sent", -101, at(0)), outboxMsg("pending", -101, at(0))}})
	commit(t, e, driver.Changes{Attempts: []driver.Attempt{{MessageID: res.OutboxIDs[0], Attempt: 1, Sent: true, SentMessageID: 77, At: at(5)}}})
	hist, _ := e.History(ctx, -101, 1)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e2, err := reopen()
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer e2.Close()
	if b, ok, _ := e2.Binding(ctx, -101); !ok || b.Name != "郝家店村" || b.Chat != -1001000000101 {
		t.Errorf("binding after reopen: %+v %v", b, ok)
	}
	if m, _ := e2.Roster(ctx, -1001000000101); len(m) != 1 {
		t.Errorf("roster after reopen: %+v", m)
	}
	if s, _ := e2.Settings(ctx, -101); s["summary"] != "20:30" {
		t.Errorf("settings after reopen: %v", s)
	}
	if ok, _ := e2.Claimed(ctx, "claim-1"); !ok {
		t.Error("claim lost on reopen")
	}
	if res := commit(t, e2, driver.Changes{Claims: []string{"claim-1"}}); res.Claimed {
		t.Error("a claim taken before the reopen was granted again")
	}
	got, ok, _ := e2.Report(ctx, -101, 1)
	if !ok {
		t.Fatal("report lost on reopen")
	}
	assertRevision(t, got, r1)
	if rs, _ := e2.Reports(ctx, driver.ReportQuery{Chat: -1001000000101}); len(rs) != 1 {
		t.Errorf("reports of the migrated chat after reopen: %d, want 1", len(rs))
	}
	if _, ok, _ := e2.Report(ctx, -101, 2); ok {
		t.Error("withdrawal lost on reopen")
	}
	if !save(t, e2, r0).DuplicateRevision {
		t.Error("a revision saved before the reopen was written again")
	}
	hist2, _ := e2.History(ctx, -101, 1)
	if len(hist2) != len(hist) || hist2[0].Revision.Seq != hist[0].Revision.Seq || hist2[1].Revision.Seq != hist[1].Revision.Seq {
		t.Errorf("history changed on reopen: %d events", len(hist2))
	}
	m, _, _ := e2.Outbox(ctx, "sent")
	if m.State != driver.OutboxSent || m.SentMessageID != 77 {
		t.Errorf("outbox state lost on reopen: %+v", m)
	}
	if ms, _ := e2.Due(ctx, at(10), 10); len(ms) != 1 || ms[0].Key != "pending" {
		t.Errorf("due after reopen: %+v", ms)
	}
	// new facts after a reopen get higher Seqs than old ones
	res2 := save(t, e2, arrival(-101, 3, 0, "王五", "13700000000", day0, day0))
	if res2.RevisionSeq <= hist[len(hist)-1].Revision.Seq {
		t.Errorf("Seq went backwards after reopen: %d", res2.RevisionSeq)
	}
	res3 := commit(t, e2, driver.Changes{Outbox: []driver.OutboxMessage{outboxMsg("after", -101, at(0))}})
	if res3.OutboxIDs[0] == res.OutboxIDs[0] || res3.OutboxIDs[0] == res.OutboxIDs[1] {
		t.Errorf("an outbox id was reused after reopen: %d", res3.OutboxIDs[0])
	}
}

func testClosed(t *testing.T, h Harness) {
	e, _ := h.Open(t)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	ctx := context.Background()
	r := arrival(-1, 1, 0, "x", "13812345678", day0, day0)
	if _, err := e.Commit(ctx, driver.Changes{Revision: &r}); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("Commit after Close: %v, want ErrClosed", err)
	}
	if _, err := e.Reports(ctx, driver.ReportQuery{}); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("Reports after Close: %v, want ErrClosed", err)
	}
	if _, err := e.Due(ctx, at(0), 1); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("Due after Close: %v, want ErrClosed", err)
	}
}
