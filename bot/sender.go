package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"gridbot/handlers"
	"gridbot/store"
)

// SenderStore is what the sender reads and writes. *store.Store
// implements it.
type SenderStore interface {
	Commit(ctx context.Context, c store.Changes) (store.Result, error)
	Due(ctx context.Context, now time.Time, limit int) ([]store.OutboxMessage, error)
	Outbox(ctx context.Context, key string) (store.OutboxMessage, bool, error)
	CurrentChat(ctx context.Context, chat int64) (int64, error)
	OutboxStats(ctx context.Context) (int, time.Time, error)
}

// Renderer renders receipts when they are sent. *handlers.Handler
// implements it.
type Renderer interface {
	RenderReceipts(ctx context.Context, chat int64, ids []int64) (string, error)
}

// composition is the outbox method of a record that remembers which
// reports' receipts one sent message holds, so an edit can re-render it.
const composition = "composition"

// Limits of the sender.
const (
	dueBatch    = 256
	maxDueBatch = 4096
	floodChats  = 8 // at most this many chats filling a batch is a flood
	// maxAge is how long a message that keeps failing on network errors,
	// 5xx answers or timeouts is retried: a long outage loses nothing that
	// is still worth saying (backoff holds at maxBackoff meanwhile).
	maxAge     = 24 * time.Hour
	maxBackoff = 10 * time.Minute
	// textLimit keeps a message under Telegram's 4096 characters, HTML
	// tags included, so no count of entities can push it over.
	textLimit = 4000
	idlePoll  = time.Second
	// callTimeout bounds one call to Telegram (uploadTimeout a document's),
	// so that a call that hangs holds up the chats waiting behind it for
	// seconds, not for the HTTP client's minute; it is retried.
	callTimeout   = 15 * time.Second
	uploadTimeout = 2 * time.Minute
)

// Sender drains the outbox.
type Sender struct {
	api     API
	store   SenderStore
	render  Renderer
	now     func() time.Time
	log     *slog.Logger
	metrics *Metrics
	workers int
	pacer   *pacer
	wake    chan struct{}

	randMu sync.Mutex
	rand   *rand.Rand

	// progress counts the chunks already sent of a long text, by outbox id.
	progressMu sync.Mutex
	progress   map[int64]int

	lease *lease // nil: this process is the only sender

	limitMu sync.Mutex
	limit   int // see dueLimit
}

// SenderOptions tune a Sender.
type SenderOptions struct {
	// Workers is how many chats are served at once; 1 makes the order of
	// calls deterministic (gridbot replay).
	Workers int
	// Seed seeds the backoff jitter.
	Seed uint64
	// Lease makes replicas sharing one store take turns: only the one
	// holding the current minute's lease (a claim) sends. The embedded
	// store has one writer by construction and needs none.
	Lease bool
}

// NewSender returns a Sender.
func NewSender(api API, st SenderStore, r Renderer, now func() time.Time, log *slog.Logger, m *Metrics, opts SenderOptions) *Sender {
	if opts.Workers < 1 {
		opts.Workers = 8
	}
	s := &Sender{
		api: api, store: st, render: r, now: now, log: log.With("component", "sender"), metrics: m,
		workers: opts.Workers, pacer: newPacer(), wake: make(chan struct{}, 1),
		rand: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)), progress: map[int64]int{},
	}
	if opts.Lease {
		s.lease = &lease{store: st, held: map[time.Time]bool{}, prefix: "sender-lease:"}
	}
	return s
}

// lease is a sender's turn to send, one minute at a time. The holder
// claims the next minute before this one ends, so it keeps sending while
// it lives; another replica takes over the minute after it dies. No two
// replicas send in the same minute, so none sends a message twice.
type lease struct {
	store  SenderStore
	mu     sync.Mutex
	held   map[time.Time]bool // minutes claimed (true) or lost (false)
	prefix string
}

// leaseAhead is how early the holder claims the next minute.
const leaseAhead = 15 * time.Second

