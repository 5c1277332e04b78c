package handlers

import (
	"context"
)

// HandlePress answers a press on one of the bot's inline buttons.
func (h *Handler) HandlePress(ctx context.Context, p Press) ([]Action, error) {
	answer := Action{Kind: Answer, Key: key("answer", p.ID), Chat: p.Chat.ID, CallbackID: p.ID}
	if press, ok := h.presses[pressKind(p.Data)]; ok {
		return press(ctx, p, answer)
	}
	answer.Text = say(langOf(p.From, ""), "staleButton")
	return []Action{answer}, nil
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

// HandlePresses registers the handler of the buttons whose callback data
// starts with kind + ":". The schedules register the reminder's button.
func (h *Handler) HandlePresses(kind string, f PressFunc) { h.presses[kind] = f }
