package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gridbot/bot/telegramtest"
	"gridbot/store"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Cast of the end-to-end tests.
var (
	village  = telegramtest.Chat{ID: -1001000000101, Type: "supergroup", Title: "郝家店村群"}
	operator = telegramtest.User{ID: 7, FirstName: "运营"}
	wang     = telegramtest.User{ID: 1001, FirstName: "王", LastName: "书记"}
	li       = telegramtest.User{ID: 1002, FirstName: "李", LastName: "网格"}
)

// botUnderTest is a `gridbot serve` running through run() against a fake
// Telegram on a loopback port, with its store in a temp dir.
type botUnderTest struct {
	t      *testing.T
	tg     *telegramtest.Server
	url    string
	db     string
	env    map[string]string
	cancel context.CancelFunc
	done   chan error
	stdout *syncBuffer
	stderr *syncBuffer
}

func newFakeTelegram(t *testing.T) (*telegramtest.Server, string) {
	tg := telegramtest.New(telegramtest.WithReporter(t))
	ts := httptest.NewServer(tg)
	t.Cleanup(ts.Close)
	t.Cleanup(tg.Close)
	return tg, ts.URL
}

func startBot(t *testing.T, tg *telegramtest.Server, url, db string, env map[string]string) *botUnderTest {
	t.Helper()
	b := &botUnderTest{t: t, tg: tg, url: url, db: db, env: env}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *botUnderTest) start() {
	b.t.Helper()
	vars := map[string]string{
		"TELEGRAM_BOT_TOKEN":    "123:TEST",
		"TELEGRAM_API_URL":      b.url,
		"GRIDBOT_DB":            b.db,
		"GRIDBOT_OPERATORS":     "7",
		"GRIDBOT_HTTP":          "127.0.0.1:0",
		"GRIDBOT_RECEIPT_DELAY": "300ms",
		"GRIDBOT_LOG_LEVEL":     "warn",
	}
	for k, v := range b.env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan error, 1)
	b.stdout, b.stderr = &syncBuffer{}, &syncBuffer{}
	calls := len(b.tg.CallsTo("getUpdates"))
	go func() {
		b.done <- run(ctx, []string{"serve"}, func(k string) string { return vars[k] }, strings.NewReader(""), b.stdout, b.stderr)
	}()
	// ready once it polls
	b.wait("the bot to poll", func([]telegramtest.Call) bool { return len(b.tg.CallsTo("getUpdates")) > calls })
}

// stop cancels the bot and waits for run to return, as a SIGTERM would.
func (b *botUnderTest) stop() {
	if b.cancel == nil {
		return
	}
	b.cancel()
	select {
	case err := <-b.done:
		if err != nil {
			b.t.Errorf("run returned %v\nstderr:\n%s", err, b.stderr.String())
		}
	case <-time.After(10 * time.Second):
		b.t.Errorf("the bot did not stop within 10 s of being told to")
	}
	b.cancel = nil
}

// wait waits for a condition on the calls the bot made, with a deadline.
func (b *botUnderTest) wait(what string, cond func([]telegramtest.Call) bool) []telegramtest.Call {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	calls, err := b.tg.WaitFor(ctx, cond)
	if err != nil {
		b.t.Fatalf("waiting for %s: %v\nstderr:\n%s", what, err, b.stderr.String())
	}
	return calls
}

// sentTo returns the bot's messages in a chat whose text contains substr.
func (b *botUnderTest) sentTo(chat int64, substr string) []telegramtest.SentMessage {
	var out []telegramtest.SentMessage
	for _, m := range b.tg.Sent(chat) {
		if strings.Contains(m.Text, substr) {
			out = append(out, m)
		}
	}
	return out
}

// waitSent waits for a message of the bot in chat containing substr.
func (b *botUnderTest) waitSent(chat int64, substr string) telegramtest.SentMessage {
	b.t.Helper()
	b.wait(fmt.Sprintf("a message with %q", substr), func([]telegramtest.Call) bool { return len(b.sentTo(chat, substr)) > 0 })
	return b.sentTo(chat, substr)[0]
}

// processed waits until Telegram was told every update so far was received.
func (b *botUnderTest) processed() {
	b.t.Helper()
	last := b.tg.LastUpdateID()
	b.wait("the updates to be confirmed", func([]telegramtest.Call) bool { return b.tg.Confirmed() >= last })
}

// bindVillage binds the village chat as an operator.
func (b *botUnderTest) bindVillage() {
	b.t.Helper()
	b.tg.AddChat(village)
	b.tg.SendMessage(village, operator, "/bind village 郝家店村")
	b.waitSent(village.ID, "郝家店村")
}

