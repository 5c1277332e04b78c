package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"gridbot/bot"
	"gridbot/bot/telegramtest"
	"gridbot/schedules"
	"gridbot/store"
)

// replayUsage documents the command.
const replayUsage = `usage: gridbot replay [--db DIR] [--operators IDS] [--tz ZONE] FILE|-

Runs the bot against a fake Telegram in virtual time, fed by the JSON lines
in FILE (- for stdin), and prints every call it makes to a chat as a JSON
line. The same input gives the same output, byte for byte.

`

// sweepEvery is the period of the scheduler's sweep (schedules' */5 cron).
const sweepEvery = 5 * time.Minute

// replaySeed seeds the sender's backoff jitter: replays are reproducible.
const replaySeed = 20200207

// runReplay implements `gridbot replay`. It runs the real bot — the
// service of service.go: adapter, handlers, outbox sender, scheduler —
// against the in-process fake Telegram, in virtual time, fed by JSON
// lines, and prints one JSON line
// per call the bot makes to Telegram that acts on a chat (sendMessage,
// editMessageText, setMessageReaction, answerCallbackQuery, sendDocument,
// sendPhoto), at its virtual time in --tz:
//
//	{"at": "2020-02-07T09:12:03+08:00", "method": "sendMessage", "chat_id": -100101,
//	 "reply_to": 11, "text": "…", "buttons": [{"text": "…", "data": "…"}]}
//
// Reactions carry "message_id" and "emoji" ("" removes it), edits
// "message_id", answers the press's "chat_id" and "user_id".
//
// Input, one object a line (blank lines and lines starting with # are
// skipped); "at" is RFC 3339, or local time in --tz without an offset
// ("2020-02-07 09:00"), and never goes back:
//
//	{"at": T, "chat": {"id": -100101, "title": "…", "type": "supergroup", "admins": [1001]},
//	 "from": {"id": 1001, "name": "王书记"}, "text": "…",
//	 "message_id": 7, "edit": true, "reply_to": 5}      a message, or an edit of message_id
//	{"at": T, "press": {"chat": {…}, "from": {…}, "data": "daily"}}
//	                                                    a press on the button with that callback
//	                                                    data (or kind: the part before ':') on the
//	                                                    bot's latest message carrying it
//	{"at": T, "migrate": {"from": -4001, "to": -1004001}}  a group became a supergroup
//	{"at": T, "down": true}                             the process stops; messages still arrive
//	{"at": T, "restart": true}                          the process starts again (down since the
//	                                                    previous event unless "down" said when)
//	{"at": T}                                           time passes to T
//
// message_id is optional: without it the fake numbers the message. Give
// one to a message that is edited or replied to later; the bot's own
// messages are numbered from 1000 in each chat, so keep given ids below
// that. "admins" sets the chat's administrators (the first is its owner).
//
// Time steps as a discrete-event simulation, never with timers: the next
// instant is the earliest of the next input event, the next time a planned
// job fires (schedules.Scheduler.Plan), the next five-minute sweep, and the
// time the outbox next has something to send. At each instant the input
// is delivered to the fake and processed (bot.Poller.PollOnce), the jobs
// due fire in plan order (Scheduler.Fire), a sweep runs on the five-minute
// tick as in production (Scheduler.Sweep: catch-up after a restart, jobs
// of chats bound after their time), and the outbox is drained
// (Sender.SendDue) while it has something due then. Pacing, the receipt
// delay and retries therefore show in the transcript's times exactly as
// they would happen. After the last event only the outbox is drained:
// end a file with {"at": …} to let the jobs up to then run.
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, replayUsage)
		fs.PrintDefaults()
	}
	// The flags replay understands are the shared ones of config.go, read
	// from the same flags and environment as every subcommand.
	var cfg config
	shared := flag.NewFlagSet("shared", flag.ContinueOnError)
	cfg.register(shared, getenv)
	// A replay invents chats and people: it must never write into the
	// bot's real store by accident, so GRIDBOT_DB is not read. A --db given
	// on the command line is used and kept; without one a fresh directory
	// is used and removed at exit.
	cfg.DB = ""
	fs.StringVar(&cfg.DB, "db", "", "store: a directory for the embedded store (kept), or a postgres:// URL; default: a temporary directory, removed at exit")
	for _, name := range []string{"operators", "tz", "receipt-delay"} {
		f := shared.Lookup(name)
		fs.Var(f.Value, name, f.Usage)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("replay: give one input file, or - for stdin")
	}
	dbGiven := cfg.DB != ""
	cfg.Token, cfg.APIURL, cfg.WebhookURL, cfg.WebhookSecret = "0:replay", "http://telegram.invalid", "", ""
	if err := cfg.finish(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if !dbGiven {
		dir, err := os.MkdirTemp("", "gridbot-replay-")
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.DB = dir
	}

	in := stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		in = f
	}
	level := slog.LevelWarn
	if v := getenv("GRIDBOT_LOG_LEVEL"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return replay(ctx, cfg, in, stdout, log)
}

