package bot

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"gridbot/bot/telegramtest"
	"gridbot/handlers"
	"gridbot/store"
)

// TestSenderHonoursRetryAfter: a 429 holds back every call to its chat
// until retry_after has passed, and only that chat.
func TestSenderHonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		e.tg.AddChat(village2)
		e.tg.Fail("sendMessage", telegramtest.TooManyRequests(7))
		e.queue(send(village.ID, "a1", "一"), send(village.ID, "a2", "二"), send(village2.ID, "b1", "三"))
		e.run()
		e.until("everything sent", time.Minute, func([]telegramtest.Call) bool {
			return len(e.tg.Sent(village.ID)) == 2 && len(e.tg.Sent(village2.ID)) == 1
		})
		synctest.Wait() // the sender has counted what the fake answered
		calls := callsTo(e.tg.Calls(), "sendMessage", 0)
		first := calls[0] // the one that got the 429
		blocked := first.Int64("chat_id")
		other := village2.ID
		if blocked == village2.ID {
			other = village.ID
		}
		for _, c := range calls[1:] {
			if at := c.At.Sub(first.At); c.Int64("chat_id") == blocked && at < 7*time.Second {
				t.Errorf("a call to chat %d %v after its 429 with retry_after 7", blocked, at)
			}
		}
		if at := callsTo(calls, "sendMessage", other)[0].At.Sub(first.At); at != 0 {
			t.Errorf("chat %d waited %v for another chat's 429", other, at)
		}
		if got := len(calls); got != 4 {
			t.Errorf("%d sendMessage calls, want 4 (the 429 and three sends)", got)
		}
		if got := metric(t, e.metrics, "gridbot_sends_total", "action", "send", "result", "retry_after"); got != 1 {
			t.Errorf("sends{retry_after} = %v, want 1", got)
		}
		if got := metric(t, e.metrics, "gridbot_sends_total", "action", "send", "result", "sent"); got != 3 {
			t.Errorf("sends{sent} = %v, want 3", got)
		}
	})
}

// TestSenderRetriesServerErrors: 5xx answers (JSON or a proxy's HTML page)
// are retried with exponential backoff and jitter until the message goes.
func TestSenderRetriesServerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		e.tg.Fail("sendMessage", telegramtest.ServerError(http.StatusInternalServerError))
		e.tg.Fail("sendMessage", telegramtest.ProxyError(http.StatusBadGateway))
		e.tg.Fail("sendMessage", telegramtest.ServerError(http.StatusServiceUnavailable))
		e.tg.Fail("sendMessage", telegramtest.ProxyError(http.StatusGatewayTimeout))
		e.queue(send(village.ID, "m", "<b>一</b>"))
		e.run()
		e.until("the message", 5*time.Minute, func([]telegramtest.Call) bool { return len(e.tg.Sent(village.ID)) == 1 })
		synctest.Wait()
		calls := callsTo(e.tg.Calls(), "sendMessage", village.ID)
		if len(calls) != 5 {
			t.Fatalf("%d calls, want 4 failures and a success", len(calls))
		}
		for k := 1; k < len(calls); k++ {
			base := time.Second << (k - 1)
			gap := calls[k].At.Sub(calls[k-1].At)
			// ±25 % jitter; the sender looks at the outbox at least every second
			if lo, hi := base*3/4, base*5/4+idlePoll; gap < lo || gap > hi {
				t.Errorf("retry %d came %v after the previous attempt, want %v–%v", k, gap, lo, hi)
			}
		}
		m := e.outbox("m")
		if m.State != store.OutboxSent || m.Attempts != 5 || m.SentMessageID == 0 {
			t.Errorf("outbox: state %s after %d attempts, message %d; want sent after 5", m.State, m.Attempts, m.SentMessageID)
		}
		if got := metric(t, e.metrics, "gridbot_sends_total", "result", "transient"); got != 4 {
			t.Errorf("sends{transient} = %v, want 4", got)
		}
	})
}

