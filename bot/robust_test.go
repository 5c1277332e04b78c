package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-telegram/bot/models"

	"gridbot/bot/telegramtest"
	"gridbot/handlers"
	"gridbot/store"
)

// Updates the library cannot decode, as Telegram might send them: a
// forward_origin type or a member status newer than the library, and a
// field of the wrong type.
const (
	secretText    = "返乡 王强 13598765432"
	unknownOrigin = `{"update_id":%d,"message":{"message_id":41,"date":1580896800,"chat":{"id":-1001000000101,"type":"supergroup"},"from":{"id":1001,"is_bot":false,"first_name":"王"},"forward_origin":{"type":"story_reply","date":1580896700},"text":"` + secretText + `"}}`
	unknownStatus = `{"update_id":%d,"my_chat_member":{"chat":{"id":-1001000000101,"type":"supergroup"},"from":{"id":1001,"is_bot":false,"first_name":"王"},"date":1580896800,"old_chat_member":{"status":"member","user":{"id":100000001,"is_bot":true,"first_name":"GridBot"}},"new_chat_member":{"status":"restricted_guest","user":{"id":100000001,"is_bot":true,"first_name":"GridBot"}}}}`
	wrongType     = `{"update_id":%d,"message":{"message_id":42,"date":1580896800,"chat":{"id":-1001000000101,"type":"supergroup"},"from":{"id":1001,"is_bot":false,"first_name":"王"},"text":{"secret":"` + secretText + `"}}}`
)

// TestDecodeUpdate: an update the library cannot decode is read with the
// fields the bot uses when they are intact, and otherwise reported with
// its id, so that it can be confirmed.
func TestDecodeUpdate(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		id      int64
		partial bool
		fail    bool
		check   func(models.Update) bool
	}{
		{name: "ordinary", raw: `{"update_id":5,"message":{"message_id":7,"date":1,"chat":{"id":-1,"type":"group"},"text":"hi"}}`, id: 5,
			check: func(u models.Update) bool { return u.Message.Text == "hi" }},
		{name: "unknown forward origin", raw: fmt.Sprintf(unknownOrigin, 6), id: 6, partial: true,
			check: func(u models.Update) bool {
				m := u.Message
				return m.ID == 41 && m.Chat.ID == village.ID && m.From.ID == 1001 && m.Text == secretText && m.Date == 1580896800
			}},
		{name: "unknown member status", raw: fmt.Sprintf(unknownStatus, 7), id: 7, partial: true,
			check: func(u models.Update) bool {
				return u.MyChatMember.Chat.ID == village.ID && u.MyChatMember.NewChatMember.Type == "restricted_guest"
			}},
		{name: "edit with a reply and an unknown origin", id: 8, partial: true,
			raw: `{"update_id":8,"edited_message":{"message_id":9,"date":1,"edit_date":2,"chat":{"id":-1,"type":"group"},"from":{"id":3,"is_bot":false,"first_name":"a"},"forward_origin":{"type":"?"},"caption":"c","reply_to_message":{"message_id":4,"date":1,"chat":{"id":-1,"type":"group"},"from":{"id":100000001,"is_bot":true,"first_name":"GridBot"}}}}`,
			check: func(u models.Update) bool {
				m := u.EditedMessage
				return m.EditDate == 2 && m.Caption == "c" && m.ReplyToMessage.ID == 4 && m.ReplyToMessage.From.IsBot
			}},
		{name: "press on a message with an unknown origin", id: 9, partial: true,
			raw: `{"update_id":9,"callback_query":{"id":"q","from":{"id":3,"is_bot":false,"first_name":"a"},"data":"d","chat_instance":"1","message":{"message_id":4,"date":1,"chat":{"id":-1,"type":"group"},"forward_origin":{"type":"?"}}}}`,
			check: func(u models.Update) bool {
				q := u.CallbackQuery
				return q.ID == "q" && q.Data == "d" && q.Message.Message.ID == 4 && q.Message.Message.Chat.ID == -1
			}},
		{name: "a field of the wrong type", raw: fmt.Sprintf(wrongType, 10), id: 10, fail: true},
		{name: "a phone number where text belongs", raw: `{"update_id":12,"message":{"message_id":1,"date":1,"chat":{"id":-1,"type":"group"},"text":13598765432}}`, id: 12, fail: true},
		// encoding/json quotes a number too big for its field in its error
		{name: "digits too many for an id", raw: `{"update_id":13,"message":{"message_id":1359876543213598765432,"date":1,"chat":{"id":-1,"type":"group"}}}`, id: 13, fail: true},
		{name: "a chat id of the wrong type", raw: `{"update_id":11,"message":{"message_id":1,"date":1,"chat":{"id":"x"},"forward_origin":{"type":"?"}}}`, id: 11, fail: true},
		{name: "no update_id", raw: `{"message":{"message_id":1,"date":1,"chat":{"id":-1}}}`, fail: true},
		{name: "not an object", raw: `[1,2]`, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, id, partial, err := decodeUpdate(json.RawMessage(tt.raw))
			if id != tt.id || partial != tt.partial || (err != nil) != tt.fail {
				t.Fatalf("decodeUpdate = id %d, partial %v, err %v; want id %d, partial %v, failing %v", id, partial, err, tt.id, tt.partial, tt.fail)
			}
			if err != nil && strings.Contains(err.Error(), "13598765432") {
				t.Errorf("the error shows the update's content: %v", err)
			}
			if tt.check != nil && (u.ID != tt.id || !tt.check(u)) {
				t.Errorf("decoded %+v", u)
			}
		})
	}
}

