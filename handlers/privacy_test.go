package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"gridbot/handlers"
	"gridbot/report/masktest"
	"gridbot/store"
)

// members is a fake of Telegram's getChatMember: who is in which group.
type members struct {
	in  map[[2]int64]bool // chat, user
	err error
}

func (m *members) IsMember(_ context.Context, chat, user int64) (bool, error) {
	if m.err != nil {
		return false, m.err
	}
	return m.in[[2]int64{chat, user}], nil
}

// privacyFixture is a handler over a store with two bound villages, a
// membership fake and invite codes from a fixed source.
type privacyFixture struct {
	t       *testing.T
	h       *handlers.Handler
	st      *store.Store
	members *members
	now     time.Time
	next    int64
}

var xiangtai = handlers.Chat{ID: -1001000000102, Type: "supergroup", Title: "相台村群"}

func newPrivacyFixture(t *testing.T) *privacyFixture {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &privacyFixture{t: t, st: st, members: &members{in: map[[2]int64]bool{}}, now: time.Date(2020, 2, 7, 9, 0, 0, 0, shanghai)}
	f.h = handlers.New(handlers.Config{Operators: map[int64]bool{operator.ID: true}, BotUsername: "gridbot", Location: shanghai,
		Members: f.members, Codes: rand.New(rand.NewSource(1))}, st, admins{admin.ID: true}, func() time.Time { return f.now }, nil)
	f.say(village, operator, "/bind village 郝家店村")
	f.say(xiangtai, operator, "/bind village 相台村")
	return f
}

// say sends a message and returns the texts of what the bot queues,
// receipts rendered as the sender would.
func (f *privacyFixture) say(chat handlers.Chat, from handlers.User, text string) []string {
	f.t.Helper()
	f.next++
	return f.send(handlers.Message{Chat: chat, From: from, ID: f.next, Text: text, Date: f.now})
}

func (f *privacyFixture) send(m handlers.Message) []string {
	f.t.Helper()
	actions, err := f.h.HandleMessage(context.Background(), m)
	if err != nil {
		f.t.Fatalf("%q: %v", m.Text, err)
	}
	f.now = f.now.Add(time.Minute)
	return f.queued(actions)
}