func (l *lease) hold(ctx context.Context, now time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	minute := now.Truncate(time.Minute)
	held, known := l.held[minute]
	if !known {
		ok, err := l.claim(ctx, minute)
		if err != nil {
			return false, err
		}
		held = ok
	}
	if held && now.After(minute.Add(time.Minute-leaseAhead)) {
		if _, known := l.held[minute.Add(time.Minute)]; !known {
			if _, err := l.claim(ctx, minute.Add(time.Minute)); err != nil {
				return false, err
			}
		}
	}
	for m := range l.held { // remember only what is still useful
		if m.Before(minute) {
			delete(l.held, m)
		}
	}
	return held, nil
}

func (l *lease) claim(ctx context.Context, minute time.Time) (bool, error) {
	res, err := l.store.Commit(ctx, store.Changes{Claims: []string{l.prefix + minute.UTC().Format("2006-01-02T15:04Z")}})
	if err != nil {
		return false, err
	}
	l.held[minute] = res.Claimed
	return res.Claimed, nil
}

// Wake tells the sender that something was queued.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends until ctx ends. Calls already under way when it ends get a
// few seconds to finish.
func (s *Sender) Run(ctx context.Context) error {
	callCtx, cancel := afterGrace(ctx, 3*time.Second)
	defer cancel()
	for {
		started := s.now()
		next, held, err := s.sendDue(callCtx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.log.Error("sending failed", "err", err)
			next = s.now().Add(idlePoll)
		}
		wait := next.Sub(s.now())
		wait = min(max(wait, 0), idlePoll) // others may queue: look again at least every second
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-s.wake:
			timer.Stop()
			if held {
				// The outbox holds messages waiting for Telegram's pace, which
				// every round reads again: while updates keep queueing more,
				// a round per update would spend the CPU they need. What was
				// queued goes with the next round, a moment later.
				pause := time.NewTimer(started.Add(busyRound).Sub(s.now()))
				select {
				case <-ctx.Done():
					pause.Stop()
					return nil
				case <-pause.C:
				}
			}
		case <-timer.C:
		}
	}
}

// busyRound is the least time between the sender's rounds while messages
// wait for Telegram's pace.
const busyRound = 100 * time.Millisecond

// afterGrace returns a context that ends grace after ctx does.
func afterGrace(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(out, func() { t.Stop() })
	})
	return out, func() { stop(); cancel() }
}

// SendDue sends what is due now, chat by chat, and returns when it should
// be called again: the earliest time a chat it had to hold back may be
// served, or a second from now.
func (s *Sender) SendDue(ctx context.Context) (time.Time, error) {
	next, _, err := s.sendDue(ctx)
	return next, err
}

// sendDue is SendDue; held says whether some chat had to stop for
// Telegram's pace.
func (s *Sender) sendDue(ctx context.Context) (next time.Time, held bool, err error) {
	now := s.now()
	if s.lease != nil {
		ok, err := s.lease.hold(ctx, now)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("sender: lease: %w", err)
		}
		if !ok { // another replica sends this minute
			return now.Truncate(time.Minute).Add(time.Minute), false, nil
		}
	}
	limit := s.dueLimit()
	msgs, err := s.store.Due(ctx, now, limit)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sender: due: %w", err)
	}
	s.gauges(ctx, now)
	next = now.Add(idlePoll)
	var order []int64
	byChat := map[int64][]store.OutboxMessage{}
	for _, m := range msgs {
		if _, ok := byChat[m.Chat]; !ok {
			order = append(order, m.Chat)
		}
		byChat[m.Chat] = append(byChat[m.Chat], m)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	heldChats := 0
	slots := make(chan struct{}, s.workers)
	for _, chat := range order {
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		run := func() {
			defer func() { <-slots; wg.Done() }()
			if t := s.sendChat(ctx, chat, byChat[chat]); !t.IsZero() {
				mu.Lock()
				held = true
				heldChats++
				if t.Before(next) {
					next = t
				}
				mu.Unlock()
			}
		}
		if s.workers == 1 {
			run()
		} else {
			go run()
		}
	}
	wg.Wait()
	if len(msgs) == limit && !held {
		// more may be due: look again at once (but not while the batch
		// waits for the pace, or the sender would spin until it may go)
		next = now
	}
	// a full batch held by the pace of a few chats may be hiding other
	// chats' messages behind it (with many chats in it, the pass already
	// serves many; reading more would only slow every commit down)
	s.adjustDueLimit(len(msgs) == limit && heldChats == len(order) && len(order) <= floodChats)
	return next, held, nil
}

