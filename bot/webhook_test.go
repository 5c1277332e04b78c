package bot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gridbot/handlers"
	"gridbot/store"
)

// TestWebhook: the secret token is checked (go-telegram/bot's own handler
// answers 200 to a wrong one); an update is answered 200 only once it is
// durable, and 503 when it could not be made so, for Telegram to retry.
func TestWebhook(t *testing.T) {
	const secret = "s3cr3t-TOKEN_1"
	update := `{"update_id":5,"message":{"message_id":7,"date":1580896800,"chat":{"id":-1001,"type":"supergroup"},"from":{"id":1001,"is_bot":false,"first_name":"王"},"text":"零报告"}}`
	tests := []struct {
		name      string
		method    string
		header    *string
		body      string
		storeErr  error
		want      int
		processed bool
	}{
		{name: "right secret", header: ptr(secret), body: update, want: http.StatusOK, processed: true},
		{name: "no secret", body: update, want: http.StatusForbidden},
		{name: "empty secret", header: ptr(""), body: update, want: http.StatusForbidden},
		{name: "wrong secret", header: ptr("s3cr3t-TOKEN_2"), body: update, want: http.StatusForbidden},
		{name: "a prefix of the secret", header: ptr(secret[:5]), body: update, want: http.StatusForbidden},
		{name: "the secret and more", header: ptr(secret + "x"), body: update, want: http.StatusForbidden},
		{name: "GET", method: http.MethodGet, header: ptr(secret), want: http.StatusMethodNotAllowed},
		{name: "store down", header: ptr(secret), body: update, storeErr: store.ErrClosed, want: http.StatusServiceUnavailable, processed: true},
		{name: "not JSON", header: ptr(secret), body: "<html>", want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var handled, committed atomic.Int32
			h := handlerFuncs{message: func(ctx context.Context, m handlers.Message) ([]handlers.Action, error) {
				handled.Add(1)
				if m.ID != 7 || m.Chat.ID != -1001 || m.Text != "零报告" {
					t.Errorf("handled %+v", m)
				}
				return []handlers.Action{{Kind: handlers.Send, Key: "reply:-1001:7", Chat: -1001, ReplyTo: 7, Text: "✅"}}, nil
			}}
			outbox := outboxFunc(func(ctx context.Context, c store.Changes) (store.Result, error) {
				if tt.storeErr != nil {
					return store.Result{}, tt.storeErr
				}
				committed.Add(1)
				return store.Result{Claimed: true}, nil
			})
			d := NewDispatcher(NewProcessor(h, outbox, time.Now, discard(), NewMetrics(), nil), 4, discard())
			srv := WebhookHandler(secret, d, discard())
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/telegram/webhook", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.header != nil {
				req.Header.Set("X-Telegram-Bot-Api-Secret-Token", *tt.header)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
			if got := handled.Load() > 0; got != tt.processed {
				t.Errorf("processed: %v, want %v", got, tt.processed)
			}
			if tt.want == http.StatusOK && tt.processed && committed.Load() != 1 {
				t.Errorf("answered 200 with %d commits", committed.Load())
			}
		})
	}
}

// TestWebhookWithoutSecret: a handler made with no secret refuses every
// call rather than trusting anyone.
func TestWebhookWithoutSecret(t *testing.T) {
	var handled atomic.Int32
	h := handlerFuncs{message: func(context.Context, handlers.Message) ([]handlers.Action, error) {
		handled.Add(1)
		return nil, nil
	}}
	srv := WebhookHandler("", NewDispatcher(NewProcessor(h, outboxFunc(nil), time.Now, discard(), NewMetrics(), nil), 1, discard()), discard())
	for _, token := range []string{"", "anything"} {
		req := httptest.NewRequest(http.MethodPost, "/telegram/webhook", strings.NewReader(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":1,"type":"private"},"text":"hi"}}`))
		if token != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", token)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("token %q: status %d, want 403", token, rec.Code)
		}
	}
	if handled.Load() != 0 {
		t.Errorf("an update was processed without a secret configured")
	}
}

// TestWebhookRealStore: end to end through the real handlers and store,
// a report sent by webhook is recorded before the 200.
func TestWebhookRealStore(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	if _, err := st.Commit(ctx, store.Changes{Bindings: []store.Binding{{Chat: -1001, Role: store.RoleVillage, Name: "郝家店村", By: operatorID, At: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	h := handlers.New(handlers.Config{Operators: map[int64]bool{operatorID: true}}, st, nil, time.Now, discard())
	srv := WebhookHandler("secret", NewDispatcher(NewProcessor(h, st, time.Now, discard(), NewMetrics(), nil), 4, discard()), discard())
	post := func(body string) int {
		req := httptest.NewRequest(http.MethodPost, "/telegram/webhook", strings.NewReader(body))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "secret")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	body := `{"update_id":5,"message":{"message_id":7,"date":1580896800,"chat":{"id":-1001,"type":"supergroup"},"from":{"id":1001,"is_bot":false,"first_name":"王"},"text":"#发热 姓名:刘洋 体温:38.5 住址:郝家店村1组"}}`
	if code := post(body); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if _, ok, err := st.Report(ctx, -1001, 7); err != nil || !ok {
		t.Fatalf("the report is not in the store after the 200: %v %v", ok, err)
	}
	if _, ok, _ := st.Outbox(ctx, "receipt:-1001:7"); !ok {
		t.Errorf("no receipt queued")
	}
	if code := post(body); code != http.StatusOK { // Telegram retries: harmless
		t.Fatalf("repeat: status %d", code)
	}
	st.Close()
	if code := post(strings.Replace(body, `"message_id":7`, `"message_id":8`, 1)); code != http.StatusServiceUnavailable {
		t.Errorf("with the store closed: status %d, want 503", code)
	}
}
