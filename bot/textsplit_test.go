package bot

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"gridbot/bot/telegramtest"
	"gridbot/handlers"
)

// names is a reminder-like text: a title, then one mention a line, long
// enough for several messages.
func names(title string, from, to int) string {
	lines := []string{"⏰ <b>" + title + "</b>"}
	for i := from; i < to; i++ {
		lines = append(lines, fmt.Sprintf(`<a href="tg://user?id=%d">网格员%04d</a> 郝家店村%d组 &amp; 还没有报送`, 5000+i, i, i%9+1))
	}
	return strings.Join(lines, "\n")
}

// TestSenderCountsAsTelegram: 4,096 Chinese characters (12,288 bytes) with
// tags and entities go as one message, as Telegram counts them; 4,097 as
// two, none over the limit.
func TestSenderCountsAsTelegram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		full := "<b>" + strings.Repeat("病", 4000) + "</b>&amp;" + strings.Repeat("热", 95)
		if n := telegramLen(full); n != 4096 {
			t.Fatalf("the text shows %d characters", n)
		}
		e.queue(send(village.ID, "full", full), send(village.ID, "over", full+"多"))
		e.run()
		e.settled(time.Minute)
		sent := e.tg.Sent(village.ID)
		if len(sent) != 3 || sent[0].Text != full {
			t.Fatalf("%d messages, want the full one whole and the longer one in two", len(sent))
		}
		for _, m := range sent {
			if n := telegramLen(m.Text); n > 4096 {
				t.Errorf("a message of %d characters", n)
			}
			if err := checkHTML(m.Text); err != nil {
				t.Error(err)
			}
		}
		if got := stripTags(sent[1].Text + sent[2].Text); got != stripTags(full+"多") {
			t.Errorf("the two parts lose text")
		}
	})
}

// TestSenderSplitResumesAfterRestart: a text of several parts goes a part
// a second; the sender stops (a crash) after two, and the one started in
// its place sends the rest, not the first two again.
func TestSenderSplitResumesAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		text := names("日报提醒", 0, 900)
		parts := splitText(text, textLimit)
		if len(parts) < 4 {
			t.Fatalf("only %d parts", len(parts))
		}
		e.queue(send(village.ID, "long", text))
		e.run()
		e.until("two parts", time.Minute, func([]telegramtest.Call) bool { return len(e.tg.Sent(village.ID)) == 2 })
		e.stop()
		e.sender = NewSender(e.api, e.st, e.h, time.Now, discard(), e.metrics, SenderOptions{Workers: 8, Seed: 2})
		e.run()
		e.settled(time.Minute)
		sent := e.tg.Sent(village.ID)
		if len(sent) != len(parts) {
			t.Fatalf("%d messages for %d parts", len(sent), len(parts))
		}
		for k, m := range sent {
			if m.Text != parts[k] {
				t.Errorf("message %d is not part %d", k, k)
			}
		}
	})
}

// TestSenderEditsSplitMessage: pressing the button of a long reminder that
// was split rewrites each part with its own part of the new text — the
// pressed message (the last) with the new text's end, not its beginning —
// and a part the shorter text no longer needs says so.
func TestSenderEditsSplitMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		buttons := [][]handlers.Button{{{Text: "确认提交日报", Data: "daily:20200207"}}}
		before := names("日报提醒", 0, 520)
		e.queue(handlers.Action{Kind: handlers.Send, Key: "reminder", Chat: village.ID, Text: before, Buttons: buttons})
		e.run()
		e.settled(time.Minute)
		sent := e.tg.Sent(village.ID)
		if len(sent) != 3 {
			t.Fatalf("the reminder went as %d messages, want 3", len(sent))
		}
		after := names("日报提醒", 260, 520) // half reported since
		want := splitText(after, textLimit)
		if len(want) != 2 {
			t.Fatalf("the new text has %d parts, want 2", len(want))
		}
		pressed := sent[2].ID
		e.queue(handlers.Action{Kind: handlers.Edit, Key: "edit", Chat: village.ID, MessageID: int64(pressed), Text: after, Buttons: buttons})
		e.sender.Wake()
		e.settled(time.Minute)
		now := e.tg.Sent(village.ID)
		if now[2].Text != want[1] {
			t.Errorf("the pressed message shows\n%.200s…\nwant the new text's last part\n%.200s…", now[2].Text, want[1])
		}
		if now[0].Text != want[0] {
			t.Errorf("the first message is not the new text's first part")
		}
		if !strings.Contains(now[1].Text, "已更新") {
			t.Errorf("the part no longer needed shows %.100q", now[1].Text)
		}
		if now[2].ReplyMarkup == nil || now[0].ReplyMarkup != nil {
			t.Errorf("the button is not on the last message only")
		}
		for _, m := range now {
			if err := checkHTML(m.Text); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestSenderEditTooLong: an edit that cannot fit its message is cut where
// the text allows and says so; it is never cut silently.
func TestSenderEditTooLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.tg.AddChat(village)
		e.queue(send(village.ID, "short", "短消息"))
		e.run()
		e.settled(time.Minute)
		id := e.tg.Sent(village.ID)[0].ID
		e.queue(handlers.Action{Kind: handlers.Edit, Key: "edit", Chat: village.ID, MessageID: int64(id), Text: names("很长", 0, 200)})
		e.sender.Wake()
		e.settled(time.Minute)
		got := e.tg.Sent(village.ID)[0].Text
		if !strings.HasSuffix(got, clippedZh) || telegramLen(got) > textLimit {
			t.Errorf("the edited message (%d characters) ends %q", telegramLen(got), got[max(len(got)-80, 0):])
		}
		if err := checkHTML(got); err != nil {
			t.Error(err)
		}
	})
}
