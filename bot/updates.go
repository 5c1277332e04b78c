package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"gridbot/handlers"
	"gridbot/store"
)

// Handler is what the bot asks about each update. *handlers.Handler
// implements it.
type Handler interface {
	HandleMessage(ctx context.Context, m handlers.Message) ([]handlers.Action, error)
	HandlePress(ctx context.Context, p handlers.Press) ([]handlers.Action, error)
	HandleMembership(ctx context.Context, chat int64, status string) error
}

// Outbox is where actions are queued durably. *store.Store implements it.
type Outbox interface {
	Commit(ctx context.Context, c store.Changes) (store.Result, error)
}

// Processor makes each update's effects durable: the handler records what
// it must, then the processor queues the handler's actions in the outbox.
// When Process returns nil the update may be confirmed to Telegram.
type Processor struct {
	handler Handler
	outbox  Outbox
	now     func() time.Time
	log     *slog.Logger
	metrics *Metrics
	// queued is called after actions were queued (the sender's Wake).
	queued func()
}

// NewProcessor returns a Processor.
func NewProcessor(h Handler, outbox Outbox, now func() time.Time, log *slog.Logger, m *Metrics, queued func()) *Processor {
	if queued == nil {
		queued = func() {}
	}
	return &Processor{handler: h, outbox: outbox, now: now, log: log.With("component", "updates"), metrics: m, queued: queued}
}

// chatOf returns the chat an update belongs to (0 for none), which decides
// its order: updates of one chat are processed one after another.
func chatOf(u *models.Update) int64 {
	switch {
	case u.Message != nil:
		return u.Message.Chat.ID
	case u.EditedMessage != nil:
		return u.EditedMessage.Chat.ID
	case u.CallbackQuery != nil && u.CallbackQuery.Message.Message != nil:
		return u.CallbackQuery.Message.Message.Chat.ID
	case u.CallbackQuery != nil && u.CallbackQuery.Message.InaccessibleMessage != nil:
		return u.CallbackQuery.Message.InaccessibleMessage.Chat.ID
	case u.MyChatMember != nil:
		return u.MyChatMember.Chat.ID
	}
	return 0
}

// updateType names an update's type for metrics and logs.
func updateType(u *models.Update) string {
	switch {
	case u.Message != nil:
		return "message"
	case u.EditedMessage != nil:
		return "edited_message"
	case u.CallbackQuery != nil:
		return "callback_query"
	case u.MyChatMember != nil:
		return "my_chat_member"
	}
	return "other"
}

// Process handles one update. It returns an error only when the update's
// effects could not be made durable (the store failed): the caller must not
// confirm it. A panic in a handler is recovered, logged and counted, and the
// update is answered with a short apology and confirmed, so one poisonous
// message cannot stop the bot; so is an update that failed in a way no
// retry can mend (see permanent).
func (p *Processor) Process(ctx context.Context, u *models.Update) (err error) {
	start := p.now()
	kind := updateType(u)
	p.metrics.updates.WithLabelValues(kind).Inc()
	defer func() {
		p.metrics.handlerSeconds.Observe(p.now().Sub(start).Seconds())
	}()
	actions, err := p.handle(ctx, u)
	dropped := err != nil && permanent(err)
	if dropped {
		p.drop(u, err)
		actions, err = apology(u), nil
	}
	if err != nil {
		return fmt.Errorf("update %d: %w", u.ID, err)
	}
	if err := p.enqueue(ctx, actions); err != nil {
		if permanent(err) {
			if !dropped {
				p.drop(u, err)
			}
			return nil
		}
		return fmt.Errorf("update %d: %w", u.ID, err)
	}
	return nil
}

// permanent reports whether an error would come again however often its
// update were retried: the store refused what was recorded as invalid,
// something the handler needs does not exist, or Telegram refused a
// request the handler made (400, 403). Such an update is given up on
// rather than retried: retrying it would hold up every update after it.
func permanent(err error) bool {
	return errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound) ||
		errors.Is(err, tg.ErrorBadRequest) || errors.Is(err, tg.ErrorForbidden)
}

// drop logs and counts an update given up on.
func (p *Processor) drop(u *models.Update, err error) {
	p.metrics.dropped.Inc()
	p.log.Error("update given up on: it would fail again", "update", u.ID, "type", updateType(u), "chat", chatOf(u), "err", err)
}

