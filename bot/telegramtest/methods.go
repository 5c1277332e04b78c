package telegramtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
)

// reactionEmoji lists the emoji a bot may react with (Bot API ReactionTypeEmoji).
const reactionEmoji = "👍 👎 ❤ 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡 🥱 🥴 😍 🐳 " +
	"❤\u200d🔥 🌚 🌭 💯 🤣 ⚡ 🍌 🏆 💔 🤨 😐 🍓 🍾 💋 🖕 😈 😴 😭 🤓 👻 👨\u200d💻 👀 🎃 🙈 😇 😨 🤝 " +
	"✍ 🤗 🫡 🎅 🎄 ☃ 💅 🤪 🗿 🆒 💘 🙉 🦄 😘 💊 🙊 😎 👾 🤷\u200d♂ 🤷 🤷\u200d♀ 😡"

const notModified = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"

// apiError is an error answer of the Bot API.
type apiError struct {
	code int
	desc string
}

func badRequest(desc string) *apiError {
	return &apiError{http.StatusBadRequest, "Bad Request: " + desc}
}

// dispatchLocked performs a call to a known method and returns its result.
func (s *Server) dispatchLocked(c Call) (any, *apiError) {
	p := c.Params
	switch c.Method {
	case "getMe":
		return struct {
			User
			CanJoinGroups           bool `json:"can_join_groups"`
			CanReadAllGroupMessages bool `json:"can_read_all_group_messages"`
			SupportsInlineQueries   bool `json:"supports_inline_queries"`
		}{User: s.Me(), CanJoinGroups: true, CanReadAllGroupMessages: !s.PrivacyMode}, nil
	case "setWebhook", "deleteWebhook":
		s.webhook = p["url"] // none for deleteWebhook
		if c.Bool("drop_pending_updates") {
			s.updates = nil
		}
		return true, nil
	case "getWebhookInfo":
		return map[string]any{"url": s.webhook, "has_custom_certificate": false, "pending_update_count": len(s.updates)}, nil
	case "answerCallbackQuery":
		if !s.callbacks[p["callback_query_id"]] {
			return nil, badRequest("query is too old and response timeout expired or query ID is invalid")
		}
		delete(s.callbacks, p["callback_query_id"])
		return true, nil
	case "setMyCommands", "deleteMyCommands", "getMyCommands":
		return s.commandsLocked(c)
	}

	// The other methods act on a chat.
	if p["chat_id"] == "" {
		return nil, badRequest("chat_id is empty")
	}
	id, err := strconv.ParseInt(p["chat_id"], 10, 64)
	if err != nil || id == 0 {
		return nil, badRequest("chat not found")
	}
	cs := s.chatLocked(id)
	switch c.Method {
	case "sendMessage":
		return s.sendLocked(cs, c, "")
	case "sendDocument":
		return s.sendLocked(cs, c, "document")
	case "sendPhoto":
		return s.sendLocked(cs, c, "photo")
	case "editMessageText", "editMessageReplyMarkup":
		return s.editLocked(cs, c)
	case "deleteMessage":
		if cs.find(c.Int("message_id")) == nil {
			return nil, badRequest("message to delete not found")
		}
		cs.remove(c.Int("message_id"))
		return true, nil
	case "setMessageReaction":
		return s.reactLocked(cs, c)
	case "getChat":
		return struct {
			Chat
			AccentColorID    int `json:"accent_color_id"`
			MaxReactionCount int `json:"max_reaction_count"`
		}{Chat: cs.chat, MaxReactionCount: 11}, nil
	case "getChatAdministrators":
		if cs.chat.Type == "private" {
			return nil, badRequest("there are no administrators in the private chat")
		}
		members := []any{}
		for _, u := range cs.admins {
			members = append(members, s.memberLocked(cs, u.ID))
		}
		return members, nil
	case "getChatMember":
		return s.memberLocked(cs, c.Int64("user_id")), nil
	case "leaveChat":
		cs.blocked = "Forbidden: bot is not a member of the " + cs.chat.Type + " chat"
		return true, nil
	case "sendChatAction":
		return true, nil
	}
	return nil, &apiError{http.StatusNotFound, "Not Found"}
}

