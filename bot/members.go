package bot

import (
	"context"
	"errors"
	"fmt"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// Members answers whether a user belongs to a group, from Telegram's
// getChatMember: for /village, so a landlord chooses only a village whose
// group they are in. It is asked rarely and not cached.
type Members struct {
	api API
}

// NewMembers returns a membership check.
func NewMembers(api API) *Members { return &Members{api: api} }

// IsMember reports whether user is in chat: its creator, an administrator,
// a member, or a restricted member who is still in it. A user Telegram
// does not know in the chat (400) is not a member; other failures are
// errors.
func (m *Members) IsMember(ctx context.Context, chat, user int64) (bool, error) {
	cm, err := m.api.GetChatMember(ctx, &tg.GetChatMemberParams{ChatID: chat, UserID: user})
	if errors.Is(err, tg.ErrorBadRequest) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("getChatMember: %w", err)
	}
	switch cm.Type {
	case models.ChatMemberTypeOwner, models.ChatMemberTypeAdministrator, models.ChatMemberTypeMember:
		return true, nil
	case models.ChatMemberTypeRestricted:
		return cm.Restricted != nil && cm.Restricted.IsMember, nil
	}
	return false, nil
}