// TestPollerSkipsUndecodableUpdates: one update the library cannot decode
// used to fail the whole getUpdates answer, so nothing after it was ever
// handled. Now the others are handled, an update read in part is handled
// too, and the undecodable one is logged by id only, counted and
// confirmed.
func TestPollerSkipsUndecodableUpdates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := telegramtest.New(telegramtest.WithReporter(t))
		var mu sync.Mutex
		var handled []int64
		process := func(_ context.Context, updates []models.Update) error {
			mu.Lock()
			defer mu.Unlock()
			for _, u := range updates {
				handled = append(handled, u.ID)
			}
			return nil
		}
		var logs lockedBuffer
		m := NewMetrics()
		client := &http.Client{Transport: s.Client().Transport, Timeout: clientTimeout}
		poller := NewPoller("http://telegram.invalid", "123:TEST", client, pollFor, process, slog.New(slog.NewTextHandler(&logs, nil)), m)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- poller.Run(ctx) }()
		defer func() { cancel(); <-done }()

		s.SendMessage(village, wang, "一")
		first := s.LastUpdateID()
		bad := s.AddUpdate(json.RawMessage(fmt.Sprintf(wrongType, 0)))
		origin := s.AddUpdate(json.RawMessage(fmt.Sprintf(unknownOrigin, 0)))
		status := s.AddUpdate(json.RawMessage(fmt.Sprintf(unknownStatus, 0)))
		s.SendMessage(village, wang, "二")
		last := s.LastUpdateID()
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer wcancel()
		if err := s.WaitConfirmed(wctx, last); err != nil {
			t.Fatalf("the updates after an undecodable one were never confirmed: %v", err)
		}
		mu.Lock()
		got := slices.Clone(handled)
		mu.Unlock()
		if want := []int64{first, origin, status, last}; !slices.Equal(got, want) {
			t.Errorf("handled %v, want %v (all but %d)", got, want, bad)
		}
		if n := metric(t, m, "gridbot_updates_dropped_total", "reason", "undecodable"); n != 1 {
			t.Errorf("undecodable updates counted %v, want 1", n)
		}
		if n := metric(t, m, "gridbot_updates_partial_total"); n != 2 {
			t.Errorf("updates read in part counted %v, want 2", n)
		}
		out := logs.take()
		if !strings.Contains(out, fmt.Sprintf("update=%d", bad)) {
			t.Errorf("the undecodable update's id is not logged:\n%s", out)
		}
		if strings.Contains(out, "13598765432") || strings.Contains(out, "王强") {
			t.Errorf("the log shows an update's content:\n%s", out)
		}
	})
}

