package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"gridbot/bot/telegramtest"
	"gridbot/handlers"
	"gridbot/store"
)

// handlerFuncs is a Handler made of functions; nil ones do nothing.
type handlerFuncs struct {
	message func(context.Context, handlers.Message) ([]handlers.Action, error)
	press   func(context.Context, handlers.Press) ([]handlers.Action, error)
}

func (h handlerFuncs) HandleMessage(ctx context.Context, m handlers.Message) ([]handlers.Action, error) {
	if h.message == nil {
		return nil, nil
	}
	return h.message(ctx, m)
}

func (h handlerFuncs) HandlePress(ctx context.Context, p handlers.Press) ([]handlers.Action, error) {
	if h.press == nil {
		return nil, nil
	}
	return h.press(ctx, p)
}

func (h handlerFuncs) HandleMembership(context.Context, int64, string) error { return nil }

// outboxFunc is an Outbox made of a function.
type outboxFunc func(context.Context, store.Changes) (store.Result, error)

func (f outboxFunc) Commit(ctx context.Context, c store.Changes) (store.Result, error) {
	return f(ctx, c)
}

func messageUpdate(id, chat int64, msg int, text string) models.Update {
	return models.Update{ID: id, Message: &models.Message{ID: msg, Chat: models.Chat{ID: chat, Type: "supergroup"},
		From: &models.User{ID: 1001, FirstName: "王"}, Date: 1580860800, Text: text}}
}

func callbackUpdate(id, chat int64, msg int, query, data string) models.Update {
	return models.Update{ID: id, CallbackQuery: &models.CallbackQuery{ID: query, From: models.User{ID: 1001, FirstName: "王"}, Data: data,
		Message: models.MaybeInaccessibleMessage{Type: models.MaybeInaccessibleMessageTypeMessage,
			Message: &models.Message{ID: msg, Chat: models.Chat{ID: chat, Type: "supergroup"}, Date: 1580860800}}}}
}

// TestDispatcherKeepsEachChatsOrder: a batch of several chats' updates is
// processed chats in parallel, each chat's updates one at a time in order.
func TestDispatcherKeepsEachChatsOrder(t *testing.T) {
	chats := []int64{-101, -102, -103, -104, 55}
	const perChat = 30
	var (
		mu       sync.Mutex
		seen     = map[int64][]int{}
		inFlight = map[int64]*atomic.Int32{}
		started  = map[int64]chan struct{}{}
	)
	for _, c := range chats {
		inFlight[c] = &atomic.Int32{}
		started[c] = make(chan struct{})
	}
	h := handlerFuncs{message: func(ctx context.Context, m handlers.Message) ([]handlers.Action, error) {
		if n := inFlight[m.Chat.ID].Add(1); n != 1 {
			t.Errorf("chat %d: %d updates in flight at once", m.Chat.ID, n)
		}
		defer inFlight[m.Chat.ID].Add(-1)
		if m.ID == 0 {
			// every chat's first update waits until every chat has started:
			// that only ends if the chats run in parallel
			close(started[m.Chat.ID])
			for _, c := range chats {
				select {
				case <-started[c]:
				case <-time.After(10 * time.Second):
					return nil, fmt.Errorf("chat %d never started while chat %d was in flight: chats run one after another", c, m.Chat.ID)
				}
			}
		}
		runtime.Gosched()
		mu.Lock()
		seen[m.Chat.ID] = append(seen[m.Chat.ID], int(m.ID))
		mu.Unlock()
		return nil, nil
	}}
	m := NewMetrics()
	d := NewDispatcher(NewProcessor(h, outboxFunc(nil), time.Now, discard(), m, nil), len(chats), discard())
	var batch []models.Update
	id := int64(1)
	for i := range perChat {
		for _, c := range chats {
			batch = append(batch, messageUpdate(id, c, i, "x"))
			id++
		}
	}
	if err := d.Batch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	for _, c := range chats {
		want := make([]int, perChat)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(seen[c], want) {
			t.Errorf("chat %d processed %v", c, seen[c])
		}
	}
	if got := metric(t, m, "gridbot_updates_total", "type", "message"); got != float64(len(batch)) {
		t.Errorf("updates{message} = %v", got)
	}
	if got := metric(t, m, "gridbot_handler_seconds"); got != float64(len(batch)) {
		t.Errorf("handler_seconds has %v observations", got)
	}
}

