package schedules

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"gridbot/handlers"
	"gridbot/report"
	"gridbot/store"
)

const (
	village = int64(-1001000000101)
	command = int64(-1001000000300)
)

var t0 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // where synctest's clock starts

// fixture is a store with a bound village and command group, and a
// scheduler over it.
type fixture struct {
	t     *testing.T
	st    *store.Store
	h     *handlers.Handler
	sched *Scheduler
}

func newFixture(t *testing.T, st *store.Store, zone string) *fixture {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	h := handlers.New(handlers.Config{Location: loc}, st, nil, time.Now, nil)
	f := &fixture{t: t, st: st, h: h, sched: New(st, h, time.Now, loc, slog.New(slog.DiscardHandler), nil)}
	h.HandlePresses(ReminderButton, f.sched.Carrier, f.sched.Press)
	return f
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func (f *fixture) commit(c store.Changes) {
	f.t.Helper()
	if _, err := f.st.Commit(context.Background(), c); err != nil {
		f.t.Fatal(err)
	}
}

// bind binds the village and the command group and sets their settings.
func (f *fixture) bind(settings map[string]string) {
	f.t.Helper()
	now := time.Now()
	c := store.Changes{Bindings: []store.Binding{
		{Chat: village, Role: store.RoleVillage, Name: "郝家店村", By: 7, At: now},
		{Chat: command, Role: store.RoleCommand, Name: "指挥部", By: 7, At: now},
	}}
	for k, v := range settings {
		for _, chat := range []int64{village, command} {
			c.Settings = append(c.Settings, store.Setting{Chat: chat, Key: k, Value: v, By: 7, At: now})
		}
	}
	f.commit(c)
}

// posts returns the texts of the job's posts, by local day.
func (f *fixture) posts(job Job, chat int64, from, to report.Date) map[report.Date]string {
	f.t.Helper()
	out := map[report.Date]string{}
	for d := from; d.Compare(to) <= 0; d = d.AddDays(1) {
		m, ok, err := f.st.Outbox(context.Background(), claimKey(job, chat, d))
		if err != nil {
			f.t.Fatal(err)
		}
		if ok {
			var a handlers.Action
			if err := json.Unmarshal(m.Payload, &a); err != nil {
				f.t.Fatal(err)
			}
			out[d] = a.Text
		}
	}
	return out
}

// TestExactlyOncePerLocalDayAcrossDST runs the real cron in virtual time
// over both of Berlin's daylight-saving changes, with the summary at 02:30
// — a time that does not exist on the spring day and exists twice on the
// autumn day — and at 20:00 in Shanghai: every local day gets exactly one
// post, none is skipped, none repeated.
func TestExactlyOncePerLocalDayAcrossDST(t *testing.T) {
	tests := []struct {
		zone, at      string
		from, to      report.Date // local days checked
		start, finish time.Time   // virtual time the scheduler runs
	}{
		{"Europe/Berlin", "02:30", report.Date{Year: 2000, Month: 3, Day: 22}, report.Date{Year: 2000, Month: 3, Day: 31},
			time.Date(2000, 3, 21, 12, 0, 0, 0, time.UTC), time.Date(2000, 4, 1, 0, 0, 0, 0, time.UTC)},
		{"Europe/Berlin", "02:30", report.Date{Year: 2000, Month: 10, Day: 25}, report.Date{Year: 2000, Month: 11, Day: 3},
			time.Date(2000, 10, 24, 12, 0, 0, 0, time.UTC), time.Date(2000, 11, 4, 0, 0, 0, 0, time.UTC)},
		{"Europe/Berlin", "20:00", report.Date{Year: 2000, Month: 3, Day: 22}, report.Date{Year: 2000, Month: 3, Day: 31},
			time.Date(2000, 3, 21, 12, 0, 0, 0, time.UTC), time.Date(2000, 4, 1, 0, 0, 0, 0, time.UTC)},
		{"Asia/Shanghai", "20:00", report.Date{Year: 2000, Month: 3, Day: 22}, report.Date{Year: 2000, Month: 3, Day: 31},
			time.Date(2000, 3, 21, 0, 0, 0, 0, time.UTC), time.Date(2000, 4, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.at+" "+tt.from.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				time.Sleep(tt.start.Sub(t0)) // virtual: returns at once
				f := newFixture(t, openStore(t), tt.zone)
				f.bind(map[string]string{handlers.SettingTZ: tt.zone, handlers.SettingSummary: tt.at,
					handlers.SettingReminder: "off", handlers.SettingFollowUp: "off", handlers.SettingRollup: "off"})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if err := f.sched.Start(ctx); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Until(tt.finish))
				f.sched.Stop()
				loc, _ := time.LoadLocation(tt.zone)
				posts := f.posts(Summary, village, tt.from, tt.to)
				for d := tt.from; d.Compare(tt.to) <= 0; d = d.AddDays(1) {
					text, ok := posts[d]
					if !ok {
						t.Errorf("%s: no summary", d)
						continue
					}
					if strings.Contains(text, "补发") {
						// the skipped spring slot is caught up within minutes, not marked late
						t.Errorf("%s: the summary was marked late", d)
					}
				}
				// and nothing beyond one per day: count every summary queued
				msgs, err := f.st.Due(ctx, time.Now(), 1000)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, m := range msgs {
					if strings.HasPrefix(m.Key, "job:summary:") {
						n++
						at := m.CreatedAt.In(loc)
						if day := report.DateOf(at); !strings.HasSuffix(m.Key, day.String()) {
							t.Errorf("%s posted at %s, another local day", m.Key, at)
						}
					}
				}
				days := tt.to.DaysSince(tt.from) + 1
				if n < days || n > days+1 { // the window's edges may hold one more day
					t.Errorf("%d summaries queued over %d local days", n, days)
				}
			})
		})
	}
}

