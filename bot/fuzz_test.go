package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"

	"gridbot/bot/telegramtest"
	"gridbot/handlers"
	"gridbot/schedules"
	"gridbot/store"
	"gridbot/store/embedded"
)

// fuzzChats are the chats a fuzzed update may come from: bound and
// unbound, groups and private chats, and ids Telegram never uses.
var fuzzChats = []struct {
	id  int64
	typ models.ChatType
}{
	{village.ID, models.ChatTypeSupergroup},     // a bound village group
	{-1001000000300, models.ChatTypeSupergroup}, // the bound command group
	{2001, models.ChatTypePrivate},              // a landlord's private chat, bound
	{1001, models.ChatTypePrivate},              // a grid worker's private chat, unbound
	{-4001, models.ChatTypeGroup},               // an unbound group
	{0, models.ChatTypeGroup},
	{math.MaxInt64, models.ChatTypePrivate},
	{math.MinInt64, models.ChatTypeSupergroup},
	{-1001000000101, models.ChatTypeChannel}, // the village's id, typed as a channel
}

var fuzzUsers = []*models.User{
	{ID: operatorID, FirstName: "运营"},
	{ID: 1001, FirstName: "王", LastName: "书记", LanguageCode: "zh-hans"},
	{ID: 1002, FirstName: "Li", LastName: "Wang", Username: "liwang", LanguageCode: "en"},
	{ID: 2001, FirstName: "房东<b>&", LastName: "</pre>"},
	nil, // no sender (channel posts, anonymous admins)
	{ID: 100000001, IsBot: true, FirstName: "GridBot", Username: "gridbot"},
	{ID: math.MaxInt64, FirstName: ""},
	{ID: -5, FirstName: "\xff\xfe"},
}

// fuzzPrefixes start the fuzzed text, to reach every command and report.
var fuzzPrefixes = []string{
	"", "/start", "/help", "/help@gridbot ", "/start@otherbot ", "/template ", "/today", "/list ", "/observation",
	"/undo", "撤销", "/join", "/leave", "/settings", "/set ", "/set tz ", "/set summary ", "/set observation ", "/set lang ",
	"/whoami", "/village ", "/bind village ", "/bind command ", "/unbind", "/arrival ", "/fever ", "/gathering ",
	"/tenant ", "/daily ", "#返乡 ", "#发热 ", "#婚丧 ", "#租户 ", "#日报 ", "零报告", "返乡人员登记\n", "/bind village 郝家店村",
	"#返乡 姓名:张三 电话:13812345678 来自:武汉 日期:昨天 住址:郝家店村3组 ", "#租户 姓名:李四 电话:13912345678 住址:郝家店村2组 入住:今天 ",
	"#发热 姓名:刘洋 体温:38.5 住址:郝家店村1组 ", "#婚丧 类型:婚礼 事主:王五 日期:明天 地址:郝家店村 人数:30 ",
	"/list 发热", "/list arrival 2020-02-05", "/list 返乡 昨天", "/template 返乡", "/template tenant", "/set reminder off",
}

// fuzzBot is the bot's update handling as gridbot serve wires it, on an
// embedded store made once per fuzzing process.
type fuzzBot struct {
	st      *store.Store
	h       *handlers.Handler
	proc    *Processor
	metrics *Metrics
	logs    *lockedBuffer

	mu      sync.Mutex
	changes []store.Changes // what the processor queued for the last update
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// Commit records what is queued, then queues it.
func (f *fuzzBot) Commit(ctx context.Context, c store.Changes) (store.Result, error) {
	f.mu.Lock()
	f.changes = append(f.changes, c)
	f.mu.Unlock()
	return f.st.Commit(ctx, c)
}

func newFuzzBot(tb testing.TB) *fuzzBot {
	tb.Helper()
	ctx := context.Background()
	// durability is not what is fuzzed: skip the fsyncs
	e, err := embedded.Open(ctx, tb.TempDir(), embedded.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	st := store.New(e)
	tb.Cleanup(func() { st.Close() })
	at := time.Date(2020, 2, 1, 8, 0, 0, 0, time.UTC)
	if _, err := st.Commit(ctx, store.Changes{Bindings: []store.Binding{
		{Chat: village.ID, Role: store.RoleVillage, Name: "郝家店村", By: operatorID, At: at},
		{Chat: -1001000000300, Role: store.RoleCommand, Name: "指挥部", By: operatorID, At: at},
		{Chat: 2001, Role: store.RoleLandlord, Name: "郝家店村", By: 2001, At: at},
	}, Members: []store.Member{{Chat: village.ID, UserID: 1001, Name: "王书记", At: at}}}); err != nil {
		tb.Fatal(err)
	}
	tgs := telegramtest.New()
	tb.Cleanup(tgs.Close)
	tgs.SetAdmins(village.ID, telegramtest.User{ID: 1002, FirstName: "Li"})
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		tb.Fatal(err)
	}
	f := &fuzzBot{st: st, metrics: NewMetrics(), logs: &lockedBuffer{}}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelError}))
	now := func() time.Time { return time.Date(2020, 2, 5, 9, 30, 0, 0, loc) }
	f.h = handlers.New(handlers.Config{Operators: map[int64]bool{operatorID: true}, BotUsername: "gridbot", Location: loc,
		ReceiptDelay: 3 * time.Second, OnReport: f.metrics.Report}, st, NewAdmins(newAPI(tb, tgs), now), now, log)
	sched := schedules.New(st, f.h, now, loc, log, nil)
	f.h.HandlePresses(schedules.ReminderButton, sched.Carrier, sched.Press)
	f.proc = NewProcessor(f.h, f, now, log, f.metrics, nil)
	return f
}

