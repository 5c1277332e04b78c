package bot

import (
	"context"
	"fmt"
	"sync"
	"time"

	tg "github.com/go-telegram/bot"
)

// adminTTL is how long a chat's administrators are cached.
const adminTTL = 5 * time.Minute

// Admins answers whether a user administers a chat, from Telegram's
// getChatAdministrators, cached for a few minutes per chat.
type Admins struct {
	api API
	now func() time.Time

	mu    sync.Mutex
	cache map[int64]adminEntry
}

type adminEntry struct {
	users map[int64]bool
	at    time.Time
}

// NewAdmins returns an admin cache.
func NewAdmins(api API, now func() time.Time) *Admins {
	return &Admins{api: api, now: now, cache: map[int64]adminEntry{}}
}

// IsAdmin reports whether user is an administrator (or the creator) of chat.
func (a *Admins) IsAdmin(ctx context.Context, chat, user int64) (bool, error) {
	if chat > 0 {
		return chat == user, nil // a private chat is its user's own
	}
	a.mu.Lock()
	e, ok := a.cache[chat]
	a.mu.Unlock()
	if !ok || a.now().Sub(e.at) > adminTTL {
		members, err := a.api.GetChatAdministrators(ctx, &tg.GetChatAdministratorsParams{ChatID: chat})
		if err != nil {
			return false, fmt.Errorf("getChatAdministrators: %w", err)
		}
		e = adminEntry{users: map[int64]bool{}, at: a.now()}
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
	}
	return e.users[user], nil
}