// TestWeekInVirtualTime runs a week of every job in a second of test time:
// reminders name exactly the workers who have not reported, summaries and
// follow-ups go to the village, roll-ups to the command group.
func TestWeekInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loc, _ := time.LoadLocation("Asia/Shanghai")
		time.Sleep(time.Date(2000, 2, 7, 8, 0, 0, 0, loc).Sub(t0))
		f := newFixture(t, openStore(t), "Asia/Shanghai")
		f.bind(nil)
		now := time.Now()
		f.commit(store.Changes{Members: []store.Member{
			{Chat: village, UserID: 1001, Name: "王书记", At: now},
			{Chat: village, UserID: 1002, Name: "李网格", At: now},
			{Chat: village, UserID: 1003, Name: "赵<b>六</b>", At: now},
		}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := f.sched.Start(ctx); err != nil {
			t.Fatal(err)
		}
		first := report.DateOf(time.Now().In(loc))
		for day := range 7 {
			d := first.AddDays(day)
			// 王书记 reports every day at 10:00; 李网格 on even days; 赵六 never
			time.Sleep(time.Until(d.Start(loc).Add(10 * time.Hour)))
			f.daily(1001, "王书记", d, loc)
			if day%2 == 0 {
				f.daily(1002, "李网格", d, loc)
			}
			if day == 2 { // an arrival whose observation ends within the week... in 14 days: set 3
				f.commit(store.Changes{Settings: []store.Setting{{Chat: village, Key: handlers.SettingObservation, Value: "3", By: 7, At: time.Now()}}})
				f.arrival(d, loc)
			}
			time.Sleep(time.Until(d.Start(loc).Add(23 * time.Hour)))
		}
		f.sched.Stop()
		last := first.AddDays(6)
		reminders := f.posts(Reminder, village, first, last)
		summaries := f.posts(Summary, village, first, last)
		rollups := f.posts(Rollup, command, first, last)
		followUps := f.posts(FollowUp, village, first, last)
		if len(summaries) != 7 || len(rollups) != 7 || len(reminders) != 7 {
			t.Fatalf("a week gave %d summaries, %d roll-ups and %d reminders; want 7 each", len(summaries), len(rollups), len(reminders))
		}
		for d, text := range reminders {
			odd := d.DaysSince(first)%2 == 1
			if strings.Contains(text, "王书记") {
				t.Errorf("%s: the reminder names 王书记, who reported", d)
			}
			if strings.Contains(text, "李网格") != odd {
				t.Errorf("%s: the reminder is wrong about 李网格:\n%s", d, text)
			}
			if !strings.Contains(text, `<a href="tg://user?id=1003">赵&lt;b&gt;六&lt;/b&gt;</a>`) {
				t.Errorf("%s: the reminder does not mention 赵六 by id with the name escaped:\n%s", d, text)
			}
		}
		arrived := first.AddDays(2)
		ends := arrived.AddDays(3 - 1)
		if text := followUps[ends]; !strings.Contains(text, "今天解除居家观察") || !strings.Contains(text, "张三") {
			t.Errorf("%s: the follow-up does not say 张三's observation ends:\n%s", ends, text)
		}
		if text := summaries[arrived.AddDays(1)]; !strings.Contains(text, "明天解除：张三") {
			t.Errorf("the summary the day before does not say the observation ends tomorrow:\n%s", text)
		}
		// 赵六 never reports: the village is 2/3, never ✅, and he is named
		if text := rollups[first]; !strings.Contains(text, "郝家店村：日报 2/3 ") || strings.Contains(text, "✅") ||
			!strings.Contains(text, "日报未报齐：郝家店村（赵&lt;b&gt;六&lt;/b&gt;）") {
			t.Errorf("roll-up:\n%s", text)
		}
		for d, text := range followUps {
			if d != ends && strings.Contains(text, "今天解除") {
				t.Errorf("%s: an observation ends on the wrong day", d)
			}
		}
	})
}