// TestSenderGivesUpOnPersistentErrors: a 5xx that never ends is retried
// for a day, with backoff capped at ten minutes, then the message is dead.
func TestSenderGivesUpOnPersistentErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		for range 1000 {
			e.tg.Fail("sendMessage", telegramtest.ServerError(http.StatusBadGateway))
		}
		e.queue(send(village.ID, "m", "一"))
		e.run()
		e.settled(30 * time.Hour)
		m := e.outbox("m")
		if m.State != store.OutboxDead {
			t.Errorf("outbox: %s after %d attempts, want dead after a day", m.State, m.Attempts)
		}
		// 1+2+…+512 s, then every 10 min (±25 %) for the rest of the day
		if calls := len(e.tg.CallsTo("sendMessage")); calls < 120 || calls > 200 || calls != m.Attempts {
			t.Errorf("%d calls and %d attempts over a day of errors, want about 150 of each", calls, m.Attempts)
		}
	})
}

// TestSenderRetriesTimeouts: a call Telegram never answers is given up
// on after callTimeout (not the HTTP client's minute and more, which held
// up every other chat's messages as long) and retried; the message is
// sent once.
func TestSenderRetriesTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		e.tg.AddChat(village2)
		e.tg.Fail("sendMessage", telegramtest.Timeout())
		e.queue(send(village.ID, "m", "一"))
		e.run()
		e.until("the first call", time.Minute, func(calls []telegramtest.Call) bool { return len(calls) > 0 })
		start := time.Now()
		// meanwhile another chat's message is not held up for long
		time.Sleep(2 * time.Second)
		e.queue(send(village2.ID, "other", "二"))
		e.until("the other chat's message", 2*time.Minute, func([]telegramtest.Call) bool { return len(e.tg.Sent(village2.ID)) == 1 })
		if took := time.Since(start); took > callTimeout+idlePoll {
			t.Errorf("another chat's message waited %v behind a hung call", took)
		}
		e.until("the message", 5*time.Minute, func([]telegramtest.Call) bool { return len(e.tg.Sent(village.ID)) == 1 })
		calls := callsTo(e.tg.Calls(), "sendMessage", village.ID)
		if len(calls) != 2 {
			t.Fatalf("%d calls, want the timeout and a retry", len(calls))
		}
		if gap := calls[1].At.Sub(calls[0].At); gap > callTimeout+3*time.Second {
			t.Errorf("the retry came %v after the hung call", gap)
		}
		synctest.Wait()
		if m := e.outbox("m"); m.State != store.OutboxSent || m.Attempts != 2 {
			t.Errorf("outbox: %s after %d attempts, want sent after 2", m.State, m.Attempts)
		}
	})
}

// TestSenderDropsBadRequests: a 400 is not retried; the message is dead
// and counted.
func TestSenderDropsBadRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		e.tg.Fail("sendMessage", telegramtest.BadRequest("can't parse entities: Unsupported start tag \"x\" at byte offset 0"))
		e.queue(send(village.ID, "bad", "<x>"), send(village.ID, "good", "二"))
		e.run()
		e.until("the next message", time.Minute, func([]telegramtest.Call) bool { return len(e.tg.Sent(village.ID)) == 1 })
		time.Sleep(time.Hour)
		synctest.Wait()
		if m := e.outbox("bad"); m.State != store.OutboxDead || m.Attempts != 1 || !strings.Contains(m.LastError, "rejected") {
			t.Errorf("outbox: %s after %d attempts (%q), want dead after 1", m.State, m.Attempts, m.LastError)
		}
		if n := len(e.tg.CallsTo("sendMessage")); n != 2 {
			t.Errorf("%d calls, want 2: a 400 is not retried", n)
		}
		if got := metric(t, e.metrics, "gridbot_sends_total", "action", "send", "result", "rejected"); got != 1 {
			t.Errorf("sends{rejected} = %v, want 1", got)
		}
	})
}

// TestSenderForbiddenMarksChatInactive: a 403 (the bot was removed) drops
// the message and records the chat as inactive.
func TestSenderForbiddenMarksChatInactive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.bind(village, "郝家店村")
		e.tg.Kick(village.ID)
		e.queue(send(village.ID, "m", "一"))
		e.run()
		e.until("the call", time.Minute, func(calls []telegramtest.Call) bool { return len(calls) == 1 })
		synctest.Wait()
		if m := e.outbox("m"); m.State != store.OutboxDead {
			t.Errorf("outbox: %s, want dead", m.State)
		}
		settings, err := e.st.Settings(context.Background(), village.ID)
		if err != nil {
			t.Fatal(err)
		}
		if settings[handlers.SettingActive] != "false" {
			t.Errorf("settings after a 403: %v, want active=false", settings)
		}
		if got := metric(t, e.metrics, "gridbot_sends_total", "result", "forbidden"); got != 1 {
			t.Errorf("sends{forbidden} = %v, want 1", got)
		}
	})
}

