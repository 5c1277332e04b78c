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

// TestServeSamePersonTwice: the same person registered again in the same
// village updates the registration — ✏️ 已更新 with what changed — and is
// counted once by /today and by `gridbot summary`; in another village the
// warning stays.
func TestServeSamePersonTwice(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	b.bindVillage()
	other := telegramtest.Chat{ID: -1001000000103, Type: "supergroup", Title: "北蒙社区群"}
	tg.AddChat(other)
	tg.SendMessage(other, operator, "/bind village 北蒙社区")
	b.waitSent(other.ID, "北蒙社区")

	tg.SendMessage(village, li, "返乡 张三 13812345678 从武汉返回 昨天 郝家店村3组")
	b.waitSent(village.ID, "的返乡登记已记录")
	tg.SendMessage(village, wang, "返乡 张三 13812345678 从武汉返回 昨天 郝家店村5组")
	update := b.waitSent(village.ID, "✏️ 已更新")
	if !strings.Contains(update.Text, "住址：郝家店村3组 → 郝家店村5组") {
		t.Errorf("the update does not say what changed:\n%s", update.Text)
	}
	tg.SendMessage(village, wang, "/today")
	today := b.waitSent(village.ID, "今日统计")
	if !strings.Contains(today.Text, "返乡 1｜") || !strings.Contains(today.Text, "居家观察 1 人") {
		t.Errorf("/today counts the same person twice:\n%s", today.Text)
	}
	tg.SendMessage(other, li, "返乡 张三 13812345678 从武汉返回 昨天 北蒙社区2号楼")
	warned := b.waitSent(other.ID, "返乡登记已记录")
	if !strings.Contains(warned.Text, "在 郝家店村 登记过") || strings.Count(warned.Text, "⚠️") != 1 {
		t.Errorf("another village's registration is not warned about once:\n%s", warned.Text)
	}
	b.processed()
	b.stop()

	var out, errOut strings.Builder
	env := map[string]string{"GRIDBOT_DB": b.db}
	if err := run(context.Background(), []string{"summary", "--json"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("summary: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), `"arrivals": 2`) && !strings.Contains(out.String(), `"arrivals":2`) {
		t.Errorf("gridbot summary does not count three registrations of one person in two villages as 2 arrivals:\n%s", out.String())
	}
}

// TestServeLandlordTenantInList: a tenant a landlord registers in a
// private chat shows in the village's /list 租户, with the pass number;
// a tenant a grid worker registers in the group has no landlord.
func TestServeLandlordTenantInList(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	b.bindVillage()
	landlord := telegramtest.User{ID: 2001, FirstName: "何", LastName: "房东"}
	private := telegramtest.Chat{ID: landlord.ID, Type: "private"}
	tg.AddChat(private)
	tg.AddMembers(village.ID, landlord) // only a member of the village's group may choose it
	tg.SendMessage(private, landlord, "/village 郝家店村")
	b.waitSent(private.ID, "郝家店村")
	tg.SendMessage(private, landlord, "租户 罗娟 15837201234 2月3日 郝家店村8组")
	b.waitSent(private.ID, "出入证编号")
	tg.SendMessage(village, li, "租户 田甜 13937265432 今天 郝家店村4组")
	worker := b.waitSent(village.ID, "的租户登记已记录")
	if strings.Contains(worker.Text, "房东") {
		t.Errorf("the grid worker is recorded as the landlord:\n%s", worker.Text)
	}
	tg.SendMessage(village, li, "/list 租户")
	list := b.waitSent(village.ID, "租户登记，共 2 条")
	for _, want := range []string{"罗娟", "房东：何房东", "郝家店村-0001", "田甜", "158****1234"} {
		if !strings.Contains(list.Text, want) {
			t.Errorf("/list 租户 lacks %q:\n%s", want, list.Text)
		}
	}
}
