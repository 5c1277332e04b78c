package telegramtest

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"
)

// message is the Server's model of a message and its Bot API JSON.
type message struct {
	MessageID   int             `json:"message_id"`
	From        *User           `json:"from,omitempty"`
	Date        int64           `json:"date"`
	Chat        Chat            `json:"chat"`
	ReplyTo     *message        `json:"reply_to_message,omitempty"`
	EditDate    int64           `json:"edit_date,omitempty"`
	Text        string          `json:"text,omitempty"`
	Entities    []entity        `json:"entities,omitempty"`
	Document    *document       `json:"document,omitempty"`
	Photo       []photoSize     `json:"photo,omitempty"`
	Caption     string          `json:"caption,omitempty"`
	ReplyMarkup json.RawMessage `json:"reply_markup,omitempty"`
	MigrateTo   int64           `json:"migrate_to_chat_id,omitempty"`
	MigrateFrom int64           `json:"migrate_from_chat_id,omitempty"`

	parseMode string
	file      *File // the uploaded document or photo
}

type entity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"` // in UTF-16 code units
	Length int    `json:"length"` // in UTF-16 code units
}

type document struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileName     string `json:"file_name,omitempty"`
	FileSize     int    `json:"file_size,omitempty"`
}

type photoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FileSize     int    `json:"file_size,omitempty"`
}

// SentMessage is the current state of a message the bot sent.
type SentMessage struct {
	ID          int
	ChatID      int64
	Text        string // after edits; as sent, markup is not rendered
	ParseMode   string
	Caption     string
	File        *File           // the document or photo, if any
	ReplyTo     int             // message_id replied to, or 0
	ReplyMarkup json.RawMessage // current inline keyboard, or nil
	Date        time.Time
	EditDate    time.Time // zero if never edited
}

// Button is an inline keyboard button.
type Button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
}

// Buttons returns the inline keyboard's buttons, row by row.
func (m SentMessage) Buttons() []Button {
	var kb struct {
		InlineKeyboard [][]Button `json:"inline_keyboard"`
	}
	json.Unmarshal(m.ReplyMarkup, &kb) // the Server stored valid JSON
	return slices.Concat(kb.InlineKeyboard...)
}

func (m *message) sent() SentMessage {
	sm := SentMessage{ID: m.MessageID, ChatID: m.Chat.ID, Text: m.Text, ParseMode: m.parseMode,
		Caption: m.Caption, File: m.file, ReplyMarkup: slices.Clone(m.ReplyMarkup),
		Date: time.Unix(m.Date, 0).UTC()}
	if m.ReplyTo != nil {
		sm.ReplyTo = m.ReplyTo.MessageID
	}
	if m.EditDate != 0 {
		sm.EditDate = time.Unix(m.EditDate, 0).UTC()
	}
	return sm
}

// snapshot returns a copy of m to quote as a reply_to_message.
func (m *message) snapshot() *message {
	c := *m
	c.ReplyTo = nil
	return &c
}

type chatState struct {
	chat       Chat
	nextID     int
	msgs       []*message     // by message_id
	admins     []User         // the first one is the creator
	members    map[int64]User // added with AddMembers
	reactions  map[int][]string
	migratedTo int64
	blocked    string // description of the 403 every call gets
}

func (cs *chatState) find(id int) *message {
	i, ok := slices.BinarySearchFunc(cs.msgs, id, func(m *message, id int) int { return cmp.Compare(m.MessageID, id) })
	if !ok {
		return nil
	}
	return cs.msgs[i]
}

func (cs *chatState) add(m *message) {
	i, ok := slices.BinarySearchFunc(cs.msgs, m.MessageID, func(m *message, id int) int { return cmp.Compare(m.MessageID, id) })
	if ok {
		cs.msgs[i] = m
	} else {
		cs.msgs = slices.Insert(cs.msgs, i, m)
	}
	cs.nextID = max(cs.nextID, m.MessageID+1)
}

func (cs *chatState) remove(id int) {
	cs.msgs = slices.DeleteFunc(cs.msgs, func(m *message) bool { return m.MessageID == id })
	delete(cs.reactions, id)
}

// newMessage adds a message with the next message_id.
func (cs *chatState) newMessage(from User, date int64) *message {
	m := &message{MessageID: cs.nextID, From: &from, Date: date, Chat: cs.chat}
	cs.add(m)
	return m
}

func (s *Server) chatLocked(id int64) *chatState {
	cs := s.chats[id]
	if cs == nil {
		typ := "group"
		switch {
		case id > 0:
			typ = "private"
		case id < -1_000_000_000_000:
			typ = "supergroup"
		}
		cs = &chatState{chat: Chat{ID: id, Type: typ}, reactions: map[int][]string{}}
		cs.nextID = cmp.Or(s.FirstMessageID, 1000)
		s.chats[id] = cs
	}
	return cs
}

func (s *Server) registerLocked(c Chat) *chatState {
	cs := s.chatLocked(c.ID)
	cs.chat.Type = cmp.Or(c.Type, cs.chat.Type)
	cs.chat.Title = cmp.Or(c.Title, cs.chat.Title)
	return cs
}

// AddChat makes a chat known with its type and title. Chats are also
// learnt from updates; an unknown chat is assumed to exist, typed by its ID.
func (s *Server) AddChat(c Chat) {
	s.lock()
	defer s.unlock()
	s.registerLocked(c)
}

// SetAdmins sets the chat's administrators for getChatAdministrators and
// getChatMember: the first user is the creator, the others administrators.
func (s *Server) SetAdmins(chatID int64, users ...User) {
	s.lock()
	defer s.unlock()
	s.chatLocked(chatID).admins = slices.Clone(users)
}

// AddMembers makes users members of the chat for getChatMember. A user
// is also a member once they sent a message there, or as an admin; anyone
// else has "left".
func (s *Server) AddMembers(chatID int64, users ...User) {
	s.lock()
	defer s.unlock()
	cs := s.chatLocked(chatID)
	if cs.members == nil {
		cs.members = map[int64]User{}
	}
	for _, u := range users {
		cs.members[u.ID] = u
	}
}

// Sent returns the messages the bot sent to the chat that are not deleted,
// in their current state, oldest first.
func (s *Server) Sent(chatID int64) []SentMessage {
	s.lock()
	defer s.unlock()
	var out []SentMessage
	if cs := s.chats[chatID]; cs != nil {
		for _, m := range cs.msgs {
			if m.From != nil && m.From.ID == s.Me().ID {
				out = append(out, m.sent())
			}
		}
	}
	return out
}

// Reactions returns the emoji the bot set on a message.
func (s *Server) Reactions(chatID int64, messageID int) []string {
	s.lock()
	defer s.unlock()
	if cs := s.chats[chatID]; cs != nil {
		return slices.Clone(cs.reactions[messageID])
	}
	return nil
}
