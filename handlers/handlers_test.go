package handlers_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gridbot/handlers"
	"gridbot/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var (
	shanghai = mustZone("Asia/Shanghai")
	village  = handlers.Chat{ID: -1001000000101, Type: "supergroup", Title: "郝家店村群"}
	command  = handlers.Chat{ID: -1001000000300, Type: "supergroup", Title: "指挥部"}
	stranger = handlers.Chat{ID: -1001000000999, Type: "supergroup", Title: "别的群"}
	operator = handlers.User{ID: 7, FirstName: "运营"}
	wang     = handlers.User{ID: 1001, FirstName: "王", LastName: "书记"}
	li       = handlers.User{ID: 1002, FirstName: "李", LastName: "网格", LanguageCode: "zh-hans"}
	admin    = handlers.User{ID: 1003, FirstName: "Admin", LanguageCode: "en"}
	landlord = handlers.User{ID: 2001, FirstName: "何", LastName: "明"}
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// admins is a 30-line fake of Telegram's administrators.
type admins map[int64]bool

func (a admins) IsAdmin(_ context.Context, _, user int64) (bool, error) { return a[user], nil }

// conversation drives a Handler with a clock that moves a minute per
// message and records what it answers.
type conversation struct {
	t   *testing.T
	h   *handlers.Handler
	st  *store.Store
	now time.Time
	ids map[int64]int64 // next message id per chat
	out strings.Builder
}

func newConversation(t *testing.T) *conversation {
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &conversation{t: t, st: st, now: time.Date(2020, 2, 7, 9, 0, 0, 0, shanghai), ids: map[int64]int64{}}
	c.h = handlers.New(handlers.Config{Operators: map[int64]bool{operator.ID: true}, BotUsername: "gridbot", Location: shanghai,
		Members: &members{in: map[[2]int64]bool{{village.ID, landlord.ID}: true}}},
		st, admins{admin.ID: true}, func() time.Time { return c.now }, nil)
	return c
}

// say sends a message and records the answer; it returns the message id.
func (c *conversation) say(chat handlers.Chat, from handlers.User, text string) int64 {
	c.t.Helper()
	c.ids[chat.ID]++
	id := c.ids[chat.ID]
	c.send(handlers.Message{Chat: chat, From: from, ID: id, Text: text, Date: c.now})
	return id
}

func (c *conversation) reply(chat handlers.Chat, from handlers.User, to int64, text string) {
	c.t.Helper()
	c.ids[chat.ID]++
	c.send(handlers.Message{Chat: chat, From: from, ID: c.ids[chat.ID], Text: text, Date: c.now, ReplyTo: &handlers.Replied{ID: to}})
}

func (c *conversation) edit(chat handlers.Chat, from handlers.User, id int64, text string) {
	c.t.Helper()
	c.send(handlers.Message{Chat: chat, From: from, ID: id, Text: text, Date: c.now.Add(-time.Minute), EditDate: c.now})
}

func (c *conversation) send(m handlers.Message) {
	c.t.Helper()
	fmt.Fprintf(&c.out, "\n>>> %s %s #%d", m.Chat.Title, m.From.Name(), m.ID)
	if m.Edited() {
		c.out.WriteString(" (edit)")
	}
	if m.ReplyTo != nil {
		fmt.Fprintf(&c.out, " (reply to #%d)", m.ReplyTo.ID)
	}
	c.out.WriteString(": " + m.Text + "\n")
	actions, err := c.h.HandleMessage(context.Background(), m)
	if err != nil {
		c.t.Fatalf("%q: %v", m.Text, err)
	}
	for _, a := range actions {
		if a.Key == "" {
			c.t.Errorf("%q: an action without a key: %+v", m.Text, a)
		}
		switch a.Kind {
		case handlers.Receipt, handlers.RefreshReceipt:
			text, err := c.h.RenderReceipts(context.Background(), a.Chat, []int64{a.MessageID})
			if err != nil {
				c.t.Fatal(err)
			}
			fmt.Fprintf(&c.out, "<<< %s for #%d:\n%s\n", a.Kind, a.MessageID, text)
			if a.Kind == handlers.Receipt {
				// the sender would send it: remember it as queued
				m, err := a.OutboxMessage(c.now)
				if err != nil {
					c.t.Fatal(err)
				}
				if _, err := c.st.Commit(context.Background(), store.Changes{Outbox: []store.OutboxMessage{m}}); err != nil {
					c.t.Fatal(err)
				}
			}
		case handlers.React:
			fmt.Fprintf(&c.out, "<<< react %q on #%d\n", a.Emoji, a.MessageID)
		default:
			fmt.Fprintf(&c.out, "<<< %s (reply to #%d):\n%s\n", a.Kind, a.ReplyTo, a.Text)
		}
	}
	c.now = c.now.Add(time.Minute)
}