// handle calls the handler, turning a panic into an apology.
func (p *Processor) handle(ctx context.Context, u *models.Update) (actions []handlers.Action, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.metrics.panics.Inc()
			// the stack names code, not data; the update's content is not logged
			// the panic's type and the stack name code, never data: a
			// panic's value could hold what the user wrote
			p.log.Error("handler panicked", "update", u.ID, "type", updateType(u), "chat", chatOf(u), "panic", fmt.Sprintf("%T", r), "stack", string(debug.Stack()))
			actions, err = apology(u), nil
		}
	}()
	switch {
	case u.Message != nil:
		return p.handler.HandleMessage(ctx, toMessage(u.Message, false))
	case u.EditedMessage != nil:
		return p.handler.HandleMessage(ctx, toMessage(u.EditedMessage, true))
	case u.CallbackQuery != nil:
		press, ok := toPress(u.CallbackQuery, p.now())
		if !ok {
			return answer(u.CallbackQuery, ""), nil
		}
		return p.handler.HandlePress(ctx, press)
	case u.MyChatMember != nil:
		return nil, p.handler.HandleMembership(ctx, u.MyChatMember.Chat.ID, string(u.MyChatMember.NewChatMember.Type))
	}
	return nil, nil
}

// apology is the answer to an update whose handler panicked.
func apology(u *models.Update) []handlers.Action {
	switch {
	case u.Message != nil:
		m := u.Message
		return []handlers.Action{{Kind: handlers.Send, Key: fmt.Sprintf("apology:%d:%d", m.Chat.ID, m.ID), Chat: m.Chat.ID, ReplyTo: int64(m.ID),
			Text: "抱歉，处理这条消息时出了问题，已记录。Sorry, something went wrong with this message."}}
	case u.CallbackQuery != nil:
		return answer(u.CallbackQuery, "抱歉，出了问题。Sorry, something went wrong.")
	}
	return nil
}

// answer answers a button press the handlers do not: Telegram shows a
// spinner until it is answered. The outbox needs a chat: the one of the
// message the button was on, or the presser's own (an inline message has
// none).
func answer(q *models.CallbackQuery, text string) []handlers.Action {
	chat := q.From.ID
	switch m := q.Message; {
	case m.Message != nil && m.Message.Chat.ID != 0:
		chat = m.Message.Chat.ID
	case m.InaccessibleMessage != nil && m.InaccessibleMessage.Chat.ID != 0:
		chat = m.InaccessibleMessage.Chat.ID
	}
	if chat == 0 || q.ID == "" {
		return nil
	}
	return []handlers.Action{{Kind: handlers.Answer, Key: "answer:" + q.ID, Chat: chat, CallbackID: q.ID, Text: text}}
}

// enqueue records actions in the outbox, in one durable step.
func (p *Processor) enqueue(ctx context.Context, actions []handlers.Action) error {
	if len(actions) == 0 {
		return nil
	}
	now := p.now()
	var msgs []store.OutboxMessage
	for _, a := range actions {
		if a.Queued { // recorded by the handler with what it answers
			continue
		}
		m, err := a.OutboxMessage(now)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	if len(msgs) > 0 {
		if _, err := p.outbox.Commit(ctx, store.Changes{Outbox: msgs}); err != nil {
			return fmt.Errorf("queue %d actions: %w", len(msgs), err)
		}
	}
	p.queued()
	return nil
}

func toUser(u *models.User) handlers.User {
	if u == nil {
		return handlers.User{}
	}
	return handlers.User{ID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Username: u.Username, LanguageCode: u.LanguageCode, IsBot: u.IsBot}
}

func toChat(c models.Chat) handlers.Chat {
	return handlers.Chat{ID: c.ID, Type: string(c.Type), Title: c.Title}
}

// toMessage converts a Telegram message. A caption counts as text: a report
// may come with a photo.
func toMessage(m *models.Message, edited bool) handlers.Message {
	text := m.Text
	if text == "" {
		text = m.Caption
	}
	out := handlers.Message{
		Chat: toChat(m.Chat), From: toUser(m.From), ID: int64(m.ID), Text: text,
		Date: time.Unix(int64(m.Date), 0), MigrateTo: m.MigrateToChatID, MigrateFrom: m.MigrateFromChatID,
	}
	if edited {
		out.EditDate = time.Unix(int64(m.EditDate), 0)
		if m.EditDate == 0 {
			out.EditDate = out.Date.Add(time.Second)
		}
	}
	if r := m.ReplyToMessage; r != nil {
		out.ReplyTo = &handlers.Replied{ID: int64(r.ID), From: toUser(r.From), Text: r.Text}
	}
	return out
}

// toPress converts a button press; ok is false when the message it was on
// is no longer accessible.
func toPress(q *models.CallbackQuery, now time.Time) (handlers.Press, bool) {
	m := q.Message.Message
	if m == nil || m.Chat.ID == 0 {
		return handlers.Press{}, false
	}
	return handlers.Press{ID: q.ID, Chat: toChat(m.Chat), From: toUser(&q.From), MessageID: int64(m.ID), Data: q.Data, At: now}, true
}
