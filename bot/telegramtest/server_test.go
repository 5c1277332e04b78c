package telegramtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"gridbot/bot/telegramtest"
)

var (
	group = telegramtest.Chat{ID: -1001234567890, Type: "supergroup", Title: "Grid"}
	alice = telegramtest.User{ID: 42, FirstName: "Alice", Username: "alice"}
	bob   = telegramtest.User{ID: 43, FirstName: "Bob"}
)

// testContext returns a context that ends with the test or after 10 s.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newBot returns a go-telegram/bot client talking to s in memory.
func newBot(t *testing.T, s *telegramtest.Server, opts ...bot.Option) *bot.Bot {
	t.Helper()
	opts = append([]bot.Option{bot.WithHTTPClient(time.Minute, s.Client()), bot.WithSkipGetMe()}, opts...)
	b, err := bot.New("123:abc", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// getUpdates calls getUpdates like a plain poller and returns the HTTP status and the updates.
func getUpdates(t *testing.T, s *telegramtest.Server, contentType, body string) (int, []models.Update) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost,
		"https://api.telegram.org/bot1:x/GETUPDATES", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		OK     bool            `json:"ok"`
		Result []models.Update `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, env.Result
}

func TestGoTelegramBotOverHTTP(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t), telegramtest.WithToken("123:abc"))
	var mu sync.Mutex
	wire := map[string]string{} // method -> how its last request arrived
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		mu.Lock()
		wire[path.Base(r.URL.Path)] = fmt.Sprintf("%v %d %s", r.TransferEncoding, r.ContentLength, mt)
		mu.Unlock()
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	ctx := testContext(t)

	b, err := bot.New("123:abc", bot.WithServerURL(ts.URL)) // calls getMe
	if err != nil {
		t.Fatal(err)
	}
	s.AddChat(group)
	report := s.SendMessage(group, alice, "/report 3 rows")

	kb := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{
		{Text: "OK", CallbackData: "ok:1"}, {Text: "Undo", CallbackData: "undo:1"},
	}}}
	msg, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: group.ID, Text: "Got 3 rows",
		ReplyParameters: &models.ReplyParameters{MessageID: report}, ReplyMarkup: kb})
	if err != nil {
		t.Fatal(err)
	}
	if msg.ID != report+1 || msg.Chat.ID != group.ID || msg.Chat.Title != "Grid" || msg.From.Username != "gridbot" ||
		msg.ReplyToMessage == nil || msg.ReplyToMessage.ID != report || msg.ReplyToMessage.Text != "/report 3 rows" ||
		msg.ReplyMarkup == nil || msg.ReplyMarkup.InlineKeyboard[0][1].CallbackData != "undo:1" || msg.Date == 0 {
		t.Errorf("sendMessage returned %+v", msg)
	}

	xlsx := []byte("PK\x03\x04 not really a spreadsheet")
	doc, err := b.SendDocument(ctx, &bot.SendDocumentParams{ChatID: group.ID, Caption: "rows",
		Document: &models.InputFileUpload{Filename: "x.xlsx", Data: bytes.NewReader(xlsx)}})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Document == nil || doc.Document.FileName != "x.xlsx" || doc.Document.FileSize != int64(len(xlsx)) || doc.Caption != "rows" {
		t.Errorf("sendDocument returned %+v", doc)
	}
	call := s.CallsTo("senddocument")[0]
	if f := call.Files["document"]; f.Filename != "x.xlsx" || !bytes.Equal(f.Data, xlsx) || call.Int64("chat_id") != group.ID {
		t.Errorf("sendDocument call = %+v", call)
	}
	if _, err := b.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: group.ID,
		Photo: &models.InputFileUpload{Filename: "chart.png", Data: strings.NewReader("png")}}); err != nil {
		t.Fatal(err)
	}

	if _, err := b.SetMessageReaction(ctx, &bot.SetMessageReactionParams{ChatID: group.ID, MessageID: report,
		Reaction: []models.ReactionType{{Type: models.ReactionTypeTypeEmoji, ReactionTypeEmoji: &models.ReactionTypeEmoji{Emoji: "👌"}}}}); err != nil {
		t.Fatal(err)
	}
	if got := s.Reactions(group.ID, report); !slices.Equal(got, []string{"👌"}) {
		t.Errorf("Reactions = %q", got)
	}

	edited, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: group.ID, MessageID: msg.ID, Text: "Saved 3 rows"})
	if err != nil {
		t.Fatal(err)
	}
	if edited.Text != "Saved 3 rows" || edited.EditDate == 0 || edited.ReplyMarkup != nil {
		t.Errorf("editMessageText returned %+v (an edit without reply_markup removes the keyboard)", edited)
	}

	sent := s.Sent(group.ID)
	if len(sent) != 3 || sent[0].Text != "Saved 3 rows" || sent[0].ReplyTo != report || sent[0].ReplyMarkup != nil ||
		sent[1].File == nil || sent[1].File.Filename != "x.xlsx" || sent[2].File.Filename != "chart.png" {
		t.Errorf("Sent = %+v", sent)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, m := range []string{"sendMessage", "sendDocument", "setMessageReaction", "editMessageText"} {
		if want := "[chunked] -1 multipart/form-data"; wire[m] != want {
			t.Errorf("%s arrived as %q, want %q", m, wire[m], want)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(s *telegramtest.Server)
		text       string
		check      func(err error) bool
		persistent bool
	}{
		{"too many requests", func(s *telegramtest.Server) { s.Fail("sendMessage", telegramtest.TooManyRequests(7)) }, "hi",
			func(err error) bool { var e *bot.TooManyRequestsError; return errors.As(err, &e) && e.RetryAfter == 7 }, false},
		{"migrated", func(s *telegramtest.Server) { s.Fail("SENDMESSAGE", telegramtest.Migrated(-1009)) }, "hi",
			func(err error) bool { var e *bot.MigrateError; return errors.As(err, &e) && e.MigrateToChatID == -1009 }, false},
		{"forbidden", func(s *telegramtest.Server) { s.Fail("", telegramtest.Forbidden()) }, "hi",
			func(err error) bool { return errors.Is(err, bot.ErrorForbidden) }, false},
		{"bad request", func(s *telegramtest.Server) { s.Fail("sendMessage", telegramtest.BadRequest("chat not found")) }, "hi",
			func(err error) bool {
				return errors.Is(err, bot.ErrorBadRequest) && strings.Contains(err.Error(), "Bad Request: chat not found")
			}, false},
		{"conflict", func(s *telegramtest.Server) { s.Fail("sendMessage", telegramtest.Conflict()) }, "hi",
			func(err error) bool { return errors.Is(err, bot.ErrorConflict) }, false},
		{"server error", func(s *telegramtest.Server) { s.Fail("", telegramtest.ServerError(502)) }, "hi",
			func(err error) bool { return strings.Contains(err.Error(), "502 Bad Gateway") }, false},
		{"proxy page", func(s *telegramtest.Server) { s.Fail("sendMessage", telegramtest.ProxyError(502)) }, "hi",
			func(err error) bool { return strings.Contains(err.Error(), "error decode response body") }, false},
		{"MigrateChat", func(s *telegramtest.Server) { s.MigrateChat(group.ID, -1009) }, "hi",
			func(err error) bool { var e *bot.MigrateError; return errors.As(err, &e) && e.MigrateToChatID == -1009 }, true},
		{"Kick", func(s *telegramtest.Server) { s.AddChat(group); s.Kick(group.ID) }, "hi",
			func(err error) bool {
				return errors.Is(err, bot.ErrorForbidden) && strings.Contains(err.Error(), "kicked from the supergroup chat")
			}, true},
		{"empty text", func(*telegramtest.Server) {}, "",
			func(err error) bool { return errors.Is(err, bot.ErrorBadRequest) }, true},
		{"text too long", func(*telegramtest.Server) {}, strings.Repeat("字", 4097),
			func(err error) bool {
				return errors.Is(err, bot.ErrorBadRequest) && strings.Contains(err.Error(), "too long")
			}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := telegramtest.New(telegramtest.WithReporter(t))
			b := newBot(t, s)
			tt.setup(s)
			ctx := testContext(t)
			_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: group.ID, Text: tt.text})
			if err == nil || !tt.check(err) {
				t.Fatalf("first send: err = %v", err)
			}
			_, err = b.SendMessage(ctx, &bot.SendMessageParams{ChatID: group.ID, Text: tt.text})
			if tt.persistent != (err != nil) {
				t.Errorf("second send: err = %v, want an error: %v", err, tt.persistent)
			}
			if n := len(s.CallsTo("sendMessage")); n != 2 {
				t.Errorf("recorded %d calls, want 2", n)
			}
		})
	}
}

func TestEditsAndReactions(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t))
	b := newBot(t, s)
	ctx := testContext(t)
	userMsg := s.SendMessage(group, alice, "hello")
	kb := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "OK", CallbackData: "ok"}}}}
	msg, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: group.ID, Text: "question", ReplyMarkup: kb})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(id int, text string, markup models.ReplyMarkup) error {
		_, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: group.ID, MessageID: id, Text: text, ReplyMarkup: markup})
		return err
	}
	react := func(emoji ...string) error {
		var rs []models.ReactionType
		for _, e := range emoji {
			rs = append(rs, models.ReactionType{Type: models.ReactionTypeTypeEmoji, ReactionTypeEmoji: &models.ReactionTypeEmoji{Emoji: e}})
		}
		_, err := b.SetMessageReaction(ctx, &bot.SetMessageReactionParams{ChatID: group.ID, MessageID: userMsg, Reaction: rs})
		return err
	}
	tests := []struct {
		name string
		do   func() error
		want string // "" for success, else part of the error
	}{
		{"unknown message", func() error { return edit(999, "x", nil) }, "message to edit not found"},
		{"user's message", func() error { return edit(userMsg, "x", nil) }, "message can't be edited"},
		{"same text and keyboard", func() error { return edit(msg.ID, "question", kb) }, "message is not modified"},
		{"same text, keyboard removed", func() error { return edit(msg.ID, "question", nil) }, ""},
		{"same again", func() error { return edit(msg.ID, "question", nil) }, "message is not modified"},
		{"keyboard back", func() error {
			_, err := b.EditMessageReplyMarkup(ctx, &bot.EditMessageReplyMarkupParams{ChatID: group.ID, MessageID: msg.ID, ReplyMarkup: kb})
			return err
		}, ""},
		{"long callback data", func() error {
			long := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "x", CallbackData: strings.Repeat("d", 65)}}}}
			return edit(msg.ID, "question?", long)
		}, "BUTTON_DATA_INVALID"},
		{"allowed reaction", func() error { return react("🫡") }, ""},
		{"reaction not on the list", func() error { return react("✅") }, "REACTION_INVALID"},
		{"two reactions", func() error { return react("👍", "🔥") }, "REACTIONS_TOO_MANY"},
		{"delete", func() error {
			_, err := b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: group.ID, MessageID: userMsg})
			return err
		}, ""},
		{"delete again", func() error {
			_, err := b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: group.ID, MessageID: userMsg})
			return err
		}, "message to delete not found"},
	}
	for _, tt := range tests {
		err := tt.do()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (!errors.Is(err, bot.ErrorBadRequest) || !strings.Contains(fmt.Sprint(err), tt.want)):
			t.Errorf("%s: err = %v, want bad request %q", tt.name, err, tt.want)
		}
	}
	sent := s.Sent(group.ID)
	if len(sent) != 1 || sent[0].Text != "question" || len(sent[0].Buttons()) != 1 || sent[0].Buttons()[0].CallbackData != "ok" {
		t.Errorf("Sent = %+v", sent)
	}
}

func TestLongPollInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := telegramtest.New(telegramtest.WithReporter(t))
		got := make(chan *models.Update, 1)
		b := newBot(t, s, bot.WithNotAsyncHandlers(),
			bot.WithDefaultHandler(func(_ context.Context, _ *bot.Bot, u *models.Update) { got <- u }))
		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan struct{})
		go func() {
			b.Start(ctx)
			close(stopped)
		}()

		synctest.Wait() // the first long poll is waiting
		polls := s.CallsTo("getUpdates")
		if len(polls) != 1 || polls[0].Int("timeout") != 59 || polls[0].Int64("offset") != 1 {
			t.Fatalf("getUpdates calls = %+v", polls)
		}
		start := time.Now()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n := len(s.CallsTo("getUpdates")); n != 1 {
			t.Fatalf("after 30 s there are %d polls, want the first one still waiting", n)
		}

		s.SendMessage(group, alice, "/report@gridbot 3 rows")
		u := <-got
		if d := time.Since(start); d != 30*time.Second {
			t.Errorf("update arrived after %v, want at once", d)
		}
		if u.Message == nil || u.Message.Text != "/report@gridbot 3 rows" || len(u.Message.Entities) != 1 ||
			u.Message.Entities[0].Type != models.MessageEntityTypeBotCommand || u.Message.Entities[0].Length != 15 {
			t.Errorf("update = %+v", u.Message)
		}

		synctest.Wait() // the next poll confirms the update
		polls = s.CallsTo("getUpdates")
		if len(polls) != 2 || polls[1].Int64("offset") != u.ID+1 || s.Confirmed() != u.ID || s.Pending() != 0 {
			t.Errorf("after the update: polls %d, offset %d, confirmed %d, pending %d",
				len(polls), polls[len(polls)-1].Int64("offset"), s.Confirmed(), s.Pending())
		}
		time.Sleep(60 * time.Second) // the second poll times out with [] and the bot polls again
		synctest.Wait()
		if n := len(s.CallsTo("getUpdates")); n != 3 {
			t.Errorf("after the timeout there are %d polls, want 3", n)
		}
		cancel()
		<-stopped
	})
}

func TestOffsetConfirmation(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t), telegramtest.WithFirstUpdateID(500))
	for i := range 3 {
		s.AddUpdate(models.Update{Message: &models.Message{ID: 7 + i, Date: 1, Chat: models.Chat{ID: group.ID}, Text: "x"}})
	}
	if id := s.LastUpdateID(); id != 502 {
		t.Fatalf("LastUpdateID = %d", id)
	}
	steps := []struct {
		contentType, body string
		want              []int64
		confirmed         int64
		pending           int
	}{
		{"", "", []int64{500, 501, 502}, 0, 3},
		{"application/json", `{"offset":501}`, []int64{501, 502}, 500, 2},
		{"application/x-www-form-urlencoded", "offset=501&limit=1", []int64{501}, 500, 2},
		{"application/json", `{"offset":-1,"allowed_updates":["message"]}`, []int64{502}, 501, 1},
		{"application/json", `{"offset":100}`, []int64{502}, 501, 1},
		{"application/json", `{"offset":503,"timeout":0}`, nil, 502, 0},
	}
	for i, st := range steps {
		code, updates := getUpdates(t, s, st.contentType, st.body)
		var ids []int64
		for _, u := range updates {
			ids = append(ids, u.ID)
		}
		if code != http.StatusOK || !slices.Equal(ids, st.want) || s.Confirmed() != st.confirmed || s.Pending() != st.pending {
			t.Errorf("step %d %s: got %d %v confirmed %d pending %d, want %v confirmed %d pending %d",
				i, st.body, code, ids, s.Confirmed(), s.Pending(), st.want, st.confirmed, st.pending)
		}
	}
	// Messages in raw updates became known: the bot can reply to them.
	b := newBot(t, s)
	if _, err := b.SendMessage(testContext(t), &bot.SendMessageParams{ChatID: group.ID, Text: "ok",
		ReplyParameters: &models.ReplyParameters{MessageID: 8}}); err != nil {
		t.Error(err)
	}
}

func TestCommandEntities(t *testing.T) {
	tests := []struct {
		text string
		want [][2]int // offset, length in UTF-16 code units
	}{
		{"/start", [][2]int{{0, 6}}},
		{"/report@gridbot 3 rows", [][2]int{{0, 15}}},
		{"报告 /report", [][2]int{{3, 7}}},
		{"😀 /a and /b_2", [][2]int{{3, 2}, {10, 4}}},
		{"/报告", nil},
		{"a/b", nil},
		{"plain", nil},
	}
	s := telegramtest.New(telegramtest.WithReporter(t))
	for _, tt := range tests {
		s.SendMessage(group, alice, tt.text)
	}
	_, updates := getUpdates(t, s, "application/json", `{}`)
	for i, tt := range tests {
		var got [][2]int
		for _, e := range updates[i].Message.Entities {
			if e.Type == models.MessageEntityTypeBotCommand {
				got = append(got, [2]int{e.Offset, e.Length})
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: entities %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestBuilders(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t))
	b := newBot(t, s)
	ctx := testContext(t)
	small := telegramtest.Chat{ID: -4001, Type: "group", Title: "Small"}
	s.SetAdmins(small.ID, alice, bob)
	kb := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "Undo", CallbackData: "undo:7"}}}}
	msg, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: small.ID, Text: "Saved", ReplyMarkup: kb})
	if err != nil {
		t.Fatal(err)
	}
	userMsg := s.SendMessage(small, bob, "3 rows")
	s.EditMessage(small, bob, userMsg, "4 rows")
	queryID := s.PressButton(small, alice, msg.ID, "undo:7")
	s.Migrate(small.ID, -1004001)

	_, updates := getUpdates(t, s, "application/json", `{}`)
	if len(updates) != 5 {
		t.Fatalf("got %d updates, want 5", len(updates))
	}
	if m := updates[0].Message; m == nil || m.ID != msg.ID+1 || m.From.ID != bob.ID || m.Chat.Title != "Small" {
		t.Errorf("message = %+v", m)
	}
	if m := updates[1].EditedMessage; m == nil || m.ID != userMsg || m.Text != "4 rows" || m.EditDate == 0 {
		t.Errorf("edited_message = %+v", m)
	}
	cq := updates[2].CallbackQuery
	if cq == nil || cq.ID != queryID || cq.Data != "undo:7" || cq.From.ID != alice.ID || cq.Message.Message == nil ||
		cq.Message.Message.Text != "Saved" || cq.Message.Message.From.Username != "gridbot" {
		t.Errorf("callback_query = %+v", cq)
	}
	if m := updates[3].Message; m == nil || m.MigrateToChatID != -1004001 || m.Chat.ID != small.ID || m.From.ID != alice.ID {
		t.Errorf("migrate_to message = %+v", m)
	}
	if m := updates[4].Message; m == nil || m.MigrateFromChatID != small.ID || m.Chat.ID != -1004001 || m.Chat.Type != "supergroup" {
		t.Errorf("migrate_from message = %+v", m)
	}

	if ok, err := b.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: queryID}); !ok || err != nil {
		t.Errorf("answerCallbackQuery = %v, %v", ok, err)
	}
	if _, err := b.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: queryID}); !errors.Is(err, bot.ErrorBadRequest) {
		t.Errorf("second answerCallbackQuery: %v", err)
	}
	var migrated *bot.MigrateError
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: small.ID, Text: "x"}); !errors.As(err, &migrated) || migrated.MigrateToChatID != -1004001 {
		t.Errorf("send to the old chat: %v", err)
	}
	admins, err := b.GetChatAdministrators(ctx, &bot.GetChatAdministratorsParams{ChatID: -1004001})
	if err != nil || len(admins) != 2 || admins[0].Type != models.ChatMemberTypeOwner || admins[0].Owner.User.ID != alice.ID ||
		admins[1].Type != models.ChatMemberTypeAdministrator || admins[1].Administrator.User.ID != bob.ID {
		t.Errorf("getChatAdministrators = %+v, %v", admins, err)
	}
	member, err := b.GetChatMember(ctx, &bot.GetChatMemberParams{ChatID: group.ID, UserID: 77})
	if err != nil || member.Type != models.ChatMemberTypeLeft {
		t.Errorf("getChatMember of a stranger = %+v, %v", member, err)
	}
	s.AddMembers(group.ID, telegramtest.User{ID: 77, FirstName: "Member"})
	member, err = b.GetChatMember(ctx, &bot.GetChatMemberParams{ChatID: group.ID, UserID: 77})
	if err != nil || member.Type != models.ChatMemberTypeMember {
		t.Errorf("getChatMember of a member = %+v, %v", member, err)
	}
	member, err = b.GetChatMember(ctx, &bot.GetChatMemberParams{ChatID: -1004001, UserID: bob.ID})
	if err != nil || member.Type != models.ChatMemberTypeAdministrator {
		t.Errorf("getChatMember of an admin = %+v, %v", member, err)
	}
	chat, err := b.GetChat(ctx, &bot.GetChatParams{ChatID: -1004001})
	if err != nil || chat.Title != "Small" || chat.Type != models.ChatTypeSupergroup {
		t.Errorf("getChat = %+v, %v", chat, err)
	}
}

func TestCommandsAndWebhook(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t))
	b := newBot(t, s)
	ctx := testContext(t)
	cmds := []models.BotCommand{{Command: "report", Description: "Report rows"}, {Command: "help", Description: "Help"}}
	if _, err := b.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: cmds, Scope: &models.BotCommandScopeAllGroupChats{}}); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetMyCommands(ctx, &bot.GetMyCommandsParams{Scope: &models.BotCommandScopeAllGroupChats{}})
	if err != nil || !slices.Equal(got, cmds) {
		t.Errorf("getMyCommands(all_group_chats) = %v, %v", got, err)
	}
	if got, err := b.GetMyCommands(ctx, &bot.GetMyCommandsParams{}); err != nil || len(got) != 0 {
		t.Errorf("getMyCommands(default) = %v, %v", got, err)
	}
	bad := []models.BotCommand{{Command: "Report", Description: "x"}}
	if _, err := b.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: bad}); !errors.Is(err, bot.ErrorBadRequest) {
		t.Errorf("setMyCommands(%q): %v", bad[0].Command, err)
	}
	if _, err := b.DeleteMyCommands(ctx, &bot.DeleteMyCommandsParams{Scope: &models.BotCommandScopeAllGroupChats{}}); err != nil {
		t.Error(err)
	}

	if _, err := b.SetWebhook(ctx, &bot.SetWebhookParams{URL: "https://example.com/hook"}); err != nil {
		t.Fatal(err)
	}
	if code, _ := getUpdates(t, s, "", ""); code != http.StatusConflict {
		t.Errorf("getUpdates with a webhook: %d, want 409", code)
	}
	if info, err := b.GetWebhookInfo(ctx); err != nil || info.URL != "https://example.com/hook" {
		t.Errorf("getWebhookInfo = %+v, %v", info, err)
	}
	if _, err := b.DeleteWebhook(ctx, &bot.DeleteWebhookParams{}); err != nil {
		t.Fatal(err)
	}
	if code, _ := getUpdates(t, s, "", ""); code != http.StatusOK {
		t.Errorf("getUpdates after deleteWebhook: %d", code)
	}
}

func TestTimeoutOverHTTPEndsWithClient(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t))
	ts := httptest.NewServer(s)
	defer ts.Close() // blocks until every handler returned: nothing leaked
	b, err := bot.New("123:abc", bot.WithServerURL(ts.URL), bot.WithSkipGetMe())
	if err != nil {
		t.Fatal(err)
	}
	s.Fail("sendMessage", telegramtest.Timeout())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: group.ID, Text: "hi"})
		errc <- err
	}()
	if _, err := s.WaitCalls(testContext(t), "sendMessage", 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-testContext(t).Done():
		t.Fatal("the cancelled call did not return")
	}
}

func TestTimeoutInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := telegramtest.New(telegramtest.WithReporter(t))
		b := newBot(t, s)
		s.Fail("sendMessage", telegramtest.Timeout())
		s.Fail("sendMessage", telegramtest.Timeout())

		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: group.ID, Text: "hi"})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 10*time.Second {
			t.Errorf("after %v: err = %v, want the deadline after 10s", time.Since(start), err)
		}

		errc := make(chan error, 1)
		go func() {
			_, err := b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: group.ID, Text: "hi"})
			errc <- err
		}()
		synctest.Wait()
		s.Close() // releases the hanging call
		if err := <-errc; err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("after Close: err = %v, want 503", err)
		}
		if _, err := s.WaitCalls(t.Context(), "getMe", 1); !errors.Is(err, telegramtest.ErrClosed) {
			t.Errorf("WaitCalls after Close: %v", err)
		}
	})
}

func TestConcurrentSends(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t))
	b := newBot(t, s)
	ctx := testContext(t)
	chats := []int64{group.ID, -4002}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				chatID := chats[(w+i)%2]
				if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: chatID, Text: fmt.Sprint(w, i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for range each {
			s.SendMessage(group, alice, "meanwhile")
		}
	})
	calls, err := s.WaitCalls(ctx, "sendMessage", workers*each)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(calls) != workers*each {
		t.Errorf("%d calls", len(calls))
	}
	for _, id := range chats {
		sent := s.Sent(id)
		if len(sent) != workers*each/2 {
			t.Errorf("chat %d: %d messages", id, len(sent))
		}
		for i := 1; i < len(sent); i++ {
			if sent[i].ID <= sent[i-1].ID {
				t.Errorf("chat %d: message ids %d then %d", id, sent[i-1].ID, sent[i].ID)
			}
		}
	}
	if last := s.Sent(group.ID); last[len(last)-1].ID > 1000+workers*each/2+each-1 {
		t.Errorf("message ids are not dense: last is %d", last[len(last)-1].ID)
	}
}

// reporter records reports instead of failing the test.
type reporter struct {
	mu   sync.Mutex
	msgs []string
}

func (r *reporter) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func TestUnexpectedRequestsFailLoudly(t *testing.T) {
	rep := &reporter{}
	s := telegramtest.New(telegramtest.WithReporter(rep), telegramtest.WithToken("123:abc"))
	ts := httptest.NewServer(s)
	defer ts.Close()
	tests := []struct {
		path, contentType, body string
		wantCode                int
	}{
		{"/bot123:abc/sendFoo", "application/json", `{}`, http.StatusNotFound},
		{"/bot999:wrong/getMe", "", "", http.StatusUnauthorized},
		{"/bot123:abc/sendMessage", "application/json", `{"chat_id":`, http.StatusBadRequest},
		{"/favicon.ico", "", "", http.StatusNotFound},
		{"/bot123:abc/test/GetMe", "", "", http.StatusOK},
	}
	for _, tt := range tests {
		resp, err := http.Post(ts.URL+tt.path, tt.contentType, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			OK          bool   `json:"ok"`
			ErrorCode   int    `json:"error_code"`
			Description string `json:"description"`
		}
		err = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tt.wantCode || env.OK != (tt.wantCode == 200) || !env.OK && env.ErrorCode != tt.wantCode {
			t.Errorf("%s: %d %+v %v, want %d", tt.path, resp.StatusCode, env, err, tt.wantCode)
		}
	}
	s.Fail("sendFoo", telegramtest.Forbidden())
	if got := s.Unexpected(); len(got) != 5 || len(rep.msgs) != 5 {
		t.Errorf("Unexpected = %q, reported %q", got, rep.msgs)
	}
	if calls := s.Calls(); len(calls) != 2 || calls[0].Method != "sendFoo" || calls[1].Method != "getMe" {
		t.Errorf("Calls = %+v", calls)
	}
	s.Reset()
	if len(s.Calls())+len(s.Unexpected()) != 0 {
		t.Error("Reset kept calls")
	}
}

func TestZeroValueAndWaitFor(t *testing.T) {
	var s telegramtest.Server
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.WaitCalls(ctx, "getMe", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitCalls without calls: %v", err)
	}
	b := newBot(t, &s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if me, err := b.GetMe(context.Background()); err != nil || me.Username != "gridbot" || !me.IsBot {
			t.Errorf("getMe = %+v, %v", me, err)
		}
	}()
	calls, err := s.WaitFor(testContext(t), func(calls []telegramtest.Call) bool { return len(calls) == 1 })
	if err != nil || calls[0].Method != "getMe" || len(calls[0].Params) != 0 {
		t.Errorf("WaitFor = %+v, %v", calls, err)
	}
	<-done
}