// TestConversationGolden plays a day in a village, the command group, a
// stranger's group and a landlord's private chat, and compares every answer
// with testdata/conversation.golden (go test -update rewrites it).
func TestConversationGolden(t *testing.T) {
	c := newConversation(t)
	private := handlers.Chat{ID: landlord.ID, Type: "private"}

	c.say(stranger, wang, "#返乡 张三 13812345678 武汉 昨天 郝家店村3组") // unbound: silence
	c.say(stranger, wang, "/help")
	c.say(stranger, wang, "/bind village 别村") // told that only operators bind
	c.say(village, operator, "/bind village 郝家店村")
	c.say(command, operator, "/bind command 指挥部")
	c.say(stranger, operator, "/bind village 郝家店村") // the name is taken
	c.say(village, wang, "/join")
	c.say(village, li, "/join")
	c.say(village, li, "/join")
	arrival := c.say(village, wang, "#返乡 姓名:张三 电话:13812345678 身份证:420102199007183514 来自:武汉 日期:昨天 住址:郝家店村3组")
	c.say(village, li, "#返乡 李四 13812345678 孝感 今天 郝家店村2组") // same phone: a duplicate warning
	bad := c.say(village, li, "#发热 姓名:刘洋 体温:385")
	c.edit(village, li, bad, "#发热 姓名:刘洋 体温:38.5 住址:郝家店村1组 症状:咳嗽")
	c.say(village, wang, "#婚丧 张三 儿子结婚 明天 郝家店村 约80人 8桌")
	c.say(village, wang, "大家辛苦了，今天降温注意保暖")
	c.say(village, wang, "/fever@otherbot 姓名:沈冰 体温39.1 住址:相台村3组")
	c.say(village, admin, "/fever Li Lei 37.1 Haojiadian Village")
	c.say(village, wang, "/template 租户")
	c.say(village, admin, "/template tenant")
	c.say(village, wang, "/template 聚会")
	c.say(village, wang, "/list 返乡")
	c.say(village, wang, "/list 返乡 昨天")
	c.say(village, wang, "/list 返乡 2月30日")
	c.say(village, wang, "/observation")
	c.reply(village, li, arrival, "撤销") // not li's report, li not admin
	c.reply(village, admin, arrival, "/undo")
	c.say(village, wang, "/undo") // not a reply: withdraws wang's latest report today, the wedding
	c.say(village, wang, "零报告")
	c.say(village, wang, "/today")
	c.say(village, wang, "/set summary 20:30") // not an admin
	c.say(village, admin, "/set summary 晚上8点半")
	c.say(village, admin, "/set observation 100")
	c.say(village, admin, "/set tz Mars/Olympus")
	c.say(village, admin, "/set reminder off")
	c.say(village, admin, "/set followup 8:00") // already past today: from tomorrow
	c.say(village, admin, "/set rollup 21:30")  // not a village's setting
	c.say(village, wang, "/settings")
	c.say(command, wang, "/today")
	c.say(command, wang, "/settings")
	c.say(command, wang, "#返乡 张三 13812345678 武汉 昨天 郝家店村3组") // the command group takes no reports
	c.say(private, landlord, "/start")
	c.say(private, landlord, "#租户 罗娟 15837201234 2月3日 钢花路12号院3单元")
	c.say(private, landlord, "/village 不存在村")
	c.say(private, landlord, "/village 郝家店村")
	c.say(private, landlord, "#租户 罗娟 15837201234 2月3日 钢花路12号院3单元")
	c.say(private, landlord, "#发热 刘洋 38.5 郝家店村1组")
	c.say(village, li, "#租户 田甜 13937265432 今天 相台村4组8号")
	c.say(village, wang, "/whoami")
	chat := c.say(village, wang, "#日报 排查户数:120")
	c.edit(village, wang, chat, "今天不报了") // edited into chat: withdrawn
	c.say(village, wang, "/leave")
	c.say(village, wang, "/today")
	c.say(village, wang, "/unbind")
	c.say(village, operator, "/unbind")
	c.say(village, wang, "#返乡 张三 13812345678 武汉 昨天 郝家店村3组") // unbound again: silence

	golden(t, "conversation.golden", c.out.String())

	// and what is in the store agrees
	rs, err := c.st.Reports(context.Background(), store.ReportQuery{Chat: village.ID})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range rs {
		kinds[string(r.Kind)]++
	}
	if want := map[string]int{"arrival": 1, "fever": 2, "daily": 1, "tenant": 1}; fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("current reports by kind: %v, want %v", kinds, want)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from what the handlers answer now (go test -update rewrites it); got:\n%s", path, got)
	}
}