// TestDispatcherStopsAChatAtAFailure: when an update cannot be made
// durable, the batch fails (and is not confirmed) and that chat's later
// updates wait; other chats go on.
func TestDispatcherStopsAChatAtAFailure(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h := handlerFuncs{message: func(ctx context.Context, m handlers.Message) ([]handlers.Action, error) {
		if m.Text == "fail" {
			return nil, fmt.Errorf("store: %w", store.ErrClosed)
		}
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%d/%d", m.Chat.ID, m.ID))
		mu.Unlock()
		return nil, nil
	}}
	for _, workers := range []int{1, 4} {
		seen = nil
		d := NewDispatcher(NewProcessor(h, outboxFunc(nil), time.Now, discard(), NewMetrics(), nil), workers, discard())
		err := d.Batch(context.Background(), []models.Update{
			messageUpdate(1, -1, 1, "ok"), messageUpdate(2, -2, 1, "ok"), messageUpdate(3, -1, 2, "fail"),
			messageUpdate(4, -2, 2, "ok"), messageUpdate(5, -1, 3, "ok"),
		})
		if !errors.Is(err, store.ErrClosed) || !strings.Contains(err.Error(), "update 3") {
			t.Errorf("workers %d: Batch = %v, want the failure of update 3", workers, err)
		}
		slices.Sort(seen)
		if want := []string{"-1/1", "-2/1", "-2/2"}; !slices.Equal(seen, want) {
			t.Errorf("workers %d: processed %v, want %v", workers, seen, want)
		}
	}
}

// TestProcessorRecoversPanics: a panicking handler is counted, the
// sender gets an apology queued and the update counts as processed.
func TestProcessorRecoversPanics(t *testing.T) {
	st := openStore(t)
	m := NewMetrics()
	h := handlerFuncs{
		message: func(ctx context.Context, msg handlers.Message) ([]handlers.Action, error) { panic("boom: " + msg.Text) },
		press: func(ctx context.Context, p handlers.Press) ([]handlers.Action, error) {
			var a []int
			_ = a[3]
			return nil, nil
		},
	}
	queued := 0
	p := NewProcessor(h, st, time.Now, discard(), m, func() { queued++ })
	ctx := context.Background()
	updates := []models.Update{
		messageUpdate(1, -1001, 5, "#发热 张三 13812345678"),
		callbackUpdate(2, -1001, 6, "q1", "remind:1"),
		{ID: 3, EditedMessage: &models.Message{ID: 5, Chat: models.Chat{ID: -1001, Type: "supergroup"}, From: &models.User{ID: 1}, Text: "x"}},
	}
	for _, u := range updates {
		if err := p.Process(ctx, &u); err != nil {
			t.Errorf("update %d: Process = %v, want nil (the update is confirmed)", u.ID, err)
		}
	}
	if got := metric(t, m, "gridbot_handler_panics_total"); got != 3 {
		t.Errorf("panics counted: %v, want 3", got)
	}
	apology, ok, err := st.Outbox(ctx, "apology:-1001:5")
	if err != nil || !ok || apology.Chat != -1001 || apology.Method != string(handlers.Send) ||
		!strings.Contains(string(apology.Payload), `"reply_to":5`) || !strings.Contains(string(apology.Payload), "抱歉") {
		t.Errorf("apology for the message: %+v %v %v", apology, ok, err)
	}
	if strings.Contains(string(apology.Payload), "13812345678") {
		t.Errorf("the apology repeats the message")
	}
	answer, ok, err := st.Outbox(ctx, "answer:q1")
	if err != nil || !ok || answer.Method != string(handlers.Answer) || !strings.Contains(string(answer.Payload), `"callback_id":"q1"`) {
		t.Errorf("apology for the press: %+v %v %v", answer, ok, err)
	}
	if queued != 3 { // the edit is answered too (the same key: one apology)
		t.Errorf("the sender was woken %d times, want 3", queued)
	}
}