// TestPollerStopsWhenTheTokenIsRevoked: a 401 from getUpdates mid-run is
// not retried forever: Run returns ErrTokenRefused at once.
func TestPollerStopsWhenTheTokenIsRevoked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPolling(t, nil)
		id := p.send("一")
		p.until("the first update", func() bool { return p.tg.Confirmed() >= id })
		p.tg.Fail("getUpdates", telegramtest.Unauthorized())
		p.send("二") // ends the long poll under way
		select {
		case err := <-p.done:
			p.cancel = nil
			if !errors.Is(err, ErrTokenRefused) {
				t.Errorf("Run = %v, want ErrTokenRefused", err)
			}
		case <-time.After(time.Hour):
			t.Fatal("Run still polls an hour after Telegram refused the token")
		}
	})
}

// TestWebhookUndecodable: an update that cannot be decoded is answered
// 200 (Telegram would otherwise retry it for a day) and counted; one read
// in part is processed.
func TestWebhookUndecodable(t *testing.T) {
	var handled atomic.Int32
	h := handlerFuncs{message: func(_ context.Context, m handlers.Message) ([]handlers.Action, error) {
		if m.Text != secretText {
			t.Errorf("handled %q", m.Text)
		}
		handled.Add(1)
		return nil, nil
	}}
	m := NewMetrics()
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	srv := WebhookHandler("secret", NewDispatcher(NewProcessor(h, outboxFunc(nil), time.Now, log, m, nil), 4, log), log)
	post := func(body string) int {
		req := httptest.NewRequest(http.MethodPost, "/telegram/webhook", strings.NewReader(body))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "secret")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := post(fmt.Sprintf(wrongType, 5)); code != http.StatusOK {
		t.Errorf("undecodable: status %d, want 200", code)
	}
	if code := post(fmt.Sprintf(unknownOrigin, 6)); code != http.StatusOK || handled.Load() != 1 {
		t.Errorf("read in part: status %d, handled %d", code, handled.Load())
	}
	if n := metric(t, m, "gridbot_updates_dropped_total", "reason", "undecodable"); n != 1 {
		t.Errorf("counted %v, want 1", n)
	}
	if out := logs.take(); !strings.Contains(out, "update=5") || strings.Contains(out, "13598765432") || strings.Contains(out, "王强") {
		t.Errorf("the log names the update by id only:\n%s", out)
	}
}

// TestWebhookGivesUp: an update failing the same way on every attempt is
// answered 503 (Telegram delivers it again) twice, then given up on with
// the apology and answered 200, instead of being retried for a day.
func TestWebhookGivesUp(t *testing.T) {
	st := openStore(t)
	h := handlerFuncs{message: func(context.Context, handlers.Message) ([]handlers.Action, error) {
		return nil, errors.New("handlers: report: unexpected state")
	}}
	srv := WebhookHandler("secret", NewDispatcher(NewProcessor(h, st, time.Now, discard(), NewMetrics(), nil), 4, discard()), discard())
	var codes []int
	for range maxAttempts {
		req := httptest.NewRequest(http.MethodPost, "/telegram/webhook", strings.NewReader(fmt.Sprintf(unknownOrigin, 5)))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "secret")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
	}
	if want := []int{503, 503, 200}; !slices.Equal(codes, want) {
		t.Errorf("answers %v, want %v", codes, want)
	}
	if _, ok, _ := st.Outbox(context.Background(), fmt.Sprintf("apology:%d:41", village.ID)); !ok {
		t.Errorf("no apology queued")
	}
}

// TestWebhookDeadline: a store that hangs used to hold the webhook call
// (and its connection) for as long as it hung; the call is answered 503
// after WebhookDeadline, for Telegram to deliver the update again.
func TestWebhookDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := handlerFuncs{message: func(ctx context.Context, _ handlers.Message) ([]handlers.Action, error) {
			<-ctx.Done() // a store that does not answer, but honours its context
			return nil, fmt.Errorf("handlers: report: save: %w", ctx.Err())
		}}
		srv := WebhookHandler("secret", NewDispatcher(NewProcessor(h, outboxFunc(nil), time.Now, discard(), NewMetrics(), nil), 4, discard()), discard())
		req := httptest.NewRequest(http.MethodPost, "/telegram/webhook", strings.NewReader(fmt.Sprintf(unknownOrigin, 5)))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "secret")
		rec := httptest.NewRecorder()
		start := time.Now()
		srv.ServeHTTP(rec, req)
		if took := time.Since(start); rec.Code != http.StatusServiceUnavailable || took != WebhookDeadline {
			t.Errorf("status %d after %v, want 503 after %v", rec.Code, took, WebhookDeadline)
		}
	})
}

