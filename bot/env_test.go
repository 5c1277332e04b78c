package bot

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	tg "github.com/go-telegram/bot"

	"gridbot/bot/telegramtest"
	"gridbot/handlers"
	"gridbot/store"
)

// The cast of the bot package's tests.
var (
	village  = telegramtest.Chat{ID: -1001000000101, Type: "supergroup", Title: "郝家店村群"}
	village2 = telegramtest.Chat{ID: -1001000000102, Type: "supergroup", Title: "相台村群"}
	wang     = telegramtest.User{ID: 1001, FirstName: "王", LastName: "书记"}
	li       = telegramtest.User{ID: 1002, FirstName: "李", LastName: "网格"}
)

const operatorID = 7

// clientTimeout is what the HTTP client of the tests allows a call, as
// gridbot serve's does (its long poll plus a margin).
const clientTimeout = 65 * time.Second

// newAPI returns a go-telegram/bot client talking to the fake in memory,
// with a client timeout like gridbot serve's.
func newAPI(t testing.TB, s *telegramtest.Server) *tg.Bot {
	t.Helper()
	client := &http.Client{Transport: s.Client().Transport, Timeout: clientTimeout}
	api, err := tg.New("123:TEST", tg.WithHTTPClient(time.Minute, client), tg.WithSkipGetMe(),
		tg.WithServerURL("http://telegram.invalid"), tg.WithErrorsHandler(func(error) {}))
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// openStore opens an embedded store in a temp dir, closed at cleanup.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// metric reads a counter, gauge or (as its sample count) histogram from
// the bot's registry; labels must all match. Absent means 0.
func metric(t testing.TB, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mm := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range mm.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case mm.Counter != nil:
				total += mm.GetCounter().GetValue()
			case mm.Gauge != nil:
				total += mm.GetGauge().GetValue()
			case mm.Histogram != nil:
				total += float64(mm.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}

// env is the bot's pipeline on an embedded store against the fake
// Telegram, reached in memory: the real handlers, the processor, the
// dispatcher and the sender. Made inside a synctest bubble, it runs in
// virtual time.
type env struct {
	t       *testing.T
	tg      *telegramtest.Server
	api     *tg.Bot
	st      *store.Store
	h       *handlers.Handler
	metrics *Metrics
	sender  *Sender
	proc    *Processor
	disp    *Dispatcher
	poller  *Poller
	offset  int64
	cancel  context.CancelFunc
	done    chan struct{}
}

type envOptions struct {
	workers      int
	receiptDelay time.Duration
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	if opts.workers == 0 {
		opts.workers = 8
	}
	e := &env{t: t, tg: telegramtest.New(telegramtest.WithReporter(t)), st: openStore(t), metrics: NewMetrics()}
	e.api = newAPI(t, e.tg)
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	e.h = handlers.New(handlers.Config{Operators: map[int64]bool{operatorID: true}, BotUsername: "gridbot", Location: loc,
		ReceiptDelay: opts.receiptDelay, OnReport: e.metrics.Report}, e.st, NewAdmins(e.api, time.Now), time.Now, discard())
	e.sender = NewSender(e.api, e.st, e.h, time.Now, discard(), e.metrics, SenderOptions{Workers: opts.workers, Seed: 1})
	e.proc = NewProcessor(e.h, e.st, time.Now, discard(), e.metrics, e.sender.Wake)
	e.disp = NewDispatcher(e.proc, opts.workers, discard())
	client := &http.Client{Transport: e.tg.Client().Transport, Timeout: clientTimeout}
	e.poller = NewPoller("http://telegram.invalid", "123:TEST", client, 0, e.disp.Batch, discard(), e.metrics)
	t.Cleanup(e.stop)
	t.Cleanup(e.tg.Close) // runs first: releases any hanging call
	return e
}

// run starts the sender.
func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() { e.sender.Run(ctx); close(e.done) }()
}

func (e *env) stop() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
}

// deliver hands every update the fake holds to the dispatcher, as the
// poller does, and confirms them.
func (e *env) deliver() {
	e.t.Helper()
	ctx := context.Background()
	for {
		got, err := e.poller.getUpdates(ctx, e.offset, 0)
		if err != nil {
			e.t.Fatalf("getUpdates: %v", err)
		}
		if got.count == 0 {
			return
		}
		if err := e.disp.Batch(ctx, got.updates); err != nil {
			e.t.Fatalf("processing updates: %v", err)
		}
		e.offset = got.last + 1
	}
}

// bind binds a chat as a village, straight in the store.
func (e *env) bind(chat telegramtest.Chat, name string) {
	e.t.Helper()
	e.tg.AddChat(chat)
	if _, err := e.st.Commit(context.Background(), store.Changes{Bindings: []store.Binding{{Chat: chat.ID, Role: store.RoleVillage, Name: name, By: operatorID, At: time.Now()}}}); err != nil {
		e.t.Fatal(err)
	}
}

// queue puts actions in the outbox, as the processor does.
func (e *env) queue(actions ...handlers.Action) {
	e.t.Helper()
	if err := e.proc.enqueue(context.Background(), actions); err != nil {
		e.t.Fatal(err)
	}
}

// until waits, in virtual time, for a condition on the calls.
func (e *env) until(what string, limit time.Duration, cond func([]telegramtest.Call) bool) []telegramtest.Call {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	calls, err := e.tg.WaitFor(ctx, cond)
	if err != nil {
		e.t.Fatalf("waiting %v for %s: %v", limit, what, err)
	}
	return calls
}

// outbox reads one outbox message by key.
func (e *env) outbox(key string) store.OutboxMessage {
	e.t.Helper()
	m, ok, err := e.st.Outbox(context.Background(), key)
	if err != nil || !ok {
		e.t.Fatalf("outbox %q: %v, found %v", key, err, ok)
	}
	return m
}

// settled waits, in virtual time, until the outbox holds nothing pending.
func (e *env) settled(limit time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		synctest.Wait() // the sender is idle: between rounds
		n, _, err := e.st.OutboxStats(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d messages still pending after %v", n, limit)
		}
		time.Sleep(idlePoll) // virtual time: the sender's next round
	}
}

// calls returns the calls of one method to one chat.
func callsTo(calls []telegramtest.Call, method string, chat int64) []telegramtest.Call {
	var out []telegramtest.Call
	for _, c := range calls {
		if strings.EqualFold(c.Method, method) && (chat == 0 || c.Int64("chat_id") == chat) {
			out = append(out, c)
		}
	}
	return out
}

func send(chat int64, key, text string) handlers.Action {
	return handlers.Action{Kind: handlers.Send, Key: key, Chat: chat, Text: text}
}