// TestProcessorStoreFailure: if what an update did cannot be made durable,
// Process fails, so the update is not confirmed and comes again.
func TestProcessorStoreFailure(t *testing.T) {
	ctx := context.Background()
	reply := func(ctx context.Context, m handlers.Message) ([]handlers.Action, error) {
		return []handlers.Action{{Kind: handlers.Send, Key: "reply:1", Chat: m.Chat.ID, Text: "ok"}}, nil
	}
	u := messageUpdate(9, -1001, 5, "/today")

	// the handler's own writes fail
	p := NewProcessor(handlerFuncs{message: func(context.Context, handlers.Message) ([]handlers.Action, error) {
		return nil, fmt.Errorf("handlers: report: save: %w", store.ErrClosed)
	}}, outboxFunc(nil), time.Now, discard(), NewMetrics(), nil)
	if err := p.Process(ctx, &u); !errors.Is(err, store.ErrClosed) {
		t.Errorf("handler failure: Process = %v", err)
	}
	// queueing the actions fails
	woken := false
	p = NewProcessor(handlerFuncs{message: reply}, outboxFunc(func(context.Context, store.Changes) (store.Result, error) {
		return store.Result{}, errors.New("journal: fsync: input/output error")
	}), time.Now, discard(), NewMetrics(), func() { woken = true })
	if err := p.Process(ctx, &u); err == nil || !strings.Contains(err.Error(), "fsync") {
		t.Errorf("outbox failure: Process = %v", err)
	}
	if woken {
		t.Errorf("the sender was woken for actions that were not queued")
	}
	// the real handlers on a store that was closed
	st := openStore(t)
	h := handlers.New(handlers.Config{Operators: map[int64]bool{operatorID: true}}, st, nil, time.Now, discard())
	st.Close()
	p = NewProcessor(h, st, time.Now, discard(), NewMetrics(), nil)
	if err := p.Process(ctx, &u); !errors.Is(err, store.ErrClosed) {
		t.Errorf("closed store: Process = %v", err)
	}
}

// TestProcessorTranslatesUpdates checks what the handlers are given.
func TestProcessorTranslatesUpdates(t *testing.T) {
	var got []handlers.Message
	var presses []handlers.Press
	h := handlerFuncs{
		message: func(ctx context.Context, m handlers.Message) ([]handlers.Action, error) {
			got = append(got, m)
			return nil, nil
		},
		press: func(ctx context.Context, p handlers.Press) ([]handlers.Action, error) {
			presses = append(presses, p)
			return nil, nil
		},
	}
	st := openStore(t)
	now := time.Date(2020, 2, 5, 10, 0, 0, 0, time.UTC)
	p := NewProcessor(h, st, func() time.Time { return now }, discard(), NewMetrics(), nil)
	chat := models.Chat{ID: -1001, Type: "supergroup", Title: "村"}
	from := &models.User{ID: 1001, FirstName: "王", LastName: "书记", Username: "wang", LanguageCode: "zh-hans"}
	updates := []models.Update{
		{ID: 1, Message: &models.Message{ID: 10, Chat: chat, From: from, Date: 1580896800, Text: "#日报 零报告",
			ReplyToMessage: &models.Message{ID: 9, From: &models.User{ID: 100000001, IsBot: true, FirstName: "GridBot"}}}},
		{ID: 2, Message: &models.Message{ID: 11, Chat: chat, From: from, Date: 1580896801, Caption: "#返乡 张三", Photo: []models.PhotoSize{{FileID: "p"}}}},
		{ID: 3, EditedMessage: &models.Message{ID: 10, Chat: chat, From: from, Date: 1580896800, EditDate: 1580896900, Text: "#日报 排查户数:3"}},
		{ID: 4, EditedMessage: &models.Message{ID: 10, Chat: chat, From: from, Date: 1580896800, Text: "#日报 排查户数:4"}},
		{ID: 5, Message: &models.Message{ID: 12, Chat: models.Chat{ID: -4001, Type: "group"}, From: from, Date: 1580896802, MigrateToChatID: -1004001}},
		{ID: 6, MyChatMember: &models.ChatMemberUpdated{Chat: chat, From: *from}},
		{ID: 7},
		callbackUpdate(8, -1001, 20, "q8", "remind:20200205"),
	}
	for _, u := range updates {
		if err := p.Process(context.Background(), &u); err != nil {
			t.Fatalf("update %d: %v", u.ID, err)
		}
	}
	if len(got) != 5 {
		t.Fatalf("%d messages handled, want 5", len(got))
	}
	if m := got[0]; m.Chat != (handlers.Chat{ID: -1001, Type: "supergroup", Title: "村"}) || m.From.ID != 1001 || m.From.Name() != "王书记" ||
		m.ID != 10 || m.Text != "#日报 零报告" || !m.Date.Equal(time.Unix(1580896800, 0)) || m.Edited() || m.ReplyTo == nil || m.ReplyTo.ID != 9 || !m.ReplyTo.From.IsBot {
		t.Errorf("message: %+v", m)
	}
	if got[1].Text != "#返乡 张三" {
		t.Errorf("a caption is the text: %q", got[1].Text)
	}
	if m := got[2]; !m.Edited() || !m.EditDate.Equal(time.Unix(1580896900, 0)) || !m.Date.Equal(time.Unix(1580896800, 0)) {
		t.Errorf("edit: %+v", m)
	}
	if m := got[3]; !m.Edited() {
		t.Errorf("an edit without edit_date is still an edit: %+v", m)
	}
	if m := got[4]; m.MigrateTo != -1004001 || m.Chat.ID != -4001 {
		t.Errorf("migration: %+v", m)
	}
	if len(presses) != 1 || presses[0].ID != "q8" || presses[0].Chat.ID != -1001 || presses[0].MessageID != 20 || presses[0].Data != "remind:20200205" || !presses[0].At.Equal(now) {
		t.Errorf("presses: %+v", presses)
	}
	for typ, want := range map[string]float64{"message": 3, "edited_message": 2, "my_chat_member": 1, "other": 1, "callback_query": 1} {
		if got := metric(t, p.metrics, "gridbot_updates_total", "type", typ); got != want {
			t.Errorf("updates{%s} = %v, want %v", typ, got, want)
		}
	}
}

