package handlers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"gridbot/report"
	"gridbot/store"
)

// Store is what handlers read and write. *store.Store implements it.
type Store interface {
	Commit(ctx context.Context, c store.Changes) (store.Result, error)
	Binding(ctx context.Context, chat int64) (store.Binding, bool, error)
	Bindings(ctx context.Context) ([]store.Binding, error)
	Settings(ctx context.Context, chat int64) (map[string]string, error)
	Roster(ctx context.Context, chat int64) ([]store.Member, error)
	ActiveMembers(ctx context.Context, chat int64) ([]store.Member, error)
	Report(ctx context.Context, chat, messageID int64) (store.Revision, bool, error)
	Reports(ctx context.Context, q store.ReportQuery) ([]store.Revision, error)
	History(ctx context.Context, chat, messageID int64) ([]store.HistoryEvent, error)
	FindIdentity(ctx context.Context, phone, idNumber string, since report.Date) ([]store.Revision, error)
	Outbox(ctx context.Context, key string) (store.OutboxMessage, bool, error)
	CurrentChat(ctx context.Context, chat int64) (int64, error)
}

// Admins tells whether a user administers a chat (Telegram's
// getChatAdministrators, cached by the bot).
type Admins interface {
	IsAdmin(ctx context.Context, chat, user int64) (bool, error)
}

// Config is what handlers need to know about the deployment.
type Config struct {
	// Operators may bind groups; they count as admins everywhere.
	Operators map[int64]bool
	// BotUsername makes /cmd@otherbot ordinary chat.
	BotUsername string
	// Location is the default time zone of a chat.
	Location *time.Location
	// ReceiptDelay lets receipts that arrive close together merge into one
	// message; the 👌 reaction is immediate.
	ReceiptDelay time.Duration
	// OnReport, if set, is told of every report recorded: its kind and
	// outcome (valid, invalid, repeat). For metrics; it gets no content.
	OnReport func(kind, outcome string)
	// OnSettings, if set, is told when a chat's settings changed (the
	// scheduler reschedules its jobs).
	OnSettings func(chat int64)
	// Members tells whether a user is in a village's group, for /village;
	// nil: nobody is, and only an invite code lets a landlord choose.
	Members Members
	// Codes is where invite codes come from; nil: crypto/rand.
	Codes io.Reader
	// PrivacyMode is set when Telegram says the bot cannot read all group
	// messages (BotFather's privacy mode is on): /bind says so and how to
	// turn it off.
	PrivacyMode bool
}

// Handler handles messages and presses.
type Handler struct {
	cfg    Config
	store  Store
	admins Admins
	now    func() time.Time
	log    *slog.Logger

	zonesMu sync.Mutex
	zones   map[string]*time.Location

	presses map[string]pressRoute
}

// New returns a Handler.
func New(cfg Config, st Store, admins Admins, now func() time.Time, log *slog.Logger) *Handler {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.OnReport == nil {
		cfg.OnReport = func(string, string) {}
	}
	return &Handler{cfg: cfg, store: st, admins: admins, now: now, log: log.With("component", "handlers"),
		zones: map[string]*time.Location{}, presses: map[string]pressRoute{}}
}