// sendLocked sends a text message, or a document or photo if media names one.
func (s *Server) sendLocked(cs *chatState, c Call, media string) (any, *apiError) {
	p := c.Params
	me := s.Me()
	m := &message{MessageID: cs.nextID, From: &me, Date: s.now().Unix(), Chat: cs.chat, parseMode: p["parse_mode"]}
	switch {
	case media == "" && p["text"] == "":
		return nil, badRequest("message text is empty")
	case media == "" && shownLen(p["text"], p["parse_mode"]) > 4096:
		return nil, badRequest("message is too long")
	case media == "":
		m.Text = p["text"]
	case shownLen(p["caption"], p["parse_mode"]) > 1024:
		return nil, badRequest("message caption is too long")
	default:
		f, uploaded := c.Files[media]
		fileID := p[media] // a file_id or URL
		if !uploaded && fileID == "" {
			return nil, badRequest("there is no " + media + " in the request")
		}
		if uploaded {
			m.file = &f
			fileID = fmt.Sprintf("%s-%d-%d", media, cs.chat.ID, m.MessageID)
		}
		if media == "document" {
			m.Document = &document{FileID: fileID, FileUniqueID: "u-" + fileID, FileName: f.Filename, FileSize: len(f.Data)}
		} else {
			m.Photo = []photoSize{{FileID: fileID, FileUniqueID: "u-" + fileID, FileSize: len(f.Data)}}
		}
		m.Caption = p["caption"]
	}

	replyTo, allow := c.Int("reply_to_message_id"), c.Bool("allow_sending_without_reply")
	if raw := p["reply_parameters"]; raw != "" {
		var rp struct {
			MessageID int  `json:"message_id"`
			Allow     bool `json:"allow_sending_without_reply"`
		}
		if json.Unmarshal([]byte(raw), &rp) != nil {
			return nil, badRequest("can't parse reply parameters JSON object")
		}
		replyTo, allow = rp.MessageID, rp.Allow
	}
	if replyTo != 0 {
		target := cs.find(replyTo)
		if target == nil && !allow {
			return nil, badRequest("message to be replied not found")
		}
		if target != nil {
			m.ReplyTo = target.snapshot()
		}
	}
	var e *apiError
	if m.ReplyMarkup, e = parseMarkup(p["reply_markup"]); e != nil {
		return nil, e
	}
	cs.add(m)
	return m, nil
}

// editLocked changes the text or the inline keyboard of a bot's message.
func (s *Server) editLocked(cs *chatState, c Call) (any, *apiError) {
	m := cs.find(c.Int("message_id"))
	me := s.Me()
	switch {
	case m == nil:
		return nil, badRequest("message to edit not found")
	case m.From == nil || m.From.ID != me.ID:
		return nil, badRequest("message can't be edited")
	}
	markup, e := parseMarkup(c.Params["reply_markup"])
	if e != nil {
		return nil, e
	}
	text := m.Text
	if c.Method == "editMessageText" {
		text = c.Params["text"]
		switch {
		case m.Text == "":
			return nil, badRequest("there is no text in the message to edit")
		case text == "":
			return nil, badRequest("message text is empty")
		case shownLen(text, c.Params["parse_mode"]) > 4096:
			return nil, badRequest("message is too long")
		}
	}
	if text == m.Text && sameJSON(markup, m.ReplyMarkup) {
		return nil, badRequest(notModified)
	}
	if c.Method == "editMessageText" {
		m.parseMode = c.Params["parse_mode"]
	}
	m.Text, m.ReplyMarkup, m.EditDate = text, markup, s.now().Unix()
	return m, nil
}

// reactLocked sets the bot's reaction to a message.
func (s *Server) reactLocked(cs *chatState, c Call) (any, *apiError) {
	id := c.Int("message_id")
	if cs.find(id) == nil {
		return nil, badRequest("message to react not found")
	}
	var reactions []struct {
		Type          string `json:"type"`
		Emoji         string `json:"emoji"`
		CustomEmojiID string `json:"custom_emoji_id"`
	}
	if raw := c.Params["reaction"]; raw != "" && json.Unmarshal([]byte(raw), &reactions) != nil {
		return nil, badRequest("can't parse reaction types JSON object")
	}
	if len(reactions) > 1 {
		return nil, badRequest("REACTIONS_TOO_MANY") // bots are not premium users
	}
	var got []string
	for _, r := range reactions {
		switch {
		case r.Type == "emoji" && slices.Contains(strings.Fields(reactionEmoji), r.Emoji):
			got = append(got, r.Emoji)
		case r.Type == "custom_emoji" && r.CustomEmojiID != "":
			got = append(got, "custom_emoji:"+r.CustomEmojiID)
		default:
			return nil, badRequest("REACTION_INVALID")
		}
	}
	cs.reactions[id] = got
	return true, nil
}

