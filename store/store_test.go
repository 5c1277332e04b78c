package store_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"gridbot/report"
	"gridbot/store"
)

var at = time.Date(2020, 2, 7, 10, 0, 0, 0, time.UTC)

func open(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "file:"+t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func validRevision() store.Revision {
	return store.Revision{Chat: -100, MessageID: 1, Kind: report.Daily, Lang: report.Zh, Fields: map[string]string{"arrivals": "0"},
		Text: "零报告", SenderID: 1, Sender: "王", SentAt: at, Day: report.Date{Year: 2020, Month: 2, Day: 7}, At: at}
}

// TestValidation: every engine gets the same arguments checked the same
// way, before anything is written.
func TestValidation(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	rev := func(f func(*store.Revision)) store.Changes {
		r := validRevision()
		f(&r)
		return store.Changes{Revision: &r}
	}
	msg := store.OutboxMessage{Key: "k", Chat: -100, Method: "send", Payload: []byte("{}"), NotBefore: at, CreatedAt: at}
	tests := []struct {
		name string
		c    store.Changes
	}{
		{"unknown kind", rev(func(r *store.Revision) { r.Kind = "party" })},
		{"no chat", rev(func(r *store.Revision) { r.Chat = 0 })},
		{"no message", rev(func(r *store.Revision) { r.MessageID = 0 })},
		{"negative revision", rev(func(r *store.Revision) { r.Revision = -1 })},
		{"no day", rev(func(r *store.Revision) { r.Day = report.Date{} })},
		{"no time", rev(func(r *store.Revision) { r.At = time.Time{} })},
		{"a field of another kind", rev(func(r *store.Revision) { r.Fields["temperature"] = "38.5" })},
		{"text over 1 MiB", rev(func(r *store.Revision) { r.Text = strings.Repeat("x", store.MaxText+1) })},
		{"empty claim", store.Changes{Claims: []string{""}}},
		{"long claim", store.Changes{Claims: []string{strings.Repeat("k", store.MaxKey+1)}}},
		{"binding without a chat", store.Changes{Bindings: []store.Binding{{Role: store.RoleVillage, Name: "x", At: at}}}},
		{"binding with an unknown role", store.Changes{Bindings: []store.Binding{{Chat: -1, Role: "king", Name: "x", At: at}}}},
		{"migration onto itself", store.Changes{Migrations: []store.Migration{{From: -1, To: -1, At: at}}}},
		{"member without a user", store.Changes{Members: []store.Member{{Chat: -1, At: at}}}},
		{"setting without a key", store.Changes{Settings: []store.Setting{{Chat: -1, At: at}}}},
		{"outbox key twice", store.Changes{Outbox: []store.OutboxMessage{msg, msg}}},
		{"outbox without a method", store.Changes{Outbox: []store.OutboxMessage{{Key: "k", Chat: -1, CreatedAt: at}}}},
		{"attempt without a retry time", store.Changes{Attempts: []store.Attempt{{MessageID: 1, Attempt: 1, Error: "5xx", At: at}}}},
		{"too many items", store.Changes{Claims: make([]string, store.MaxBatch+1)}},
		{"too many bytes", store.Changes{Outbox: []store.OutboxMessage{
			{Key: "a", Chat: -1, Method: "send", Payload: make([]byte, store.MaxText), CreatedAt: at},
			{Key: "b", Chat: -1, Method: "send", Payload: make([]byte, store.MaxText), CreatedAt: at},
			{Key: "c", Chat: -1, Method: "send", Payload: make([]byte, store.MaxText), CreatedAt: at},
			{Key: "d", Chat: -1, Method: "send", Payload: make([]byte, store.MaxText), CreatedAt: at},
			{Key: "e", Chat: -1, Method: "send", Payload: make([]byte, store.MaxText), CreatedAt: at},
			{Key: "f", Chat: -1, Method: "send", Payload: make([]byte, store.MaxText), CreatedAt: at},
			{Key: "g", Chat: -1, Method: "send", Payload: make([]byte, store.MaxText), CreatedAt: at},
			{Key: "h", Chat: -1, Method: "send", Payload: make([]byte, store.MaxText), CreatedAt: at},
			{Key: "i", Chat: -1, Method: "send", Payload: make([]byte, 16), CreatedAt: at},
		}}},
	}
	for _, tt := range tests {
		if _, err := st.Commit(ctx, tt.c); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tt.name, err)
		}
	}
	// nothing was written by any of them
	if rs, _ := st.Reports(ctx, store.ReportQuery{IncludeInvalid: true}); len(rs) != 0 {
		t.Errorf("invalid commits wrote %d reports", len(rs))
	}
	if n, _, _ := st.OutboxStats(ctx); n != 0 {
		t.Errorf("invalid commits queued %d messages", n)
	}
	// and the valid one goes through, once
	r := validRevision()
	if saved, err := st.SaveReport(ctx, r); err != nil || !saved {
		t.Fatalf("a valid report: %v %v", saved, err)
	}
	if saved, err := st.SaveReport(ctx, r); err != nil || saved {
		t.Fatalf("the same report again: saved=%v %v", saved, err)
	}
}

func TestOpenChoosesTheEngine(t *testing.T) {
	ctx := context.Background()
	if _, err := store.Open(ctx, "", store.Options{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an empty location: %v", err)
	}
	dir := t.TempDir()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, dir, store.Options{}); !errors.Is(err, store.ErrLocked) {
		t.Errorf("a second writer: %v, want ErrLocked", err)
	}
	ro, err := store.Open(ctx, "file:"+dir, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only beside the writer: %v", err)
	}
	if err := ro.Join(ctx, store.Member{Chat: -1, UserID: 1, Name: "x", At: at}); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("writing read-only: %v", err)
	}
	ro.Close()
	st.Close()
	if url := os.Getenv("GRIDBOT_TEST_POSTGRES_URL"); url != "" {
		pg, err := store.Open(ctx, url, store.Options{})
		if err != nil {
			t.Fatalf("postgres: %v", err)
		}
		pg.Close()
	}
	if _, err := store.Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", store.Options{}); err == nil {
		t.Error("an unreachable PostgreSQL opened")
	}
}