// TestParseClock covers how admins type times.
func TestParseClock(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"20:30", "20:30", true}, {"2030", "20:30", true}, {"8:05", "08:05", true}, {"20点30", "20:30", true},
		{"20点半", "20:30", true}, {"晚上8点半", "20:30", true}, {"8pm", "20:00", true}, {"17点", "17:00", true},
		{"off", "off", true}, {"关闭", "off", true}, {"24:00", "", false}, {"20:60", "", false}, {"soon", "", false}, {"", "", false},
	}
	for _, tt := range tests {
		got, ok := handlers.ParseClock(tt.in)
		if ok != tt.ok || ok && got.String() != tt.want {
			t.Errorf("ParseClock(%q) = %v, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestMembershipPausesAndResumes: the bot removed from a group pauses its
// scheduled posts; added back (or bound again) they resume.
func TestMembershipPausesAndResumes(t *testing.T) {
	c := newConversation(t)
	c.say(village, operator, "/bind village 郝家店村")
	active := func() bool {
		t.Helper()
		s, err := c.st.Settings(context.Background(), village.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c.h.Effective(s).Active
	}
	if !active() {
		t.Fatal("a new binding is inactive")
	}
	for _, step := range []struct {
		status string
		want   bool
	}{{"kicked", false}, {"member", true}, {"left", false}, {"administrator", true}, {"whatever", true}} {
		if err := c.h.HandleMembership(context.Background(), village.ID, step.status); err != nil {
			t.Fatal(err)
		}
		if got := active(); got != step.want {
			t.Errorf("after %q: active=%v, want %v", step.status, got, step.want)
		}
	}
	if err := c.h.HandleMembership(context.Background(), village.ID, "kicked"); err != nil {
		t.Fatal(err)
	}
	c.say(village, operator, "/bind village 郝家店村")
	if !active() {
		t.Error("binding again did not resume the scheduled posts")
	}
}

// TestCommandsWithFullWidthSpaces: a Chinese keyboard types U+3000.
func TestCommandsWithFullWidthSpaces(t *testing.T) {
	c := newConversation(t)
	c.say(village, operator, "/bind　village　郝家店村")
	c.say(village, wang, "/template　返乡")
	out := c.out.String()
	if !strings.Contains(out, "已绑定") || !strings.Contains(out, "#返乡登记") {
		t.Errorf("commands with full-width spaces were not understood:\n%s", out)
	}
	// a reply 撤销 to a message that holds no report is ordinary chat
	id := c.say(village, wang, "大家好")
	before := c.out.Len()
	c.reply(village, wang, id, "撤销")
	if strings.Contains(c.out.String()[before:], "<<<") {
		t.Errorf("a reply 撤销 to chat was answered:\n%s", c.out.String()[before:])
	}
}

// TestLateOriginalKeepsTheEdit: the original of a report handled after its
// edit (parallel webhook connections, a retried delivery) is recorded for
// the audit trail, but the edit stays current: the reaction is not put
// back to the original's and the receipt shows the edit.
func TestLateOriginalKeepsTheEdit(t *testing.T) {
	c := newConversation(t)
	c.say(village, operator, "/bind village 郝家店村")
	sent := c.now
	c.send(handlers.Message{Chat: village, From: wang, ID: 50, Date: sent, EditDate: sent.Add(time.Minute),
		Text: "#返乡 姓名:张三 电话:13812345678 来自:武汉 日期:2020-02-06 住址:郝家店村3组"})
	before := c.out.Len()
	c.send(handlers.Message{Chat: village, From: wang, ID: 50, Date: sent, Text: "#返乡 姓名:张三"})
	late := c.out.String()[before:]
	if strings.Contains(late, "react") {
		t.Errorf("the late original changed the reaction:\n%s", late)
	}
	if !strings.Contains(late, "138****5678") {
		t.Errorf("the receipt after the late original does not show the edit:\n%s", late)
	}
	r, ok, err := c.st.Report(context.Background(), village.ID, 50)
	if err != nil || !ok || r.Revision == 0 || r.Problems != 0 {
		t.Errorf("current revision after the late original: %+v %v %v", r, ok, err)
	}
	if hist, _ := c.st.History(context.Background(), village.ID, 50); len(hist) != 2 {
		t.Errorf("the late original was not recorded: %d facts", len(hist))
	}
}

// TestBindRace: groups binding one village name at the same moment:
// exactly one is bound, every other is told the name is taken.
func TestBindRace(t *testing.T) {
	c := newConversation(t)
	for round := range 5 {
		name := fmt.Sprintf("同名村%d", round)
		const n = 8
		replies := make(chan string, n)
		start := make(chan struct{})
		for i := range n {
			go func() {
				<-start
				chat := handlers.Chat{ID: int64(-2000000 - 100*round - i), Type: "supergroup", Title: "群"}
				actions, err := c.h.HandleMessage(context.Background(), handlers.Message{Chat: chat, From: operator, ID: 1, Text: "/bind village " + name, Date: c.now})
				if err != nil || len(actions) != 1 {
					replies <- fmt.Sprintf("error: %v %+v", err, actions)
					return
				}
				replies <- actions[0].Text
			}()
		}
		close(start)
		bound, taken := 0, 0
		for range n {
			switch r := <-replies; {
			case strings.Contains(r, "已绑定"):
				bound++
			case strings.Contains(r, "已经绑定到另一个群"):
				taken++
			default:
				t.Errorf("round %d: unexpected answer %q", round, r)
			}
		}
		if bound != 1 || taken != n-1 {
			t.Errorf("round %d: %d groups bound to %s, %d told it is taken; want 1 and %d", round, bound, name, taken, n-1)
		}
	}
}

// TestSeveralPeopleInOneMessage: one report per person, one reaction, one
// receipt; an edit that drops a person withdraws them; /undo as a reply
// withdraws them all.
func TestSeveralPeopleInOneMessage(t *testing.T) {
	c := newConversation(t)
	c.say(village, operator, "/bind village 郝家店村")
	id := c.say(village, li, "返乡登记\n2月5日从武汉返回\n1. 王强 13598765432 郝家店村五组\n2. 赵敏 13700001111 郝家店村六组")
	count := func() int {
		t.Helper()
		rs, err := c.st.Reports(context.Background(), store.ReportQuery{Chat: village.ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d reports for a message with two people, want 2", n)
	}
	out := c.out.String()
	if strings.Count(out, "<<< react") != 1 || strings.Count(out, "<<< receipt") != 1 || !strings.Contains(out, "共 2 人") {
		t.Errorf("want one reaction and one receipt naming 2 people:\n%s", out)
	}
	c.edit(village, li, id, "返乡登记\n2月5日从武汉返回\n1. 王强 13598765432 郝家店村五组")
	if n := count(); n != 1 {
		t.Errorf("%d reports after the edit dropped a person, want 1", n)
	}
	c.edit(village, li, id, "返乡登记\n2月5日从武汉返回\n1. 王强 13598765432 郝家店村五组\n2. 赵敏 13700001111 郝家店村七组")
	if n := count(); n != 2 {
		t.Errorf("%d reports after the edit added the person back, want 2", n)
	}
	c.reply(village, li, id, "撤销")
	if n := count(); n != 0 {
		t.Errorf("%d reports after 撤销, want 0", n)
	}
	if !strings.Contains(c.out.String(), "↩️ 已撤销：李网格 的返乡登记（王强、赵敏）") {
		t.Errorf("the withdrawal does not name both people:\n%s", c.out.String())
	}
}