// replay runs the events read from in and writes the transcript to out.
func replay(ctx context.Context, cfg config, in io.Reader, out io.Writer, log *slog.Logger) error {
	events := newEventReader(in, cfg.Location)
	r := &replayer{
		cfg: cfg, log: log, events: events,
		users: map[int64]telegramtest.User{}, said: map[chatMessage]sentByUser{}, presses: map[string]pressed{},
	}
	r.w = bufio.NewWriter(out)
	r.enc = json.NewEncoder(r.w)
	r.enc.SetEscapeHTML(false)
	r.fake = telegramtest.New(telegramtest.WithClock(r.clock.Now), telegramtest.WithReporter(&r.unexpected))
	defer r.fake.Close()
	err := r.run(ctx)
	if ferr := r.w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("replay: %w", ferr)
	}
	if err == nil {
		err = r.unexpected.err()
	}
	return err
}

// virtualClock is the replay's time: it moves only when set.
type virtualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *virtualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fakeComplaints collects what the fake Telegram did not understand.
type fakeComplaints struct {
	mu   sync.Mutex
	msgs []string
}

func (f *fakeComplaints) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func (f *fakeComplaints) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.msgs) == 0 {
		return nil
	}
	return fmt.Errorf("replay: the fake Telegram was asked something it does not understand:\n%s", strings.Join(f.msgs, "\n"))
}

// replayer drives one replay.
type replayer struct {
	cfg    config
	log    *slog.Logger
	events *eventReader
	clock  virtualClock
	fake   *telegramtest.Server
	w      *bufio.Writer
	enc    *json.Encoder

	unexpected fakeComplaints

	// the running process; nil while it is down
	st     *store.Store
	svc    *service
	poller *bot.Poller
	offset int64

	plan      []schedules.Planned
	fires     []time.Time // the next time each planned job fires
	planStale bool

	users   map[int64]telegramtest.User
	said    map[chatMessage]sentByUser // the users' messages, for replies
	presses map[string]pressed         // by callback query id

	sendNext time.Time // when the sender last asked to be called again
}

// pressed is who pressed a button, where.
type pressed struct {
	chat, user int64
}

type chatMessage struct {
	chat int64
	id   int
}

type sentByUser struct {
	from telegramtest.User
	date int64
	text string
}

