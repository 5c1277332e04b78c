package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	tg "github.com/go-telegram/bot"

	"gridbot/bot"
	"gridbot/handlers"
	"gridbot/schedules"
	"gridbot/store"
)

// service is the bot assembled from its parts: the handlers, the update
// pipeline, the outbox sender and the scheduler. serve runs it with real
// time and a real network; the tests and replay run it in virtual time
// against a fake Telegram.
type service struct {
	cfg      config
	store    *store.Store
	api      *tg.Bot
	client   *http.Client
	metrics  *bot.Metrics
	handler  *handlers.Handler
	sender   *bot.Sender
	dispatch *bot.Dispatcher
	sched    *schedules.Scheduler
	log      *slog.Logger
}

// serviceOptions tune a service for its use.
type serviceOptions struct {
	now     func() time.Time
	workers int    // chats served at once; 1 for a deterministic order
	seed    uint64 // backoff jitter
	privacy bool   // getMe says the bot cannot read all group messages
	holder  string // this process in the sender's lease (replicas on PostgreSQL)
}

// newService wires the bot. client carries every call to Telegram (a real
// one, or a fake's in-memory client); username is the bot's.
func newService(cfg config, st *store.Store, client *http.Client, username string, log *slog.Logger, opts serviceOptions) (*service, error) {
	api, err := tg.New(cfg.Token, tg.WithServerURL(cfg.APIURL), tg.WithHTTPClient(pollTimeout, client), tg.WithSkipGetMe(),
		tg.WithErrorsHandler(func(err error) { log.Warn("telegram client", "err", err) }))
	if err != nil {
		return nil, fmt.Errorf("telegram client: %w", err)
	}
	s := &service{cfg: cfg, store: st, api: api, client: client, metrics: bot.NewMetrics(), log: log}
	if w, ok := st.Engine().(interface{ WritesRefused() (bool, int64) }); ok { // the embedded engine
		s.metrics.WatchStoreWrites(w.WritesRefused)
	}
	s.handler = handlers.New(handlers.Config{
		Operators: cfg.Operators, BotUsername: username, Location: cfg.Location,
		ReceiptDelay: cfg.ReceiptDelay, OnReport: s.metrics.Report, PrivacyMode: opts.privacy,
		Members: bot.NewMembers(api),
		OnSettings: func(int64) {
			if err := s.sched.Reconcile(context.Background()); err != nil {
				log.Error("rescheduling failed", "err", err)
			}
		},
	}, st, bot.NewAdmins(api, opts.now), opts.now, log)
	// replicas share a PostgreSQL store: they take turns sending
	lease := storeKind(cfg.DB) == "postgres"
	s.sender = bot.NewSender(api, st, s.handler, opts.now, log, s.metrics, bot.SenderOptions{Workers: opts.workers, Seed: opts.seed, Lease: lease, Holder: opts.holder})
	proc := bot.NewProcessor(s.handler, st, opts.now, log, s.metrics, s.sender.Wake)
	s.dispatch = bot.NewDispatcher(proc, opts.workers, log)
	s.sched = schedules.New(st, s.handler, opts.now, cfg.Location, log, s.sender.Wake)
	s.handler.HandlePresses(schedules.ReminderButton, s.sched.Carrier, s.sched.Press)
	return s, nil
}

// maxDrainBatches bounds the updates handled before the scheduler starts.
const maxDrainBatches = 50

// drainPending handles the updates Telegram holds, without waiting for new
// ones; a failure is logged and left to the poller's own retries.
func drainPending(ctx context.Context, p *bot.Poller, log *slog.Logger) {
	var offset int64
	for range maxDrainBatches {
		next, n, err := p.PollOnce(ctx, offset)
		if err != nil {
			log.Warn("handling pending updates before the catch-up failed; the poller retries", "err", err)
			return
		}
		offset = next
		if n == 0 {
			return
		}
	}
}

// run polls (unless in webhook mode), sends and schedules until ctx ends,
// then stops taking updates and finishes what is under way. It returns an
// error only when the bot cannot go on: Telegram refused the token.
func (s *service) run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var fatal error
	wg.Go(func() { _ = s.sender.Run(ctx) })
	if s.cfg.WebhookURL == "" {
		poller := bot.NewPoller(s.cfg.APIURL, s.cfg.Token, s.client, pollTimeout, s.dispatch.Batch, s.log, s.metrics)
		// what people sent while the bot was down is handled before the
		// scheduler catches up: a daily report sent at 17:30 during an
		// outage must not be nagged for by a late 17:00 reminder
		drainPending(ctx, poller, s.log)
		wg.Go(func() {
			if err := poller.Run(ctx); err != nil {
				fatal = err
				stop()
			}
		})
	}
	if err := s.sched.Start(ctx); err != nil {
		s.log.Error("scheduler did not start", "err", err)
	}
	<-ctx.Done()
	s.sched.Stop()
	wg.Wait()
	return fatal
}