// TestDeterministicFailureEndToEnd: through the poller, a message that
// fails the same way every time used to be retried forever, and every
// chat waited behind it. Now it is answered with the apology after three
// attempts, and the others are handled.
func TestDeterministicFailureEndToEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		h := handlerFuncs{message: func(ctx context.Context, m handlers.Message) ([]handlers.Action, error) {
			if strings.Contains(m.Text, "bad") {
				return nil, fmt.Errorf("handlers: report: save: %w", sqlError("23505"))
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
		bad := e.tg.SendMessage(village, wang, "#日报 bad")
		good := e.tg.SendMessage(village2, li, "#日报 零报告")
		later := e.tg.SendMessage(village, li, "#日报 零报告")
		last := e.tg.LastUpdateID()
		start := time.Now()
		e.until("all answered and confirmed", 10*time.Minute, func([]telegramtest.Call) bool {
			return len(e.tg.Sent(village.ID)) == 2 && len(e.tg.Sent(village2.ID)) == 1 && e.tg.Confirmed() >= last
		})
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("took %v", took)
		}
		sent := e.tg.Sent(village.ID)
		if sent[0].ReplyTo != bad || !strings.Contains(sent[0].Text, "抱歉") || sent[1].ReplyTo != later || sent[1].Text != "ok" {
			t.Errorf("sent %+v", sent)
		}
		if r := e.tg.Sent(village2.ID)[0]; r.ReplyTo != good {
			t.Errorf("the other village: %+v", r)
		}
		if n := metric(t, e.metrics, "gridbot_updates_dropped_total", "reason", "retries"); n != 1 {
			t.Errorf("counted %v", n)
		}
	})
}

// sqlError is an error with a PostgreSQL SQLSTATE, as pgconn.PgError.
type sqlError string

func (e sqlError) Error() string    { return "ERROR (SQLSTATE " + string(e) + ")" }
func (e sqlError) SQLState() string { return string(e) }

