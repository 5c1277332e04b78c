// Package telegramtest is a fake Telegram Bot API server for tests.
//
// Create one with New (or use the zero value), point a bot at it, feed it
// updates and assert on what the bot called and on the final state of a chat:
//
//	s := telegramtest.New(telegramtest.WithReporter(t))
//	b, _ := bot.New("1:x", bot.WithHTTPClient(time.Minute, s.Client()), bot.WithSkipGetMe())
//	go b.Start(ctx)
//	s.SendMessage(group, alice, "/report 3 rows")
//	calls, err := s.WaitCalls(ctx, "sendMessage", 1)
//	got := s.Sent(group.ID)
//
// Client talks to the server in memory and works inside testing/synctest
// (create the Server inside the bubble); the Server is also an http.Handler
// for httptest.NewServer. Fail, MigrateChat and Kick make calls fail the way
// Telegram does; anything the fake does not understand is reported loudly.
package telegramtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBody is the largest request body accepted (Telegram takes files up to 50 MB).
const maxBody = 64 << 20

// ErrClosed is returned by the Wait methods once the Server is closed.
var ErrClosed = errors.New("telegramtest: server closed")

// Reporter receives a report of every request the Server does not
// understand and of every misuse of its helpers; testing.TB satisfies it.
type Reporter interface {
	Errorf(format string, args ...any)
}

// User is a Telegram user or bot, marshalled as the Bot API's User.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
}

// Chat is a Telegram chat. An empty Type is derived from the ID: positive
// IDs are "private", IDs below -10^12 "supergroup", other negative IDs "group".
type Chat struct {
	ID    int64  `json:"id"`
	Type  string `json:"type"`
	Title string `json:"title,omitempty"`
}

// File is a file part of a multipart request.
type File struct {
	Name     string // form field, such as "document"
	Filename string // file name given by the client
	Data     []byte
}

// Call is one request the Server received. Scalars are kept as sent;
// nested values (reply_markup, reaction, commands, ...) are JSON text.
// Params and Files must be treated as read-only.
type Call struct {
	Method string // canonical Bot API name, such as "sendMessage"
	Params map[string]string
	Files  map[string]File
	At     time.Time // from the Server's clock
}

// Int64 returns the named parameter as an integer, or 0 if it is absent or not one.
func (c Call) Int64(name string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(c.Params[name]), 10, 64)
	return n
}

// Int returns the named parameter as an int, or 0 if it is absent or not one.
func (c Call) Int(name string) int { return int(c.Int64(name)) }

// Bool reports whether the named parameter is "true".
func (c Call) Bool(name string) bool { return c.Params[name] == "true" }

// JSON decodes the named parameter, which must be present, into v.
func (c Call) JSON(name string, v any) error {
	s, ok := c.Params[name]
	if !ok {
		return fmt.Errorf("telegramtest: %s has no parameter %q", c.Method, name)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("telegramtest: %s parameter %q: %w", c.Method, name, err)
	}
	return nil
}

// Server is a fake Bot API server. The zero value is ready to use, as is the
// result of New; set its exported fields before the first request and do
// not change them afterwards. A Server must not be copied after first use.
type Server struct {
	// Token, if set, is the only bot token accepted; others get 401 and are
	// reported as unexpected. Empty means any token.
	Token string
	// Now is the clock for dates and Call.At; nil means time.Now.
	Now func() time.Time
	// T, if set, receives a report of every unexpected request.
	T Reporter
	// Bot is the bot's own user (getMe, "from" of its messages); zero means
	// {ID: 100000001, IsBot: true, FirstName: "GridBot", Username: "gridbot"}.
	Bot User
	// PrivacyMode makes getMe say can_read_all_group_messages: false, as
	// for a bot whose privacy mode is on in BotFather (the default for a
	// new bot). False means the bot reads all group messages, as gridbot
	// needs.
	PrivacyMode bool
	// FirstUpdateID is the first update_id; zero means 1.
	FirstUpdateID int64
	// FirstMessageID is the first message_id in each chat; zero means 1000.
	FirstMessageID int

	once    sync.Once
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	done    chan struct{} // closed by Close
	closed  bool

	calls      []Call
	unexpected []string
	reports    []string           // unexpected, not yet reported to T
	faults     map[string][]Fault // by lower-case method, "" for any

	updates    []pendingUpdate
	nextUpdate int64
	confirmed  int64
	pollGen    int64
	webhook    string

	chats     map[int64]*chatState
	callbacks map[string]bool // callback queries not yet answered
	nextQuery int64
	commands  map[string]json.RawMessage
}