// fuzzUpdate builds an update of a shape chosen by the selectors.
func fuzzUpdate(shape, chatSel, userSel, prefixSel uint8, n int64, text string) models.Update {
	c := fuzzChats[int(chatSel)%len(fuzzChats)]
	if chatSel >= 200 { // any id at all
		c.id = n
	}
	chat := models.Chat{ID: c.id, Type: c.typ, Title: text[:min(len(text), 30)]}
	from := fuzzUsers[int(userSel)%len(fuzzUsers)]
	if prefixSel >= 128 && len(text) > 0 {
		text = fuzzPrefixes[int(prefixSel)%len(fuzzPrefixes)] + text
	} else if prefixSel < 128 {
		text = fuzzPrefixes[int(prefixSel)%len(fuzzPrefixes)] + text
	}
	if userSel >= 128 { // a long message, as long as Telegram allows and more
		for utf8.RuneCountInString(text) < 5000 && text != "" {
			text += "\n" + text
		}
	}
	id := int(n % 100000)
	switch n % 13 {
	case 0:
		id = 0
	case 1:
		id = -id
	case 2:
		id = math.MaxInt32
	}
	date := 1580860800 + n%(30*86400)
	switch n % 11 {
	case 0:
		date = 0
	case 1:
		date = -date
	case 2:
		date = math.MaxInt64 / 1000
	}
	msg := &models.Message{ID: id, Chat: chat, From: from, Date: int(date), Text: text}
	if chatSel%3 == 0 {
		msg.Text, msg.Caption = "", text // a photo with a caption
	}
	switch (n >> 8) % 5 {
	case 1:
		msg.ReplyToMessage = &models.Message{ID: id - 1, Chat: chat, From: from, Text: "x"}
	case 2:
		msg.ReplyToMessage = &models.Message{ID: id - 1, Chat: chat, From: fuzzUsers[5], Text: "✅"}
	case 3:
		msg.ReplyToMessage = &models.Message{ID: id, Chat: chat}
	}
	query := strconv.FormatInt(n, 10)
	data := text[:min(len(text), 64)]
	if (n>>12)%2 == 0 {
		data = schedules.ReminderButton + ":" + strconv.FormatInt(20200205+n%3-1, 10)
	}
	u := models.Update{ID: n}
	switch shape % 10 {
	case 0, 1, 2:
		u.Message = msg
	case 3:
		msg.EditDate = int(date) + int(n%1000)
		u.EditedMessage = msg
	case 4:
		u.CallbackQuery = &models.CallbackQuery{ID: query, Data: data, Message: models.MaybeInaccessibleMessage{Type: models.MaybeInaccessibleMessageTypeMessage, Message: msg}}
	case 5:
		u.CallbackQuery = &models.CallbackQuery{ID: query, Data: data, Message: models.MaybeInaccessibleMessage{Type: models.MaybeInaccessibleMessageTypeInaccessibleMessage,
			InaccessibleMessage: &models.InaccessibleMessage{Chat: chat, MessageID: id}}}
	case 6:
		u.CallbackQuery = &models.CallbackQuery{ID: query, Data: data, InlineMessageID: text}
	case 7:
		u.MyChatMember = &models.ChatMemberUpdated{Chat: chat, Date: int(date)}
	case 8:
		msg.MigrateToChatID = n
		if chat.Type == models.ChatTypeGroup && chat.ID < 0 && chat.ID > -1_000_000_000_000 && n%2 == 0 {
			msg.MigrateToChatID = supergroupOf(chat.ID)
		}
		u.Message = msg
	case 9: // empty
	}
	if u.CallbackQuery != nil && from != nil {
		u.CallbackQuery.From = *from
	}
	return u
}