// TestOutage: what counts as the store or the network being away (retried
// for as long as it lasts) and what as a failure of the update itself.
func TestOutage(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("handlers: %w", store.ErrClosed), true},
		{fmt.Errorf("store: %w", store.ErrReadOnly), true},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("x: %w", context.Canceled), true},
		{fmt.Errorf("journal: %w", &fs.PathError{Op: "write", Path: "journal.gbj", Err: syscall.ENOSPC}), true},
		{fmt.Errorf("journal: fsync: %w", syscall.EIO), true},
		{fmt.Errorf("postgres: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{fmt.Errorf("postgres: commit: %w", sqlError("08006")), true},
		{fmt.Errorf("postgres: commit: %w", sqlError("57P01")), true}, // admin shutdown
		{fmt.Errorf("postgres: commit: %w", sqlError("53100")), true}, // disk full
		{fmt.Errorf("postgres: commit: %w", sqlError("40001")), true}, // serialization failure
		{fmt.Errorf("postgres: commit: %w", sqlError("23505")), false},
		{fmt.Errorf("postgres: commit: %w", sqlError("22003")), false},
		{errors.New("gosql: int out of range"), false},
		{fmt.Errorf("handlers: %w", store.ErrInvalid), false},
	}
	for _, tt := range tests {
		if got := outage(tt.err); got != tt.want {
			t.Errorf("outage(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestProcessorCapsRetries: an update that fails the same way on every
// attempt, by something that is not an outage, used to be retried forever
// and held up its chat. It is tried three times, then answered, counted
// and confirmed. Outages are retried for as long as they last.
func TestProcessorCapsRetries(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		err  error
		give bool // given up on after three attempts
	}{
		{"deterministic", fmt.Errorf("handlers: report: save: %w", sqlError("23505")), true},
		{"a bug", errors.New("handlers: report: unexpected state"), true},
		{"store closed", fmt.Errorf("handlers: %w", store.ErrClosed), false},
		{"disk full", fmt.Errorf("journal: %w", &fs.PathError{Op: "write", Path: "j", Err: syscall.ENOSPC}), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			m := NewMetrics()
			h := handlerFuncs{message: func(_ context.Context, msg handlers.Message) ([]handlers.Action, error) {
				if msg.Text == "ok" {
					return nil, nil
				}
				return nil, tt.err
			}}
			p := NewProcessor(h, st, time.Now, discard(), m, nil)
			u := messageUpdate(1, -1001, 5, "#发热 刘洋 体温38.5")
			var errs []error
			for range map[bool]int{true: maxAttempts, false: 10}[tt.give] {
				errs = append(errs, p.Process(ctx, &u))
			}
			_, apologised, _ := st.Outbox(ctx, "apology:-1001:5")
			if tt.give {
				if errs[0] == nil || errs[1] == nil || errs[2] != nil || apologised != true {
					t.Errorf("attempts: %v; apology queued %v; want two failures, then given up on and answered", errs[:3], apologised)
				}
				if n := metric(t, m, "gridbot_updates_dropped_total", "reason", "retries"); n != 1 {
					t.Errorf("counted %v, want 1", n)
				}
			} else {
				for i, err := range errs {
					if err == nil {
						t.Fatalf("attempt %d: an outage was given up on", i+1)
					}
				}
				if apologised {
					t.Errorf("an apology for an outage")
				}
			}
			// a later update that fails once and then works is not given up on
			v := messageUpdate(2, -1001, 6, "x")
			_ = p.Process(ctx, &v)
			_ = p.Process(ctx, &v)
			v.Message.Text = "ok"
			if err := p.Process(ctx, &v); err != nil {
				t.Errorf("recovered update: %v", err)
			}
			v.Message.Text = "x"
			if err := p.Process(ctx, &v); err == nil && tt.give {
				t.Errorf("the count was not reset by the success")
			}
		})
	}
}

// TestAdminsBackoff: after a 429 getChatAdministrators is not asked again
// before retry_after; after a 5xx not before a short backoff; meanwhile a
// list read within the hour answers, and without one the answer is
// ErrAdminsUnavailable. An anonymous admin (the group itself) needs no
// call.
func TestAdminsBackoff(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t))
	s.SetAdmins(village.ID, telegramtest.User{ID: 1, FirstName: "Owner"}, wang)
	var mu sync.Mutex
	now := time.Date(2020, 2, 5, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a := NewAdmins(newAPI(t, s), clock)
	ctx := context.Background()
	calls := func() int { return len(callsTo(s.Calls(), "getChatAdministrators", village.ID)) }

	if ok, err := a.IsAdmin(ctx, village.ID, village.ID); !ok || err != nil || calls() != 0 {
		t.Errorf("anonymous admin: %v %v, %d calls", ok, err, calls())
	}
	s.Fail("getChatAdministrators", telegramtest.TooManyRequests(30))
	for range 20 {
		if _, err := a.IsAdmin(ctx, village.ID, wang.ID); !errors.Is(err, ErrAdminsUnavailable) {
			t.Fatalf("during retry_after: %v, want ErrAdminsUnavailable", err)
		}
		advance(time.Second)
	}
	if calls() != 1 {
		t.Errorf("%d calls within retry_after, want 1", calls())
	}
	advance(10 * time.Second)
	if ok, err := a.IsAdmin(ctx, village.ID, wang.ID); !ok || err != nil || calls() != 2 {
		t.Errorf("after retry_after: %v %v, %d calls", ok, err, calls())
	}
	// the list expires; Telegram fails: the list read within the hour answers
	advance(adminTTL + time.Second)
	for range 5 {
		s.Fail("getChatAdministrators", telegramtest.ServerError(502))
	}
	for range 30 {
		if ok, err := a.IsAdmin(ctx, village.ID, wang.ID); !ok || err != nil {
			t.Fatalf("with a list read %v ago: %v %v", now.Sub(clock()), ok, err)
		}
		if ok, _ := a.IsAdmin(ctx, village.ID, li.ID); ok {
			t.Fatal("li is no admin")
		}
		advance(time.Second)
	}
	if n := calls(); n > 2+6 {
		t.Errorf("%d calls in 30 s of 502s: no backoff", n-2)
	}
	// over an hour since the last list, Telegram failing: no answer
	s.Fail("getChatAdministrators", telegramtest.ServerError(500))
	advance(adminStale + adminMaxRetry)
	if _, err := a.IsAdmin(ctx, village.ID, wang.ID); !errors.Is(err, ErrAdminsUnavailable) {
		t.Errorf("a list over an hour old, Telegram failing: %v, want ErrAdminsUnavailable", err)
	}
}

// TestAdminsUnavailableEndToEnd: getChatAdministrators failing while
// someone uses an admin-only command used to fail the whole batch, retried
// every second: every chat stalled. Now that command is answered "try
// again later", the others go on, and Telegram is not hammered.
func TestAdminsUnavailableEndToEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.bind(village, "郝家店村")
		e.bind(village2, "相台村")
		e.tg.SetAdmins(village.ID, wang)
		for range 50 {
			e.tg.Fail("getChatAdministrators", telegramtest.ServerError(502))
		}
		client := &http.Client{Transport: e.tg.Client().Transport, Timeout: clientTimeout}
		poller := NewPoller("http://telegram.invalid", "123:TEST", client, pollFor, e.disp.Batch, discard(), e.metrics)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { poller.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		e.run()

		set := e.tg.SendMessage(village, wang, "/set reminder 16:30")
		report := e.tg.SendMessage(village2, li, "#日报 零报告")
		last := e.tg.LastUpdateID()
		e.until("the command answered and the report received", 5*time.Minute, func([]telegramtest.Call) bool {
			return e.tg.Confirmed() >= last && len(e.tg.Sent(village.ID)) > 0 && len(e.tg.Sent(village2.ID)) > 0
		})
		got := e.tg.Sent(village.ID)[0]
		if got.ReplyTo != set || !strings.Contains(got.Text, "暂时无法确认管理员身份") {
			t.Errorf("answer to /set: %+v", got)
		}
		if r := e.tg.Sent(village2.ID)[0]; r.ReplyTo != report {
			t.Errorf("the other village's report: %+v", r)
		}
		if n := len(callsTo(e.tg.Calls(), "getChatAdministrators", village.ID)); n > 2 {
			t.Errorf("getChatAdministrators called %d times for one command", n)
		}
		if n := metric(t, e.metrics, "gridbot_admin_checks_failed_total"); n != 1 {
			t.Errorf("counted %v", n)
		}
	})
}