func openStore(t *testing.T, db string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestServeReports(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)

	// a stranger cannot bind; an unbound group ignores reports
	tg.AddChat(village)
	tg.SendMessage(village, wang, "/bind village 郝家店村")
	b.waitSent(village.ID, "只有运营者")
	tg.SendMessage(village, wang, "#返乡 姓名:张三 电话:13812345678 来自:武汉 日期:昨天 住址:郝家店村3组")
	b.processed()
	b.bindVillage()
	if n := len(tg.CallsTo("setMessageReaction")); n != 0 {
		t.Fatalf("an unbound group's report got %d reactions", n)
	}

	// a valid report: 👌 at once, then a receipt with the phone masked
	msg := tg.SendMessage(village, wang, "#返乡 姓名:张三 电话:13812345678 来自:武汉 日期:昨天 住址:郝家店村3组")
	receipt := b.waitSent(village.ID, "已记录")
	if !strings.Contains(receipt.Text, "138****5678") || strings.Contains(receipt.Text, "13812345678") {
		t.Errorf("receipt does not mask the phone:\n%s", receipt.Text)
	}
	if receipt.ReplyTo != msg {
		t.Errorf("receipt replies to %d, want the report %d", receipt.ReplyTo, msg)
	}
	if r := tg.Reactions(village.ID, msg); len(r) != 1 || r[0] != "👌" {
		t.Errorf("reactions on the report: %v, want 👌", r)
	}

	// an invalid report: every problem named, the template filled in
	bad := tg.SendMessage(village, li, "#发热 姓名:刘洋 体温:385")
	problems := b.waitSent(village.ID, "需要修改")
	for _, want := range []string{"体温“385”", "缺少住址", "<pre>"} {
		if !strings.Contains(problems.Text, want) {
			t.Errorf("the problem reply lacks %q:\n%s", want, problems.Text)
		}
	}
	b.wait("🤔 on the invalid report", func([]telegramtest.Call) bool {
		r := tg.Reactions(village.ID, bad)
		return len(r) == 1 && r[0] == "🤔"
	})

	// fixing it by editing the message edits the reply, no new message
	before := len(tg.Sent(village.ID))
	tg.EditMessage(village, li, bad, "#发热 姓名:刘洋 体温:38.5 住址:郝家店村1组")
	b.wait("the reply to be edited", func([]telegramtest.Call) bool {
		for _, m := range tg.Sent(village.ID) {
			if m.ID == problems.ID {
				return strings.Contains(m.Text, "已记录")
			}
		}
		return false
	})
	b.wait("👌 after the fix", func([]telegramtest.Call) bool {
		r := tg.Reactions(village.ID, bad)
		return len(r) == 1 && r[0] == "👌"
	})

	// ordinary chat gets silence
	tg.SendMessage(village, wang, "大家辛苦了，今天降温注意保暖")
	tg.SendMessage(village, wang, "发热门诊几点开门？")
	b.processed()

	// /undo as a reply withdraws; the receipt says so
	tg.ReplyMessage(village, wang, msg, "/undo")
	b.waitSent(village.ID, "↩️ 已撤销")
	b.wait("the receipt to show the withdrawal", func([]telegramtest.Call) bool {
		for _, m := range tg.Sent(village.ID) {
			if m.ID == receipt.ID {
				return strings.Contains(m.Text, "已撤销")
			}
		}
		return false
	})
	// someone else's report cannot be withdrawn by a non-admin
	tg.ReplyMessage(village, wang, bad, "撤销")
	b.waitSent(village.ID, "只能撤销自己的报告")

	b.stop()
	if after := len(tg.Sent(village.ID)); after != before+2 {
		t.Errorf("%d messages after the edit, want %d (two undo answers; the edit made none)", after, before+2)
	}
	st := openStore(t, b.db)
	rs, err := st.Reports(context.Background(), store.ReportQuery{Chat: village.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Kind != "fever" || rs[0].Fields["temperature"] != "38.5" {
		t.Errorf("current reports: %+v, want only the fixed fever report", rs)
	}
}

func TestServeRepeatedUpdateIsRecordedOnce(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	b.bindVillage()
	msg := tg.SendMessage(village, wang, "零报告")
	b.waitSent(village.ID, "已记录")
	b.processed()
	// Telegram delivers the same message again (a webhook retry, a restart
	// between processing and confirming)
	tg.AddUpdate(map[string]any{"message": map[string]any{
		"message_id": msg, "date": time.Now().Unix(), "text": "零报告",
		"chat": village, "from": wang,
	}})
	b.processed()
	tg.SendMessage(village, wang, "/today")
	today := b.waitSent(village.ID, "今日统计")
	if !strings.Contains(today.Text, "日报 1/1") {
		t.Errorf("/today after a repeat: %s", today.Text)
	}
	if n := len(b.sentTo(village.ID, "已记录")); n != 1 {
		t.Errorf("%d receipts for one message delivered twice", n)
	}
}

func TestServeRetriesAfter429(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	b.bindVillage()
	tg.Fail("sendMessage", telegramtest.TooManyRequests(1))
	tg.Fail("sendMessage", telegramtest.ServerError(502))
	tg.SendMessage(village, wang, "#日报 排查户数:120 返乡人数:0 发热人数:0 婚丧:0")
	b.waitSent(village.ID, "已记录")
	var fails int
	for _, c := range tg.CallsTo("sendMessage") {
		_ = c
		fails++
	}
	if fails < 3 {
		t.Errorf("%d sendMessage calls, want the 429, the 502 and the success", fails)
	}
}

func TestServeFollowsMigration(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	group := telegramtest.Chat{ID: -4001, Type: "group", Title: "相台村群"}
	tg.AddChat(group)
	tg.SendMessage(group, operator, "/bind village 相台村")
	b.waitSent(group.ID, "相台村")
	tg.SendMessage(group, wang, "/join")
	b.waitSent(group.ID, "加入日报名单")
	tg.Migrate(group.ID, -1004001)
	super := telegramtest.Chat{ID: -1004001, Type: "supergroup", Title: "相台村群"}
	b.processed()
	tg.SendMessage(super, wang, "#返乡 张三 13812345678 武汉 昨天 相台村3组")
	b.waitSent(super.ID, "已记录")
	tg.SendMessage(super, wang, "/today")
	today := b.waitSent(super.ID, "今日统计")
	if !strings.Contains(today.Text, "返乡 1") || !strings.Contains(today.Text, "未报：王书记") {
		t.Errorf("/today in the supergroup lost the binding, roster or report:\n%s", today.Text)
	}
}

func TestServeRestartKeepsEverything(t *testing.T) {
	tg, url := newFakeTelegram(t)
	db := t.TempDir()
	b := startBot(t, tg, url, db, nil)
	b.bindVillage()
	tg.SendMessage(village, wang, "#返乡 张三 13812345678 武汉 昨天 郝家店村3组")
	b.waitSent(village.ID, "已记录")
	b.stop()
	b.start()
	tg.SendMessage(village, li, "#返乡 李四 13912345678 孝感 今天 郝家店村2组")
	b.waitSent(village.ID, "李四")
	tg.SendMessage(village, wang, "/today")
	today := b.waitSent(village.ID, "今日统计")
	if !strings.Contains(today.Text, "返乡 2") {
		t.Errorf("after a restart /today lost a report:\n%s", today.Text)
	}
}

func TestServeHealthAndMetrics(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	b.bindVillage()
	tg.SendMessage(village, wang, "零报告")
	b.waitSent(village.ID, "已记录")
	addr := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(b.stdout.String(), "\n", 2)[0], "gridbot: http on "))
	for path, want := range map[string]string{"/healthz": "ok", "/metrics": `gridbot_reports_total{kind="daily",outcome="valid"} 1`} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(body.String(), want) {
			t.Errorf("GET %s: %d, want %q in:\n%.2000s", path, resp.StatusCode, want, body.String())
		}
		if path == "/metrics" && (!strings.Contains(body.String(), "gridbot_store_writes_refusing 0") ||
			!strings.Contains(body.String(), "gridbot_store_writes_refused_total 0")) {
			t.Errorf("GET /metrics lacks the store's write state (embedded store)")
		}
		if strings.Contains(body.String(), "13812345678") || strings.Contains(body.String(), "王") {
			t.Errorf("GET %s shows personal data", path)
		}
	}
}

