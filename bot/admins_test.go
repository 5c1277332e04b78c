package bot

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	tg "github.com/go-telegram/bot"

	"gridbot/bot/telegramtest"
)

// TestAdminsCache: getChatAdministrators is asked once per chat per five
// minutes, whoever is asked about; private chats need no call.
func TestAdminsCache(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t))
	defer s.Close()
	owner := telegramtest.User{ID: 1, FirstName: "Owner"}
	admin := telegramtest.User{ID: 2, FirstName: "Admin"}
	s.SetAdmins(village.ID, owner, admin)
	s.SetAdmins(village2.ID, admin)
	var mu sync.Mutex
	now := time.Date(2020, 2, 5, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a := NewAdmins(newAPI(t, s), clock)
	ctx := context.Background()
	calls := func(chat int64) int { return len(callsTo(s.Calls(), "getChatAdministrators", chat)) }

	check := func(chat, user int64, want bool) {
		t.Helper()
		got, err := a.IsAdmin(ctx, chat, user)
		if err != nil || got != want {
			t.Errorf("IsAdmin(%d, %d) = %v, %v; want %v", chat, user, got, err, want)
		}
	}
	for range 3 {
		check(village.ID, 1, true) // the creator
		check(village.ID, 2, true)
		check(village.ID, 3, false)
		check(village2.ID, 1, false)
		check(village2.ID, 2, true)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { check(village.ID, 2, true) })
	}
	wg.Wait()
	if calls(village.ID) != 1 || calls(village2.ID) != 1 {
		t.Errorf("getChatAdministrators called %d and %d times, want once per chat", calls(village.ID), calls(village2.ID))
	}
	advance(adminTTL)
	check(village.ID, 2, true)
	if calls(village.ID) != 1 {
		t.Errorf("asked again after exactly five minutes")
	}
	s.SetAdmins(village.ID, owner) // admin 2 was demoted
	advance(time.Second)
	check(village.ID, 2, false)
	check(village.ID, 1, true)
	if calls(village.ID) != 2 || calls(village2.ID) != 1 {
		t.Errorf("after five minutes: %d and %d calls, want 2 and 1", calls(village.ID), calls(village2.ID))
	}
	// a private chat is its user's own; nobody else administers it
	check(1001, 1001, true)
	check(1001, 1002, false)
	if n := len(s.Calls()); n != 3 {
		t.Errorf("%d calls in all, want 3", n)
	}
}

// TestAdminsErrors: a failure is returned, not cached as "not an admin";
// Telegram is asked again once the backoff has passed.
func TestAdminsErrors(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t))
	defer s.Close()
	s.SetAdmins(village.ID, telegramtest.User{ID: 1, FirstName: "Owner"})
	now := time.Date(2020, 2, 5, 9, 0, 0, 0, time.UTC)
	a := NewAdmins(newAPI(t, s), func() time.Time { return now })
	s.Fail("getChatAdministrators", telegramtest.ServerError(502))
	if _, err := a.IsAdmin(context.Background(), village.ID, 1); !errors.Is(err, ErrAdminsUnavailable) {
		t.Fatalf("a 502 is not an answer: %v", err)
	}
	now = now.Add(adminMaxRetry)
	if ok, err := a.IsAdmin(context.Background(), village.ID, 1); err != nil || !ok {
		t.Errorf("after the failure: %v %v", ok, err)
	}
	s.Kick(village.ID)
	a = NewAdmins(newAPI(t, s), time.Now)
	if _, err := a.IsAdmin(context.Background(), village.ID, 1); !errors.Is(err, tg.ErrorForbidden) || errors.Is(err, ErrAdminsUnavailable) {
		t.Errorf("kicked: %v", err)
	}
}