// TestSenderFollowsMigration: a 400 with migrate_to_chat_id is followed
// at once, recorded, and later messages go straight to the new chat.
func TestSenderFollowsMigration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		old := telegramtest.Chat{ID: -4001, Type: "group", Title: "相台村群"}
		const super = -1004001
		e.bind(old, "相台村")
		e.tg.MigrateChat(old.ID, super)
		e.queue(send(old.ID, "m1", "一"))
		e.run()
		e.until("the message in the supergroup", time.Minute, func([]telegramtest.Call) bool { return len(e.tg.Sent(super)) == 1 })
		synctest.Wait()
		if cur, err := e.st.CurrentChat(context.Background(), old.ID); err != nil || cur != super {
			t.Errorf("CurrentChat(old) = %d, %v; want %d", cur, err, super)
		}
		if b, ok, err := e.st.Binding(context.Background(), super); err != nil || !ok || b.Name != "相台村" {
			t.Errorf("binding of the supergroup: %+v %v %v", b, ok, err)
		}
		e.queue(send(old.ID, "m2", "二"))
		e.until("the second message", time.Minute, func([]telegramtest.Call) bool { return len(e.tg.Sent(super)) == 2 })
		calls := callsTo(e.tg.Calls(), "sendMessage", 0)
		if len(calls) != 3 || calls[0].Int64("chat_id") != old.ID || calls[1].Int64("chat_id") != super || calls[2].Int64("chat_id") != super {
			t.Errorf("calls: %v; want old (migrated), new, new", chatIDs(calls))
		}
		if m := e.outbox("m1"); m.State != store.OutboxSent || m.Attempts != 1 {
			t.Errorf("outbox: %s after %d attempts, want sent after 1", m.State, m.Attempts)
		}
	})
}

func chatIDs(calls []telegramtest.Call) []int64 {
	var out []int64
	for _, c := range calls {
		out = append(out, c.Int64("chat_id"))
	}
	return out
}

// TestSenderSplitsLongTexts: a text over Telegram's limit goes out as
// several messages, split between lines, in order, at the chat's pace;
// the first replies, the last carries the buttons; no piece breaks HTML.
func TestSenderSplitsLongTexts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		user := e.tg.SendMessage(village, wang, "/list fever")
		var lines []string
		for i := range 400 {
			lines = append(lines, fmt.Sprintf("%03d. <b>病人%03d</b> 体温 38.%d &amp; 咳嗽、乏力 &lt;郝家店村%d组&gt;", i, i, i%10, i%7))
		}
		text := strings.Join(lines, "\n")
		if telegramLen(text) <= 4096 {
			t.Fatalf("the test text is only %d characters", telegramLen(text))
		}
		e.queue(handlers.Action{Kind: handlers.Send, Key: "long", Chat: village.ID, ReplyTo: int64(user), Text: text,
			Buttons: [][]handlers.Button{{{Text: "更多", Data: "more:1"}}}})
		e.run()
		e.until("the whole text", 10*time.Minute, func([]telegramtest.Call) bool {
			sent := e.tg.Sent(village.ID)
			return len(sent) > 0 && strings.HasSuffix(sent[len(sent)-1].Text, lines[len(lines)-1])
		})
		sent := e.tg.Sent(village.ID)
		calls := callsTo(e.tg.Calls(), "sendMessage", village.ID)
		if len(calls) != len(sent) || len(sent) < 2 {
			t.Fatalf("%d calls for %d messages", len(calls), len(sent))
		}
		var pieces []string
		for i, c := range calls {
			p := c.Params["text"]
			pieces = append(pieces, p)
			if n := telegramLen(p); n > 4096 {
				t.Errorf("piece %d is %d characters", i, n)
			}
			if err := checkHTML(p); err != nil {
				t.Errorf("piece %d: %v", i, err)
			}
			if c.Params["parse_mode"] != "HTML" {
				t.Errorf("piece %d: parse_mode %q", i, c.Params["parse_mode"])
			}
			if _, replies := c.Params["reply_parameters"]; replies != (i == 0) {
				t.Errorf("piece %d: reply_parameters %q", i, c.Params["reply_parameters"])
			}
			if _, buttons := c.Params["reply_markup"]; buttons != (i == len(calls)-1) {
				t.Errorf("piece %d: reply_markup %q", i, c.Params["reply_markup"])
			}
			if i > 0 && c.At.Sub(calls[i-1].At) < time.Second {
				t.Errorf("pieces %d and %d %v apart", i-1, i, c.At.Sub(calls[i-1].At))
			}
		}
		if got := strings.Join(pieces, "\n"); got != text {
			t.Errorf("the pieces joined by newlines are not the text (%d pieces)", len(pieces))
		}
		if sent[0].ReplyTo != user {
			t.Errorf("the first piece replies to %d, want %d", sent[0].ReplyTo, user)
		}
		synctest.Wait()
		if m := e.outbox("long"); m.State != store.OutboxSent {
			t.Errorf("outbox: %s", m.State)
		}
	})
}