// run steps through the events.
func (r *replayer) run(ctx context.Context) error {
	first, err := r.events.peek()
	if err != nil {
		return err
	}
	if first == nil {
		return nil // no events: nothing happens
	}
	now := first.at
	r.clock.set(now)
	if err := r.start(ctx); err != nil {
		return err
	}
	defer r.stop()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replay: stopped at %s: %w", r.stamp(now), err)
		}
		// the input of this instant
		for {
			e, err := r.events.peek()
			if err != nil {
				return err
			}
			if e == nil || e.at.After(now) {
				break
			}
			r.events.next()
			if err := r.apply(ctx, e); err != nil {
				return fmt.Errorf("replay: line %d: %w", e.line, err)
			}
		}
		if r.svc != nil {
			if err := r.step(ctx, now); err != nil {
				return err
			}
		}

		// the next instant
		e, err := r.events.peek()
		if err != nil {
			return err
		}
		var next time.Time
		if e != nil {
			next = e.at
		}
		if r.svc != nil && (e == nil || !e.Restart) { // before a restart the process is down
			outbox, err := r.outboxNext(ctx, now)
			if err != nil {
				return err
			}
			next = earliest(next, outbox)
			if e != nil { // after the last event only the outbox is drained
				next = earliest(next, r.nextFire())
				next = earliest(next, now.Truncate(sweepEvery).Add(sweepEvery))
			}
		}
		if next.IsZero() {
			return nil
		}
		now = next
		r.clock.set(now)
	}
}

// earliest returns the earlier of two times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// start opens the store and starts the service at the clock's time, as
// `gridbot serve` does: updates Telegram kept are processed, then the
// scheduler catches up on the jobs missed earlier today.
func (r *replayer) start(ctx context.Context) error {
	// A simulation need not survive a crash (run it again): its store is
	// written without fsync, and synced once when it is closed.
	st, err := store.Open(ctx, r.cfg.DB, store.Options{Logger: r.log, NoSync: true})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	svc, err := newService(r.cfg, st, r.fake.Client(), r.fake.Me().Username, r.log,
		serviceOptions{now: r.clock.Now, workers: 1, seed: replaySeed})
	if err != nil {
		st.Close()
		return fmt.Errorf("replay: %w", err)
	}
	r.st, r.svc, r.offset = st, svc, 0
	r.poller = bot.NewPoller(r.cfg.APIURL, r.cfg.Token, r.fake.Client(), pollTimeout, svc.dispatch.Batch, r.log, svc.metrics)
	if err := r.poll(ctx); err != nil {
		return err
	}
	r.planStale = true
	if err := svc.sched.Sweep(ctx, r.clock.Now()); err != nil {
		return fmt.Errorf("replay: catching up: %w", err)
	}
	return nil
}

// stop stops the service and closes the store: the process is down.
func (r *replayer) stop() {
	if r.svc == nil {
		return
	}
	r.svc.sched.Stop()
	if err := r.st.Close(); err != nil {
		r.log.Error("closing the store", "err", err)
	}
	r.st, r.svc, r.poller = nil, nil, nil
}

// step does what the running bot does at instant now, after the input
// was delivered: process it, fire the jobs due, sweep on the tick, send.
func (r *replayer) step(ctx context.Context, now time.Time) error {
	if err := r.poll(ctx); err != nil {
		return err
	}
	if err := r.replan(ctx, now); err != nil {
		return err
	}
	for i, p := range r.plan {
		if r.fires[i].After(now) {
			continue
		}
		if err := r.svc.sched.Fire(ctx, p.Chat, p.Job, now); err != nil {
			return fmt.Errorf("replay: %s for %d at %s: %w", p.Job, p.Chat, r.stamp(now), err)
		}
		r.fires[i] = p.Schedule.Next(now)
	}
	if now.Equal(now.Truncate(sweepEvery)) {
		// production reconciles its cron entries with every sweep
		r.planStale = true
		if err := r.svc.sched.Sweep(ctx, now); err != nil {
			return fmt.Errorf("replay: sweep at %s: %w", r.stamp(now), err)
		}
	}
	return r.drain(ctx, now)
}

// poll processes what Telegram holds for the bot.
func (r *replayer) poll(ctx context.Context) error {
	for {
		next, n, err := r.poller.PollOnce(ctx, r.offset)
		r.offset = next
		if err != nil {
			return fmt.Errorf("replay: processing updates at %s: %w", r.stamp(r.clock.Now()), err)
		}
		if n == 0 {
			return nil
		}
	}
}