// Option configures a Server made by New.
type Option func(*Server)

// WithToken accepts only the given bot token.
func WithToken(token string) Option { return func(s *Server) { s.Token = token } }

// WithClock sets the clock, for example a fake one.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.Now = now } }

// WithReporter reports unexpected requests to r. If r also has a
// Cleanup(func()) method, as testing.TB does, the Server is closed at cleanup.
func WithReporter(r Reporter) Option { return func(s *Server) { s.T = r } }

// WithBot sets the bot's own user.
func WithBot(u User) Option { return func(s *Server) { s.Bot = u } }

// WithPrivacyMode makes getMe report the bot's privacy mode on.
func WithPrivacyMode() Option { return func(s *Server) { s.PrivacyMode = true } }

// WithFirstUpdateID sets the first update_id.
func WithFirstUpdateID(id int64) Option { return func(s *Server) { s.FirstUpdateID = id } }

// WithFirstMessageID sets the first message_id in every chat.
func WithFirstMessageID(id int) Option { return func(s *Server) { s.FirstMessageID = id } }

// New returns a Server configured by opts.
func New(opts ...Option) *Server {
	s := &Server{}
	for _, o := range opts {
		o(s)
	}
	s.init()
	if c, ok := s.T.(interface{ Cleanup(func()) }); ok {
		c.Cleanup(s.Close)
	}
	return s
}

func (s *Server) init() {
	s.once.Do(func() {
		s.changed = make(chan struct{})
		s.done = make(chan struct{})
		s.faults = map[string][]Fault{}
		s.chats = map[int64]*chatState{}
		s.callbacks = map[string]bool{}
		s.commands = map[string]json.RawMessage{}
		s.nextUpdate = max(s.FirstUpdateID, 1)
	})
}

// lock initialises the Server if needed and locks it.
func (s *Server) lock() {
	s.init()
	s.mu.Lock()
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Me returns the bot's own user.
func (s *Server) Me() User {
	if s.Bot.ID != 0 {
		return s.Bot
	}
	return User{ID: 100000001, IsBot: true, FirstName: "GridBot", Username: "gridbot"}
}

// broadcastLocked wakes everyone waiting for a change.
func (s *Server) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) recordLocked(c Call) {
	s.calls = append(s.calls, c)
	s.broadcastLocked()
}

// unexpectedLocked records something the Server did not understand; it is
// reported to T once the lock is released.
func (s *Server) unexpectedLocked(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.unexpected = append(s.unexpected, msg)
	s.reports = append(s.reports, msg)
	s.broadcastLocked()
}

// unlock unlocks the Server, then reports to T what was unexpected meanwhile.
func (s *Server) unlock() {
	reports := s.reports
	s.reports = nil
	s.mu.Unlock()
	for _, msg := range reports {
		if s.T != nil {
			s.T.Errorf("telegramtest: unexpected: %s", msg)
		}
	}
}

