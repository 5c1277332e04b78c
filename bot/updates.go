package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

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

	mu       sync.Mutex
	attempts map[int64]int // failed attempts by update id, while it fails
}

// NewProcessor returns a Processor.
func NewProcessor(h Handler, outbox Outbox, now func() time.Time, log *slog.Logger, m *Metrics, queued func()) *Processor {
	if queued == nil {
		queued = func() {}
	}
	return &Processor{handler: h, outbox: outbox, now: now, log: log.With("component", "updates"), metrics: m, queued: queued, attempts: map[int64]int{}}
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

// maxAttempts is how often an update that fails, other than by an outage,
// is tried before it is given up on.
const maxAttempts = 3

// Process handles one update. It returns an error only when the update's
// effects could not be made durable and it must come again: the caller
// must not confirm it. Updates are never stalled on for good:
//   - a panic in a handler is recovered, logged and counted, and the update
//     answered with a short apology;
//   - a command that needs the chat's admins while Telegram cannot name
//     them is answered "try again later" (ErrAdminsUnavailable);
//   - an update that fails in a way no retry can mend (see permanent), or
//     fails maxAttempts times by something that is not an outage of the
//     store or the network (see outage), is given up on: counted, logged
//     and answered with the apology (a message as a reply, a press as its
//     answer), so that nobody's report meets silence.
//
// Store and network outages are returned every time, however long they
// last: the update waits for the store to come back.
func (p *Processor) Process(ctx context.Context, u *models.Update) (err error) {
	start := p.now()
	kind := updateType(u)
	p.metrics.updates.WithLabelValues(kind).Inc()
	defer func() {
		p.metrics.handlerSeconds.Observe(p.now().Sub(start).Seconds())
	}()
	err = p.try(ctx, u)
	if err == nil {
		p.forget(u.ID)
		return nil
	}
	reason := reasonPermanent
	if !permanent(err) {
		if outage(err) {
			return fmt.Errorf("update %d: %w", u.ID, err)
		}
		if n := p.failed(u.ID); n < maxAttempts {
			return fmt.Errorf("update %d (attempt %d of %d): %w", u.ID, n, maxAttempts, err)
		}
		reason = reasonRetries
	}
	// given up on: answered and confirmed
	if aerr := p.enqueue(ctx, apology(u)); aerr != nil && !permanent(aerr) {
		return fmt.Errorf("update %d: the apology: %w", u.ID, aerr)
	}
	p.forget(u.ID)
	p.drop(u, reason, err)
	return nil
}

// try handles an update and queues its actions.
func (p *Processor) try(ctx context.Context, u *models.Update) error {
	actions, err := p.handle(ctx, u)
	if errors.Is(err, ErrAdminsUnavailable) {
		p.metrics.adminChecks.Inc()
		p.log.Warn("admin check failed; answered try again later", "update", u.ID, "chat", chatOf(u), "err", err)
		actions, err = adminsUnavailable(u), nil
	}
	if err != nil {
		return err
	}
	return p.enqueue(ctx, actions)
}

// failed counts a failed attempt of update id and returns how many there
// were. The count lives as long as the process: after a restart an update
// gets its attempts again.
func (p *Processor) failed(id int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.attempts) >= 10_000 { // updates that never came back: forget them all
		clear(p.attempts)
	}
	p.attempts[id]++
	return p.attempts[id]
}

func (p *Processor) forget(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.attempts, id)
}

// permanent reports whether an error would come again however often its
// update were retried: the store refused what was recorded as invalid,
// something the handler needs does not exist, or Telegram refused a
// request the handler made (400, 403). Such an update is given up on at
// once.
func permanent(err error) bool {
	return errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound) ||
		errors.Is(err, tg.ErrorBadRequest) || errors.Is(err, tg.ErrorForbidden)
}

// outage reports whether an error comes from the store or the network
// being unavailable rather than from the update: the store closed, locked
// or read-only, a cancelled or timed-out call, a network error, an error
// of the operating system (a full disk, an I/O error), a connection lost
// mid-answer, or a database error of a class that means the server, not
// the statement (PostgreSQL classes 08 connection, 40 transaction
// rollback, 53 insufficient resources, 57 operator intervention, 58 system
// error). An update failing so is retried for as long as it lasts.
func outage(err error) bool {
	var (
		netErr  net.Error
		errno   syscall.Errno
		sqlErr  interface{ SQLState() string }
		timeout interface{ Timeout() bool }
	)
	switch {
	case errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrLocked), errors.Is(err, store.ErrReadOnly),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.As(err, &netErr), errors.As(err, &errno):
		return true
	case errors.As(err, &timeout) && timeout.Timeout():
		return true
	case errors.As(err, &sqlErr):
		switch state := sqlErr.SQLState(); {
		case len(state) < 2:
		case state[:2] == "08", state[:2] == "40", state[:2] == "53", state[:2] == "57", state[:2] == "58":
			return true
		}
	}
	return false
}

// drop logs and counts an update given up on.
func (p *Processor) drop(u *models.Update, reason string, err error) {
	p.metrics.dropped.WithLabelValues(reason).Inc()
	p.log.Error("update given up on", "update", u.ID, "type", updateType(u), "chat", chatOf(u), "reason", reason, "err", err)
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

// apology is the answer to an update given up on: its handler panicked or
// it failed the same way on every attempt. Its sender is told, so that a
// report is never met with silence.
func apology(u *models.Update) []handlers.Action {
	return plainAnswer(u, "apology", "抱歉，处理这条消息时出了问题，已记录。请稍后再发一次，或联系管理员。",
		"Sorry, something went wrong with this message; it was logged. Please send it again later or tell an admin.")
}

// adminsUnavailable is the answer to a command that needs the chat's
// admins while Telegram cannot name them.
func adminsUnavailable(u *models.Update) []handlers.Action {
	return plainAnswer(u, "admins", "暂时无法确认管理员身份，请稍后再试。",
		"I cannot check who the group's admins are right now. Please try again in a minute.")
}

// plainAnswer answers a message (as a reply) or a button press with a text
// of the bot's own, in English when the sender uses Telegram in English
// and wrote no Chinese.
func plainAnswer(u *models.Update, kind, zh, en string) []handlers.Action {
	m := u.Message
	if m == nil {
		m = u.EditedMessage
	}
	switch {
	case m != nil && m.Chat.ID != 0:
		text := zh
		if m.From != nil && strings.HasPrefix(m.From.LanguageCode, "en") && !hasHan(m.Text+m.Caption) {
			text = en
		}
		return []handlers.Action{{Kind: handlers.Send, Key: fmt.Sprintf("%s:%d:%d", kind, m.Chat.ID, m.ID), Chat: m.Chat.ID, ReplyTo: int64(m.ID), Text: text}}
	case u.CallbackQuery != nil:
		text := zh
		if strings.HasPrefix(u.CallbackQuery.From.LanguageCode, "en") {
			text = en
		}
		return answer(u.CallbackQuery, text)
	}
	return nil
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
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
	if m.SenderChat != nil && m.SenderChat.ID == m.Chat.ID && m.Chat.ID < 0 {
		// an anonymous admin writes as the group (from is Telegram's
		// GroupAnonymousBot, a bot): the sender is the group itself, which
		// Admins counts as an admin of itself
		name := m.AuthorSignature
		if name == "" {
			name = m.Chat.Title
		}
		out.From = handlers.User{ID: m.Chat.ID, FirstName: name}
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