// HandleMessage decides what to do with a message. Everything it records
// is durable when it returns; the actions are for the caller to queue.
func (h *Handler) HandleMessage(ctx context.Context, m Message) ([]Action, error) {
	if m.From.IsBot || m.Chat.ID == 0 {
		return nil, nil
	}
	if m.MigrateTo != 0 {
		return nil, h.migrate(ctx, m.Chat.ID, m.MigrateTo)
	}
	if m.MigrateFrom != 0 && m.Chat.Type == "supergroup" {
		return nil, h.migrate(ctx, m.MigrateFrom, m.Chat.ID)
	}
	// commands typed with a Chinese keyboard: /bind　village　郝家店村
	text := strings.TrimSpace(strings.Map(func(r rune) rune {
		if r != '\n' && unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, m.Text))
	if text == "" {
		return nil, nil
	}
	if name, args, ok := h.parseCommand(text); ok {
		if cmd, ok := commandByName[name]; ok && !m.Edited() {
			return h.runCommand(ctx, cmd, m, args)
		}
		if _, isReport := reportCommands[name]; !isReport {
			return nil, nil // a command we do not know, or an edited command
		}
	}
	if h.botReplied(m) {
		if actions, handled, err := h.replyToBot(ctx, m, text); handled || err != nil {
			return actions, err
		}
	}
	if m.ReplyTo != nil && isUndoWord(text) && !m.Edited() {
		return h.undo(ctx, m, m.ReplyTo.ID, true)
	}
	return h.handleReport(ctx, m)
}

// parseCommand splits "/name@bot args". Commands for another bot are not
// ours: ok is false.
func (h *Handler) parseCommand(text string) (name, args string, ok bool) {
	if !strings.HasPrefix(text, "/") {
		return "", "", false
	}
	word, rest, _ := strings.Cut(text[1:], " ")
	if i := strings.IndexAny(word, "\n"); i >= 0 {
		word, rest = word[:i], word[i+1:]+" "+rest
	}
	name, bot, addressed := strings.Cut(word, "@")
	if addressed && h.cfg.BotUsername != "" && !strings.EqualFold(bot, h.cfg.BotUsername) {
		return "", "", false
	}
	return strings.ToLower(name), strings.TrimSpace(rest), name != ""
}

// reportCommands are the /commands that start reports rather than run.
var reportCommands = map[string]bool{
	"arrival": true, "fever": true, "gathering": true, "wedding": true, "funeral": true, "tenant": true, "daily": true,
}

func isUndoWord(s string) bool {
	switch strings.ToLower(strings.Trim(s, " 。.!！")) {
	case "撤销", "撤回", "undo":
		return true
	}
	return false
}

// migrate records that group from became supergroup to. Recording it
// twice (from both service messages) changes nothing.
func (h *Handler) migrate(ctx context.Context, from, to int64) error {
	_, err := h.store.Commit(ctx, store.Changes{Migrations: []store.Migration{{From: from, To: to, At: h.now()}}})
	if err != nil {
		return fmt.Errorf("handlers: migrate: %w", err)
	}
	h.log.Info("chat migrated", "from", from, "to", to)
	return nil
}

// location returns a chat's time zone.
func (h *Handler) location(settings map[string]string) *time.Location {
	name := settings[SettingTZ]
	if name == "" {
		return h.cfg.Location
	}
	h.zonesMu.Lock()
	defer h.zonesMu.Unlock()
	if loc, ok := h.zones[name]; ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = h.cfg.Location
	}
	h.zones[name] = loc
	return loc
}

// Setting keys a chat may hold.
const (
	SettingTZ          = "tz"
	SettingObservation = "observation"
	SettingActive      = "active"
	settingPassNext    = "pass_next"
)

// observationDays returns a chat's home observation period.
func observationDays(settings map[string]string) int {
	if n, err := strconv.Atoi(settings[SettingObservation]); err == nil && n > 0 && n <= 60 {
		return n
	}
	return 14
}

// isAdmin reports whether a user may administer a chat.
func (h *Handler) isAdmin(ctx context.Context, chat, user int64) (bool, error) {
	if h.cfg.Operators[user] {
		return true, nil
	}
	if h.admins == nil {
		return false, nil
	}
	ok, err := h.admins.IsAdmin(ctx, chat, user)
	if err != nil {
		return false, fmt.Errorf("handlers: admins of %d: %w", chat, err)
	}
	return ok, nil
}

// langOf picks the language to answer a user in: English for users whose
// Telegram language is English and who wrote no Chinese.
func langOf(u User, text string) report.Lang {
	if strings.HasPrefix(u.LanguageCode, "en") && !hasHan(text) {
		return report.En
	}
	return report.Zh
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

// key builds an outbox key from parts.
func key(parts ...any) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprint(&b, p)
	}
	return b.String()
}
