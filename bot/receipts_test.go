package bot

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"gridbot/bot/telegramtest"
)

// TestReceiptsMerge runs real reports through the handlers and the sender:
// receipts due together in a chat become one message; editing a report
// refreshes that message (editMessageText, no new message); withdrawing
// one shows it as withdrawn; a report withdrawn before its receipt went
// out gets a receipt saying so.
func TestReceiptsMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{receiptDelay: 3 * time.Second})
		e.bind(village, "郝家店村")
		m1 := e.tg.SendMessage(village, wang, "#发热 姓名:刘一 体温:38.1 住址:郝家店村1组")
		m2 := e.tg.SendMessage(village, li, "#发热 姓名:陈二 体温:38.2 住址:郝家店村2组")
		m3 := e.tg.SendMessage(village, wang, "#返乡 姓名:张三 电话:13812345678 来自:武汉 日期:昨天 住址:郝家店村3组")
		e.deliver()
		e.run()
		e.until("the receipt", time.Minute, func(calls []telegramtest.Call) bool {
			return len(callsTo(calls, "sendMessage", village.ID)) > 0
		})
		time.Sleep(time.Minute) // anything else would have been sent by now
		synctest.Wait()
		sends := callsTo(e.tg.Calls(), "sendMessage", village.ID)
		if len(sends) != 1 {
			t.Fatalf("%d messages for three receipts due together, want 1", len(sends))
		}
		merged := e.tg.Sent(village.ID)[0]
		if merged.ReplyTo != m1 {
			t.Errorf("the merged receipt replies to %d, want the first report %d", merged.ReplyTo, m1)
		}
		contains(t, "merged receipt", merged.Text, "刘一", "38.1", "陈二", "38.2", "张三", "138****5678")
		if strings.Contains(merged.Text, "13812345678") {
			t.Errorf("the receipt shows the full phone number")
		}
		if !(strings.Index(merged.Text, "刘一") < strings.Index(merged.Text, "陈二") && strings.Index(merged.Text, "陈二") < strings.Index(merged.Text, "张三")) {
			t.Errorf("the receipts are not in the order of the reports:\n%s", merged.Text)
		}
		if err := checkHTML(merged.Text); err != nil {
			t.Errorf("merged receipt: %v", err)
		}
		for _, m := range []int{m1, m2, m3} {
			if r := e.tg.Reactions(village.ID, m); len(r) != 1 || r[0] != "👌" {
				t.Errorf("reactions on %d: %v", m, r)
			}
		}

		// an edit refreshes the merged message in place
		e.tg.EditMessage(village, li, m2, "#发热 姓名:陈二 体温:39.4 住址:郝家店村2组")
		e.deliver()
		e.until("the refreshed receipt", time.Minute, func([]telegramtest.Call) bool {
			return strings.Contains(e.tg.Sent(village.ID)[0].Text, "39.4")
		})
		refreshed := e.tg.Sent(village.ID)[0]
		contains(t, "refreshed receipt", refreshed.Text, "刘一", "38.1", "陈二", "39.4", "张三")
		if strings.Contains(refreshed.Text, "38.2") {
			t.Errorf("the refreshed receipt still shows the old temperature:\n%s", refreshed.Text)
		}
		edits := e.tg.CallsTo("editMessageText")
		if len(edits) != 1 || edits[0].Int("message_id") != merged.ID {
			t.Errorf("editMessageText calls %d, want one of message %d", len(edits), merged.ID)
		}
		if n := len(e.tg.Sent(village.ID)); n != 1 {
			t.Errorf("%d messages after the edit, want still 1", n)
		}

		// a withdrawal too: the others stay
		e.tg.ReplyMessage(village, wang, m3, "撤销")
		e.deliver()
		e.until("the receipt to show the withdrawal", time.Minute, func([]telegramtest.Call) bool {
			return strings.Contains(e.tg.Sent(village.ID)[0].Text, "已撤销")
		})
		e.settled(time.Minute) // the reaction's removal comes after the edit (reactions go last)
		withdrawn := e.tg.Sent(village.ID)[0]
		contains(t, "receipt after the withdrawal", withdrawn.Text, "刘一", "39.4", "已撤销", "张三")
		if strings.Contains(withdrawn.Text, "138****5678") {
			t.Errorf("the withdrawn report is still shown in full:\n%s", withdrawn.Text)
		}
		if r := e.tg.Reactions(village.ID, m3); len(r) != 0 {
			t.Errorf("the withdrawn report keeps its reaction %v", r)
		}

		// withdrawn before its receipt was sent
		m4 := e.tg.SendMessage(village, wang, "#发热 姓名:赵四 体温:38.9 住址:郝家店村4组")
		e.deliver()
		e.tg.ReplyMessage(village, wang, m4, "撤销")
		e.deliver()
		e.until("the late receipt", time.Minute, func([]telegramtest.Call) bool {
			for _, m := range e.tg.Sent(village.ID) {
				if m.ReplyTo == m4 && strings.Contains(m.Text, "赵四") && strings.Contains(m.Text, "已撤销") {
					return true
				}
			}
			return false
		})
		for _, m := range e.tg.Sent(village.ID) {
			if m.ReplyTo == m4 && strings.Contains(m.Text, "38.9") {
				t.Errorf("a receipt shows a withdrawn report as recorded:\n%s", m.Text)
			}
		}
		e.settled(time.Minute)
		for _, m := range e.tg.Sent(village.ID) {
			t.Logf("message %d (reply to %d):\n%s", m.ID, m.ReplyTo, m.Text)
		}
	})
}

func contains(t *testing.T, what, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, text)
		}
	}
}

// TestReceiptsBurst: in a burst of reports into one group,
// reactions are immediate and receipts merge, so the group gets far fewer
// messages than reports and every report is named.
func TestReceiptsBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{receiptDelay: 3 * time.Second})
		e.bind(village, "郝家店村")
		e.run()
		const n = 40
		for i := range n {
			e.tg.SendMessage(village, wang, "#发热 姓名:病人"+string(rune('A'+i%26))+string(rune('a'+i/26))+" 体温:38.5 住址:郝家店村1组")
			e.deliver()
			time.Sleep(100 * time.Millisecond) // a report every 0.1 s
		}
		e.settled(10 * time.Minute)
		sends := callsTo(e.tg.Calls(), "sendMessage", village.ID)
		if len(sends) > 5 {
			t.Errorf("%d messages for %d reports sent within 4 s", len(sends), n)
		}
		all := ""
		for _, c := range sends {
			all += c.Params["text"]
		}
		for i := range n {
			if name := "病人" + string(rune('A'+i%26)) + string(rune('a'+i/26)); !strings.Contains(all, name) {
				t.Errorf("no receipt names %s", name)
			}
		}
		if got := len(e.tg.CallsTo("setMessageReaction")); got != n {
			t.Errorf("%d reactions for %d reports", got, n)
		}
		t.Logf("%d reports, %d messages", n, len(sends))
	})
}