func TestSplitText(t *testing.T) {
	line := func(n int, s string) string { return strings.Repeat(s, n) }
	tests := []struct {
		name  string
		text  string
		limit int
		want  []string // nil: only check the invariants
	}{
		{name: "short", text: "a\nb", limit: 10, want: []string{"a\nb"}},
		{name: "exactly the limit", text: "abcd\nefgh", limit: 9, want: []string{"abcd\nefgh"}},
		{name: "between lines", text: "aaaa\nbbbb\ncccc", limit: 10, want: []string{"aaaa\nbbbb", "cccc"}},
		{name: "a long line", text: "aaaaaaaaaa\nb", limit: 4, want: []string{"aaaa", "aaaa", "aa\nb"}},
		{name: "characters, not bytes", text: line(5, "病"), limit: 4, want: []string{"病病病病", "病"}},
		{name: "UTF-16 units: an emoji counts two", text: line(5, "😷"), limit: 4, want: []string{"😷😷", "😷😷", "😷"}},
		{name: "an entity counts one", text: line(6, "&amp;"), limit: 4, want: []string{line(4, "&amp;"), line(2, "&amp;")}},
		{name: "tags count nothing", text: "<b>ab</b>\n<i>cd</i>", limit: 5, want: []string{"<b>ab</b>\n<i>cd</i>"}},
		{name: "a tag across a cut is closed and opened again", text: "<b>aaaa bbbb</b>", limit: 5, want: []string{"<b>aaaa </b>", "<b>bbbb</b>"}},
		{name: "a link across a cut keeps its address", text: `<a href="tg://user?id=1">aaaa bbbb</a> c`, limit: 5,
			want: []string{`<a href="tg://user?id=1">aaaa </a>`, `<a href="tg://user?id=1">bbbb</a> `, "c"}},
		{name: "nested tags across a cut", text: "<b>x<i>aaaa\nbbbb</i>y</b>", limit: 6, want: []string{"<b>x<i>aaaa</i></b>", "<b><i>bbbb</i>y</b>"}},
		{name: "a blank line first", text: "aa\n\nbb\ncc", limit: 7, want: []string{"aa", "bb\ncc"}},
		{name: "a block split", text: "<pre>aaaa\nbbbb</pre>", limit: 12},
		{name: "a tag in a long line", text: line(30, "x<b>粗</b>"), limit: 25},
		{name: "entities in a long line", text: line(40, "&amp;&lt;"), limit: 17},
		{name: "a link in a long line", text: line(10, `<a href="tg://user?id=1001">王</a>`), limit: 50},
		{name: "a line with a tag longer than the limit", text: "ab<a href=\"" + line(30, "x") + "\">y</a>z", limit: 16},
		{name: "invalid UTF-8", text: line(50, "\x80"), limit: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan []string, 1)
			go func() { done <- splitText(tt.text, tt.limit) }()
			var got []string
			select {
			case got = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("splitText does not return")
			}
			if tt.want != nil && !slices.Equal(got, tt.want) {
				t.Errorf("splitText = %q, want %q", got, tt.want)
			}
			var plain []string
			for i, p := range got {
				if n := telegramLen(p); n > tt.limit {
					t.Errorf("piece %d shows %d characters, over %d", i, n, tt.limit)
				}
				if p == "" {
					t.Errorf("piece %d is empty", i)
				}
				if utf8.ValidString(tt.text) {
					if err := checkHTML(p); err != nil {
						t.Errorf("piece %d %q: %v", i, p, err)
					}
				}
				plain = append(plain, stripTags(p))
			}
			// nothing is lost: the text shows the same, tags aside
			if a, b := strings.ReplaceAll(strings.Join(plain, ""), "\n", ""), strings.ReplaceAll(stripTags(tt.text), "\n", ""); a != b {
				t.Errorf("the pieces show\n%q\nbut the text shows\n%q", a, b)
			}
		})
	}
}

