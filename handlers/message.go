// Package handlers decides what gridbot does with each message, command
// and button press. It knows nothing of Telegram: the bot package turns
// updates into a Message or a Press and the Actions returned here into
// outbox messages. Handlers record what they must in the store before they
// return, so the caller may confirm the update once the actions are queued.
//
// routes.go lists every command; report.go handles the reports themselves;
// receipt.go renders the replies to reports.
package handlers

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gridbot/store"
)

// Chat is where a message was sent.
type Chat struct {
	ID    int64
	Type  string // "private", "group", "supergroup", "channel"
	Title string
}

// Private reports whether the chat is a private chat with the bot.
func (c Chat) Private() bool { return c.Type == "private" }

// User is who sent a message or pressed a button.
type User struct {
	ID           int64
	FirstName    string
	LastName     string
	Username     string
	LanguageCode string
	IsBot        bool
}

// Name is the user's display name: 王书记 for a Chinese first and last
// name, "Zhang Wei" otherwise.
func (u User) Name() string {
	sep := " "
	if hasHan(u.FirstName) && hasHan(u.LastName) {
		sep = ""
	}
	name := strings.TrimSpace(u.FirstName + sep + u.LastName)
	if name == "" {
		name = u.Username
	}
	if name == "" {
		name = "?"
	}
	return name
}

// Message is a message or an edit of one.
type Message struct {
	Chat Chat
	From User
	ID   int64
	Text string
	Date time.Time // when it was sent
	// EditDate is set when this is an edit of message ID.
	EditDate time.Time
	// ReplyTo is the message this one answers, if any.
	ReplyTo *Replied
	// MigrateTo is set on the service message of a group that became a
	// supergroup with that id.
	MigrateTo int64
	// MigrateFrom is set on the first message of a supergroup that was the
	// group with that id. Telegram sends both service messages, each in its
	// own chat; either records the migration, so the supergroup's next
	// messages find the group's binding whichever chat is handled first.
	MigrateFrom int64
}

// Edited reports whether the message is an edit.
func (m Message) Edited() bool { return !m.EditDate.IsZero() }

// Replied is the message a reply answers.
type Replied struct {
	ID   int64
	From User
	// Text is the replied message's text as Telegram quotes it: for the
	// bot's own messages, what the bot said (a template, a reminder).
	Text string
}

// Press is a press on an inline button the bot sent.
type Press struct {
	ID        string // the callback query id, to answer
	Chat      Chat
	From      User
	MessageID int64 // the bot's message carrying the button
	Data      string
	At        time.Time
}

// ActionKind says what an Action does.
type ActionKind string

// Kinds of action.
const (
	// Send posts Text (HTML) in Chat, replying to ReplyTo if set.
	Send ActionKind = "send"
	// Receipt posts the reply to the report in message MessageID, rendered
	// when it is sent (so it shows the report as it is then). Receipts
	// due together in one chat are merged into one message.
	Receipt ActionKind = "receipt"
	// RefreshReceipt edits the bot's earlier receipt for report MessageID
	// to show the report as it is now (after an edit or a withdrawal).
	RefreshReceipt ActionKind = "refresh"
	// React sets Emoji as the bot's reaction on message MessageID ("" removes it).
	React ActionKind = "react"
	// Edit replaces the text and buttons of the bot's message MessageID.
	Edit ActionKind = "edit"
	// Answer answers button press CallbackID with Text, shown to the presser only.
	Answer ActionKind = "answer"
	// Document sends File in Chat with Text as its caption.
	Document ActionKind = "document"
)

// Action is something the bot will do. Key makes it idempotent: an action
// whose key was queued before is not queued again.
type Action struct {
	Kind       ActionKind `json:"kind"`
	Key        string     `json:"-"`
	Chat       int64      `json:"chat"`
	ReplyTo    int64      `json:"reply_to,omitempty"`
	MessageID  int64      `json:"message_id,omitempty"`
	Text       string     `json:"text,omitempty"`
	Buttons    [][]Button `json:"buttons,omitempty"`
	Emoji      string     `json:"emoji,omitempty"`
	CallbackID string     `json:"callback_id,omitempty"`
	File       *File      `json:"file,omitempty"`
	NotBefore  time.Time  `json:"-"`
	// Queued is set on an action the handler already recorded in the
	// outbox, in the same durable step as what it answers.
	Queued bool `json:"-"`
}

// OutboxMessage turns an action into the outbox message that will carry
// it out; the payload is the action itself, as JSON. Its text is made fit
// to post first (see Action.fitToPost): every path to the outbox passes
// here.
func (a Action) OutboxMessage(now time.Time) (store.OutboxMessage, error) {
	payload, err := json.Marshal(a.fitToPost())
	if err != nil {
		return store.OutboxMessage{}, fmt.Errorf("encode action: %w", err)
	}
	notBefore := a.NotBefore
	if notBefore.IsZero() {
		notBefore = now
	}
	return store.OutboxMessage{Key: a.Key, Chat: a.Chat, Method: string(a.Kind), Payload: payload, NotBefore: notBefore, CreatedAt: now}, nil
}

// Button is an inline button.
type Button struct {
	Text string `json:"text"`
	Data string `json:"data"`
}

// File is a document to send.
type File struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}