// replan recomputes the plan when something may have changed it:
// production reschedules after /set and with every sweep.
func (r *replayer) replan(ctx context.Context, now time.Time) error {
	if !r.planStale {
		return nil
	}
	plan, err := r.svc.sched.Plan(ctx)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	fires := make([]time.Time, len(plan))
	for i, p := range plan {
		fires[i] = p.Schedule.Next(now)
		// a job planned before keeps its next time: one due now still fires
		for j, old := range r.plan {
			if old.Chat == p.Chat && old.Job == p.Job && old.Spec == p.Spec {
				fires[i] = r.fires[j]
				break
			}
		}
	}
	r.plan, r.fires, r.planStale = plan, fires, false
	return nil
}

// nextFire returns when the next planned job fires, or zero.
func (r *replayer) nextFire() time.Time {
	var t time.Time
	for _, f := range r.fires {
		t = earliest(t, f)
	}
	return t
}

// drain sends what the outbox has due now, as often as the sender asks to
// be called again at once.
func (r *replayer) drain(ctx context.Context, now time.Time) error {
	for {
		next, err := r.svc.sender.SendDue(ctx)
		if err != nil {
			return fmt.Errorf("replay: sending at %s: %w", r.stamp(now), err)
		}
		made, err := r.flush()
		if err != nil {
			return err
		}
		r.sendNext = next
		if next.After(now) || made == 0 {
			return nil
		}
	}
}

// farFuture is after anything the outbox holds.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// outboxNext returns when the sender should be called again, or zero when
// the outbox is empty. The earliest pending message says when the next
// one falls due (store.Due lists them by due time); one due already was
// held back by the pacer, and the sender is called again when it asked
// to be, at most a second later, as its Run loop would.
func (r *replayer) outboxNext(ctx context.Context, now time.Time) (time.Time, error) {
	pending, err := r.st.Due(ctx, farFuture, 1)
	if err != nil {
		return time.Time{}, fmt.Errorf("replay: outbox: %w", err)
	}
	if len(pending) == 0 {
		return time.Time{}, nil
	}
	due := pending[0].NotBefore
	if !pending[0].RetryAt.IsZero() {
		due = pending[0].RetryAt
	}
	if due.After(now) {
		return due, nil
	}
	if r.sendNext.After(now) {
		return earliest(r.sendNext, now.Add(time.Second)), nil
	}
	return now.Add(time.Second), nil
}

// stamp renders a time for the transcript.
func (r *replayer) stamp(t time.Time) string { return t.In(r.cfg.Location).Format(time.RFC3339) }

// apply delivers one input event.
func (r *replayer) apply(ctx context.Context, e *replayEvent) error {
	switch {
	case e.Restart:
		r.stop()
		r.planStale = true
		r.plan, r.fires = nil, nil
		return r.start(ctx)
	case e.Down:
		if r.svc == nil {
			return errors.New("down: the process is down already")
		}
		r.stop()
		return nil
	case e.Migrate != nil:
		if e.Migrate.From == 0 || e.Migrate.To == 0 || e.Migrate.From == e.Migrate.To {
			return errors.New(`migrate: give the group's "from" and the supergroup's "to" chat ids`)
		}
		r.fake.Migrate(e.Migrate.From, e.Migrate.To)
		r.planStale = true
		return nil
	case e.Press != nil:
		return r.press(e.Press)
	case e.Text != nil:
		return r.message(e)
	}
	return nil // time passes
}