// TestSummaryAndVerify: `gridbot summary` prints the numbers /today shows,
// read-only while the bot runs; `gridbot db verify` checks the journal.
func TestSummaryAndVerify(t *testing.T) {
	tg, url := newFakeTelegram(t)
	db := t.TempDir()
	b := startBot(t, tg, url, db, nil)
	b.bindVillage()
	tg.SendMessage(village, wang, "/join")
	tg.SendMessage(village, li, "/join")
	tg.SendMessage(village, wang, "#返乡 张三 13812345678 武汉 昨天 郝家店村3组")
	tg.SendMessage(village, wang, "#发热 姓名:刘洋 体温:38.5 住址:郝家店村1组")
	tg.SendMessage(village, wang, "零报告")
	b.waitSent(village.ID, "日报")
	b.processed()
	env := func(k string) string { return map[string]string{"GRIDBOT_DB": db}[k] }
	day := time.Now().In(mustZone(t, "Asia/Shanghai")).Format(time.DateOnly)
	var out, errOut bytes.Buffer
	// while the bot is running
	if err := run(context.Background(), []string{"summary", "--json", "--day", day}, env, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("summary: %v\n%s", err, errOut.String())
	}
	var got struct {
		Day      string `json:"day"`
		Villages []struct {
			Village          string   `json:"village"`
			ChatID           string   `json:"chat_id"`
			Arrivals         int      `json:"arrivals"`
			Fevers           int      `json:"fevers"`
			DailyReports     int      `json:"daily_reports"`
			MissingDaily     []string `json:"missing_daily"`
			UnderObservation int      `json:"under_observation"`
		} `json:"villages"`
		Totals struct {
			Arrivals int `json:"arrivals"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("summary --json: %v\n%s", err, out.String())
	}
	if len(got.Villages) != 1 {
		t.Fatalf("summary: %s", out.String())
	}
	v := got.Villages[0]
	if got.Day != day || v.Village != "郝家店村" || v.ChatID != fmt.Sprint(village.ID) || v.Arrivals != 1 || v.Fevers != 1 ||
		v.DailyReports != 1 || len(v.MissingDaily) != 1 || v.MissingDaily[0] != "李网格" || v.UnderObservation != 1 || got.Totals.Arrivals != 1 {
		t.Errorf("summary --json:\n%s", out.String())
	}
	b.stop()
	out.Reset()
	if err := run(context.Background(), []string{"db", "verify"}, env, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("db verify: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "ok: every record decodes") {
		t.Errorf("db verify:\n%s", out.String())
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestServeWebhook runs the bot in webhook mode: it registers the webhook
// with its secret, refuses a call without it, and answers a report posted
// with it only after recording it.
func TestServeWebhook(t *testing.T) {
	tg, url := newFakeTelegram(t)
	db := t.TempDir()
	env := map[string]string{"GRIDBOT_WEBHOOK_URL": "https://bot.example/telegram/webhook", "GRIDBOT_WEBHOOK_SECRET": "s3cret_token-1"}
	vars := map[string]string{
		"TELEGRAM_BOT_TOKEN": "123:TEST", "TELEGRAM_API_URL": url, "GRIDBOT_DB": db, "GRIDBOT_OPERATORS": "7",
		"GRIDBOT_HTTP": "127.0.0.1:0", "GRIDBOT_RECEIPT_DELAY": "0s", "GRIDBOT_LOG_LEVEL": "warn",
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return vars[k] }, strings.NewReader(""), stdout, stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the bot did not stop within 10 s")
		}
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	calls, err := tg.WaitCalls(wctx, "setWebhook", 1)
	if err != nil {
		t.Fatalf("no setWebhook: %v\n%s", err, stderr.String())
	}
	if calls[0].Params["secret_token"] != "s3cret_token-1" || calls[0].Params["url"] != "https://bot.example/telegram/webhook" {
		t.Errorf("setWebhook: %v", calls[0].Params)
	}
	if _, err := tg.WaitFor(wctx, func([]telegramtest.Call) bool { return strings.Contains(stdout.String(), "http on") }); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(stdout.String(), "\n", 2)[0], "gridbot: http on "))
	post := func(secret string, update string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/telegram/webhook", strings.NewReader(update))
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tg.AddChat(village)
	bind := fmt.Sprintf(`{"update_id": 1, "message": {"message_id": 1, "date": %d, "chat": {"id": %d, "type": "supergroup"}, "from": {"id": 7, "is_bot": false, "first_name": "运营"}, "text": "/bind village 郝家店村"}}`, time.Now().Unix(), village.ID)
	if code := post("wrong", bind); code != http.StatusForbidden {
		t.Errorf("a wrong secret got %d, want 403", code)
	}
	if code := post("", bind); code != http.StatusForbidden {
		t.Errorf("no secret got %d, want 403", code)
	}
	if code := post("s3cret_token-1", bind); code != http.StatusOK {
		t.Fatalf("the right secret got %d", code)
	}
	if _, err := tg.WaitFor(wctx, func([]telegramtest.Call) bool {
		for _, m := range tg.Sent(village.ID) {
			if strings.Contains(m.Text, "已绑定") {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no answer to the webhook's update: %v", err)
	}
	if n := len(tg.CallsTo("getUpdates")); n != 0 {
		t.Errorf("the bot polled %d times in webhook mode", n)
	}
}
