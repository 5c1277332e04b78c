package telegramtest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

type pendingUpdate struct {
	id  int64
	raw json.RawMessage
}

// enqueueLocked adds an update made of fields and returns its update_id.
func (s *Server) enqueueLocked(fields map[string]any) int64 {
	id := s.nextUpdate
	s.nextUpdate++
	fields["update_id"] = id
	raw, err := json.Marshal(fields)
	if err != nil {
		s.unexpectedLocked("update %d: %v", id, err)
	}
	s.updates = append(s.updates, pendingUpdate{id, raw})
	s.broadcastLocked()
	return id
}

// AddUpdate queues an update: u is marshalled to a JSON object (a
// json.RawMessage or []byte is taken as is) and gets the next update_id,
// which AddUpdate returns. Messages in it become known to the Server.
// If u is not a JSON object, it is reported as unexpected and 0 returned.
func (s *Server) AddUpdate(u any) int64 {
	s.lock()
	defer s.unlock()
	var raw []byte
	var err error
	switch v := u.(type) {
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		raw, err = json.Marshal(u)
	}
	var fields map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(raw, &fields)
	}
	if err != nil || fields == nil {
		s.unexpectedLocked("AddUpdate(%T): not a JSON object: %v", u, err)
		return 0
	}
	m := map[string]any{}
	for k, v := range fields {
		m[k] = v
	}
	for _, key := range []string{"message", "edited_message"} {
		var msg message
		if json.Unmarshal(fields[key], &msg) == nil && msg.MessageID != 0 && msg.Chat.ID != 0 {
			msg.Chat = s.registerLocked(msg.Chat).chat
			s.chats[msg.Chat.ID].add(&msg)
		}
	}
	return s.enqueueLocked(m)
}

// LastUpdateID returns the update_id given to the latest update, or 0.
func (s *Server) LastUpdateID() int64 {
	s.lock()
	defer s.unlock()
	if s.nextUpdate == max(s.FirstUpdateID, 1) {
		return 0
	}
	return s.nextUpdate - 1
}

// Confirmed returns the highest update_id the client has confirmed by
// asking getUpdates for a higher offset.
func (s *Server) Confirmed() int64 {
	s.lock()
	defer s.unlock()
	return s.confirmed
}

// Pending returns the number of updates not yet confirmed.
func (s *Server) Pending() int {
	s.lock()
	defer s.unlock()
	return len(s.updates)
}

// WaitConfirmed waits until the client has confirmed the update with the
// given id (go-telegram/bot does so before its handler runs).
func (s *Server) WaitConfirmed(ctx context.Context, updateID int64) error {
	_, err := s.WaitFor(ctx, func([]Call) bool { return s.Confirmed() >= updateID })
	return err
}

// SendMessage queues a message update from a user and returns the
// message's id. Commands in text get bot_command entities.
func (s *Server) SendMessage(chat Chat, from User, text string) (messageID int) {
	s.lock()
	defer s.unlock()
	m := s.registerLocked(chat).newMessage(from, s.now().Unix())
	m.Text, m.Entities = text, commandEntities(text)
	s.enqueueLocked(map[string]any{"message": m})
	return m.MessageID
}

// ReplyMessage queues a message update from a user answering message
// replyTo (theirs, another user's or the bot's) and returns its id.
func (s *Server) ReplyMessage(chat Chat, from User, replyTo int, text string) (messageID int) {
	s.lock()
	defer s.unlock()
	cs := s.registerLocked(chat)
	m := cs.newMessage(from, s.now().Unix())
	m.Text, m.Entities = text, commandEntities(text)
	if orig := cs.find(replyTo); orig != nil {
		quoted := *orig
		quoted.ReplyTo = nil
		m.ReplyTo = &quoted
	} else {
		s.unexpectedLocked("ReplyMessage: chat %d has no message %d", chat.ID, replyTo)
	}
	s.enqueueLocked(map[string]any{"message": m})
	return m.MessageID
}

// EditMessage queues an edited_message update: the user changed the text
// of message messageID.
func (s *Server) EditMessage(chat Chat, from User, messageID int, newText string) {
	s.lock()
	defer s.unlock()
	cs := s.registerLocked(chat)
	now := s.now().Unix()
	m := cs.find(messageID)
	if m == nil {
		m = &message{MessageID: messageID, From: &from, Date: now, Chat: cs.chat}
		cs.add(m)
	}
	m.Text, m.Entities, m.EditDate = newText, commandEntities(newText), now
	s.enqueueLocked(map[string]any{"edited_message": m})
}