// message delivers a message or an edit.
func (r *replayer) message(e *replayEvent) error {
	chat, from := r.chat(*e.Chat), r.user(*e.From)
	text := *e.Text
	if strings.HasPrefix(strings.TrimSpace(text), "/") {
		r.planStale = true // a command may bind, unbind or /set
	}
	switch {
	case e.Edit:
		if e.MessageID == 0 {
			return errors.New(`an edit needs the "message_id" of the message it edits`)
		}
		if orig, ok := r.said[chatMessage{chat.ID, e.MessageID}]; !ok || orig.from.ID != from.ID {
			return fmt.Errorf("edit: user %d sent no message %d in chat %d", from.ID, e.MessageID, chat.ID)
		}
		r.fake.EditMessage(chat, from, e.MessageID, text)
		r.said[chatMessage{chat.ID, e.MessageID}] = sentByUser{from: from, date: r.clock.Now().Unix(), text: text}
		return nil
	case e.MessageID == 0 && e.ReplyTo == 0:
		id := r.fake.SendMessage(chat, from, text)
		r.said[chatMessage{chat.ID, id}] = sentByUser{from: from, date: r.clock.Now().Unix(), text: text}
		return nil
	}
	id := e.MessageID
	if id == 0 {
		if _, err := r.quote(chat, e.ReplyTo); err != nil {
			return err
		}
		id = r.fake.ReplyMessage(chat, from, e.ReplyTo, text)
		r.said[chatMessage{chat.ID, id}] = sentByUser{from: from, date: r.clock.Now().Unix(), text: text}
		return nil
	}
	if _, taken := r.said[chatMessage{chat.ID, id}]; taken || r.botMessage(chat.ID, id) != nil {
		return fmt.Errorf("message_id %d is taken in chat %d (use \"edit\": true to edit it)", id, chat.ID)
	}
	msg := map[string]any{"message_id": id, "from": from, "date": r.clock.Now().Unix(), "chat": chat, "text": text}
	if e.ReplyTo != 0 {
		quoted, err := r.quote(chat, e.ReplyTo)
		if err != nil {
			return err
		}
		msg["reply_to_message"] = quoted
	}
	r.fake.AddUpdate(map[string]any{"message": msg})
	r.said[chatMessage{chat.ID, id}] = sentByUser{from: from, date: r.clock.Now().Unix(), text: text}
	return nil
}

// quote returns the message a reply answers, as Telegram quotes it.
func (r *replayer) quote(chat telegramtest.Chat, id int) (map[string]any, error) {
	if m, ok := r.said[chatMessage{chat.ID, id}]; ok {
		return map[string]any{"message_id": id, "from": m.from, "date": m.date, "chat": chat, "text": m.text}, nil
	}
	if m := r.botMessage(chat.ID, id); m != nil {
		return map[string]any{"message_id": id, "from": r.fake.Me(), "date": m.Date.Unix(), "chat": chat, "text": m.Text}, nil
	}
	return nil, fmt.Errorf("reply_to %d: chat %d has no such message", id, chat.ID)
}

// botMessage returns the bot's message id in chat, or nil.
func (r *replayer) botMessage(chat int64, id int) *telegramtest.SentMessage {
	for _, m := range r.fake.Sent(chat) {
		if m.ID == id {
			return &m
		}
	}
	return nil
}

// press presses a button of the bot's latest message carrying it.
func (r *replayer) press(p *replayPress) error {
	if p.Chat.ID == 0 || p.From.ID == 0 || p.Data == "" {
		return errors.New(`a press needs "chat", "from" and "data"`)
	}
	chat, from := r.chat(p.Chat), r.user(p.From)
	sent := r.fake.Sent(chat.ID)
	var target *telegramtest.SentMessage
	data := ""
	for _, exact := range []bool{true, false} {
		for i := len(sent) - 1; i >= 0 && target == nil; i-- {
			if p.MessageID != 0 && sent[i].ID != p.MessageID {
				continue
			}
			for _, b := range sent[i].Buttons() {
				if b.CallbackData == p.Data || !exact && strings.HasPrefix(b.CallbackData, p.Data+":") {
					target, data = &sent[i], b.CallbackData
					break
				}
			}
		}
	}
	if target == nil {
		return fmt.Errorf("press: no message of the bot in chat %d has a button %q", chat.ID, p.Data)
	}
	id := r.fake.PressButton(chat, from, target.ID, data)
	r.presses[id] = pressed{chat: chat.ID, user: from.ID}
	return nil
}