// TestSenderActions: reactions, edits, answers and documents reach
// Telegram with the right parameters.
func TestSenderActions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		report := e.tg.SendMessage(village, wang, "#日报 零报告")
		e.run()

		e.queue(handlers.Action{Kind: handlers.Send, Key: "s", Chat: village.ID, ReplyTo: int64(report), Text: "<b>收到</b> &amp; 谢谢",
			Buttons: [][]handlers.Button{{{Text: "确认", Data: "ok:1"}, {Text: "撤销", Data: "undo:1"}}}})
		e.until("the message", time.Minute, func([]telegramtest.Call) bool { return len(e.tg.Sent(village.ID)) == 1 })
		msg := e.tg.Sent(village.ID)[0]
		c := e.tg.CallsTo("sendMessage")[0]
		var rp struct {
			MessageID int  `json:"message_id"`
			Allow     bool `json:"allow_sending_without_reply"`
		}
		if err := c.JSON("reply_parameters", &rp); err != nil || rp.MessageID != report || !rp.Allow {
			t.Errorf("reply_parameters %q: %v", c.Params["reply_parameters"], err)
		}
		if msg.Text != "<b>收到</b> &amp; 谢谢" || msg.ParseMode != "HTML" || msg.ReplyTo != report {
			t.Errorf("sent %+v", msg)
		}
		if b := msg.Buttons(); len(b) != 2 || b[0].CallbackData != "ok:1" || b[1].Text != "撤销" {
			t.Errorf("buttons %+v", b)
		}

		e.queue(handlers.Action{Kind: handlers.React, Key: "r1", Chat: village.ID, MessageID: int64(report), Emoji: "👌"})
		e.until("the reaction", time.Minute, func([]telegramtest.Call) bool {
			return slices.Equal(e.tg.Reactions(village.ID, report), []string{"👌"})
		})
		c = e.tg.CallsTo("setMessageReaction")[0]
		if c.Int64("chat_id") != village.ID || c.Int("message_id") != report || c.Params["reaction"] != `[{"type":"emoji","emoji":"👌"}]` {
			t.Errorf("setMessageReaction %v", c.Params)
		}
		e.queue(handlers.Action{Kind: handlers.React, Key: "r2", Chat: village.ID, MessageID: int64(report)})
		e.until("the reaction removed", time.Minute, func(calls []telegramtest.Call) bool { return len(callsTo(calls, "setMessageReaction", 0)) == 2 })
		if r := e.tg.Reactions(village.ID, report); len(r) != 0 {
			t.Errorf("reactions after removing: %v", r)
		}

		e.queue(handlers.Action{Kind: handlers.Edit, Key: "e", Chat: village.ID, MessageID: int64(msg.ID), Text: "<i>已确认</i>",
			Buttons: [][]handlers.Button{{{Text: "再看", Data: "view:1"}}}})
		e.until("the edit", time.Minute, func([]telegramtest.Call) bool { return e.tg.Sent(village.ID)[0].Text == "<i>已确认</i>" })
		c = e.tg.CallsTo("editMessageText")[0]
		if c.Int64("chat_id") != village.ID || c.Int("message_id") != msg.ID || c.Params["parse_mode"] != "HTML" || !strings.Contains(c.Params["reply_markup"], `"callback_data":"view:1"`) {
			t.Errorf("editMessageText %v", c.Params)
		}

		query := e.tg.PressButton(village, wang, msg.ID, "view:1")
		e.queue(handlers.Action{Kind: handlers.Answer, Key: "a", Chat: village.ID, CallbackID: query, Text: "这个按钮已失效。"})
		e.until("the answer", time.Minute, func(calls []telegramtest.Call) bool { return len(callsTo(calls, "answerCallbackQuery", 0)) == 1 })
		c = e.tg.CallsTo("answerCallbackQuery")[0]
		if c.Params["callback_query_id"] != query || c.Params["text"] != "这个按钮已失效。" {
			t.Errorf("answerCallbackQuery %v", c.Params)
		}

		data := []byte("PK\x03\x04 a spreadsheet")
		e.queue(handlers.Action{Kind: handlers.Document, Key: "d", Chat: village.ID, Text: "<b>返乡登记</b> 2020-02-05", File: &handlers.File{Name: "返乡登记-2020-02-05.xlsx", Data: data}})
		e.until("the document", time.Minute, func(calls []telegramtest.Call) bool { return len(callsTo(calls, "sendDocument", 0)) == 1 })
		c = e.tg.CallsTo("sendDocument")[0]
		f := c.Files["document"]
		if f.Filename != "返乡登记-2020-02-05.xlsx" || !bytes.Equal(f.Data, data) || c.Params["caption"] != "<b>返乡登记</b> 2020-02-05" || c.Params["parse_mode"] != "HTML" {
			t.Errorf("sendDocument %v, file %q %q", c.Params, f.Filename, f.Data)
		}
		synctest.Wait()
		for _, k := range []string{"s", "r1", "r2", "e", "a", "d"} {
			if m := e.outbox(k); m.State != store.OutboxSent {
				t.Errorf("outbox %s: %s (%s)", k, m.State, m.LastError)
			}
		}
		if n := len(e.tg.Calls()); n != 6 {
			t.Errorf("%d calls, want 6", n)
		}
	})
}