// dueLimit is how many due messages a pass reads. It grows while a full
// batch is held back by some chat's pace — one flooded group must not
// hide every other chat's messages behind its backlog — and shrinks back
// when the backlog is gone.
func (s *Sender) dueLimit() int {
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	if s.limit == 0 {
		s.limit = dueBatch
	}
	return s.limit
}

func (s *Sender) adjustDueLimit(fullAndHeld bool) {
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	switch {
	case fullAndHeld:
		s.limit = min(s.limit*4, maxDueBatch)
	default:
		s.limit = dueBatch
	}
}

func (s *Sender) gauges(ctx context.Context, now time.Time) {
	n, oldest, err := s.store.OutboxStats(ctx)
	if err != nil {
		return
	}
	s.metrics.outboxPending.Set(float64(n))
	if n == 0 {
		s.metrics.outboxAge.Set(0)
	} else {
		s.metrics.outboxAge.Set(now.Sub(oldest).Seconds())
	}
}

// sendChat sends one chat's due messages in order. It returns the time it
// had to stop at, or zero when it sent everything. Reactions, edits and
// answers do not wait behind messages held back by the chat's pace.
func (s *Sender) sendChat(ctx context.Context, chat int64, msgs []store.OutboxMessage) time.Time {
	var held time.Time // when the first message held back may go
	stop := func(t time.Time) time.Time {
		if !held.IsZero() && held.Before(t) {
			return held
		}
		return t
	}
	for i := 0; i < len(msgs); {
		if ctx.Err() != nil {
			return time.Time{}
		}
		m := msgs[i]
		if m.Method == composition {
			s.finish(ctx, m, sent, 0, "")
			i++
			continue
		}
		var a handlers.Action
		if err := json.Unmarshal(m.Payload, &a); err != nil {
			s.finish(ctx, m, rejected, 0, "undecodable payload")
			i++
			continue
		}
		dest, err := s.store.CurrentChat(ctx, chat)
		if err != nil {
			s.log.Error("current chat", "chat", chat, "err", err)
			return stop(s.now().Add(idlePoll))
		}
		isMessage := a.Kind == handlers.Send || a.Kind == handlers.Receipt || a.Kind == handlers.Document
		if t := s.pacer.take(dest, isMessage, s.now()); t.After(s.now()) {
			if !isMessage || s.pacer.earliest(dest, false, s.now()).After(s.now()) {
				return stop(t)
			}
			// only the pace of messages into this chat holds it (and so
			// every later message of the chat): the rest may go
			held = stop(t)
			i++
			continue
		}
		if a.Kind == handlers.Receipt {
			receipts, rest := mergeable(msgs[i:])
			used := s.sendReceipts(ctx, chat, dest, receipts)
			// the receipts dealt with leave the queue; the rest keep their order
			left := append(append([]store.OutboxMessage{}, receipts[used:]...), rest...)
			sortByDue(left)
			msgs = append(msgs[:i], left...)
			continue
		}
		s.sendOne(ctx, chat, dest, m, a)
		i++
	}
	return held
}

// mergeable splits a chat's queue, which starts with a receipt, into the
// receipts that may go out together in one message — every receipt before
// the next message of another kind; reactions, edits and answers between
// them do not keep them apart — and the rest, in order.
func mergeable(ms []store.OutboxMessage) (receipts, rest []store.OutboxMessage) {
	blocked := false
	for _, m := range ms {
		switch {
		case m.Method == string(handlers.Receipt) && !blocked:
			receipts = append(receipts, m)
		default:
			blocked = blocked || m.Method == string(handlers.Send) || m.Method == string(handlers.Document)
			rest = append(rest, m)
		}
	}
	return receipts, rest
}

// sortByDue restores the outbox's order: by due time, then id.
func sortByDue(ms []store.OutboxMessage) {
	due := func(m store.OutboxMessage) time.Time {
		if !m.RetryAt.IsZero() {
			return m.RetryAt
		}
		return m.NotBefore
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if a, b := due(ms[i]), due(ms[j]); !a.Equal(b) {
			return a.Before(b)
		}
		return ms[i].ID < ms[j].ID
	})
}

