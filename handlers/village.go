package handlers

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"

	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

// A landlord's private chat files tenants into one village, uses its pass
// numbers and gets receipts that may warn of people registered before. So
// a landlord may choose a village (/village) only as a member of that
// village's group, or with a one-time invite code that an admin or grid
// worker of the group created there (/invite).

// Members tells whether a user belongs to a group (Telegram's
// getChatMember).
type Members interface {
	IsMember(ctx context.Context, chat, user int64) (bool, error)
}

// inviteTTL is how long an invite code works.
const inviteTTL = 24 * time.Hour

// inviteAlphabet has no I and O (read as 1 and 0) and no digits, so a code
// is never taken for a number and masked. 24^8 ≈ 1.1·10¹¹ codes.
const inviteAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ"

const inviteLength = 8

// Invite codes are facts: a setting of the village's group chat holds a
// code until it expires, and a claim marks it used, in the same step that
// binds the landlord's chat, so it works once even across replicas.
const (
	settingInvitePrefix = "invite:"
	claimInvitePrefix   = "invite-used:"
)

// newInviteCode draws a code from h.cfg.Codes (crypto/rand when nil).
func (h *Handler) newInviteCode() (string, error) {
	src := h.cfg.Codes
	if src == nil {
		src = rand.Reader
	}
	code := make([]byte, 0, inviteLength)
	buf := make([]byte, 16)
	for len(code) < inviteLength {
		if _, err := io.ReadFull(src, buf); err != nil {
			return "", fmt.Errorf("handlers: invite code: %w", err)
		}
		for _, b := range buf {
			// rejection sampling keeps every letter equally likely
			if int(b) < 256/len(inviteAlphabet)*len(inviteAlphabet) && len(code) < inviteLength {
				code = append(code, inviteAlphabet[int(b)%len(inviteAlphabet)])
			}
		}
	}
	return string(code), nil
}

// inviteCode reads what a landlord typed as an invite code: letters in any
// case, full-width too, spaces and dashes ignored.
func inviteCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		if r >= 'Ａ' && r <= 'ｚ' {
			r -= 'Ａ' - 'A'
		}
		switch {
		case r == ' ' || r == '-' || r == '　':
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	code := b.String()
	if len(code) != inviteLength {
		return "", false
	}
	return code, true
}

// invite creates a one-time code that lets a landlord choose this village
// in a private chat. Admins and grid workers on the roster may.
func (h *Handler) invite(ctx context.Context, c *call) ([]Action, error) {
	allowed, err := h.isAdmin(ctx, c.m.Chat.ID, c.m.From.ID)
	if err != nil {
		h.log.Warn("admin check failed", "chat", c.m.Chat.ID, "err", err)
	}
	if !allowed {
		roster, err := h.store.ActiveMembers(ctx, c.m.Chat.ID)
		if err != nil {
			return nil, fmt.Errorf("handlers: invite: roster: %w", err)
		}
		for _, m := range roster {
			allowed = allowed || m.UserID == c.m.From.ID
		}
	}
	if !allowed {
		return h.reply(c, "inviteNotAllowed"), nil
	}
	code, err := h.newInviteCode()
	if err != nil {
		return nil, err
	}
	now := h.now()
	st := store.Setting{Chat: c.m.Chat.ID, Key: settingInvitePrefix + code, Value: now.Add(inviteTTL).UTC().Format(time.RFC3339), By: c.m.From.ID, At: now}
	actions := h.reply(c, "inviteCreated", code, code, c.binding.Name, int(inviteTTL/time.Hour))
	changes := store.Changes{Settings: []store.Setting{st}}
	if err := h.queue(&changes, actions); err != nil {
		return nil, err
	}
	if _, err := h.store.Commit(ctx, changes); err != nil {
		return nil, fmt.Errorf("handlers: invite: %w", err)
	}
	h.log.Info("invite code created", "chat", c.m.Chat.ID)
	return actions, nil
}

// village lets a landlord choose the village their tenant reports count
// for: by name as a member of its group, or with an invite code.
func (h *Handler) village(ctx context.Context, c *call) ([]Action, error) {
	names, villages, err := h.villageNames(ctx)
	if err != nil {
		return nil, fmt.Errorf("handlers: village: %w", err)
	}
	arg := strings.TrimSpace(c.args)
	if arg == "" {
		return h.reply(c, "villageUsage", names), nil
	}
	for _, v := range villages {
		if v.Name == arg {
			return h.villageAsMember(ctx, c, v)
		}
	}
	// "/village CODE", or "/village 郝家店村 CODE": the code decides
	candidate := arg
	if i := strings.LastIndexAny(arg, " 　"); i >= 0 {
		if _, ok := inviteCode(arg); !ok {
			candidate = arg[i:]
		}
	}
	if code, ok := inviteCode(candidate); ok {
		return h.villageWithInvite(ctx, c, villages, code)
	}
	return h.reply(c, "noVillage", arg, names), nil
}

// villageAsMember binds a landlord who is in the village's group.
func (h *Handler) villageAsMember(ctx context.Context, c *call, v store.Binding) ([]Action, error) {
	member := h.cfg.Operators[c.m.From.ID]
	if !member && h.cfg.Members != nil {
		ok, err := h.cfg.Members.IsMember(ctx, v.Chat, c.m.From.ID)
		if err != nil {
			// one failed check fails this command, never the others
			h.log.Warn("membership check failed", "chat", v.Chat, "err", err)
			return h.reply(c, "villageCheckFailed", v.Name), nil
		}
		member = ok
	}
	if !member {
		return h.reply(c, "villageNotMember", v.Name), nil
	}
	return h.bindLandlord(ctx, c, v, nil)
}

