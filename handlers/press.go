package handlers

import (
	"context"
	"encoding/json"
	"fmt"

	"gridbot/store"
)

// HandlePress answers a press on one of the bot's inline buttons. A press
// counts only on the message the bot sent with that very button (a forged
// press, with any data on any message, is answered as stale and changes
// nothing).
func (h *Handler) HandlePress(ctx context.Context, p Press) ([]Action, error) {
	answer := Action{Kind: Answer, Key: key("answer", p.ID), Chat: p.Chat.ID, CallbackID: p.ID}
	route, ok := h.presses[pressKind(p.Data)]
	if ok {
		carried, err := h.carries(ctx, p, route.carrier)
		if err != nil {
			return nil, err
		}
		ok = carried
	}
	if !ok {
		answer.Text = say(langOf(p.From, ""), "staleButton")
		return []Action{answer}, nil
	}
	return route.press(ctx, p, answer)
}

// carries reports whether the bot sent message p.MessageID in p's chat
// with a button whose data is p.Data: the outbox message carrier names
// was sent as that message, and its buttons hold that data.
func (h *Handler) carries(ctx context.Context, p Press, carrier Carrier) (bool, error) {
	k, err := carrier(ctx, p)
	if err != nil || k == "" {
		return false, err
	}
	m, ok, err := h.store.Outbox(ctx, k)
	if err != nil {
		return false, fmt.Errorf("handlers: press: %w", err)
	}
	if !ok || m.State != store.OutboxSent || m.SentMessageID != p.MessageID {
		return false, nil
	}
	if m.Chat != p.Chat.ID {
		// sent before the group became a supergroup: it carries the button
		// only if the chat is that group under its new id
		current, err := h.store.CurrentChat(ctx, m.Chat)
		if err != nil {
			return false, fmt.Errorf("handlers: press: %w", err)
		}
		if current != p.Chat.ID {
			return false, nil
		}
	}
	var sent Action
	if json.Unmarshal(m.Payload, &sent) != nil {
		return false, nil
	}
	for _, row := range sent.Buttons {
		for _, b := range row {
			if b.Data == p.Data {
				return true, nil
			}
		}
	}
	return false, nil
}

// pressKind is the part of callback data before the first colon.
func pressKind(data string) string {
	for i := 0; i < len(data); i++ {
		if data[i] == ':' {
			return data[:i]
		}
	}
	return data
}

// PressFunc handles presses of one kind of button; answer is the callback
// answer to fill in and return among the actions.
type PressFunc func(ctx context.Context, p Press, answer Action) ([]Action, error)

// Carrier names the outbox message (its key) that carries the button
// pressed in p, or "" when no message can.
type Carrier func(ctx context.Context, p Press) (string, error)

// pressRoute is how one kind of button is handled.
type pressRoute struct {
	carrier Carrier
	press   PressFunc
}

// HandlePresses registers the handler of the buttons whose callback data
// starts with kind + ":", and how to find the message that carries them.
// The schedules register the reminder's button.
func (h *Handler) HandlePresses(kind string, carrier Carrier, f PressFunc) {
	h.presses[kind] = pressRoute{carrier: carrier, press: f}
}
