package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	tg "github.com/go-telegram/bot"

	"gridbot/bot/telegramtest"
)

// TestClassify makes every kind of failure happen through go-telegram/bot
// against the fake and checks what the sender makes of it.
func TestClassify(t *testing.T) {
	const chat = -1001000000999
	tests := []struct {
		name       string
		fault      *telegramtest.Fault // nil: a real call that succeeds or fails by itself
		edit       bool                // editMessageText of an existing message with its own text
		wrongToken bool
		want       outcome
		retryAfter int
		newChat    int64
	}{
		{name: "ok", want: sent},
		{name: "429", fault: ptr(telegramtest.TooManyRequests(17)), want: retryLater, retryAfter: 17},
		{name: "429 without retry_after", fault: ptr(telegramtest.TooManyRequests(0)), want: retryLater},
		{name: "migrated", fault: ptr(telegramtest.Migrated(-1001000000777)), want: migrated, newChat: -1001000000777},
		{name: "400", fault: ptr(telegramtest.BadRequest("chat not found")), want: rejected},
		{name: "400 can't parse entities", fault: ptr(telegramtest.BadRequest("can't parse entities: Unsupported start tag \"x\" at byte offset 3")), want: rejected},
		{name: "400 not modified (fault)", fault: ptr(telegramtest.BadRequest("message is not modified: specified new message content and reply markup are exactly the same")), want: notModified},
		{name: "400 not modified (real)", edit: true, want: notModified},
		{name: "403", fault: ptr(telegramtest.Forbidden()), want: forbidden},
		{name: "500", fault: ptr(telegramtest.ServerError(http.StatusInternalServerError)), want: transient},
		{name: "502", fault: ptr(telegramtest.ServerError(http.StatusBadGateway)), want: transient},
		{name: "proxy 502 page", fault: ptr(telegramtest.ProxyError(http.StatusBadGateway)), want: transient},
		{name: "proxy 504 page", fault: ptr(telegramtest.ProxyError(http.StatusGatewayTimeout)), want: transient},
		{name: "timeout", fault: ptr(telegramtest.Timeout()), want: transient},
		{name: "409", fault: ptr(telegramtest.Conflict()), want: transient},
		{name: "401 (token revoked)", wrongToken: true, want: transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var opts []telegramtest.Option
				if tt.wrongToken {
					opts = append(opts, telegramtest.WithToken("999:OTHER"))
				}
				s := telegramtest.New(opts...) // no reporter: a wrong token is reported as unexpected
				defer s.Close()
				api := newAPI(t, s)
				ctx := context.Background()
				msg, err := api.SendMessage(ctx, &tg.SendMessageParams{ChatID: chat, Text: "first"})
				if err != nil && !tt.wrongToken {
					t.Fatal(err)
				}
				if tt.fault != nil {
					s.Fail("", *tt.fault)
				}
				if tt.edit {
					_, err = api.EditMessageText(ctx, &tg.EditMessageTextParams{ChatID: chat, MessageID: msg.ID, Text: "first"})
				} else {
					_, err = api.SendMessage(ctx, &tg.SendMessageParams{ChatID: chat, Text: "second"})
				}
				for _, e := range []error{err, wrap(err)} {
					o, ra, nc := classify(e)
					if o != tt.want || ra != tt.retryAfter || nc != tt.newChat {
						t.Errorf("classify(%v) = %v, %d, %d; want %v, %d, %d", e, o, ra, nc, tt.want, tt.retryAfter, tt.newChat)
					}
				}
			})
		})
	}
}

// TestClassifyContext: a call cut short by the sender's own context is
// transient (retried), never a rejection.
func TestClassifyContext(t *testing.T) {
	for _, err := range []error{context.Canceled, context.DeadlineExceeded, fmt.Errorf("error do request for method sendMessage, %w", context.DeadlineExceeded)} {
		if o, _, _ := classify(err); o != transient {
			t.Errorf("classify(%v) = %v, want transient", err, o)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sending: %w", err)
}

// timeoutIsNotForever: inside a bubble, a Timeout fault ends with the
// client's timeout (checked here so the sender's tests can rely on it).
func TestTimeoutFaultEndsWithTheClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := telegramtest.New(telegramtest.WithReporter(t))
		defer s.Close()
		api := newAPI(t, s)
		s.Fail("sendMessage", telegramtest.Timeout())
		start := time.Now()
		_, err := api.SendMessage(context.Background(), &tg.SendMessageParams{ChatID: 1, Text: "x"})
		if err == nil || errors.Is(err, tg.ErrorBadRequest) {
			t.Fatalf("err = %v, want a timeout", err)
		}
		if took := time.Since(start); took != clientTimeout {
			t.Errorf("the call took %v, want the client's %v", took, clientTimeout)
		}
	})
}