// callResult is what one call to Telegram gave.
type callResult struct {
	o          outcome
	retryAfter int
	newChat    int64
	messageID  int64
	err        error
}

func result(msg *models.Message, err error) callResult {
	o, ra, nc := classify(err)
	r := callResult{o: o, retryAfter: ra, newChat: nc, err: err}
	if msg != nil {
		r.messageID = int64(msg.ID)
	}
	return r
}

func boolResult(_ bool, err error) callResult { return result(nil, err) }

// call makes a call to dest, following a migration once.
func (s *Sender) call(ctx context.Context, chat, dest int64, kind handlers.ActionKind, isMessage bool, do func(ctx context.Context, dest int64) callResult) callResult {
	timeout := callTimeout
	if kind == handlers.Document {
		timeout = uploadTimeout
	}
	attempt := func(dest int64) callResult {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return do(ctx, dest)
	}
	r := attempt(dest) // its slot was taken from the pacer before
	if r.o == migrated && r.newChat != 0 && r.newChat != dest {
		if _, err := s.store.Commit(ctx, store.Changes{Migrations: []store.Migration{{From: dest, To: r.newChat, At: s.now()}}}); err != nil {
			s.log.Error("recording a migration", "from", dest, "to", r.newChat, "err", err)
			return callResult{o: transient, err: err}
		}
		s.log.Info("chat migrated", "from", dest, "to", r.newChat)
		r = attempt(r.newChat)
		s.pacer.record(r.newChat, isMessage, s.now())
	}
	s.metrics.sends.WithLabelValues(string(kind), r.o.String()).Inc()
	if r.o == retryLater {
		s.pacer.block(dest, s.now().Add(time.Duration(r.retryAfter)*time.Second))
	}
	if r.o == forbidden {
		s.deactivate(ctx, chat)
	}
	if r.err != nil && r.o != notModified {
		s.log.Warn("telegram call failed", "action", kind, "chat", dest, "outcome", r.o.String(), "err", scrub(r.err))
	}
	return r
}

