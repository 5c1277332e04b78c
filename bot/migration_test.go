package bot

import (
	"context"
	"fmt"
	"testing"

	"gridbot/bot/telegramtest"
)

// TestMigrationRaceKeepsReports: the bot was down while a village group
// became a supergroup and someone reported in the new chat. On restart
// the old group's migrate_to_chat_id, the supergroup's
// migrate_from_chat_id and the report come in one batch, and chats run in
// parallel: the report must not be read as sent in an unbound chat and
// dropped (it was, in every batch, while only the old group's message
// recorded the migration).
func TestMigrationRaceKeepsReports(t *testing.T) {
	e := newEnv(t, envOptions{workers: 8})
	ctx := context.Background()
	const rounds = 40
	type pair struct{ old, super telegramtest.Chat }
	var pairs []pair
	for i := range rounds {
		old := telegramtest.Chat{ID: int64(-4000 - i), Type: "group", Title: fmt.Sprintf("村%d", i)}
		super := telegramtest.Chat{ID: int64(-1001000004000 - i), Type: "supergroup", Title: old.Title}
		e.bind(old, fmt.Sprintf("第%d村", i))
		e.tg.AddChat(super)
		pairs = append(pairs, pair{old, super})
		date := 1580896800 + int64(i)
		from := map[string]any{"id": wang.ID, "is_bot": false, "first_name": wang.FirstName, "last_name": wang.LastName}
		e.tg.AddUpdate(map[string]any{"message": map[string]any{"message_id": 90, "date": date, "from": from,
			"chat": map[string]any{"id": old.ID, "type": "group", "title": old.Title}, "migrate_to_chat_id": super.ID}})
		e.tg.AddUpdate(map[string]any{"message": map[string]any{"message_id": 1, "date": date, "from": from,
			"chat": map[string]any{"id": super.ID, "type": "supergroup", "title": super.Title}, "migrate_from_chat_id": old.ID}})
		e.tg.AddUpdate(map[string]any{"message": map[string]any{"message_id": 2, "date": date + 1, "from": from,
			"chat": map[string]any{"id": super.ID, "type": "supergroup", "title": super.Title},
			"text": "#返乡 姓名:张三 电话:13812345678 来自:武汉 日期:2020-02-04 住址:郝家店村3组"}})
		e.deliver() // one batch a round: the three updates together
	}
	lost := 0
	for _, p := range pairs {
		if _, ok, err := e.st.Report(ctx, p.super.ID, 2); err != nil {
			t.Fatal(err)
		} else if !ok {
			lost++
		}
		if cur, err := e.st.CurrentChat(ctx, p.old.ID); err != nil || cur != p.super.ID {
			t.Errorf("CurrentChat(%d) = %d, %v; want %d", p.old.ID, cur, err, p.super.ID)
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d reports sent in the new supergroup were dropped as sent in an unbound chat", lost, rounds)
	}
	if n := metric(t, e.metrics, "gridbot_updates_dropped_total"); n != 0 {
		t.Errorf("%v updates given up on", n)
	}
}
