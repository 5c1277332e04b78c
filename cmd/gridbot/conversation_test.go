package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gridbot/bot/telegramtest"
	"gridbot/store"
)

// edited waits until the bot's message id in chat reads substr.
func (b *botUnderTest) edited(chat int64, id int, substr string) telegramtest.SentMessage {
	b.t.Helper()
	var got telegramtest.SentMessage
	b.wait("message "+substr, func([]telegramtest.Call) bool {
		for _, m := range b.tg.Sent(chat) {
			if m.ID == id && strings.Contains(m.Text, substr) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// receiptRecorded waits until the store records the receipt of report
// id as sent: Telegram has answered the send before the sender records
// it, and a person replies to a receipt seconds later, not microseconds.
func (b *botUnderTest) receiptRecorded(id int) {
	b.t.Helper()
	key := fmt.Sprintf("receipt:%d:%d", village.ID, id)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := store.Open(context.Background(), b.db, store.Options{ReadOnly: true})
		if err == nil {
			m, ok, err := st.Outbox(context.Background(), key)
			st.Close()
			if err == nil && ok && m.State == store.OutboxSent {
				return
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the receipt %s was not recorded as sent within 20 s", key)
		}
		time.Sleep(10 * time.Millisecond) // polling the store with a deadline: it has no change feed
	}
}

// TestServeRepliesToTheBot: through run() and the fake Telegram, a reply
// to the bot's template is a report of that kind, a reply to its ❌
// amends the report and edits the ❌, and 撤销 as a reply to its receipt
// withdraws the report.
func TestServeRepliesToTheBot(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	b.bindVillage()

	tg.SendMessage(village, li, "/template 返乡")
	template := b.waitSent(village.ID, "复制下面的模板")
	filled := tg.ReplyMessage(village, li, template.ID, "姓名：张三\n电话：13812345678\n来自：武汉\n返回日期：昨天\n住址：郝家店村3组12号")
	receipt := b.waitSent(village.ID, "的返乡登记已记录")
	b.receiptRecorded(filled)
	if receipt.ReplyTo != filled || !strings.Contains(receipt.Text, "张三") {
		t.Errorf("the reply to the template was not recorded as an arrival: %+v", receipt)
	}

	bad := tg.SendMessage(village, wang, "发热 刘洋 38.5")
	problems := b.waitSent(village.ID, "需要修改")
	b.receiptRecorded(bad)
	tg.ReplyMessage(village, wang, problems.ID, "住址：郝家店村1组")
	defer func() {
		if t.Failed() {
			for _, m := range tg.Sent(village.ID) {
				t.Logf("%d → %d: %s", m.ID, m.ReplyTo, m.Text)
			}
		}
	}()
	fixed := b.edited(village.ID, problems.ID, "已记录")
	if !strings.Contains(fixed.Text, "郝家店村1组") {
		t.Errorf("the amended receipt does not show the address:\n%s", fixed.Text)
	}
	b.wait("👌 on the amended report", func([]telegramtest.Call) bool {
		r := tg.Reactions(village.ID, bad)
		return len(r) == 1 && r[0] == "👌"
	})

	tg.ReplyMessage(village, li, receipt.ID, "撤销")
	b.waitSent(village.ID, "↩️ 已撤销：李网格 的返乡登记（张三）")
	b.edited(village.ID, receipt.ID, "已撤销")

	// thanks get 👌, anything else a hint: never silence for a reply to the bot
	thanks := tg.ReplyMessage(village, wang, fixed.ID, "收到，谢谢")
	b.wait("👌 on the thanks", func([]telegramtest.Call) bool { return len(tg.Reactions(village.ID, thanks)) == 1 })
	tg.ReplyMessage(village, wang, fixed.ID, "电话要补吗")
	b.waitSent(village.ID, "长按你的原消息 → 编辑")

	b.stop()
	st := openStore(t, b.db)
	rs, err := st.Reports(context.Background(), store.ReportQuery{Chat: village.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Kind != "fever" || rs[0].Fields["address"] != "郝家店村1组" || rs[0].MessageID != int64(bad) {
		t.Errorf("current reports: %+v, want only the amended fever report", rs)
	}
}

// TestServeBareUndo: /undo with no reply withdraws the sender's latest
// report in the chat today and names it; with nothing to withdraw it says
// how to withdraw an older one.
func TestServeBareUndo(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	b.bindVillage()

	tg.SendMessage(village, li, "/undo")
	b.waitSent(village.ID, "你今天在本群没有可撤销的报告")
	first := tg.SendMessage(village, li, "返乡 张三 13812345678 武汉 昨天 郝家店村3组")
	b.waitSent(village.ID, "张三")
	tg.SendMessage(village, wang, "发热 刘洋 38.5 郝家店村1组") // someone else's, later
	b.waitSent(village.ID, "刘洋")
	second := tg.SendMessage(village, li, "婚丧 喜事 事主:马超 2月15日 郝家店村 30人")
	b.waitSent(village.ID, "马超")
	b.processed()

	tg.SendMessage(village, li, "/undo")
	b.waitSent(village.ID, "↩️ 已撤销：李网格 的婚丧报备（马超）")
	b.processed()
	tg.SendMessage(village, li, "/undo")
	b.waitSent(village.ID, "↩️ 已撤销：李网格 的返乡登记（张三）")

	b.stop()
	st := openStore(t, b.db)
	for _, id := range []int{first, second} {
		if _, ok, err := st.Report(context.Background(), village.ID, int64(id)); err != nil || ok {
			t.Errorf("report %d still current after /undo (err %v)", id, err)
		}
	}
	rs, err := st.Reports(context.Background(), store.ReportQuery{Chat: village.ID})
	if err != nil || len(rs) != 1 || rs[0].Kind != "fever" {
		t.Errorf("current reports: %+v (err %v), want only wang's fever report", rs, err)
	}
}