func (f *fixture) daily(user int64, name string, d report.Date, loc *time.Location) {
	f.t.Helper()
	now := time.Now()
	f.commit(store.Changes{Revision: &store.Revision{
		Chat: village, MessageID: int64(d.Int())*10000 + user, Kind: report.Daily, Lang: report.Zh,
		Fields: map[string]string{"arrivals": "0", "fevers": "0", "gatherings": "0"}, Text: "零报告",
		SenderID: user, Sender: name, SentAt: now, Day: d, At: now,
	}})
}

func (f *fixture) arrival(d report.Date, loc *time.Location) {
	f.t.Helper()
	now := time.Now()
	f.commit(store.Changes{Revision: &store.Revision{
		Chat: village, MessageID: 424242, Kind: report.Arrival, Lang: report.Zh,
		Fields: map[string]string{"name": "张三", "phone": "13812345678", "origin": "武汉", "arrived_on": d.String(), "address": "郝家店村3组"},
		Text:   "#返乡", SenderID: 1001, Sender: "王书记", SentAt: now, Day: d, At: now,
	}})
}

// TestCatchUpAfterDowntime: the bot is down at 20:00 and back at 20:30:
// the summary is posted once, marked late. Yesterday's missed jobs are not
// replayed. A second start the same evening posts nothing again.
func TestCatchUpAfterDowntime(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	f := newFixture(t, openStore(t), "Asia/Shanghai")
	ctx := context.Background()
	day := report.Date{Year: 2020, Month: 2, Day: 7}
	f.bind(nil)
	back := day.Start(loc).Add(20*time.Hour + 30*time.Minute)
	if err := f.sched.Sweep(ctx, back); err != nil {
		t.Fatal(err)
	}
	if err := f.sched.Sweep(ctx, back.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	summaries := f.posts(Summary, village, day.AddDays(-1), day)
	if text, ok := summaries[day]; !ok || !strings.HasPrefix(text, "（补发）") {
		t.Errorf("the missed summary was not caught up as late: %q", text)
	}
	if _, ok := summaries[day.AddDays(-1)]; ok {
		t.Error("yesterday's summary was replayed")
	}
	if n := len(f.posts(Rollup, command, day, day)); n != 0 {
		t.Error("the 21:00 roll-up ran at 20:30")
	}
	if text := f.posts(FollowUp, village, day, day)[day]; text != "" {
		t.Errorf("a follow-up with nothing to say was posted: %q", text)
	}
	msgs, err := f.st.Due(ctx, back.Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if strings.HasPrefix(m.Key, "job:summary:") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d summaries queued after two sweeps, want 1", n)
	}
}

// TestConcurrentFiresPostOnce fires every job many times at once, as two
// replicas and a repeated DST hour would: one post each.
func TestConcurrentFiresPostOnce(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	st := openStore(t)
	a, b := newFixture(t, st, "Asia/Shanghai"), newFixture(t, st, "Asia/Shanghai")
	a.bind(nil)
	at := time.Date(2020, 2, 7, 21, 0, 0, 0, loc)
	ctx := context.Background()
	done := make(chan error, 40)
	for i := range 20 {
		for _, f := range []*fixture{a, b} {
			go func() { done <- f.sched.Fire(ctx, command, Rollup, at.Add(time.Duration(i)*time.Second)) }()
		}
	}
	for range 40 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := st.Due(ctx, at.Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d posts after 40 concurrent fires, want 1", len(msgs))
	}
}

// TestReminderButton: a missing worker files the daily report with one
// tap, drafted from what they reported today; the reminder drops them; a
// press by someone else does nothing but say so.
func TestReminderButton(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	f := newFixture(t, openStore(t), "Asia/Shanghai")
	ctx := context.Background()
	day := report.Date{Year: 2020, Month: 2, Day: 7}
	f.bind(nil)
	at := day.Start(loc).Add(9 * time.Hour)
	f.commit(store.Changes{Members: []store.Member{
		{Chat: village, UserID: 1001, Name: "王书记", At: at}, {Chat: village, UserID: 1002, Name: "李网格", At: at},
	}})
	f.commit(store.Changes{Revision: &store.Revision{
		Chat: village, MessageID: 5, Kind: report.Fever, Lang: report.Zh,
		Fields: map[string]string{"name": "刘洋", "temperature": "38.5", "address": "相台村"}, Text: "#发热",
		SenderID: 1001, Sender: "王书记", SentAt: at, Day: day, At: at,
	}})
	f.sendReminder(day, loc, 77)
	press := func(user int64, name string, data string) []handlers.Action {
		t.Helper()
		actions, err := f.h.HandlePress(ctx, handlers.Press{ID: fmt.Sprint(user), Chat: handlers.Chat{ID: village, Type: "supergroup"},
			From: handlers.User{ID: user, FirstName: name}, MessageID: 77, Data: data, At: day.Start(loc).Add(17*time.Hour + 5*time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return actions
	}
	data := ReminderButton + ":" + fmt.Sprint(day.Int())
	actions := press(1001, "王书记", data)
	if len(actions) != 2 || !strings.Contains(actions[0].Text, "发热1") {
		t.Fatalf("a missing worker's press: %+v", actions)
	}
	if edit := actions[1]; edit.Kind != handlers.Edit || edit.MessageID != 77 || strings.Contains(edit.Text, "王书记") || !strings.Contains(edit.Text, "李网格") {
		t.Errorf("the reminder was not edited to drop 王书记: %+v", edit)
	}
	rs, err := f.st.Reports(ctx, store.ReportQuery{Chat: village, Kind: report.Daily, From: day, To: day})
	if err != nil || len(rs) != 1 || rs[0].SenderID != 1001 || rs[0].Fields["fevers"] != "1" {
		t.Fatalf("the one-tap daily report: %+v %v", rs, err)
	}
	again := press(1001, "王书记", data)
	if len(again) != 1 || !strings.Contains(again[0].Text, "已经报过") {
		t.Errorf("a second press: %+v", again)
	}
	stranger := press(9999, "路人", data)
	if len(stranger) != 1 || !strings.Contains(stranger[0].Text, "不在日报名单") {
		t.Errorf("a press by someone not on the roster: %+v", stranger)
	}
	last := press(1002, "李网格", data)
	if len(last) != 2 || !strings.Contains(last[1].Text, "已全部报送") || len(last[1].Buttons) != 0 {
		t.Errorf("the last missing worker's press: %+v", last)
	}
	stale := press(1002, "李网格", ReminderButton+":20200206")
	if len(stale) != 1 || !strings.Contains(stale[0].Text, "失效") {
		t.Errorf("yesterday's reminder pressed today: %+v", stale)
	}
}

// TestTimeMovedToThePastAppliesTomorrow: at 10:00 an admin moves the
// summary to 08:00; the sweep does not post a partial day's summary at
// once (marked late), it posts at 08:00 the next day.
func TestTimeMovedToThePastAppliesTomorrow(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	f := newFixture(t, openStore(t), "Asia/Shanghai")
	ctx := context.Background()
	day := report.Date{Year: 2020, Month: 2, Day: 7}
	f.bind(map[string]string{handlers.SettingReminder: "off", handlers.SettingFollowUp: "off"})
	ten := day.Start(loc).Add(10 * time.Hour)
	f.commit(store.Changes{Settings: []store.Setting{
		{Chat: village, Key: handlers.SettingSummary, Value: "08:00", By: 7, At: ten},
		{Chat: village, Key: handlers.SettingSummary + "_since", Value: ten.Format(time.RFC3339), By: 7, At: ten},
	}})
	if err := f.sched.Sweep(ctx, ten.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := f.posts(Summary, village, day, day.AddDays(1)); len(got) != 0 {
		t.Fatalf("the summary was posted right after its time was moved to the past: %v", got)
	}
	if err := f.sched.Sweep(ctx, day.AddDays(1).Start(loc).Add(8*time.Hour+5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := f.posts(Summary, village, day, day.AddDays(1)); len(got) != 1 || got[day.AddDays(1)] == "" {
		t.Fatalf("the next day's 08:00 summary: %v", got)
	}
}

// sendReminder runs the day's reminder in the village and records it as
// sent as message id: what the sender does.
func (f *fixture) sendReminder(day report.Date, loc *time.Location, id int64) {
	f.t.Helper()
	ctx := context.Background()
	at := day.Start(loc).Add(17 * time.Hour)
	if err := f.sched.Fire(ctx, village, Reminder, at); err != nil {
		f.t.Fatal(err)
	}
	m, ok, err := f.st.Outbox(ctx, claimKey(Reminder, village, day))
	if err != nil || !ok {
		f.t.Fatalf("no reminder queued: %v", err)
	}
	if err := f.st.MarkSent(ctx, m.ID, 1, id, at); err != nil {
		f.t.Fatal(err)
	}
}

// pressFixture is a village with two workers on the roster, neither has
// reported, and the day's reminder sent as message 77.
func pressFixture(t *testing.T) (*fixture, report.Date, *time.Location) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	f := newFixture(t, openStore(t), "Asia/Shanghai")
	day := report.Date{Year: 2020, Month: 2, Day: 7}
	f.bind(nil)
	at := day.Start(loc).Add(9 * time.Hour)
	f.commit(store.Changes{Members: []store.Member{
		{Chat: village, UserID: 1001, Name: "王书记", At: at}, {Chat: village, UserID: 1002, Name: "李网格", At: at},
	}})
	f.sendReminder(day, loc, 77)
	return f, day, loc
}

// TestForgedPressEditsNothing: a press carrying the reminder's data on
// another of the bot's messages (a receipt, a summary), on a message of
// another chat's reminder, or a kind of button no message carries, gets
// "这个按钮已失效" and changes nothing: no edit, no report filed.
func TestForgedPressEditsNothing(t *testing.T) {
	f, day, loc := pressFixture(t)
	ctx := context.Background()
	data := ReminderButton + ":" + fmt.Sprint(day.Int())
	for _, p := range []handlers.Press{
		{ID: "a", Chat: handlers.Chat{ID: village, Type: "supergroup"}, MessageID: 55, Data: data},
		{ID: "b", Chat: handlers.Chat{ID: command, Type: "supergroup"}, MessageID: 77, Data: data},
		{ID: "c", Chat: handlers.Chat{ID: village, Type: "supergroup"}, MessageID: 77, Data: ReminderButton + ":20200206"},
		{ID: "d", Chat: handlers.Chat{ID: village, Type: "supergroup"}, MessageID: 77, Data: "other:1"},
		{ID: "e", Chat: handlers.Chat{ID: village, Type: "supergroup"}, MessageID: 77, Data: ReminderButton + ":x"},
	} {
		p.From = handlers.User{ID: 1001, FirstName: "王书记"}
		p.At = day.Start(loc).Add(17*time.Hour + 5*time.Minute)
		actions, err := f.h.HandlePress(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(actions) != 1 || actions[0].Kind != handlers.Answer || actions[0].Text != "这个按钮已失效。" {
			t.Errorf("press %s (%s on #%d in %d): %+v, want only the stale answer", p.ID, p.Data, p.MessageID, p.Chat.ID, actions)
		}
	}
	rs, err := f.st.Reports(ctx, store.ReportQuery{Chat: village, Kind: report.Daily, From: day, To: day})
	if err != nil || len(rs) != 0 {
		t.Errorf("forged presses filed reports: %+v %v", rs, err)
	}
}

// TestOneTapIsOneCommit: when the press returns, the daily report, the
// answer and the reminder's edit are all durable: a crash before anything
// else runs loses none of them (and a repeat of the press cannot redo the
// edit, since the report is in).
func TestOneTapIsOneCommit(t *testing.T) {
	f, day, loc := pressFixture(t)
	ctx := context.Background()
	p := handlers.Press{ID: "q1", Chat: handlers.Chat{ID: village, Type: "supergroup"}, From: handlers.User{ID: 1001, FirstName: "王书记"},
		MessageID: 77, Data: ReminderButton + ":" + fmt.Sprint(day.Int()), At: day.Start(loc).Add(17*time.Hour + 5*time.Minute)}
	actions, err := f.h.HandlePress(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// the process dies here: nobody queues the actions
	for _, a := range actions {
		if _, ok, err := f.st.Outbox(ctx, a.Key); err != nil || !ok {
			t.Errorf("%s %q is not in the outbox when the press returns (%v): a crash now loses it", a.Kind, a.Key, err)
		}
		if !a.Queued {
			t.Errorf("%s %q is not marked queued: it would be committed a second time", a.Kind, a.Key)
		}
	}
	if len(actions) != 2 {
		t.Fatalf("actions: %+v", actions)
	}
}

// TestReminderButtonUserIDsNotFolded: two workers whose user ids are 2^33
// apart (today's ids are around 2^33) each file their one-tap daily
// report; neither is taken for a repeat of the other's.
func TestReminderButtonUserIDsNotFolded(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	f := newFixture(t, openStore(t), "Asia/Shanghai")
	ctx := context.Background()
	day := report.Date{Year: 2020, Month: 2, Day: 7}
	f.bind(nil)
	at := day.Start(loc).Add(9 * time.Hour)
	const u1 = 5_000_000_001
	const u2 = u1 + 1<<33
	f.commit(store.Changes{Members: []store.Member{
		{Chat: village, UserID: u1, Name: "王书记", At: at}, {Chat: village, UserID: u2, Name: "李网格", At: at},
	}})
	f.sendReminder(day, loc, 77)
	data := ReminderButton + ":" + fmt.Sprint(day.Int())
	for _, u := range []int64{u1, u2} {
		actions, err := f.h.HandlePress(ctx, handlers.Press{ID: fmt.Sprint(u), Chat: handlers.Chat{ID: village, Type: "supergroup"},
			From: handlers.User{ID: u, FirstName: "x"}, MessageID: 77, Data: data, At: day.Start(loc).Add(17*time.Hour + 5*time.Minute)})
		if err != nil || len(actions) == 0 || !strings.Contains(actions[0].Text, "已提交") {
			t.Fatalf("press by %d: %+v %v", u, actions, err)
		}
	}
	rs, err := f.st.Reports(ctx, store.ReportQuery{Chat: village, Kind: report.Daily, From: day, To: day})
	if err != nil || len(rs) != 2 || rs[0].SenderID == rs[1].SenderID {
		t.Fatalf("one-tap daily reports of users 2^33 apart: %+v %v; want one each", rs, err)
	}
}
