package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-telegram/bot/models"
)

// errNoUpdateID is the decoding error of an update without a usable
// update_id: nothing can be done with it, not even confirming it alone.
var errNoUpdateID = errors.New("no update_id")

// decodeUpdate decodes one update as Telegram sent it. go-telegram/bot's
// models fail on a whole update for one value they do not know (a new
// forward_origin type, a new member status) or one field of an unexpected
// type; then the update is read again with only the fields the bot uses
// (partial is true). id is the update's id whenever the JSON holds one,
// even when err is not nil, so that the update can be confirmed.
func decodeUpdate(raw json.RawMessage) (u models.Update, id int64, partial bool, err error) {
	var head struct {
		ID *int64 `json:"update_id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.ID == nil {
		return models.Update{}, 0, false, errNoUpdateID
	}
	id = *head.ID
	if err = json.Unmarshal(raw, &u); err == nil {
		return u, id, false, nil
	}
	u, lerr := decodeLeniently(raw)
	if lerr != nil {
		return models.Update{}, id, false, fmt.Errorf("update %d: %s", id, decodeErrorText(err))
	}
	u.ID = id
	return u, id, true, nil
}

// decodeErrorText describes a decoding error without the values it may
// quote (encoding/json names the number it could not store: it may be a
// phone number), so that it can be logged.
func decodeErrorText(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		what, _, _ := strings.Cut(typeErr.Value, " ") // "number 138…" → "number"
		return fmt.Sprintf("field %s.%s: a JSON %s where %s was expected", typeErr.Struct, typeErr.Field, what, typeErr.Type)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset)
	}
	// the library's own errors ("unsupported MessageOrigin type") quote
	// nothing; digits and quoted text are masked all the same
	var b strings.Builder
	quoted := false
	for _, r := range err.Error() {
		switch {
		case r == '"':
			if !quoted {
				b.WriteString(`"…"`)
			}
			quoted = !quoted
		case quoted:
		case r >= '0' && r <= '9':
			b.WriteByte('#')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lenientMessage is the part of a message the bot reads. The library's
// User and Chat hold no union types, so they can be used as they are.
type lenientMessage struct {
	ID                int          `json:"message_id"`
	From              *models.User `json:"from"`
	SenderChat        *models.Chat `json:"sender_chat"`
	Chat              models.Chat  `json:"chat"`
	Date              int          `json:"date"`
	EditDate          int          `json:"edit_date"`
	Text              string       `json:"text"`
	Caption           string       `json:"caption"`
	MigrateToChatID   int64        `json:"migrate_to_chat_id"`
	MigrateFromChatID int64        `json:"migrate_from_chat_id"`
	ReplyTo           *struct {
		ID   int          `json:"message_id"`
		From *models.User `json:"from"`
	} `json:"reply_to_message"`
}

func (m *lenientMessage) message() *models.Message {
	if m == nil {
		return nil
	}
	out := &models.Message{ID: m.ID, From: m.From, SenderChat: m.SenderChat, Chat: m.Chat, Date: m.Date, EditDate: m.EditDate,
		Text: m.Text, Caption: m.Caption, MigrateToChatID: m.MigrateToChatID, MigrateFromChatID: m.MigrateFromChatID}
	if m.ReplyTo != nil {
		out.ReplyToMessage = &models.Message{ID: m.ReplyTo.ID, From: m.ReplyTo.From}
	}
	return out
}

// decodeLeniently reads the fields of an update the bot uses, ignoring
// everything else; it fails when one of those fields has the wrong type or
// the update is of a type the bot does not ask for.
func decodeLeniently(raw json.RawMessage) (models.Update, error) {
	var v struct {
		Message       *lenientMessage `json:"message"`
		EditedMessage *lenientMessage `json:"edited_message"`
		CallbackQuery *struct {
			ID      string      `json:"id"`
			From    models.User `json:"from"`
			Data    string      `json:"data"`
			Inline  string      `json:"inline_message_id"`
			Message *struct {
				ID   int         `json:"message_id"`
				Chat models.Chat `json:"chat"`
				Date int         `json:"date"`
			} `json:"message"`
		} `json:"callback_query"`
		MyChatMember *struct {
			Chat      models.Chat `json:"chat"`
			From      models.User `json:"from"`
			Date      int         `json:"date"`
			NewMember struct {
				Status string `json:"status"`
			} `json:"new_chat_member"`
		} `json:"my_chat_member"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return models.Update{}, err
	}
	var u models.Update
	switch {
	case v.Message != nil:
		u.Message = v.Message.message()
	case v.EditedMessage != nil:
		u.EditedMessage = v.EditedMessage.message()
	case v.CallbackQuery != nil:
		q := v.CallbackQuery
		u.CallbackQuery = &models.CallbackQuery{ID: q.ID, From: q.From, Data: q.Data, InlineMessageID: q.Inline}
		switch m := q.Message; {
		case m == nil:
		case m.Date == 0:
			u.CallbackQuery.Message = models.MaybeInaccessibleMessage{Type: models.MaybeInaccessibleMessageTypeInaccessibleMessage,
				InaccessibleMessage: &models.InaccessibleMessage{Chat: m.Chat, MessageID: m.ID}}
		default:
			u.CallbackQuery.Message = models.MaybeInaccessibleMessage{Type: models.MaybeInaccessibleMessageTypeMessage,
				Message: &models.Message{ID: m.ID, Chat: m.Chat, Date: m.Date}}
		}
	case v.MyChatMember != nil:
		c := v.MyChatMember
		u.MyChatMember = &models.ChatMemberUpdated{Chat: c.Chat, From: c.From, Date: c.Date,
			NewChatMember: models.ChatMember{Type: models.ChatMemberType(c.NewMember.Status)}}
	default:
		return models.Update{}, errors.New("no update type the bot handles")
	}
	return u, nil
}
