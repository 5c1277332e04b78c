// Package bot is gridbot's only contact with Telegram. It receives updates
// (its own long-poll loop, or a webhook whose secret it checks), turns them
// into handlers.Message and handlers.Press, records the handlers' actions in
// the durable outbox, and only then confirms the update to Telegram. A
// sender drains the outbox at Telegram's pace: one message a second and 20
// a minute per group, 30 a second overall, merging receipts that are due
// together, honouring 429 retry_after, retrying 5xx and timeouts with
// backoff, following chat migrations and giving up on 400 and 403.
//
// go-telegram/bot is used as a typed client only; its poller and router are
// not used (they confirm updates before handling them, handle them in
// unordered goroutines and do not recover panics).
package bot

import (
	"context"
	"errors"
	"strings"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// API is the part of the Telegram client the bot calls. *tg.Bot
// implements it.
type API interface {
	GetMe(ctx context.Context) (*models.User, error)
	SendMessage(ctx context.Context, p *tg.SendMessageParams) (*models.Message, error)
	EditMessageText(ctx context.Context, p *tg.EditMessageTextParams) (*models.Message, error)
	SetMessageReaction(ctx context.Context, p *tg.SetMessageReactionParams) (bool, error)
	AnswerCallbackQuery(ctx context.Context, p *tg.AnswerCallbackQueryParams) (bool, error)
	SendDocument(ctx context.Context, p *tg.SendDocumentParams) (*models.Message, error)
	GetChatAdministrators(ctx context.Context, p *tg.GetChatAdministratorsParams) ([]models.ChatMember, error)
	GetChatMember(ctx context.Context, p *tg.GetChatMemberParams) (*models.ChatMember, error)
	SetMyCommands(ctx context.Context, p *tg.SetMyCommandsParams) (bool, error)
	SetWebhook(ctx context.Context, p *tg.SetWebhookParams) (bool, error)
	DeleteWebhook(ctx context.Context, p *tg.DeleteWebhookParams) (bool, error)
}

var _ API = (*tg.Bot)(nil)

// outcome classifies the result of a call to Telegram.
type outcome int

const (
	sent        outcome = iota // done
	notModified                // an edit that changed nothing: done
	retryLater                 // 429: wait retryAfter
	migrated                   // 400 with migrate_to_chat_id: send to the new id
	rejected                   // 400: the request is wrong and stays wrong
	forbidden                  // 403: the bot was removed or never started
	transient                  // 5xx, timeouts, network: back off and retry
)

// classify reads an error from go-telegram/bot.
func classify(err error) (o outcome, retryAfter int, newChat int64) {
	if err == nil {
		return sent, 0, 0
	}
	var tooMany *tg.TooManyRequestsError
	if errors.As(err, &tooMany) {
		return retryLater, tooMany.RetryAfter, 0
	}
	var migrate *tg.MigrateError
	if errors.As(err, &migrate) {
		return migrated, 0, int64(migrate.MigrateToChatID)
	}
	switch {
	case errors.Is(err, tg.ErrorBadRequest):
		if strings.Contains(err.Error(), "message is not modified") {
			return notModified, 0, 0
		}
		return rejected, 0, 0
	case errors.Is(err, tg.ErrorForbidden):
		return forbidden, 0, 0
	}
	return transient, 0, 0
}

func (o outcome) String() string {
	return [...]string{"sent", "not_modified", "retry_after", "migrated", "rejected", "forbidden", "transient"}[o]
}
