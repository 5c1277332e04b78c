package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	tg "github.com/go-telegram/bot"
)

// How long a chat's administrators are cached; how long an older list
// still answers while Telegram cannot be asked; and the longest wait
// before asking again after a failure that gave no retry_after.
const (
	adminTTL      = 5 * time.Minute
	adminStale    = time.Hour
	adminMaxRetry = time.Minute
)

// ErrAdminsUnavailable means Telegram could not say who administers a chat
// just now (429, 5xx, a timeout, the network) and no recent answer is at
// hand: the command that needs it is answered "try again later", not
// retried.
var ErrAdminsUnavailable = errors.New("the chat's administrators cannot be read from Telegram just now")

// Admins answers whether a user administers a chat, from Telegram's
// getChatAdministrators, cached for a few minutes per chat. After a
// failure it does not ask again before Telegram's retry_after (or a short
// backoff) has passed; meanwhile it answers from the last list read within
// the hour, or with ErrAdminsUnavailable.
type Admins struct {
	api API
	now func() time.Time

	mu    sync.Mutex
	cache map[int64]adminEntry
}

type adminEntry struct {
	users    map[int64]bool
	at       time.Time // when users was read; zero: never
	retryAt  time.Time // after a failure, no call before this
	failures int       // in a row
}

// NewAdmins returns an admin cache.
func NewAdmins(api API, now func() time.Time) *Admins {
	return &Admins{api: api, now: now, cache: map[int64]adminEntry{}}
}

// IsAdmin reports whether user is an administrator (or the creator) of
// chat. A private chat is its user's own; a message a group's anonymous
// admin sends is sent by the group itself, and the bot passes the group's
// id as its sender: user == chat is an admin either way.
func (a *Admins) IsAdmin(ctx context.Context, chat, user int64) (bool, error) {
	if chat == user {
		return true, nil
	}
	if chat > 0 {
		return false, nil // someone else's private chat
	}
	now := a.now()
	a.mu.Lock()
	e := a.cache[chat]
	a.mu.Unlock()
	switch {
	case !e.at.IsZero() && now.Sub(e.at) <= adminTTL:
		return e.users[user], nil
	case now.Before(e.retryAt):
		return a.fallback(e, now, user, errors.New("waiting to ask Telegram again"))
	}
	members, err := a.api.GetChatAdministrators(ctx, &tg.GetChatAdministratorsParams{ChatID: chat})
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("getChatAdministrators: %w", ctx.Err())
		}
		o, retryAfter, _ := classify(err)
		if o != retryLater && o != transient {
			return false, fmt.Errorf("getChatAdministrators: %w", err) // 400, 403: an answer of its own
		}
		e.failures++
		wait := min(time.Second<<min(e.failures, 6), adminMaxRetry)
		if o == retryLater {
			wait = time.Duration(retryAfter) * time.Second
		}
		e.retryAt = now.Add(wait)
		a.mu.Lock()
		a.cache[chat] = e
		a.mu.Unlock()
		return a.fallback(e, now, user, err)
	}
	e = adminEntry{users: map[int64]bool{}, at: now}
	for _, m := range members {
		switch {
		case m.Owner != nil && m.Owner.User != nil:
			e.users[m.Owner.User.ID] = true
		case m.Administrator != nil:
			e.users[m.Administrator.User.ID] = true
		}
	}
	a.mu.Lock()
	a.cache[chat] = e
	a.mu.Unlock()
	return e.users[user], nil
}

// fallback answers from a list read within the hour, or fails with
// ErrAdminsUnavailable.
func (a *Admins) fallback(e adminEntry, now time.Time, user int64, cause error) (bool, error) {
	if !e.at.IsZero() && now.Sub(e.at) <= adminStale {
		return e.users[user], nil
	}
	return false, fmt.Errorf("getChatAdministrators: %w: %w", ErrAdminsUnavailable, cause)
}
