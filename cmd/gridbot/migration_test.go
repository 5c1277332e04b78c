package main

import (
	"fmt"
	"testing"

	"gridbot/bot/telegramtest"
)

// TestServeMigrationWhileDown: while the bot is down a village group
// becomes a supergroup and someone reports in it. On restart the old
// group's migrate_to_chat_id, the supergroup's migrate_from_chat_id and the
// report arrive in one batch and chats run in parallel: the report is
// recorded and answered, not dropped as sent in an unbound group.
func TestServeMigrationWhileDown(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	for i := range 3 {
		group := telegramtest.Chat{ID: int64(-4100 - i), Type: "group", Title: fmt.Sprintf("村%d群", i)}
		super := telegramtest.Chat{ID: int64(-1004100 - i), Type: "supergroup", Title: group.Title}
		tg.AddChat(group)
		tg.SendMessage(group, operator, fmt.Sprintf("/bind village 第%d村", i))
		b.waitSent(group.ID, "已绑定")
		b.processed()
		b.stop()
		tg.Migrate(group.ID, super.ID)
		tg.SendMessage(super, wang, "#返乡 张三 13812345678 武汉 昨天 郝家店村3组")
		b.start()
		b.processed()
		b.waitSent(super.ID, "已记录")
	}
}