// scrub keeps an error message short: a proxy's HTML page is not a log line.
func scrub(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// deactivate records that the bot can no longer post in a chat.
func (s *Sender) deactivate(ctx context.Context, chat int64) {
	_, err := s.store.Commit(ctx, store.Changes{Settings: []store.Setting{{Chat: chat, Key: handlers.SettingActive, Value: "false", At: s.now()}}})
	if err != nil {
		s.log.Error("marking a chat inactive", "chat", chat, "err", err)
	}
}

// sendOne performs one action.
func (s *Sender) sendOne(ctx context.Context, chat, dest int64, m store.OutboxMessage, a handlers.Action) {
	var r callResult
	switch a.Kind {
	case handlers.Send:
		r = s.sendText(ctx, chat, dest, m, a)
	case handlers.RefreshReceipt:
		r = s.refresh(ctx, chat, dest, a)
	case handlers.Edit:
		r = s.call(ctx, chat, dest, a.Kind, false, func(ctx context.Context, dest int64) callResult {
			return result(s.api.EditMessageText(ctx, &tg.EditMessageTextParams{ChatID: dest, MessageID: int(a.MessageID), Text: clip(a.Text), ParseMode: models.ParseModeHTML, ReplyMarkup: keyboard(a.Buttons)}))
		})
	case handlers.React:
		reaction := []models.ReactionType{}
		if a.Emoji != "" {
			reaction = append(reaction, models.ReactionType{Type: models.ReactionTypeTypeEmoji, ReactionTypeEmoji: &models.ReactionTypeEmoji{Type: models.ReactionTypeTypeEmoji, Emoji: a.Emoji}})
		}
		r = s.call(ctx, chat, dest, a.Kind, false, func(ctx context.Context, dest int64) callResult {
			return boolResult(s.api.SetMessageReaction(ctx, &tg.SetMessageReactionParams{ChatID: dest, MessageID: int(a.MessageID), Reaction: reaction}))
		})
	case handlers.Answer:
		r = s.call(ctx, chat, dest, a.Kind, false, func(ctx context.Context, _ int64) callResult {
			return boolResult(s.api.AnswerCallbackQuery(ctx, &tg.AnswerCallbackQueryParams{CallbackQueryID: a.CallbackID, Text: a.Text}))
		})
	case handlers.Document:
		if a.File == nil {
			r = callResult{o: rejected}
			break
		}
		r = s.call(ctx, chat, dest, a.Kind, true, func(ctx context.Context, dest int64) callResult {
			return result(s.api.SendDocument(ctx, &tg.SendDocumentParams{ChatID: dest, Caption: clipCaption(a.Text), ParseMode: models.ParseModeHTML,
				Document: &models.InputFileUpload{Filename: a.File.Name, Data: bytes.NewReader(a.File.Data)}}))
		})
	default:
		r = callResult{o: rejected}
	}
	s.finish(ctx, m, r.o, r.retryAfter, errText(r.err), r.messageID)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return scrub(err)
}

// sendText sends a text, in several messages when it is too long. The
// chunks already sent survive a pause for pacing (not a restart: then the
// whole text is sent again).
func (s *Sender) sendText(ctx context.Context, chat, dest int64, m store.OutboxMessage, a handlers.Action) callResult {
	chunks := splitText(a.Text, textLimit)
	s.progressMu.Lock()
	done := s.progress[m.ID]
	s.progressMu.Unlock()
	var r callResult
	for k := done; k < len(chunks); k++ {
		if k > done {
			if t := s.pacer.take(dest, true, s.now()); t.After(s.now()) {
				s.progressMu.Lock()
				s.progress[m.ID] = k
				s.progressMu.Unlock()
				return callResult{o: retryLater, retryAfter: int(t.Sub(s.now()).Seconds()) + 1}
			}
		}
		params := &tg.SendMessageParams{Text: chunks[k], ParseMode: models.ParseModeHTML}
		if k == 0 && a.ReplyTo != 0 {
			params.ReplyParameters = &models.ReplyParameters{MessageID: int(a.ReplyTo), AllowSendingWithoutReply: true}
		}
		if k == len(chunks)-1 {
			params.ReplyMarkup = keyboard(a.Buttons)
		}
		r = s.call(ctx, chat, dest, a.Kind, true, func(ctx context.Context, dest int64) callResult {
			params.ChatID = dest
			return result(s.api.SendMessage(ctx, params))
		})
		if r.o != sent {
			s.progressMu.Lock()
			s.progress[m.ID] = k
			s.progressMu.Unlock()
			return r
		}
	}
	s.progressMu.Lock()
	delete(s.progress, m.ID)
	s.progressMu.Unlock()
	return r
}

// sendReceipts sends the receipts due in a row as few messages as fit:
// one message now, the rest when the pace allows. It returns how many of
// ms it dealt with.
func (s *Sender) sendReceipts(ctx context.Context, chat, dest int64, ms []store.OutboxMessage) int {
	type part struct {
		m    store.OutboxMessage
		a    handlers.Action
		text string
	}
	var parts []part
	size, used := 0, 0
	for _, m := range ms {
		var a handlers.Action
		if err := json.Unmarshal(m.Payload, &a); err != nil {
			s.finish(ctx, m, rejected, 0, "undecodable payload")
			used++
			continue
		}
		text, err := s.render.RenderReceipts(ctx, a.Chat, []int64{a.MessageID})
		if err != nil {
			s.log.Error("rendering a receipt", "chat", chat, "err", err)
			s.finish(ctx, m, transient, 0, "render: "+scrub(err))
			used++
			break
		}
		if text == "" {
			s.finish(ctx, m, sent, 0, "")
			used++
			continue
		}
		if len(parts) > 0 && size+len(text)+2 > textLimit {
			break
		}
		parts = append(parts, part{m: m, a: a, text: text})
		size += len(text) + 2
		used++
	}
	if len(parts) == 0 {
		return max(used, 1)
	}
	texts := make([]string, len(parts))
	ids := make([]int64, len(parts))
	for i, p := range parts {
		texts[i], ids[i] = p.text, p.a.MessageID
	}
	text := strings.Join(texts, "\n\n")
	params := &tg.SendMessageParams{Text: clip(text), ParseMode: models.ParseModeHTML,
		ReplyParameters: &models.ReplyParameters{MessageID: int(parts[0].a.ReplyTo), AllowSendingWithoutReply: true}}
	r := s.call(ctx, chat, dest, handlers.Receipt, true, func(ctx context.Context, dest int64) callResult {
		params.ChatID = dest
		return result(s.api.SendMessage(ctx, params))
	})
	if r.o != sent {
		for _, p := range parts {
			s.finish(ctx, p.m, r.o, r.retryAfter, errText(r.err))
		}
		return used
	}
	// one durable step: every receipt sent, and — when the message holds
	// several — which reports it holds (a receipt alone needs no record: a
	// refresh renders just its own report)
	var changes store.Changes
	if len(ids) > 1 {
		payload, _ := json.Marshal(ids)
		changes.Outbox = []store.OutboxMessage{{
			Key: compositionKey(parts[0].a.Chat, r.messageID), Chat: chat, Method: composition, Payload: payload, NotBefore: s.now(), CreatedAt: s.now(),
		}}
	}
	for _, p := range parts {
		changes.Attempts = append(changes.Attempts, store.Attempt{MessageID: p.m.ID, Attempt: p.m.Attempts + 1, Sent: true, SentMessageID: r.messageID, At: s.now()})
	}
	if _, err := s.store.Commit(ctx, changes); err != nil {
		s.log.Error("recording sent receipts", "chat", chat, "err", err)
	}
	return used
}

func compositionKey(chat, messageID int64) string {
	return "composition:" + strconv.FormatInt(chat, 10) + ":" + strconv.FormatInt(messageID, 10)
}

// refresh edits the message holding a report's receipt to show the
// reports in it as they are now.
func (s *Sender) refresh(ctx context.Context, chat, dest int64, a handlers.Action) callResult {
	receipt, ok, err := s.store.Outbox(ctx, fmt.Sprintf("receipt:%d:%d", a.Chat, a.MessageID))
	if err != nil {
		return callResult{o: transient, err: err}
	}
	if !ok || receipt.State != store.OutboxSent || receipt.SentMessageID == 0 {
		return callResult{o: sent} // not sent yet: it will show the report as it is when it is
	}
	ids := []int64{a.MessageID}
	if comp, ok, err := s.store.Outbox(ctx, compositionKey(a.Chat, receipt.SentMessageID)); err != nil {
		return callResult{o: transient, err: err}
	} else if ok {
		var held []int64
		if json.Unmarshal(comp.Payload, &held) == nil && len(held) > 0 {
			ids = held
		}
	}
	text, err := s.render.RenderReceipts(ctx, a.Chat, ids)
	if err != nil {
		return callResult{o: transient, err: err}
	}
	if text == "" {
		return callResult{o: sent}
	}
	return s.call(ctx, chat, dest, a.Kind, false, func(ctx context.Context, dest int64) callResult {
		return result(s.api.EditMessageText(ctx, &tg.EditMessageTextParams{ChatID: dest, MessageID: int(receipt.SentMessageID), Text: clip(text), ParseMode: models.ParseModeHTML}))
	})
}

// finish records the outcome of an attempt.
func (s *Sender) finish(ctx context.Context, m store.OutboxMessage, o outcome, retryAfter int, reason string, sentMessageID ...int64) {
	attempt := store.Attempt{MessageID: m.ID, Attempt: m.Attempts + 1, At: s.now()}
	switch o {
	case sent, notModified:
		attempt.Sent = true
		if len(sentMessageID) > 0 {
			attempt.SentMessageID = sentMessageID[0]
		}
	case retryLater:
		attempt.Error, attempt.RetryAt = "429 retry after "+strconv.Itoa(retryAfter)+"s", s.now().Add(time.Duration(max(retryAfter, 1))*time.Second)
	case transient:
		attempt.Error = reason
		if s.now().Sub(m.CreatedAt) >= maxAge {
			attempt.Final = true
		} else {
			attempt.RetryAt = s.now().Add(s.backoff(attempt.Attempt))
		}
	default: // rejected, forbidden, or a migration that failed again
		attempt.Error, attempt.Final = o.String()+": "+reason, true
	}
	if attempt.Error == "" && !attempt.Sent {
		attempt.Error = o.String()
	}
	if attempt.Sent || attempt.Final {
		s.progressMu.Lock()
		delete(s.progress, m.ID)
		s.progressMu.Unlock()
	}
	// recorded even while shutting down: an unrecorded send is sent again
	rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.store.Commit(rec, store.Changes{Attempts: []store.Attempt{attempt}}); err != nil {
		s.log.Error("recording an attempt", "outbox", m.ID, "err", err)
	}
}

// backoff is exponential with ±25 % jitter: 1 s, 2 s, 4 s … up to 10 min.
func (s *Sender) backoff(attempt int) time.Duration {
	d := time.Second << min(attempt-1, 20)
	d = min(d, maxBackoff)
	s.randMu.Lock()
	jitter := 0.75 + s.rand.Float64()/2
	s.randMu.Unlock()
	return time.Duration(float64(d) * jitter)
}

// keyboard builds an inline keyboard, or nil.
func keyboard(rows [][]handlers.Button) models.ReplyMarkup {
	if len(rows) == 0 {
		return nil
	}
	kb := &models.InlineKeyboardMarkup{}
	for _, row := range rows {
		var r []models.InlineKeyboardButton
		for _, b := range row {
			r = append(r, models.InlineKeyboardButton{Text: b.Text, CallbackData: b.Data})
		}
		kb.InlineKeyboard = append(kb.InlineKeyboard, r)
	}
	return kb
}

// captionLimit is Telegram's limit on a document's caption.
const captionLimit = 1024

// clipCaption cuts a caption to Telegram's limit on a line boundary.
func clipCaption(text string) string {
	if len(text) <= captionLimit {
		return text
	}
	return splitText(text, captionLimit)[0]
}

// clip cuts a text to Telegram's limit on a line boundary.
func clip(text string) string {
	if len(text) <= textLimit {
		return text
	}
	return splitText(text, textLimit)[0]
}

// splitText splits a text into pieces of at most limit bytes: between
// blocks (blank lines) where it can, between lines where it must, and
// inside a line only when one line alone is too long. A piece that would
// cut an HTML element in two is sent as plain text instead.
func splitText(text string, limit int) []string {
	if len(text) <= limit {
		return []string{text}
	}
	var pieces []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			pieces = append(pieces, cur.String())
			cur.Reset()
		}
	}
	for _, line := range strings.SplitAfter(text, "\n") {
		if len(line) > limit {
			// a line this long is cut inside, which its tags could not
			// survive: it goes as plain text (its entities kept)
			line = stripTags(line)
		}
		for len(line) > limit {
			flush()
			cut := safeCut(line, limit)
			pieces = append(pieces, line[:cut])
			line = line[cut:]
		}
		if cur.Len()+len(line) > limit {
			flush()
		}
		cur.WriteString(line)
	}
	flush()
	for i, p := range pieces {
		p = strings.TrimRight(p, "\n")
		if !balanced(p) {
			p = stripTags(p)
		}
		pieces[i] = p
	}
	return pieces
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// safeCut returns where to cut s, which is longer than limit: as near
// limit as it can without cutting a UTF-8 character or an HTML entity
// (&amp; &lt; &#39; …) in two, and never at 0.
func safeCut(s string, limit int) int {
	cut := limit
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	from := max(cut-maxEntity, 0)
	if amp := strings.LastIndexByte(s[from:cut], '&'); amp >= 0 && !strings.ContainsRune(s[from+amp:cut], ';') {
		cut = from + amp
	}
	if cut == 0 { // not text (invalid UTF-8): cut anywhere, but move on
		return limit
	}
	return cut
}

// maxEntity is the length of the longest entity html.EscapeString makes
// (&quot;), with a margin.
const maxEntity = 8

// balanced reports whether every tag opened in s is closed in s.
func balanced(s string) bool {
	var open []string
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return len(open) == 0
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return false
		}
		tag := s[i+1 : i+j]
		s = s[i+j+1:]
		name, _, _ := strings.Cut(tag, " ")
		if strings.HasPrefix(name, "/") {
			if len(open) == 0 || open[len(open)-1] != name[1:] {
				return false
			}
			open = open[:len(open)-1]
		} else {
			open = append(open, name)
		}
	}
}

// stripTags turns HTML into its plain text, escapes kept.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