// commandsLocked implements setMyCommands, getMyCommands and deleteMyCommands.
func (s *Server) commandsLocked(c Call) (any, *apiError) {
	key := `{"type":"default"}`
	if raw := c.Params["scope"]; raw != "" {
		var scope any
		if json.Unmarshal([]byte(raw), &scope) != nil {
			return nil, badRequest("can't parse BotCommandScope JSON object")
		}
		b, _ := json.Marshal(scope) // sorts the keys
		key = string(b)
	}
	key += " " + c.Params["language_code"]
	switch c.Method {
	case "getMyCommands":
		if cmds, ok := s.commands[key]; ok {
			return cmds, nil
		}
		return []any{}, nil
	case "deleteMyCommands":
		delete(s.commands, key)
		return true, nil
	}
	var cmds []struct {
		Command     string `json:"command"`
		Description string `json:"description"`
	}
	if json.Unmarshal([]byte(c.Params["commands"]), &cmds) != nil {
		return nil, badRequest("can't parse commands JSON object")
	}
	for _, cmd := range cmds {
		if len(cmd.Command) == 0 || len(cmd.Command) > 32 || strings.Trim(cmd.Command, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			return nil, badRequest("BOT_COMMAND_INVALID")
		}
	}
	if len(cmds) == 0 {
		delete(s.commands, key)
	} else {
		s.commands[key], _ = json.Marshal(cmds)
	}
	return true, nil
}

// memberLocked returns a ChatMember: creator or administrator as set by
// SetAdmins; member for the bot, users added with AddMembers and users who
// sent a message in the chat; left for anyone else.
func (s *Server) memberLocked(cs *chatState, userID int64) any {
	u := User{ID: userID, FirstName: "User " + strconv.FormatInt(userID, 10)}
	known := false
	if me := s.Me(); userID == me.ID {
		u, known = me, true
	}
	if m, ok := cs.members[userID]; ok {
		u, known = m, true
	}
	for _, m := range cs.msgs {
		if m.From != nil && m.From.ID == userID {
			u, known = *m.From, true
		}
	}
	for i, a := range cs.admins {
		switch {
		case a.ID != userID:
		case i == 0:
			return map[string]any{"status": "creator", "user": a, "is_anonymous": false}
		default:
			return map[string]any{"status": "administrator", "user": a, "can_be_edited": false,
				"is_anonymous": false, "can_manage_chat": true, "can_delete_messages": true,
				"can_manage_video_chats": true, "can_restrict_members": true, "can_promote_members": false,
				"can_change_info": true, "can_invite_users": true, "can_pin_messages": true}
		}
	}
	if !known {
		return map[string]any{"status": "left", "user": u}
	}
	return map[string]any{"status": "member", "user": u}
}

// parseMarkup checks a reply_markup and returns the inline keyboard the
// message keeps, or nil: other keyboards are not part of the message.
func parseMarkup(raw string) (json.RawMessage, *apiError) {
	if raw == "" {
		return nil, nil
	}
	var kb struct {
		InlineKeyboard *[][]struct {
			CallbackData *string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	if json.Unmarshal([]byte(raw), &kb) != nil {
		return nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	if kb.InlineKeyboard == nil {
		return nil, nil
	}
	for _, row := range *kb.InlineKeyboard {
		for _, b := range row {
			if b.CallbackData != nil && (len(*b.CallbackData) == 0 || len(*b.CallbackData) > 64) {
				return nil, badRequest("BUTTON_DATA_INVALID")
			}
		}
	}
	var b bytes.Buffer
	json.Compact(&b, []byte(raw)) // valid: it was unmarshalled
	return b.Bytes(), nil
}

// sameJSON reports whether a and b hold the same JSON value (or are both empty).
func sameJSON(a, b json.RawMessage) bool {
	norm := func(raw json.RawMessage) string {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return string(raw)
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	return norm(a) == norm(b)
}

// shownLen is a text's length as Telegram counts it: in UTF-16 code
// units, after HTML is parsed (tags count nothing, an entity one).
func shownLen(s, parseMode string) int {
	if parseMode != "HTML" {
		return utf16Len(s)
	}
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
	return utf16Len(html.UnescapeString(b.String()))
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