// queued returns the texts actions put in the outbox, for their chats.
func (f *privacyFixture) queued(actions []handlers.Action) []string {
	f.t.Helper()
	var out []string
	for _, a := range actions {
		switch a.Kind {
		case handlers.Receipt, handlers.RefreshReceipt:
			text, err := f.h.RenderReceipts(context.Background(), a.Chat, []int64{a.MessageID})
			if err != nil {
				f.t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d:%s", a.Chat, text))
		default:
			m, err := a.OutboxMessage(f.now)
			if err != nil {
				f.t.Fatal(err)
			}
			var sent handlers.Action
			if err := json.Unmarshal(m.Payload, &sent); err != nil {
				f.t.Fatal(err)
			}
			if sent.Text != "" {
				out = append(out, fmt.Sprintf("%d:%s", a.Chat, sent.Text))
			}
		}
	}
	return out
}

func (f *privacyFixture) binding(chat int64) (store.Binding, bool) {
	f.t.Helper()
	b, ok, err := f.st.Binding(context.Background(), chat)
	if err != nil {
		f.t.Fatal(err)
	}
	return b, ok
}

// TestVillageNeedsMembership: /village by name works only for a member of
// the village's group; a stranger's private chat can neither choose the
// village nor file tenants into it. A failed check answers "try again",
// never fails the update.
func TestVillageNeedsMembership(t *testing.T) {
	f := newPrivacyFixture(t)
	private := handlers.Chat{ID: landlord.ID, Type: "private"}
	got := strings.Join(f.say(private, landlord, "/village 郝家店村"), "\n")
	if !strings.Contains(got, "不在“郝家店村”的村群里") {
		t.Errorf("a stranger chose a village: %s", got)
	}
	if b, ok := f.binding(private.ID); ok {
		t.Fatalf("a stranger's private chat was bound: %+v", b)
	}
	got = strings.Join(f.say(private, landlord, "#租户 罗娟 13937201234 2月3日 钢花路12号院3单元"), "\n")
	if !strings.Contains(got, "/village") || strings.Contains(got, "已记录") {
		t.Errorf("a stranger's tenant report: %s", got)
	}

	f.members.err = errors.New("getChatMember: 502")
	got = strings.Join(f.say(private, landlord, "/village 郝家店村"), "\n")
	if !strings.Contains(got, "稍后再试") {
		t.Errorf("a failed membership check: %s", got)
	}
	f.members.err = nil

	f.members.in[[2]int64{village.ID, landlord.ID}] = true
	got = strings.Join(f.say(private, landlord, "/village 郝家店村"), "\n")
	if b, ok := f.binding(private.ID); !ok || b.Role != store.RoleLandlord || b.Name != "郝家店村" {
		t.Fatalf("a member could not choose the village: %s %+v", got, b)
	}
	// a member of one village cannot choose another
	got = strings.Join(f.say(private, landlord, "/village 相台村"), "\n")
	if b, _ := f.binding(private.ID); b.Name != "郝家店村" || !strings.Contains(got, "不在“相台村”的村群里") {
		t.Errorf("a member of 郝家店村 chose 相台村: %s %+v", got, b)
	}
}

// TestVillageWithInviteCode: an admin or a grid worker of the group
// creates a code; it binds one landlord once, within 24 hours.
func TestVillageWithInviteCode(t *testing.T) {
	f := newPrivacyFixture(t)
	private := handlers.Chat{ID: landlord.ID, Type: "private"}
	other := handlers.User{ID: 2002, FirstName: "赵", LastName: "房东"}
	otherChat := handlers.Chat{ID: other.ID, Type: "private"}

	if got := strings.Join(f.say(village, wang, "/invite"), "\n"); !strings.Contains(got, "只有本群管理员或日报名单上的网格员") {
		t.Errorf("someone neither admin nor on the roster created a code: %s", got)
	}
	f.say(village, wang, "/join")
	code := inviteIn(t, f.say(village, wang, "/invite"))
	if adminCode := inviteIn(t, f.say(village, admin, "/invite")); adminCode == code {
		t.Errorf("two invites gave the same code %s", code)
	}

	if got := strings.Join(f.say(private, landlord, "/village ZZZZZZZZ"), "\n"); !strings.Contains(got, "邀请码“ZZZZZZZZ”不对") {
		t.Errorf("an unknown code: %s", got)
	}
	got := strings.Join(f.say(private, landlord, "/village "+strings.ToLower(code[:4])+" "+code[4:]), "\n")
	if b, ok := f.binding(private.ID); !ok || b.Name != "郝家店村" || !strings.Contains(got, "郝家店村") {
		t.Fatalf("the code did not bind the landlord: %s %+v", got, b)
	}
	if got := strings.Join(f.say(otherChat, other, "/village 郝家店村 "+code), "\n"); !strings.Contains(got, "已经用过") {
		t.Errorf("a used code: %s", got)
	}
	if _, ok := f.binding(otherChat.ID); ok {
		t.Error("a used code bound a second landlord")
	}

	late := inviteIn(t, f.say(village, wang, "/invite"))
	f.now = f.now.Add(24*time.Hour + time.Minute)
	if got := strings.Join(f.say(otherChat, other, "/village "+late), "\n"); !strings.Contains(got, "已过期") {
		t.Errorf("an expired code: %s", got)
	}
	if _, ok := f.binding(otherChat.ID); ok {
		t.Error("an expired code bound a landlord")
	}
}

// inviteIn finds the code in /invite's answer.
func inviteIn(t *testing.T, texts []string) string {
	t.Helper()
	for _, text := range texts {
		if _, rest, ok := strings.Cut(text, "<code>"); ok {
			code, _, _ := strings.Cut(rest, "</code>")
			return code
		}
	}
	t.Fatalf("no invite code in %q", texts)
	return ""
}

// TestPrivateDuplicateRevealsNothing: a landlord registering a tenant with
// the phone and ID number of someone registered in another village learns
// neither the name, nor the village, nor the day.
func TestPrivateDuplicateRevealsNothing(t *testing.T) {
	f := newPrivacyFixture(t)
	f.say(xiangtai, wang, "#返乡 姓名:欧阳秀 电话:13937265432 身份证:41050519870601006X 来自:武汉 日期:2月5日 住址:相台村4组")
	f.now = f.now.Add(24 * time.Hour)
	f.members.in[[2]int64{village.ID, landlord.ID}] = true
	private := handlers.Chat{ID: landlord.ID, Type: "private"}
	f.say(private, landlord, "/village 郝家店村")
	got := strings.Join(f.say(private, landlord, "#租户 姓名:罗娟 电话:13937265432 身份证:41050519870601006X 入住日期:2月8日 地址:钢花路12号院3单元"), "\n")
	if !strings.Contains(got, "已有登记") {
		t.Errorf("no duplicate warning at all: %s", got)
	}
	for _, secret := range []string{"欧阳秀", "相台村", "2020-02-07", "02-07", "返乡"} {
		if strings.Contains(got, secret) {
			t.Errorf("the private receipt reveals %q: %s", secret, got)
		}
	}
	// in the village group the warning still names the earlier report
	got = strings.Join(f.say(village, wang, "#返乡 姓名:罗娟 电话:13937265432 来自:武汉 日期:今天 住址:郝家店村3组"), "\n")
	if !strings.Contains(got, "欧阳秀") || !strings.Contains(got, "相台村") {
		t.Errorf("the group's duplicate warning lost its details: %s", got)
	}
}

// TestPrivateUpdateRevealsNothing: a landlord registering a tenant with
// the ID number of someone a grid worker registered in the same village
// updates that registration (counted once) but learns neither its name,
// nor its address, nor its day.
func TestPrivateUpdateRevealsNothing(t *testing.T) {
	f := newPrivacyFixture(t)
	f.say(village, wang, "#租户 姓名:欧阳秀 电话:13937265432 身份证:41050519870601006X 入住日期:2月5日 地址:郝家店村4组8号")
	f.now = f.now.Add(24 * time.Hour)
	f.members.in[[2]int64{village.ID, landlord.ID}] = true
	private := handlers.Chat{ID: landlord.ID, Type: "private"}
	f.say(private, landlord, "/village 郝家店村")
	for _, text := range []string{
		"#租户 姓名:罗娟 电话:13937265432 身份证:41050519870601006X 入住日期:2月8日 地址:钢花路12号院3单元",
		"#租户\n1. 罗娟 13937265432 身份证41050519870601006X 2月8日 钢花路12号院3单元\n2. 田甜 13937260000 2月8日 钢花路12号院4单元",
	} {
		got := strings.Join(f.say(private, landlord, text), "\n")
		for _, secret := range []string{"欧阳秀", "郝家店村4组", "2020-02-07", "02-07"} {
			if strings.Contains(got, secret) {
				t.Errorf("the private receipt reveals %q:\n%s", secret, got)
			}
		}
	}
}

// TestDisplayNamesMasked: a number in a display name (or a whole phone in
// Chinese digits) is masked in the receipt and the /join reply, and a
// bidirectional override in it is never posted.
func TestDisplayNamesMasked(t *testing.T) {
	f := newPrivacyFixture(t)
	for _, name := range []string{"王 139 1234 5678", "王一三九二三四五六七八九", "王\u202e139.1234.5678"} {
		u := handlers.User{ID: 3001, FirstName: name}
		for _, text := range []string{"/join", "#发热 刘洋 38.5 郝家店村1组", "/leave", "/whoami"} {
			for _, out := range f.say(village, u, text) {
				_, out, _ = strings.Cut(out, ":")
				if exposed := masktest.ExposedHTML(out); len(exposed) > 0 {
					t.Errorf("%q from %q: %q posted in full: %s", text, name, exposed, out)
				}
				if strings.ContainsAny(out, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") {
					t.Errorf("%q from %q: a bidirectional control was posted: %q", text, name, out)
				}
			}
		}
	}
}

// TestGroupPostsNeverShowNumbers is the property: over many generated
// messages — reports, edits, withdrawals, commands, chat — from users
// whose names hold numbers, written in every disguise, nothing the
// handlers queue for a group shows a number of seven or more digits, and
// nothing queued anywhere carries a bidirectional control.
func TestGroupPostsNeverShowNumbers(t *testing.T) {
	f := newPrivacyFixture(t)
	r := rand.New(rand.NewSource(7))
	num := func() string { return masktest.Number(r, 7+r.Intn(12)) }
	templates := []func() string{
		func() string {
			return "#返乡 姓名:张" + masktest.Text(r) + " 电话:" + num() + " 来自:武汉 日期:昨天 住址:郝家店村3组 备注:" + masktest.Text(r)
		},
		func() string {
			return "返乡 李四 " + num() + " 武汉 今天 郝家店村" + masktest.Text(r) + "组"
		},
		func() string { return "#返乡 王五 1" + num() + " 孝感 今天 郝家店村2组 身份证" + num() },
		func() string { return "#发热 刘洋 38.5 郝家店村1组 备注" + masktest.Text(r) },
		func() string { return "#发热 姓名:" + masktest.Text(r) + " 体温:" + masktest.Text(r) },
		func() string { return "#租户 罗娟 " + num() + " 2月3日 相台村4组8号 身份证:" + num() },
		func() string {
			return "#婚丧 张三 儿子结婚 明天 郝家店村 约80人 电话" + num() + " " + masktest.Text(r)
		},
		func() string { return "零报告 " + masktest.Text(r) },
		func() string { return "#日报 排查户数:" + masktest.Text(r) },
		func() string { return masktest.Text(r) },
		func() string { return "/list 返乡" },
		func() string { return "/list 租户" },
		func() string { return "/list 发热 今天" },
		func() string { return "/list " + masktest.Text(r) },
		func() string { return "/today" },
		func() string { return "/observation" },
		func() string { return "/whoami" },
		func() string { return "/join" },
		func() string { return "/leave" },
		func() string { return "/invite" },
		func() string { return "/settings" },
		func() string { return "/set summary " + masktest.Text(r) },
		func() string { return "/template " + masktest.Text(r) },
	}
	users := []handlers.User{wang, li, admin}
	for range 8 {
		users = append(users, handlers.User{ID: 1_000_000_000 + r.Int63n(8_000_000_000), FirstName: masktest.Text(r), LastName: masktest.Text(r)})
	}
	chats := []handlers.Chat{village, village, village, xiangtai, command}
	var sent []handlers.Message
	check := func(m handlers.Message, outs []string) {
		t.Helper()
		for _, out := range outs {
			chat, text, _ := strings.Cut(out, ":")
			if strings.HasPrefix(chat, "-") {
				if exposed := masktest.ExposedHTML(text); len(exposed) > 0 {
					t.Fatalf("%q from %q: %q posted to group %s in full:\n%s", m.Text, m.From.Name(), exposed, chat, text)
				}
			}
			if strings.ContainsAny(text, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") {
				t.Fatalf("%q from %q: a bidirectional control was queued:\n%q", m.Text, m.From.Name(), text)
			}
		}
	}
	for range 1500 {
		from := users[r.Intn(len(users))]
		chat := chats[r.Intn(len(chats))]
		var m handlers.Message
		switch n := r.Intn(10); {
		case n == 0 && len(sent) > 0: // an edit
			m = sent[r.Intn(len(sent))]
			m.Text = templates[r.Intn(len(templates))]()
			m.EditDate = f.now
		case n == 1 && len(sent) > 0: // a withdrawal
			target := sent[r.Intn(len(sent))]
			f.next++
			m = handlers.Message{Chat: target.Chat, From: from, ID: f.next, Text: "撤销", Date: f.now, ReplyTo: &handlers.Replied{ID: target.ID}}
		default:
			f.next++
			m = handlers.Message{Chat: chat, From: from, ID: f.next, Text: templates[r.Intn(len(templates))](), Date: f.now}
			sent = append(sent, m)
		}
		check(m, f.send(m))
	}
	// and the receipts of every report, as they are at the end
	for _, m := range sent {
		text, err := f.h.RenderReceipts(context.Background(), m.Chat.ID, []int64{m.ID})
		if err != nil {
			t.Fatal(err)
		}
		check(m, []string{fmt.Sprintf("%d:%s", m.Chat.ID, text)})
	}
}