// chat makes a chat of the input known to the fake.
func (r *replayer) chat(c replayChat) telegramtest.Chat {
	chat := telegramtest.Chat{ID: c.ID, Type: c.Type, Title: c.Title}
	r.fake.AddChat(chat)
	if c.Admins != nil {
		admins := make([]telegramtest.User, len(c.Admins))
		for i, id := range c.Admins {
			admins[i] = r.users[id]
			admins[i].ID = id
		}
		r.fake.SetAdmins(c.ID, admins...)
	}
	return chat
}

// user makes a user of the input known.
func (r *replayer) user(u replayUser) telegramtest.User {
	user := telegramtest.User{ID: u.ID, FirstName: u.Name, Username: u.Username}
	r.users[u.ID] = user
	return user
}

// actingMethods are the calls the transcript shows: those that act on a chat.
var actingMethods = map[string]bool{
	"sendMessage": true, "editMessageText": true, "setMessageReaction": true,
	"answerCallbackQuery": true, "sendDocument": true, "sendPhoto": true,
}

// transcriptLine is one call of the bot, as the transcript shows it.
type transcriptLine struct {
	At        string             `json:"at"`
	Method    string             `json:"method"`
	ChatID    int64              `json:"chat_id,omitempty"`
	UserID    int64              `json:"user_id,omitempty"` // who pressed, for answers
	MessageID int                `json:"message_id,omitempty"`
	ReplyTo   int                `json:"reply_to,omitempty"`
	Emoji     *string            `json:"emoji,omitempty"` // "" removes the reaction
	File      string             `json:"file,omitempty"`
	Bytes     int                `json:"bytes,omitempty"`
	Text      string             `json:"text,omitempty"`
	Buttons   []transcriptButton `json:"buttons,omitempty"`
}

type transcriptButton struct {
	Text string `json:"text"`
	Data string `json:"data,omitempty"`
}

// flush writes the calls the bot made since the last flush and returns
// how many it made of any kind.
func (r *replayer) flush() (int, error) {
	calls := r.fake.Calls()
	r.fake.Reset()
	for _, c := range calls {
		if !actingMethods[c.Method] {
			continue
		}
		l := transcriptLine{At: r.stamp(c.At), Method: c.Method, ChatID: c.Int64("chat_id"), MessageID: c.Int("message_id"), Text: c.Params["text"]}
		switch c.Method {
		case "sendMessage":
			var rp struct {
				MessageID int `json:"message_id"`
			}
			if raw := c.Params["reply_parameters"]; raw != "" && json.Unmarshal([]byte(raw), &rp) == nil {
				l.ReplyTo = rp.MessageID
			}
		case "setMessageReaction":
			var rs []struct {
				Emoji string `json:"emoji"`
			}
			emoji := ""
			if raw := c.Params["reaction"]; raw != "" && json.Unmarshal([]byte(raw), &rs) == nil && len(rs) > 0 {
				emoji = rs[0].Emoji
			}
			l.Emoji = &emoji
		case "answerCallbackQuery":
			p := r.presses[c.Params["callback_query_id"]]
			l.ChatID, l.UserID = p.chat, p.user
		case "sendDocument", "sendPhoto":
			l.Text = c.Params["caption"]
			for _, f := range c.Files {
				l.File, l.Bytes = f.Filename, len(f.Data)
			}
		}
		if raw := c.Params["reply_markup"]; raw != "" {
			var kb struct {
				InlineKeyboard [][]struct {
					Text         string `json:"text"`
					CallbackData string `json:"callback_data"`
				} `json:"inline_keyboard"`
			}
			if json.Unmarshal([]byte(raw), &kb) == nil {
				for _, b := range slices.Concat(kb.InlineKeyboard...) {
					l.Buttons = append(l.Buttons, transcriptButton{Text: b.Text, Data: b.CallbackData})
				}
			}
		}
		if err := r.enc.Encode(l); err != nil {
			return 0, fmt.Errorf("replay: %w", err)
		}
	}
	return len(calls), nil
}

