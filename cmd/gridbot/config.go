package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// config is what every subcommand reads, from flags or the environment
// (flags win). The bot token is read from the environment only, so it
// never shows in a process list.
type config struct {
	Token         string
	APIURL        string
	DB            string
	TZ            string
	HTTP          string
	WebhookURL    string
	WebhookSecret string
	OperatorsText string
	ReceiptDelay  time.Duration

	Location  *time.Location
	Operators map[int64]bool
}

// defaults
const (
	defaultAPIURL = "https://api.telegram.org"
	defaultDB     = "./gridbot-data"
	defaultTZ     = "Asia/Shanghai"
	defaultHTTP   = "127.0.0.1:8080"
)

// register adds the shared flags to fs, with defaults from the environment.
func (c *config) register(fs *flag.FlagSet, getenv func(string) string) {
	c.Token = getenv("TELEGRAM_BOT_TOKEN")
	fs.StringVar(&c.APIURL, "api", envOr(getenv, "TELEGRAM_API_URL", defaultAPIURL), "Bot API server URL (TELEGRAM_API_URL)")
	fs.StringVar(&c.DB, "db", envOr(getenv, "GRIDBOT_DB", defaultDB), "store: a directory for the embedded store, or a postgres:// URL (GRIDBOT_DB)")
	fs.StringVar(&c.TZ, "tz", envOr(getenv, "GRIDBOT_TZ", defaultTZ), "default time zone of chats (GRIDBOT_TZ)")
	fs.StringVar(&c.HTTP, "http", envOr(getenv, "GRIDBOT_HTTP", defaultHTTP), "address for /healthz, /metrics and the webhook; a port alone (8080, :8080, :0 picks one) listens on 127.0.0.1 only, 0.0.0.0:8080 on every interface (GRIDBOT_HTTP)")
	fs.StringVar(&c.WebhookURL, "webhook", getenv("GRIDBOT_WEBHOOK_URL"), "public HTTPS URL of the webhook; empty: long polling (GRIDBOT_WEBHOOK_URL)")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", getenv("GRIDBOT_WEBHOOK_SECRET"), "webhook secret token, 1-256 of A-Z a-z 0-9 _ - (GRIDBOT_WEBHOOK_SECRET)")
	fs.StringVar(&c.OperatorsText, "operators", getenv("GRIDBOT_OPERATORS"), "comma-separated Telegram user ids allowed to bind groups (GRIDBOT_OPERATORS)")
	delay, err := time.ParseDuration(envOr(getenv, "GRIDBOT_RECEIPT_DELAY", "3s"))
	if err != nil {
		delay = 3 * time.Second
	}
	fs.DurationVar(&c.ReceiptDelay, "receipt-delay", delay, "how long a receipt waits so receipts close together merge into one message (GRIDBOT_RECEIPT_DELAY)")
}

// finish checks and derives what register read.
func (c *config) finish() error {
	loc, err := time.LoadLocation(c.TZ)
	if err != nil {
		return fmt.Errorf("time zone %q: %w", c.TZ, err)
	}
	c.Location = loc
	c.Operators = map[int64]bool{}
	for _, part := range strings.FieldsFunc(c.OperatorsText, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			return fmt.Errorf("operators: %q is not a user id", part)
		}
		c.Operators[id] = true
	}
	if c.WebhookURL != "" && !validSecret(c.WebhookSecret) {
		return fmt.Errorf("webhook mode needs GRIDBOT_WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ -")
	}
	return nil
}

func validSecret(s string) bool {
	if len(s) < 1 || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
