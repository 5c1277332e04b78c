package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
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
	Lease(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
}

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
	idlePoll   = time.Second
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
	// holding the sender's lease sends, and each send is fenced (see
	// lease.go). The embedded store has one writer by construction and
	// needs none.
	Lease bool
	// Holder names this process in the lease; it must differ between
	// replicas (gridbot serve uses the host, the process id and a random
	// number). Empty: a name made from the Sender's address.
	Holder string
}

// NewSender returns a Sender.
func NewSender(api API, st SenderStore, r Renderer, now func() time.Time, log *slog.Logger, m *Metrics, opts SenderOptions) *Sender {
	if opts.Workers < 1 {
		opts.Workers = 8
	}
	s := &Sender{
		api: api, store: st, render: r, now: now, log: log.With("component", "sender"), metrics: m,
		workers: opts.Workers, pacer: newPacer(), wake: make(chan struct{}, 1),
		rand: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
	if opts.Lease {
		holder := opts.Holder
		if holder == "" {
			holder = fmt.Sprintf("sender-%p", s)
		}
		s.lease = &lease{store: st, holder: holder}
	}
	return s
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
		if !ok { // another replica sends: look again when its lease may have run out
			return now.Add(idlePoll), false, nil
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

// sendChat sends one chat's due messages: answers to presses first, then
// messages in order, then edits, then reactions (under a flood the chat's
// 19 calls a minute go to what matters most). It returns the time it had
// to stop at, or zero when it sent everything. A call held back by a limit
// holds back every later call of its class and of the classes it
// includes (see callClass), and a message held back holds back edits and
// reactions too; answers wait only for the overall limit. An edit or a
// reaction with no message waiting does not wait the second after the
// chat's last message.
func (s *Sender) sendChat(ctx context.Context, chat int64, msgs []store.OutboxMessage) time.Time {
	msgs = append([]store.OutboxMessage(nil), msgs...)
	sortForChat(msgs)
	var held time.Time       // when the first message held back may go
	blocked := callClass(-1) // calls of this class and above wait; -1: none
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
		if isRecord(m.Method) {
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
		if !s.ourTurn(ctx) { // the lease was lost: another replica sends
			return stop(s.now().Add(idlePoll))
		}
		dest, err := s.store.CurrentChat(ctx, chat)
		if err != nil {
			s.log.Error("current chat", "chat", chat, "err", err)
			return stop(s.now().Add(idlePoll))
		}
		class := classOf(a.Kind)
		if blocked >= 0 && class >= blocked {
			i++
			continue
		}
		if t := s.pacer.take(dest, class, s.now()); t.After(s.now()) {
			held = stop(t)
			if class == answerCall {
				return held // the overall limit, or a 429: nothing can go
			}
			blocked = class
			if class == messageCall {
				// a message waiting for its second keeps the group's
				// minute for itself: edits and reactions wait behind it
				blocked = inChatCall
			}
			i++
			continue
		}
		if a.Kind == handlers.Receipt {
			receipts, rest := mergeable(msgs[i:])
			used := s.sendReceipts(ctx, chat, dest, receipts)
			// the receipts dealt with leave the queue; the rest keep their order
			left := append(append([]store.OutboxMessage{}, receipts[used:]...), rest...)
			sortForChat(left)
			msgs = append(msgs[:i], left...)
			continue
		}
		s.sendOne(ctx, chat, dest, m, a)
		i++
	}
	return held
}

// ourTurn reports whether this sender may make a call now: it is the only
// one, or it holds (and if need be renews) the lease.
func (s *Sender) ourTurn(ctx context.Context) bool {
	if s.lease == nil {
		return true
	}
	held, err := s.lease.hold(ctx, s.now())
	if err != nil {
		s.log.Error("sender lease", "err", err)
	}
	return held
}

// inFlight is how long a fenced message is not due for anyone after its
// attempt began: longer than the call may take, so that nobody sends it
// again while the call may still be under way.
func inFlight(kind handlers.ActionKind) time.Duration {
	if kind == handlers.Document {
		return uploadTimeout + leaseTTL
	}
	return callTimeout + leaseTTL
}

// fence makes, with the lease, sure that no other replica makes the same
// attempt at these messages: it claims each one's next attempt and
// records it as in flight, in one durable step, before the call. It
// reports whether the call may go ahead; false means another sender has
// them (or the store failed: they stay due and are tried again).
func (s *Sender) fence(ctx context.Context, kind handlers.ActionKind, ms ...store.OutboxMessage) bool {
	if s.lease == nil {
		return true // the only sender: nobody else can make the attempt
	}
	var c store.Changes
	now := s.now()
	for _, m := range ms {
		c.Claims = append(c.Claims, fenceKey(m, m.Attempts+1))
		c.Attempts = append(c.Attempts, store.Attempt{MessageID: m.ID, Attempt: m.Attempts + 1, Error: "in flight", RetryAt: now.Add(inFlight(kind)), At: now})
	}
	res, err := s.store.Commit(ctx, c)
	if err != nil {
		s.log.Error("fencing a send", "err", err)
		return false
	}
	return res.Claimed
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
func (s *Sender) call(ctx context.Context, chat, dest int64, kind handlers.ActionKind, do func(ctx context.Context, dest int64) callResult) callResult {
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
		to := r.newChat
		s.log.Info("chat migrated", "from", dest, "to", to)
		// the call to the new id counts like any other
		if err := s.waitTurn(ctx, to, classOf(kind)); err != nil {
			return callResult{o: transient, err: err}
		}
		r = attempt(to)
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

// waitTurn waits until the pacer allows a call to chat and reserves it.
func (s *Sender) waitTurn(ctx context.Context, chat int64, class callClass) error {
	for {
		t := s.pacer.take(chat, class, s.now())
		if !t.After(s.now()) {
			return nil
		}
		timer := time.NewTimer(t.Sub(s.now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
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
	if !s.fence(ctx, a.Kind, m) {
		return
	}
	var r callResult
	switch a.Kind {
	case handlers.Send:
		r = s.sendText(ctx, chat, dest, m, a)
	case handlers.RefreshReceipt:
		r = s.refresh(ctx, chat, dest, a)
	case handlers.Edit:
		r = s.edit(ctx, chat, dest, a)
	case handlers.React:
		reaction := []models.ReactionType{}
		if a.Emoji != "" {
			reaction = append(reaction, models.ReactionType{Type: models.ReactionTypeTypeEmoji, ReactionTypeEmoji: &models.ReactionTypeEmoji{Type: models.ReactionTypeTypeEmoji, Emoji: a.Emoji}})
		}
		r = s.call(ctx, chat, dest, a.Kind, func(ctx context.Context, dest int64) callResult {
			return boolResult(s.api.SetMessageReaction(ctx, &tg.SetMessageReactionParams{ChatID: dest, MessageID: int(a.MessageID), Reaction: reaction}))
		})
	case handlers.Answer:
		r = s.call(ctx, chat, dest, a.Kind, func(ctx context.Context, _ int64) callResult {
			return boolResult(s.api.AnswerCallbackQuery(ctx, &tg.AnswerCallbackQueryParams{CallbackQueryID: a.CallbackID, Text: a.Text}))
		})
	case handlers.Document:
		if a.File == nil {
			r = callResult{o: rejected}
			break
		}
		caption, whole := clip(a.Text, captionLimit)
		if !whole {
			s.log.Warn("a document's caption is too long: its end is cut", "chat", chat)
		}
		r = s.call(ctx, chat, dest, a.Kind, func(ctx context.Context, dest int64) callResult {
			return result(s.api.SendDocument(ctx, &tg.SendDocumentParams{ChatID: dest, Caption: caption, ParseMode: models.ParseModeHTML,
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

// sendText sends a text, in several messages when it is too long (see
// splitText). Each part sent of a long text is recorded durably (a part
// record: its message id), so a pause for the pace or a restart goes on
// after the last part sent, and only a part whose call was under way can
// go twice. When the last part is sent, a parts record lists every part's
// message id under the last one's, which carries the buttons, so that an
// edit of it (a press) can rewrite every part (see edit).
func (s *Sender) sendText(ctx context.Context, chat, dest int64, m store.OutboxMessage, a handlers.Action) callResult {
	chunks := splitText(a.Text, textLimit)
	var ids []int64 // of the parts sent before
	if len(chunks) > 1 {
		for k := range chunks {
			rec, ok, err := s.store.Outbox(ctx, partKey(m.ID, k))
			if err != nil {
				return callResult{o: transient, err: err}
			}
			var id int64
			if !ok || json.Unmarshal(rec.Payload, &id) != nil {
				break
			}
			ids = append(ids, id)
		}
	}
	r := callResult{o: sent}
	done := len(ids)
	for k := done; k < len(chunks); k++ {
		if k > done { // the first call's turn was taken before
			if t := s.pacer.take(dest, messageCall, s.now()); t.After(s.now()) {
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
		r = s.call(ctx, chat, dest, a.Kind, func(ctx context.Context, dest int64) callResult {
			params.ChatID = dest
			return result(s.api.SendMessage(ctx, params))
		})
		if r.o != sent {
			return r
		}
		if len(chunks) == 1 {
			break
		}
		ids = append(ids, r.messageID)
		rec := []store.OutboxMessage{s.record(partKey(m.ID, k), chat, partRecord, r.messageID)}
		if k == len(chunks)-1 {
			rec = append(rec, s.record(partsKey(a.Chat, r.messageID), chat, partsRecord, ids))
		}
		if _, err := s.store.Commit(ctx, store.Changes{Outbox: rec}); err != nil {
			s.log.Error("recording a part sent", "chat", chat, "err", err)
		}
	}
	return r
}

// Records the sender keeps in the outbox: they are never sent, and are
// marked done when they come due.
const (
	partRecord  = "part"  // a part of a long text was sent: its message id
	partsRecord = "parts" // every part's message id, under the last one's
)

// isRecord reports whether an outbox method is one of the sender's
// records rather than something to send.
func isRecord(method string) bool {
	return method == composition || method == partRecord || method == partsRecord
}

func partKey(outboxID int64, k int) string {
	return "part:" + strconv.FormatInt(outboxID, 10) + ":" + strconv.Itoa(k)
}

func partsKey(chat, lastMessageID int64) string {
	return "parts:" + strconv.FormatInt(chat, 10) + ":" + strconv.FormatInt(lastMessageID, 10)
}

// record makes a sender's record: v as its JSON payload.
func (s *Sender) record(key string, chat int64, method string, v any) store.OutboxMessage {
	payload, _ := json.Marshal(v)
	return store.OutboxMessage{Key: key, Chat: chat, Method: method, Payload: payload, NotBefore: s.now(), CreatedAt: s.now()}
}

// edit rewrites the bot's message a.MessageID with a.Text and a.Buttons.
// When that message is the last part of a long text (a parts record says
// so), the new text is split as a send splits it and every part is
// rewritten in place, the last message (which carries the buttons, and
// was pressed) first: parts the new text no longer needs say it moved on,
// and a new text with more parts than there are messages is cut, saying
// so, in the last. An edit that fits nowhere is cut visibly, never
// silently. A part already rewritten answers "not modified" when the
// edit is tried again, which counts as done.
func (s *Sender) edit(ctx context.Context, chat, dest int64, a handlers.Action) callResult {
	ids := []int64{a.MessageID}
	if rec, ok, err := s.store.Outbox(ctx, partsKey(a.Chat, a.MessageID)); err != nil {
		return callResult{o: transient, err: err}
	} else if ok {
		var all []int64
		if json.Unmarshal(rec.Payload, &all) == nil && len(all) > 0 && all[len(all)-1] == a.MessageID {
			ids = all
		}
	}
	n := len(ids)
	parts := splitText(a.Text, textLimit)
	texts := make([]string, n)
	if len(parts) <= n {
		copy(texts, parts[:len(parts)-1])
		for k := len(parts) - 1; k < n-1; k++ {
			texts[k] = movedOn(a.Text)
		}
		texts[n-1] = parts[len(parts)-1]
	} else {
		copy(texts, parts[:n-1])
		texts[n-1], _ = clip(strings.Join(parts[n-1:], "\n"), textLimit)
		s.log.Warn("an edit is longer than the messages it rewrites: its end is cut", "chat", chat, "parts", len(parts), "messages", n)
	}
	order := append([]int{n - 1}, make([]int, n-1)...)
	for k := range n - 1 {
		order[k+1] = k
	}
	r := callResult{o: sent}
	for i, k := range order {
		if i > 0 { // the first call's turn was taken before
			if t := s.pacer.take(dest, inChatCall, s.now()); t.After(s.now()) {
				return callResult{o: retryLater, retryAfter: int(t.Sub(s.now()).Seconds()) + 1}
			}
		}
		params := &tg.EditMessageTextParams{MessageID: int(ids[k]), Text: texts[k], ParseMode: models.ParseModeHTML}
		if k == n-1 {
			params.ReplyMarkup = keyboard(a.Buttons)
		}
		r = s.call(ctx, chat, dest, a.Kind, func(ctx context.Context, dest int64) callResult {
			params.ChatID = dest
			return result(s.api.EditMessageText(ctx, params))
		})
		if r.o != sent && r.o != notModified {
			return r
		}
	}
	return r
}

// movedOn is what a part of a long message says when an edit no longer
// needs it.
func movedOn(text string) string {
	if hasChinese(text) {
		return "（已更新，见下面的消息）"
	}
	return "(updated: see the message below)"
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