// TestSenderLeaseOneReplicaAtATime: two senders sharing one store take
// turns by the minute; the holder keeps its turn while it runs, and every
// message is sent exactly once.
func TestSenderLeaseOneReplicaAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		m := NewMetrics()
		a := NewSender(e.api, e.st, e.h, time.Now, discard(), m, SenderOptions{Workers: 1, Lease: true})
		b := NewSender(e.api, e.st, e.h, time.Now, discard(), m, SenderOptions{Workers: 1, Lease: true})
		ctx := context.Background()
		both := func() { // the two replicas' passes at the same moment
			var wg sync.WaitGroup
			for _, s := range []*Sender{a, b} {
				wg.Go(func() {
					if _, err := s.SendDue(ctx); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}
		for i := range 30 {
			e.queue(send(village.ID, fmt.Sprint("m", i), fmt.Sprint("第", i, "条")))
			both()
			time.Sleep(10 * time.Second) // virtual: the pace and the lease's minutes pass
		}
		for range 12 {
			both()
			time.Sleep(10 * time.Second)
		}
		sent := map[string]int{}
		for _, c := range e.tg.CallsTo("sendMessage") {
			sent[c.Params["text"]]++
		}
		for i := range 30 {
			if n := sent[fmt.Sprint("第", i, "条")]; n != 1 {
				t.Errorf("message %d sent %d times", i, n)
			}
		}
	})
}

// TestSenderFloodedGroupDoesNotHideOthers: 600 messages queued for one
// group wait for its pace (20 a minute); a message for another chat,
// queued after them, still goes out within seconds.
func TestSenderFloodedGroupDoesNotHideOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{workers: 1})
		e.tg.AddChat(village)
		other := telegramtest.Chat{ID: -1001000000777, Type: "supergroup", Title: "别村"}
		e.tg.AddChat(other)
		for i := range 600 {
			e.queue(send(village.ID, fmt.Sprint("flood", i), fmt.Sprint("刷屏", i)))
		}
		e.run()
		time.Sleep(5 * time.Second) // virtual: the group's first messages go, the rest wait for its pace
		e.queue(send(other.ID, "other", "别村的消息"))
		e.sender.Wake()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := e.tg.WaitFor(ctx, func(calls []telegramtest.Call) bool {
			for _, c := range calls {
				if c.Method == "sendMessage" && c.Int64("chat_id") == other.ID {
					return true
				}
			}
			return false
		}); err != nil {
			t.Fatalf("the other chat's message waited behind the flooded group: %v", err)
		}
	})
}