// TestAnonymousAdmin: a group's anonymous admin writes as the group (from
// is GroupAnonymousBot, a bot, which the handlers ignore): the bot passes
// the group as the sender, an admin of itself, so admin commands work
// without asking Telegram.
func TestAnonymousAdmin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.bind(village, "郝家店村")
		e.run()
		raw := fmt.Sprintf(`{"message":{"message_id":77,"date":1580896800,"chat":{"id":%d,"type":"supergroup","title":"郝家店村群"},`+
			`"from":{"id":1087968824,"is_bot":true,"first_name":"Group","username":"GroupAnonymousBot"},`+
			`"sender_chat":{"id":%d,"type":"supergroup","title":"郝家店村群"},"text":"/set reminder 16:30"}}`, village.ID, village.ID)
		e.tg.AddUpdate(json.RawMessage(raw))
		e.deliver()
		e.until("the answer", time.Minute, func([]telegramtest.Call) bool { return len(e.tg.Sent(village.ID)) > 0 })
		got := e.tg.Sent(village.ID)[0]
		if got.ReplyTo != 77 || !strings.Contains(got.Text, "16:30") {
			t.Errorf("answer to the anonymous admin: %+v", got)
		}
		if n := len(callsTo(e.tg.Calls(), "getChatAdministrators", 0)); n != 0 {
			t.Errorf("getChatAdministrators called %d times", n)
		}
		// a daily report sent as the group puts nobody on the roster (the
		// 17:00 reminder would mention the group)
		e.tg.AddUpdate(json.RawMessage(strings.NewReplacer("77", "78", "/set reminder 16:30", "#日报 零报告").Replace(raw)))
		e.deliver()
		if _, ok, err := e.st.Report(context.Background(), village.ID, 78); err != nil || !ok {
			t.Errorf("the anonymous admin's report was not recorded: %v %v", ok, err)
		}
		roster, err := e.st.Roster(context.Background(), village.ID)
		if err != nil || len(roster) != 0 {
			t.Errorf("roster %+v, %v; want nobody", roster, err)
		}
	})
}