// Calls returns a copy of every call recorded so far, oldest first.
func (s *Server) Calls() []Call {
	s.lock()
	defer s.unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the recorded calls to method (case-insensitive).
func (s *Server) CallsTo(method string) []Call {
	return filterCalls(s.Calls(), method)
}

func filterCalls(calls []Call, method string) []Call {
	var out []Call
	for _, c := range calls {
		if strings.EqualFold(c.Method, method) {
			out = append(out, c)
		}
	}
	return out
}

// Unexpected returns a description of every request the Server did not understand.
func (s *Server) Unexpected() []string {
	s.lock()
	defer s.unlock()
	return slices.Clone(s.unexpected)
}

// Reset forgets the recorded calls and unexpected requests; chats,
// updates and faults are kept.
func (s *Server) Reset() {
	s.lock()
	defer s.unlock()
	s.calls, s.unexpected = nil, nil
	s.broadcastLocked()
}

// Close releases every waiting long poll, Timeout fault and Wait call.
// The Server still answers later requests. Close is idempotent.
func (s *Server) Close() {
	s.lock()
	defer s.unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
		s.broadcastLocked()
	}
}

// WaitFor blocks until cond, called with a snapshot of the recorded calls
// after each change, returns true, and returns that snapshot. It fails when
// ctx ends or the Server is closed. cond runs without the Server's lock held.
func (s *Server) WaitFor(ctx context.Context, cond func(calls []Call) bool) ([]Call, error) {
	s.init()
	for {
		s.mu.Lock()
		calls, changed, closed := slices.Clone(s.calls), s.changed, s.closed
		s.unlock()
		if cond(calls) {
			return calls, nil
		}
		if closed {
			return calls, ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return calls, fmt.Errorf("telegramtest: waiting with %d calls recorded: %w", len(calls), context.Cause(ctx))
		}
	}
}

// WaitCalls waits until at least n calls to method were recorded and
// returns the calls to method.
func (s *Server) WaitCalls(ctx context.Context, method string, n int) ([]Call, error) {
	calls, err := s.WaitFor(ctx, func(calls []Call) bool {
		return len(filterCalls(calls, method)) >= n
	})
	return filterCalls(calls, method), err
}

// ServeHTTP answers a Bot API request: POST or GET /bot<token>/<method> or
// /bot<token>/test/<method>, with a multipart, JSON, urlencoded or empty body.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	name, status, why := s.route(r)
	if status != 0 {
		io.Copy(io.Discard, io.LimitReader(r.Body, maxBody))
		s.mu.Lock()
		s.unexpectedLocked("%s %s: %s", r.Method, redact(r.URL.Path), why)
		s.unlock()
		writeError(w, status, http.StatusText(status), 0, 0)
		return
	}
	params, files, err := parseBody(r)
	if err != nil {
		s.mu.Lock()
		s.unexpectedLocked("%s: malformed request: %v", name, err)
		s.unlock()
		writeError(w, http.StatusBadRequest, "Bad Request: malformed request: "+err.Error(), 0, 0)
		return
	}
	call := Call{Method: name, Params: params, Files: files}
	s.mu.Lock()
	call.At = s.now()
	if canonical(name) == "" {
		s.recordLocked(call)
		s.unexpectedLocked("unknown method %q", name)
		s.unlock()
		writeError(w, http.StatusNotFound, "Not Found", 0, 0)
		return
	}
	call.Method = canonical(name)
	if f, ok := s.takeFaultLocked(call); ok {
		s.recordLocked(call)
		s.unlock()
		s.writeFault(w, r, f)
		return
	}
	if call.Method == "getUpdates" {
		s.getUpdates(w, r, call) // unlocks
		return
	}
	result, apiErr := s.dispatchLocked(call)
	s.recordLocked(call)
	var raw json.RawMessage
	if apiErr == nil {
		raw, err = json.Marshal(result) // while the model cannot change
		if err != nil {
			apiErr = &apiError{http.StatusInternalServerError, err.Error()}
		}
	}
	s.unlock()
	if apiErr != nil {
		writeError(w, apiErr.code, apiErr.desc, 0, 0)
		return
	}
	writeJSON(w, http.StatusOK, envelope{OK: true, Result: raw})
}

