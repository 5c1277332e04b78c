package main

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/go-telegram/bot/models"

	"gridbot/bot"
)

// TestDrainPendingHandlesWhatWaited: what Telegram held while the bot was
// down is handled and confirmed by drainPending, which service.run calls
// before the scheduler starts its catch-up — so a daily report sent during
// the outage is on record before a late reminder is composed.
func TestDrainPendingHandlesWhatWaited(t *testing.T) {
	tg, url := newFakeTelegram(t)
	tg.AddChat(village)
	for _, text := range []string{"零报告", "返乡 张三 13812345678 武汉 昨天 郝家店村3组", "大家好"} {
		tg.SendMessage(village, li, text)
	}
	last := tg.LastUpdateID()
	var mu sync.Mutex
	var handled []string
	process := func(_ context.Context, us []models.Update) error {
		mu.Lock()
		defer mu.Unlock()
		for _, u := range us {
			handled = append(handled, u.Message.Text)
		}
		return nil
	}
	p := bot.NewPoller(url, "123:TEST", http.DefaultClient, pollTimeout, process, slog.New(slog.DiscardHandler), bot.NewMetrics())
	drainPending(context.Background(), p, slog.New(slog.DiscardHandler))
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 3 || handled[0] != "零报告" {
		t.Errorf("handled %q before the catch-up; want the three messages sent while down, in order", handled)
	}
	if tg.Confirmed() < last {
		t.Errorf("Telegram was told %d of %d updates were received", tg.Confirmed(), last)
	}
	// with nothing pending it returns at once, without waiting for a long poll
	drainPending(context.Background(), p, slog.New(slog.DiscardHandler))
}