// TestProcessorAnswersStalePresses: a press on a message the bot can no
// longer see, or on an inline message, is answered (Telegram shows a
// spinner until it is) and confirmed, whatever chat it came from.
func TestProcessorAnswersStalePresses(t *testing.T) {
	st := openStore(t)
	p := NewProcessor(handlerFuncs{}, st, time.Now, discard(), NewMetrics(), nil)
	ctx := context.Background()
	from := models.User{ID: 1001, FirstName: "王"}
	for _, u := range []models.Update{
		{ID: 1, CallbackQuery: &models.CallbackQuery{ID: "q1", From: from, Data: "remind:1", Message: models.MaybeInaccessibleMessage{
			Type: models.MaybeInaccessibleMessageTypeInaccessibleMessage, InaccessibleMessage: &models.InaccessibleMessage{Chat: models.Chat{ID: -1001}, MessageID: 5}}}},
		{ID: 2, CallbackQuery: &models.CallbackQuery{ID: "q2", From: from, InlineMessageID: "AAE", Data: "remind:1"}},
	} {
		if err := p.Process(ctx, &u); err != nil {
			t.Errorf("update %d: Process = %v", u.ID, err)
			continue
		}
		key := "answer:" + u.CallbackQuery.ID
		if m, ok, err := st.Outbox(ctx, key); err != nil || !ok || m.Method != string(handlers.Answer) {
			t.Errorf("update %d: outbox %q: %+v %v %v", u.ID, key, m, ok, err)
		}
	}
}

