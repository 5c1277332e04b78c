package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gridbot/bot"
	"gridbot/handlers"
	"gridbot/store"
)

// pollTimeout is the long poll's length; the HTTP client waits longer.
const pollTimeout = 50 * time.Second

// webhookPath is where Telegram posts updates in webhook mode.
const webhookPath = "/telegram/webhook"

// runServe implements `gridbot serve`.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.register(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.finish(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if cfg.Token == "" {
		return fmt.Errorf("serve: TELEGRAM_BOT_TOKEN is not set (create a bot with @BotFather, see README)")
	}
	log := newLogger(stderr, getenv)

	st, err := store.Open(ctx, cfg.DB, store.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer st.Close()

	client := &http.Client{Timeout: pollTimeout + 15*time.Second}
	probe, err := tg.New(cfg.Token, tg.WithServerURL(cfg.APIURL), tg.WithHTTPClient(pollTimeout, client), tg.WithSkipGetMe())
	if err != nil {
		return fmt.Errorf("serve: telegram client: %w", err)
	}
	me, err := getMe(ctx, probe, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("connected to Telegram", "bot", me.Username, "id", me.ID)
	privacy := !me.CanReadAllGroupMessages
	if privacy {
		log.Warn("privacy mode is on: in groups the bot sees only commands, not the reports people send. " +
			"In @BotFather send /setprivacy, choose the bot, choose Disable, then remove the bot from each group and add it again (or make it a group admin)")
	}
	svc, err := newService(cfg, st, client, me.Username, log, serviceOptions{now: time.Now, workers: 8, seed: uint64(time.Now().UnixNano()), privacy: privacy, holder: leaseHolder()})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := st.OutboxStats(r.Context()); err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(svc.metrics.Registry, promhttp.HandlerOpts{}))
	if cfg.WebhookURL != "" {
		mux.Handle(webhookPath, bot.WebhookHandler(cfg.WebhookSecret, svc.dispatch, log))
	}
	addr, err := httpAddr(cfg.HTTP)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: listen %s: %w", addr, err)
	}
	fmt.Fprintf(stdout, "gridbot: http on %s\n", ln.Addr())
	srv := newHTTPServer(mux, log)

	registerCommands(ctx, svc.api, log)
	if cfg.WebhookURL != "" {
		if _, err := svc.api.SetWebhook(ctx, &tg.SetWebhookParams{URL: cfg.WebhookURL, SecretToken: cfg.WebhookSecret,
			AllowedUpdates: []string{models.AllowedUpdateMessage, models.AllowedUpdateEditedMessage, models.AllowedUpdateCallbackQuery, models.AllowedUpdateMyChatMember}}); err != nil {
			return fmt.Errorf("serve: setWebhook: %w", err)
		}
		log.Info("webhook mode", "path", webhookPath)
	} else if _, err := svc.api.DeleteWebhook(ctx, &tg.DeleteWebhookParams{}); err != nil {
		log.Warn("deleteWebhook failed; polling anyway", "err", err)
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	})
	log.Info("gridbot is running", "store", storeKind(cfg.DB), "tz", cfg.TZ)
	runErr := svc.run(ctx) // until SIGTERM, then finishes what is under way
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	wg.Wait()
	if errors.Is(runErr, bot.ErrTokenRefused) {
		return fmt.Errorf("serve: stopped: Telegram no longer accepts the bot token (401 Unauthorized): it was revoked or is wrong. " +
			"Get the bot's current token from @BotFather (/mybots → the bot → API Token), set TELEGRAM_BOT_TOKEN to it and start gridbot again")
	}
	if runErr != nil {
		return fmt.Errorf("serve: %w", runErr)
	}
	log.Info("stopped")
	return nil
}

// Limits of the HTTP server (/healthz, /metrics, the webhook): a client
// that sends its request slowly, or holds a connection open doing
// nothing, is cut off, whatever it does.
const (
	httpReadHeaderTimeout = 5 * time.Second                     // from the connection (or the last request) to the end of the headers
	httpReadTimeout       = 15 * time.Second                    // the whole request, body included (an update is a few KB)
	httpWriteTimeout      = bot.WebhookDeadline + 5*time.Second // from the end of the headers to the end of the answer
	httpIdleTimeout       = 10 * time.Second                    // a kept-alive connection waiting for its next request
	httpMaxHeaderBytes    = 16 << 10
)

// newHTTPServer returns the server of /healthz, /metrics and the webhook.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
	}
}

// httpAddr returns the address to listen on. Without a host (":8080",
// ":0", or a bare port "8080") it is loopback only: /metrics and /healthz
// are for the machine itself unless an address is given explicitly
// (0.0.0.0:8080 listens on every interface).
func httpAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s != "" && strings.Trim(s, "0123456789") == "" {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("http address %q: want HOST:PORT, :PORT or PORT: %w", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("http address %q: %q is not a port", s, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// getMe asks Telegram who the bot is, retrying while the network is down.
func getMe(ctx context.Context, api bot.API, log *slog.Logger) (*models.User, error) {
	for attempt := 1; ; attempt++ {
		me, err := api.GetMe(ctx)
		if err == nil {
			return me, nil
		}
		if errors.Is(err, tg.ErrorUnauthorized) || errors.Is(err, tg.ErrorNotFound) {
			return nil, fmt.Errorf("getMe: the bot token was refused: %w", err)
		}
		wait := min(time.Second<<min(attempt-1, 5), 30*time.Second)
		log.Warn("getMe failed; retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// registerCommands publishes the command menu, in Chinese and English.
func registerCommands(ctx context.Context, api bot.API, log *slog.Logger) {
	for _, lang := range []string{"", "en"} {
		var groupCmds, privateCmds []models.BotCommand
		for _, c := range handlers.Commands() {
			desc := c.Zh
			if lang == "en" {
				desc = c.En
			}
			cmd := models.BotCommand{Command: c.Name, Description: desc}
			if c.Groups {
				groupCmds = append(groupCmds, cmd)
			}
			if c.Private {
				privateCmds = append(privateCmds, cmd)
			}
		}
		for _, set := range []struct {
			scope models.BotCommandScope
			cmds  []models.BotCommand
		}{{&models.BotCommandScopeAllGroupChats{}, groupCmds}, {&models.BotCommandScopeAllPrivateChats{}, privateCmds}} {
			if _, err := api.SetMyCommands(ctx, &tg.SetMyCommandsParams{Commands: set.cmds, Scope: set.scope, LanguageCode: lang}); err != nil {
				log.Warn("setMyCommands failed", "err", err)
			}
		}
	}
}

func storeKind(url string) string {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return "postgres"
	}
	return "embedded"
}

// newLogger logs text to stderr at GRIDBOT_LOG_LEVEL (info by default).
func newLogger(w io.Writer, getenv func(string) string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(envOr(getenv, "GRIDBOT_LOG_LEVEL", "info"))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// leaseHolder names this process in the sender's lease: the host, the
// process id and a random number, so that no two processes — on one host,
// or one restarted with the same pid — share a name.
func leaseHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%016x", host, os.Getpid(), rand.Uint64())
}