// FuzzDecodeUpdate: decoding never panics; an update the library decodes
// is read the same way by the lenient decoder, field for field the bot
// uses; an update read in part has exactly one type the bot handles.
func FuzzDecodeUpdate(f *testing.F) {
	for _, seed := range []string{
		fmt.Sprintf(unknownOrigin, 1), fmt.Sprintf(unknownStatus, 2), fmt.Sprintf(wrongType, 3),
		`{"update_id":4,"message":{"message_id":7,"date":1,"chat":{"id":-1,"type":"group"},"from":{"id":2,"is_bot":false,"first_name":"a"},"text":"hi","reply_to_message":{"message_id":6,"date":1,"chat":{"id":-1,"type":"group"}}}}`,
		`{"update_id":5,"edited_message":{"message_id":7,"date":1,"edit_date":3,"chat":{"id":-1,"type":"group"},"caption":"c","migrate_from_chat_id":-9}}`,
		`{"update_id":6,"callback_query":{"id":"q","from":{"id":2,"is_bot":false,"first_name":"a"},"data":"d","message":{"message_id":4,"date":0,"chat":{"id":-1,"type":"group"}}}}`,
		`{"update_id":7}`, `{}`, `null`, `{"update_id":"8"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		u, id, partial, err := decodeUpdate(raw)
		if err != nil {
			return
		}
		if u.ID != id {
			t.Fatalf("update id %d, decoded %d", id, u.ID)
		}
		kinds := 0
		for _, set := range []bool{u.Message != nil, u.EditedMessage != nil, u.CallbackQuery != nil, u.MyChatMember != nil} {
			if set {
				kinds++
			}
		}
		if partial && kinds != 1 {
			t.Fatalf("read in part with %d types: %+v", kinds, u)
		}
		if partial || (u.Message == nil && u.EditedMessage == nil) {
			return
		}
		l, err := decodeLeniently(raw)
		if err != nil {
			t.Fatalf("the library decodes it, the lenient decoder does not: %v", err)
		}
		for _, pair := range [][2]*models.Message{{u.Message, l.Message}, {u.EditedMessage, l.EditedMessage}} {
			a, b := pair[0], pair[1]
			if a == nil {
				continue
			}
			if b == nil {
				t.Fatalf("lenient decoding lost the message")
			}
			am, bm := toMessage(a, false), toMessage(b, false)
			if am.ID != bm.ID || am.Chat != bm.Chat || am.From != bm.From || am.Text != bm.Text || !am.Date.Equal(bm.Date) ||
				am.MigrateTo != bm.MigrateTo || am.MigrateFrom != bm.MigrateFrom || (am.ReplyTo == nil) != (bm.ReplyTo == nil) ||
				am.ReplyTo != nil && *am.ReplyTo != *bm.ReplyTo || a.EditDate != b.EditDate {
				t.Fatalf("the library and the lenient decoder disagree:\n%+v\n%+v", am, bm)
			}
		}
	})
}

// TestPollOnceCountsUndecodable: PollOnce (the drain at start, replay)
// reports an answer holding only undecodable updates as not empty, and
// confirms it, so that its callers go on to what follows.
func TestPollOnceCountsUndecodable(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t))
	processed := 0
	process := func(_ context.Context, updates []models.Update) error { processed += len(updates); return nil }
	p := NewPoller("http://telegram.invalid", "123:TEST", s.Client(), 0, process, discard(), NewMetrics())
	bad := s.AddUpdate(json.RawMessage(fmt.Sprintf(wrongType, 0)))
	next, n, err := p.PollOnce(context.Background(), 0)
	if err != nil || n != 1 || next != bad+1 || processed != 0 || s.Confirmed() != bad {
		t.Errorf("PollOnce = %d, %d, %v (processed %d, confirmed %d); want %d, 1", next, n, err, processed, s.Confirmed(), bad+1)
	}
	if _, n, err := p.PollOnce(context.Background(), next); n != 0 || err != nil {
		t.Errorf("then PollOnce = %d, %v; want nothing", n, err)
	}
}