// FuzzUpdate feeds random updates of every shape, with random text, to the
// real handlers through Processor.Process. No panic may escape, the
// handlers must not panic at all (the processor would recover it, but it
// is a bug), the store must accept whatever they record (Process returns
// nil), and everything queued for Telegram must be valid in HTML parse mode.
func FuzzUpdate(f *testing.F) {
	for _, seed := range []struct {
		shape, chat, user, prefix uint8
		viaJSON                   bool
		n                         int64
		text                      string
	}{
		{0, 0, 1, 29, true, 1001, "姓名:张三 电话:13812345678 来自:武汉 日期:昨天 住址:郝家店村3组"},
		{0, 0, 0, 22, true, 1002, "郝家店村"},
		{3, 0, 1, 30, true, 1001, "姓名:刘洋 体温:385"},
		{0, 0, 1, 10, true, 1258, ""},
		{4, 0, 1, 0, true, 1003, "daily:20200205"},
		{5, 0, 1, 0, true, 1004, "x"},
		{6, 0, 1, 0, true, 1005, "x"},
		{7, 1, 0, 0, true, 1006, ""},
		{8, 4, 0, 0, true, -1004001, ""},
		{9, 0, 0, 0, true, 1007, ""},
		{0, 2, 3, 34, true, 1008, "姓名:李四 电话:13912345678 住址:郝家店村2组 入住:今天"},
		{0, 1, 2, 6, true, 1009, ""},
		{0, 0, 2, 15, false, 1010, "\xff\xfe<b>&amp;"},
		{0, 0, 130, 30, true, 1011, "姓名:<script>&lt; 体温:38.5 住址:郝家店村1组 备注:" + strings.Repeat("很长", 100)},
		{0, 5, 1, 29, false, 0, "x"},
		{0, 6, 6, 29, false, math.MaxInt64, "x"},
		{0, 7, 7, 29, false, math.MinInt64, "x"},
		{1, 0, 1, 14, true, 1012, "21:30"},
		{1, 0, 0, 16, true, 1013, "Europe/Berlin"},
		{2, 0, 1, 19, true, 1014, ""},
		{0, 3, 1, 20, true, 1015, "郝家店村"},
		{0, 0, 1, 39, true, 302, "备注:待撤销"}, // a report, message 302
		{0, 0, 1, 10, true, 303, ""},       // 撤销, replying to 302
		{0, 0, 1, 9, true, 303, ""},        // /undo, replying to 302
		{0, 0, 1, 41, true, 1016, ""},
		{0, 0, 1, 42, true, 1017, ""},
		{0, 0, 1, 43, true, 1018, ""},
		{0, 2, 3, 44, true, 1019, ""},
		{0, 0, 1, 45, true, 1020, ""},
		{0, 0, 2, 46, true, 1021, ""},
		{0, 1, 0, 6, true, 1022, ""}, // /today in the command group
	} {
		f.Add(seed.shape, seed.chat, seed.user, seed.prefix, seed.viaJSON, seed.n, seed.text)
	}
	// Updates Telegram could send go to one bot; the others to another, so
	// that the state they leave (a village migrated to an id in use, a
	// report dated in the year 292277026596) cannot make a possible
	// update fail later.
	clean, chaos := newFuzzBot(f), newFuzzBot(f)
	f.Fuzz(func(t *testing.T, shape, chatSel, userSel, prefixSel uint8, viaJSON bool, n int64, text string) {
		u := fuzzUpdate(shape, chatSel, userSel, prefixSel, n, text)
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("%s took %v", describe(u), d)
			}
		}()
		if raw, err := json.Marshal(u); viaJSON && err == nil { // as it comes from Telegram
			u = models.Update{}
			if err := json.Unmarshal(raw, &u); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
		}
		fb := chaos
		if possible(u) {
			fb = clean
		}
		fb.logs.take()
		fb.mu.Lock()
		fb.changes = nil
		fb.mu.Unlock()
		panics := metric(t, fb.metrics, "gridbot_handler_panics_total")
		dropped := metric(t, fb.metrics, "gridbot_updates_dropped_total")
		ctx := context.Background()
		if err := fb.proc.Process(ctx, &u); err != nil {
			t.Fatalf("Process(%s) = %v", describe(u), err)
		}
		if metric(t, fb.metrics, "gridbot_handler_panics_total") != panics {
			t.Fatalf("the handler panicked on %s:\n%s", describe(u), fb.logs.take())
		}
		// an update Telegram could send must not fail for good
		if metric(t, fb.metrics, "gridbot_updates_dropped_total") != dropped && fb == clean {
			logs := fb.logs.take()
			for _, k := range knownIssues {
				if strings.Contains(logs, k.signature) {
					t.Skipf("known issue, outside package bot: %s", k.issue)
				}
			}
			t.Fatalf("the handler failed for good on %s:\n%s", describe(u), logs)
		}
		fb.mu.Lock()
		changes := fb.changes
		fb.mu.Unlock()
		for _, c := range changes {
			if fb == chaos {
				break // what Telegram would make of it does not matter
			}
			for _, m := range c.Outbox {
				var a handlers.Action
				if err := json.Unmarshal(m.Payload, &a); err != nil {
					t.Fatalf("undecodable action %s: %v", m.Payload, err)
				}
				checkAction(t, fb, a, u)
			}
		}
	})
}