// replayEvent is one line of the input.
type replayEvent struct {
	At        string         `json:"at"`
	Chat      *replayChat    `json:"chat"`
	From      *replayUser    `json:"from"`
	Text      *string        `json:"text"`
	MessageID int            `json:"message_id"`
	Edit      bool           `json:"edit"`
	ReplyTo   int            `json:"reply_to"`
	Press     *replayPress   `json:"press"`
	Migrate   *replayMigrate `json:"migrate"`
	Down      bool           `json:"down"`
	Restart   bool           `json:"restart"`

	at   time.Time
	line int
}

type replayChat struct {
	ID     int64   `json:"id"`
	Title  string  `json:"title"`
	Type   string  `json:"type"`
	Admins []int64 `json:"admins"`
}

type replayUser struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Username string `json:"username"`
}

type replayPress struct {
	Chat      replayChat `json:"chat"`
	From      replayUser `json:"from"`
	Data      string     `json:"data"`
	MessageID int        `json:"message_id"`
}

type replayMigrate struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// check validates an event: exactly one thing happens.
func (e *replayEvent) check() error {
	kinds := 0
	for _, b := range []bool{e.Text != nil, e.Press != nil, e.Migrate != nil, e.Down, e.Restart} {
		if b {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return errors.New("one event a line: a message, a press, a migration, down or restart")
	case e.Text != nil && (e.Chat == nil || e.Chat.ID == 0 || e.From == nil || e.From.ID == 0):
		return errors.New(`a message needs "chat" (with "id") and "from" (with "id")`)
	case e.Text == nil && (e.Chat != nil || e.From != nil || e.Edit || e.MessageID != 0 || e.ReplyTo != 0):
		return errors.New(`"chat", "from", "message_id", "edit" and "reply_to" belong to a message, which needs "text"`)
	}
	return nil
}

// eventReader reads the input one event ahead.
type eventReader struct {
	sc     *bufio.Scanner
	loc    *time.Location
	line   int
	last   time.Time
	peeked *replayEvent
	err    error
}

func newEventReader(in io.Reader, loc *time.Location) *eventReader {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), store.MaxText*4)
	return &eventReader{sc: sc, loc: loc}
}

// peek returns the next event without taking it, nil at the end.
func (r *eventReader) peek() (*replayEvent, error) {
	if r.peeked != nil || r.err != nil {
		return r.peeked, r.err
	}
	for r.sc.Scan() {
		r.line++
		raw := bytes.TrimSpace(r.sc.Bytes())
		if len(raw) == 0 || raw[0] == '#' {
			continue
		}
		e, err := r.decode(raw)
		if err != nil {
			r.err = fmt.Errorf("replay: line %d: %w", r.line, err)
			return nil, r.err
		}
		r.peeked = e
		return e, nil
	}
	if err := r.sc.Err(); err != nil {
		r.err = fmt.Errorf("replay: reading line %d: %w", r.line+1, err)
	}
	return nil, r.err
}

// next takes the peeked event.
func (r *eventReader) next() { r.peeked = nil }

func (r *eventReader) decode(raw []byte) (*replayEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	e := &replayEvent{line: r.line}
	if err := dec.Decode(e); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("one JSON object a line")
	}
	if e.At == "" {
		return nil, errors.New(`every event needs "at"`)
	}
	at, err := parseAt(e.At, r.loc)
	if err != nil {
		return nil, err
	}
	if at.Before(r.last) {
		return nil, fmt.Errorf("at %s goes back in time (the line before is at %s)", e.At, r.last.In(r.loc).Format(time.RFC3339))
	}
	r.last, e.at = at, at
	if err := e.check(); err != nil {
		return nil, err
	}
	return e, nil
}

// parseAt reads RFC 3339, or a local time in loc without an offset.
func parseAt(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("at %q: want RFC 3339 (2020-02-07T09:00:00+08:00) or local time (2020-02-07 09:00)", s)
}