// TestProcessorDropsPoisonousUpdates: an update that fails in a way no
// retry can mend (the store refuses it as invalid, something it needs does
// not exist, Telegram refuses a request) is answered with an apology,
// counted and confirmed: retried, it would hold up every update after it.
// Other failures are returned, for the update to come again.
func TestProcessorDropsPoisonousUpdates(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		err       error
		action    *handlers.Action
		dropped   bool
		apologies int
	}{
		{name: "not found", err: fmt.Errorf("schedules: press: tally: chat -1 is not a village group: %w", store.ErrNotFound), dropped: true, apologies: 1},
		{name: "invalid", err: fmt.Errorf("handlers: report: save: store: commit: revision: %w", store.ErrInvalid), dropped: true, apologies: 1},
		{name: "telegram 400", err: fmt.Errorf("handlers: admins of -1: getChatAdministrators: %w", tg.ErrorBadRequest), dropped: true, apologies: 1},
		{name: "an invalid action", action: &handlers.Action{Kind: handlers.Send, Key: strings.Repeat("k", 300), Chat: -1001, Text: "x"}, dropped: true, apologies: 1},
		{name: "store closed", err: fmt.Errorf("handlers: %w", store.ErrClosed)},
		{name: "cancelled", err: fmt.Errorf("handlers: %w", context.Canceled)},
		{name: "telegram 502", err: errors.New("handlers: admins of -1: getChatAdministrators: error response from telegram for method getChatAdministrators, 502 Bad Gateway")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			m := NewMetrics()
			h := handlerFuncs{message: func(context.Context, handlers.Message) ([]handlers.Action, error) {
				if tt.action != nil {
					return []handlers.Action{*tt.action}, nil
				}
				return nil, tt.err
			}}
			p := NewProcessor(h, st, time.Now, discard(), m, nil)
			u := messageUpdate(int64(i), -1001, 5, "x")
			err := p.Process(ctx, &u)
			if (err == nil) != tt.dropped {
				t.Errorf("Process = %v; dropped: %v", err, tt.dropped)
			}
			if got := metric(t, m, "gridbot_updates_dropped_total"); got != map[bool]float64{true: 1}[tt.dropped] {
				t.Errorf("dropped counted %v", got)
			}
			_, ok, _ := st.Outbox(ctx, "apology:-1001:5")
			if ok != (tt.apologies == 1) {
				t.Errorf("apology queued: %v", ok)
			}
		})
	}
}

// TestPanicEndToEnd: through the poller and the sender, a message whose
// handler panics is confirmed and answered with the apology, and the
// updates after it are handled.
func TestPanicEndToEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		h := handlerFuncs{message: func(ctx context.Context, m handlers.Message) ([]handlers.Action, error) {
			if strings.Contains(m.Text, "boom") {
				panic("boom")
			}
			return []handlers.Action{{Kind: handlers.Send, Key: fmt.Sprintf("reply:%d", m.ID), Chat: m.Chat.ID, ReplyTo: m.ID, Text: "ok"}}, nil
		}}
		proc := NewProcessor(h, e.st, time.Now, discard(), e.metrics, e.sender.Wake)
		client := &http.Client{Transport: e.tg.Client().Transport, Timeout: clientTimeout}
		poller := NewPoller("http://telegram.invalid", "123:TEST", client, pollFor, NewDispatcher(proc, 4, discard()).Batch, discard(), e.metrics)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { poller.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		e.run()
		bad := e.tg.SendMessage(village, wang, "boom")
		good := e.tg.SendMessage(village, wang, "after")
		last := e.tg.LastUpdateID()
		e.until("both answered and confirmed", time.Minute, func([]telegramtest.Call) bool {
			return len(e.tg.Sent(village.ID)) == 2 && e.tg.Confirmed() >= last
		})
		sent := e.tg.Sent(village.ID)
		if sent[0].ReplyTo != bad || !strings.Contains(sent[0].Text, "抱歉") || sent[1].ReplyTo != good || sent[1].Text != "ok" {
			t.Errorf("sent %+v", sent)
		}
		if got := metric(t, e.metrics, "gridbot_handler_panics_total"); got != 1 {
			t.Errorf("panics counted %v", got)
		}
	})
}

// TestProcessSkipsActionsTheHandlerQueued: actions a handler recorded in
// the same durable step as the report are not committed a second time;
// the others are, and the sender is woken either way.
func TestProcessSkipsActionsTheHandlerQueued(t *testing.T) {
	var committed []string
	woken := 0
	h := handlerFuncs{message: func(context.Context, handlers.Message) ([]handlers.Action, error) {
		return []handlers.Action{
			{Kind: handlers.React, Key: "react", Chat: -1, MessageID: 1, Emoji: "👌", Queued: true},
			{Kind: handlers.Send, Key: "reply", Chat: -1, Text: "好"},
		}, nil
	}}
	out := outboxFunc(func(_ context.Context, c store.Changes) (store.Result, error) {
		for _, m := range c.Outbox {
			committed = append(committed, m.Key)
		}
		return store.Result{Claimed: true}, nil
	})
	p := NewProcessor(h, out, time.Now, discard(), NewMetrics(), func() { woken++ })
	u := messageUpdate(1, -1, 1, "零报告")
	if err := p.Process(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(committed, []string{"reply"}) || woken != 1 {
		t.Errorf("committed %v, woken %d; want only the unqueued reply, and one wake", committed, woken)
	}
}