// checkAction checks that Telegram would take what an action sends.
func checkAction(t *testing.T, fb *fuzzBot, a handlers.Action, u models.Update) {
	t.Helper()
	text := a.Text
	switch a.Kind {
	case handlers.Receipt, handlers.RefreshReceipt:
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("RenderReceipts panicked for %s: %v", describe(u), r)
				}
			}()
			text, err = fb.h.RenderReceipts(context.Background(), a.Chat, []int64{a.MessageID})
		}()
		if err != nil {
			t.Fatalf("RenderReceipts for %s: %v", describe(u), err)
		}
	case handlers.Answer:
		if n := utf8.RuneCountInString(a.Text); n > 200 {
			t.Errorf("a callback answer of %d characters for %s", n, describe(u))
		}
		return
	case handlers.React:
		if a.Emoji != "" && !strings.Contains(" 👌 🤔 👍 ✍ 🫡 🙏 ", " "+a.Emoji+" ") {
			t.Errorf("reaction %q is not one a bot may set", a.Emoji)
		}
		return
	}
	if err := checkHTML(text); err != nil {
		t.Errorf("%s action for %s is not valid HTML: %v\n%.600s", a.Kind, describe(u), err, text)
	}
	if a.Kind == handlers.Send && strings.TrimSpace(text) == "" {
		t.Errorf("an empty message for %s", describe(u))
	}
}

// knownIssues are failures this fuzz test found outside package bot and
// not fixed yet, skipped by a signature in the log so that fuzzing can go
// on past them (the bot answers such an update with an apology and drops
// it). The three it found — a reminder pressed in a chat no longer a
// village group, a landlord whose village lost its group, /today from a
// migrated chat's old id — are fixed.
var knownIssues = []struct{ signature, issue string }{}

// possible reports whether Telegram could send an update: message ids
// are positive, dates in this century or so, messages in groups have a
// sender, and only a group becomes a supergroup, with a new id.
func possible(u models.Update) bool {
	if !validStrings(reflect.ValueOf(u)) { // Telegram speaks JSON: UTF-8
		return false
	}
	for _, m := range []*models.Message{u.Message, u.EditedMessage} {
		if m == nil {
			continue
		}
		if m.ID <= 0 || m.From == nil && m.Chat.Type != models.ChatTypePrivate {
			return false
		}
		if m.Date < 0 || m.Date > year2100 || m.EditDate < 0 || m.EditDate > year2100 {
			return false
		}
		// a group becomes a supergroup with an id of its own
		if m.MigrateToChatID != 0 && (m.Chat.Type != models.ChatTypeGroup || m.MigrateToChatID != supergroupOf(m.Chat.ID)) {
			return false
		}
	}
	return true
}

// validStrings reports whether every string in v is valid UTF-8.
func validStrings(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return utf8.ValidString(v.String())
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || validStrings(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !validStrings(v.Field(i)) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if !validStrings(v.Index(i)) {
				return false
			}
		}
	}
	return true
}

// year2100 is when Telegram's dates end, as far as gridbot is concerned.
const year2100 = 4102444800

// supergroupOf is the id the fuzzed group becomes as a supergroup, new
// and its own, as Telegram's are.
func supergroupOf(group int64) int64 { return -1_000_000_000_000 + group }

// describe names an update's shape without its text.
func describe(u models.Update) string {
	var b strings.Builder
	fmt.Fprintf(&b, "update %d %s", u.ID, updateType(&u))
	if m := u.Message; m != nil {
		fmt.Fprintf(&b, " chat %d/%s msg %d from %v date %d migrate %d text %q", m.Chat.ID, m.Chat.Type, m.ID, m.From != nil, m.Date, m.MigrateToChatID, clipFor(m.Text+m.Caption))
	}
	if m := u.EditedMessage; m != nil {
		fmt.Fprintf(&b, " chat %d/%s msg %d edit %d text %q", m.Chat.ID, m.Chat.Type, m.ID, m.EditDate, clipFor(m.Text+m.Caption))
	}
	if q := u.CallbackQuery; q != nil {
		fmt.Fprintf(&b, " query %q data %q", q.ID, q.Data)
	}
	return b.String()
}