// PressButton queues a callback_query update: the user pressed the inline
// button with callback data data under message messageID (normally the
// bot's). It returns the callback query's id for answerCallbackQuery.
func (s *Server) PressButton(chat Chat, from User, messageID int, data string) (callbackQueryID string) {
	s.lock()
	defer s.unlock()
	cs := s.registerLocked(chat)
	s.nextQuery++
	id := strconv.FormatInt(4_000_000_000_000_000_000+s.nextQuery, 10)
	s.callbacks[id] = true
	var msg any = map[string]any{"chat": cs.chat, "message_id": messageID, "date": 0} // inaccessible
	if m := cs.find(messageID); m != nil {
		msg = m
		if !slices.ContainsFunc(m.sent().Buttons(), func(b Button) bool { return b.CallbackData == data }) {
			s.unexpectedLocked("PressButton: message %d in chat %d has no button with data %q", messageID, cs.chat.ID, data)
		}
	}
	s.enqueueLocked(map[string]any{"callback_query": map[string]any{
		"id": id, "from": from, "message": msg, "data": data,
		"chat_instance": strconv.FormatInt(cs.chat.ID, 10),
	}})
	return id
}

// Migrate queues the service messages of a group becoming a supergroup
// (migrate_to_chat_id in the old chat, migrate_from_chat_id in the new) and
// then behaves as MigrateChat(oldChatID, newChatID).
func (s *Server) Migrate(oldChatID, newChatID int64) {
	s.lock()
	defer s.unlock()
	old := s.chatLocked(oldChatID)
	nc := s.registerLocked(Chat{ID: newChatID, Type: "supergroup", Title: old.chat.Title})
	if nc.admins == nil {
		nc.admins = slices.Clone(old.admins)
	}
	from := User{ID: 1, FirstName: "Owner"}
	if len(old.admins) > 0 {
		from = old.admins[0]
	}
	now := s.now().Unix()
	m := old.newMessage(from, now)
	m.MigrateTo = newChatID
	s.enqueueLocked(map[string]any{"message": m})
	m = nc.newMessage(from, now)
	m.MigrateFrom = oldChatID
	s.enqueueLocked(map[string]any{"message": m})
	old.migratedTo = newChatID
}

// commandEntities returns a bot_command entity for every "/command" or
// "/command@bot" at the start of text or after white space, with offsets
// and lengths in UTF-16 code units as Telegram counts them.
func commandEntities(text string) []entity {
	var out []entity
	units, afterSpace := 0, true
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == '/' && afterSpace {
			if n := commandLen(text[i:]); n > 0 { // ASCII: bytes are UTF-16 units
				out = append(out, entity{Type: "bot_command", Offset: units, Length: n})
				units, i, afterSpace = units+n, i+n, false
				continue
			}
		}
		afterSpace = unicode.IsSpace(r)
		units += utf16.RuneLen(r)
		i += size
	}
	return out
}

// commandLen returns the length of the command at the start of s, or 0.
func commandLen(s string) int {
	word := func(s string) int {
		n := 0
		for n < len(s) && (s[n] == '_' || s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || s[n] >= '0' && s[n] <= '9') {
			n++
		}
		return n
	}
	n := word(s[1:])
	if n == 0 {
		return 0
	}
	n++
	if n < len(s) && s[n] == '@' {
		if m := word(s[n+1:]); m > 0 {
			n += 1 + m
		}
	}
	return n
}

// getUpdates answers a getUpdates call; it is called locked and unlocks.
func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, call Call) {
	if s.webhook != "" {
		s.recordLocked(call)
		s.unlock()
		writeError(w, http.StatusConflict, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", 0, 0)
		return
	}
	offset, limit := call.Int64("offset"), call.Int("limit")
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	s.confirmLocked(offset)
	s.pollGen++
	gen := s.pollGen
	s.recordLocked(call)
	var expired <-chan time.Time
	if t := call.Int("timeout"); t > 0 {
		timer := time.NewTimer(time.Duration(t) * time.Second)
		defer timer.Stop()
		expired = timer.C
	}
	for len(s.updates) == 0 && expired != nil && !s.closed {
		if s.pollGen != gen {
			s.unlock()
			f := Conflict()
			writeError(w, f.code, f.desc, 0, 0)
			return
		}
		changed := s.changed
		s.unlock()
		select {
		case <-changed:
		case <-expired:
			expired = nil
		case <-r.Context().Done():
			return
		}
		s.mu.Lock()
	}
	batch := make([]json.RawMessage, 0, limit)
	for _, u := range s.updates[:min(limit, len(s.updates))] {
		batch = append(batch, u.raw)
	}
	s.unlock()
	writeJSON(w, http.StatusOK, envelope{OK: true, Result: batch})
}

// confirmLocked forgets the updates an offset confirms, as Telegram does:
// a positive offset confirms every update before it, a negative one keeps
// only the last -offset updates.
func (s *Server) confirmLocked(offset int64) {
	drop := 0
	switch {
	case offset > 0:
		drop = len(s.updates)
		if i := slices.IndexFunc(s.updates, func(u pendingUpdate) bool { return u.id >= offset }); i >= 0 {
			drop = i
		}
		s.confirmed = max(s.confirmed, offset-1)
	case offset < 0:
		drop = max(len(s.updates)-int(-offset), 0)
		if drop > 0 {
			s.confirmed = max(s.confirmed, s.updates[drop-1].id)
		}
	}
	s.updates = slices.Delete(s.updates, 0, drop)
}
