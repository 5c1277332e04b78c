package handlers

import (
	"context"
	"fmt"
	"strings"

	"gridbot/store"
)

// roster shows the daily roster; admins add or remove someone by replying
// to their message (/roster add, /roster remove) or remove them by name.
func (h *Handler) roster(ctx context.Context, c *call) ([]Action, error) {
	op, rest, _ := strings.Cut(strings.TrimSpace(c.args), " ")
	op, rest = strings.ToLower(op), strings.TrimSpace(rest)
	switch op {
	case "add", "加", "加入", "添加":
		return h.rosterChange(ctx, c, true, rest)
	case "remove", "rm", "del", "移出", "删除", "去掉":
		return h.rosterChange(ctx, c, false, rest)
	}
	members, err := h.store.Roster(ctx, c.m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: roster: %w", err)
	}
	var in, left []string
	for _, m := range members {
		if m.Left {
			left = append(left, m.Name)
		} else {
			in = append(in, m.Name)
		}
	}
	if len(in) == 0 {
		return h.reply(c, "rosterEmpty"), nil
	}
	text := say(c.lang, "rosterList", len(in), strings.Join(in, c.lang.Pick("、", ", ")))
	if len(left) > 0 {
		text += "\n" + say(c.lang, "rosterLeft", strings.Join(left, c.lang.Pick("、", ", ")))
	}
	return replyHTML(c, text+"\n"+say(c.lang, "rosterHowTo")), nil
}

// rosterChange adds or removes a member: the author of the message the
// command replies to, or (to remove) the member named.
func (h *Handler) rosterChange(ctx context.Context, c *call, add bool, named string) ([]Action, error) {
	admin, err := h.isAdmin(ctx, c.m.Chat.ID, c.m.From.ID)
	if err != nil {
		return nil, err
	}
	if !admin {
		return h.reply(c, "rosterNotAdmin"), nil
	}
	var who store.Member
	switch {
	case c.m.ReplyTo != nil && c.m.ReplyTo.From.ID != 0:
		if c.m.ReplyTo.From.IsBot {
			return h.reply(c, "rosterBot"), nil
		}
		who = store.Member{Chat: c.m.Chat.ID, UserID: c.m.ReplyTo.From.ID, Name: c.m.ReplyTo.From.Name()}
	case !add && named != "":
		members, err := h.store.ActiveMembers(ctx, c.m.Chat.ID)
		if err != nil {
			return nil, fmt.Errorf("handlers: roster: %w", err)
		}
		named = strings.TrimPrefix(named, "@")
		var names []string
		for _, m := range members {
			names = append(names, m.Name)
			if m.Name == named {
				who = m
			}
		}
		if who.UserID == 0 {
			return h.reply(c, "rosterNoOne", named, strings.Join(names, c.lang.Pick("、", ", "))), nil
		}
	default:
		return h.reply(c, "rosterWho"), nil
	}
	who.Left, who.At = !add, h.now()
	if _, err := h.store.Commit(ctx, store.Changes{Members: []store.Member{who}}); err != nil {
		return nil, fmt.Errorf("handlers: roster: %w", err)
	}
	if add {
		return h.reply(c, "rosterAdded", who.Name), nil
	}
	return h.reply(c, "rosterRemoved", who.Name), nil
}