// villageWithInvite binds a landlord with an invite code, using it up.
func (h *Handler) villageWithInvite(ctx context.Context, c *call, villages []store.Binding, code string) ([]Action, error) {
	for _, v := range villages {
		settings, err := h.store.Settings(ctx, v.Chat)
		if err != nil {
			return nil, fmt.Errorf("handlers: village: invite: %w", err)
		}
		expiry, ok := settings[settingInvitePrefix+code]
		if !ok {
			continue
		}
		if until, err := time.Parse(time.RFC3339, expiry); err != nil || !h.now().Before(until) {
			return h.reply(c, "inviteExpired", code), nil
		}
		return h.bindLandlord(ctx, c, v, []string{claimInvitePrefix + code})
	}
	return h.reply(c, "inviteUnknown", code), nil
}

// bindLandlord binds the landlord's private chat to village v; claims, if
// any, must be free (an invite code not used yet).
func (h *Handler) bindLandlord(ctx context.Context, c *call, v store.Binding, claims []string) ([]Action, error) {
	b := store.Binding{Chat: c.m.Chat.ID, Role: store.RoleLandlord, Name: v.Name, By: c.m.From.ID, At: h.now()}
	res, err := h.store.Commit(ctx, store.Changes{Claims: claims, Bindings: []store.Binding{b}})
	if err != nil {
		return nil, fmt.Errorf("handlers: village: %w", err)
	}
	if len(claims) > 0 && !res.Claimed {
		if c.bound && c.binding.Role == store.RoleLandlord && c.binding.Name == v.Name {
			return h.reply(c, "villageSet", v.Name), nil // a repeat of this very message
		}
		code := strings.TrimPrefix(claims[0], claimInvitePrefix)
		return h.reply(c, "inviteUsed", code), nil
	}
	h.log.Info("landlord chose a village", "chat", c.m.Chat.ID, "by_invite", len(claims) > 0)
	return h.reply(c, "villageSet", v.Name), nil
}

// privateDuplicates is the duplicate warning of a receipt in a landlord's
// private chat: that the number is on record, never whose it is, where or
// when (a private chat could otherwise probe anyone's phone or ID number).
func privateDuplicates(rev store.Revision, found []store.Revision) []string {
	for _, f := range found {
		if f.Chat == rev.Chat && f.MessageID == rev.MessageID || tally.Later(f, rev) || f.SenderID == rev.SenderID {
			continue // this report, a later one, or the landlord's own
		}
		return []string{rev.Lang.Pick(
			"这个电话或身份证号近期已有登记；如果是同一个人，请不要重复登记。",
			"This phone or ID number was registered recently: do not register the same person twice.")}
	}
	return nil
}

// hiddenUpdate reports whether the receipt of rev, which updates the
// earlier registration of the same person, must not show that
// registration: in a landlord's private chat, one someone else made (its
// name, date and old values are other people's data).
func hiddenUpdate(earlier, rev store.Revision) bool {
	return !isGroup(rev.Chat) && earlier.SenderID != rev.SenderID
}

// privateUpdateHeader heads such a receipt: that it updates, nothing more.
func privateUpdateHeader(lang report.Lang) string {
	return lang.Pick("✏️ 此人近期已有登记，按同一人更新，不重复计数", "✏️ This person was registered recently: this updates that registration and is counted once")
}

// villageTexts are the answers of /village and /invite (say looks here
// after texts).
var villageTexts = map[string][2]string{
	"villageNotMember": {
		"你不在“%s”的村群里，不能登记到这个村。\n请先加入村群；或者请村干部、网格员在村群里发送 /invite 要一个邀请码，再在这里发送 <code>/village 邀请码</code>。",
		"You are not in the group of “%s”, so you cannot register tenants for it.\nJoin the village's group first, or ask a village official or grid worker to send /invite in the group and send <code>/village CODE</code> here.",
	},
	"villageCheckFailed": {
		"暂时无法确认你是否在“%s”的村群里，请稍后再试，或者用村里给的邀请码：<code>/village 邀请码</code>。",
		"Could not check whether you are in the group of “%s” just now: try again later, or use an invite code from the village: <code>/village CODE</code>.",
	},
	"inviteUnknown": {"邀请码“%s”不对，请核对后再发，或者向村里重新要一个。", "The invite code “%s” is not right: check it, or ask the village for a new one."},
	"inviteUsed":    {"邀请码“%s”已经用过了，每个邀请码只能用一次。请向村里重新要一个。", "The invite code “%s” has been used: each code works once. Ask the village for a new one."},
	"inviteExpired": {"邀请码“%s”已过期（24小时内有效）。请向村里重新要一个。", "The invite code “%s” has expired (codes work for 24 hours). Ask the village for a new one."},
	"inviteCreated": {
		"🔑 房东邀请码：<code>%s</code>\n请把它交给房东：房东私聊本机器人发送 <code>/village %s</code>，就能把租户登记到 <b>%s</b>。\n%d 小时内有效，只能用一次。",
		"🔑 Landlord invite code: <code>%s</code>\nGive it to the landlord, who sends <code>/village %s</code> to the bot in a private chat to register tenants for <b>%s</b>.\nValid for %d hours, once.",
	},
	"inviteNotAllowed": {"只有本群管理员或日报名单上的网格员可以生成邀请码。", "Only this group's admins or grid workers on the daily roster can create invite codes."},
}