// route returns the method named by r's path, or an HTTP status and reason.
func (s *Server) route(r *http.Request) (method string, status int, why string) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, rest, _ := strings.Cut(rest, "/")
	rest = strings.TrimPrefix(rest, "test/")
	switch {
	case !ok || token == "" || rest == "" || strings.Contains(rest, "/"):
		return "", http.StatusNotFound, "not a Bot API path"
	case r.Method != http.MethodPost && r.Method != http.MethodGet:
		return "", http.StatusNotFound, "HTTP method " + r.Method
	case s.Token != "" && token != s.Token:
		return "", http.StatusUnauthorized, "wrong bot token"
	}
	return rest, 0, ""
}

// redact hides the bot token in a path.
func redact(path string) string {
	if rest, ok := strings.CutPrefix(path, "/bot"); ok {
		if _, method, ok := strings.Cut(rest, "/"); ok {
			return "/bot***/" + method
		}
	}
	return path
}

// parseBody reads the parameters and files of a request.
func parseBody(r *http.Request) (map[string]string, map[string]File, error) {
	params := map[string]string{}
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading body: %w", err)
	}
	if len(data) > maxBody {
		return nil, nil, errors.New("body too large")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return params, nil, nil
	}
	mt, mp, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "multipart/form-data":
		return parseMultipart(data, mp["boundary"], params)
	case mt == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, nil, err
		}
		for k, v := range q {
			params[k] = v[0]
		}
		return params, nil, nil
	case mt == "application/json" || mt == "" && bytes.TrimSpace(data)[0] == '{':
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			return nil, nil, err
		}
		for k, raw := range fields {
			var str string
			switch {
			case string(raw) == "null":
			case json.Unmarshal(raw, &str) == nil:
				params[k] = str
			default:
				var b bytes.Buffer
				json.Compact(&b, raw) // valid: it came from Unmarshal
				params[k] = b.String()
			}
		}
		return params, nil, nil
	}
	return nil, nil, fmt.Errorf("unsupported Content-Type %q", mt)
}

func parseMultipart(data []byte, boundary string, params map[string]string) (map[string]string, map[string]File, error) {
	var files map[string]File
	mr := multipart.NewReader(bytes.NewReader(data), boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return params, files, nil
		}
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(part)
		if err != nil {
			return nil, nil, err
		}
		if part.FileName() == "" {
			params[part.FormName()] = string(b)
			continue
		}
		if files == nil {
			files = map[string]File{}
		}
		files[part.FormName()] = File{Name: part.FormName(), Filename: part.FileName(), Data: b}
	}
}

// canonical returns the Bot API spelling of a method the Server knows, or "".
func canonical(name string) string {
	for _, m := range [...]string{
		"getMe", "getUpdates", "sendMessage", "editMessageText", "editMessageReplyMarkup",
		"deleteMessage", "setMessageReaction", "sendDocument", "sendPhoto",
		"answerCallbackQuery", "setMyCommands", "deleteMyCommands", "getMyCommands",
		"getChatAdministrators", "getChat", "getChatMember", "setWebhook",
		"deleteWebhook", "getWebhookInfo", "leaveChat", "sendChatAction",
	} {
		if strings.EqualFold(m, name) {
			return m
		}
	}
	return ""
}

type envelope struct {
	OK          bool            `json:"ok"`
	Result      any             `json:"result,omitempty"`
	ErrorCode   int             `json:"error_code,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  *responseParams `json:"parameters,omitempty"`
}

type responseParams struct {
	RetryAfter      int   `json:"retry_after,omitempty"`
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = fmt.Appendf(nil, `{"ok":false,"error_code":500,"description":%q}`, err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func writeError(w http.ResponseWriter, code int, desc string, retryAfter int, migrateTo int64) {
	e := envelope{ErrorCode: code, Description: desc}
	if retryAfter != 0 || migrateTo != 0 {
		e.Parameters = &responseParams{RetryAfter: retryAfter, MigrateToChatID: migrateTo}
	}
	writeJSON(w, code, e)
}
