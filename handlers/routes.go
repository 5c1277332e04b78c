package handlers

import (
	"context"
	"fmt"

	"gridbot/report"
	"gridbot/store"
)

// where a command may be used.
type where int

const (
	anywhere     where = iota
	villageChats       // a bound village group, or a landlord's private chat
	villageGroup       // a bound village group only
	boundGroup         // a bound village or command group
	groups             // any group, bound or not
	privateChat        // a private chat with the bot
	readChats          // a bound village or command group, or a landlord's private chat
)

// whereText says, for a refusal, where a command works.
var whereText = map[where]string{
	villageChats: "whereVillageChats", villageGroup: "whereVillageGroup", boundGroup: "whereBoundGroup",
	groups: "whereGroups", privateChat: "wherePrivate", readChats: "whereRead",
}

// command is one route.
type command struct {
	Name   string
	Args   string // usage, shown in /help
	Zh, En string // descriptions for setMyCommands and /help
	where  where
	run    func(h *Handler, ctx context.Context, c *call) ([]Action, error)
}

// call is one command being run.
type call struct {
	m       Message
	args    string
	lang    report.Lang
	binding store.Binding // the chat's binding, when it has one
	bound   bool
}

// commands lists every command the bot answers. Report kinds (/arrival,
// /fever, …) are not here: they are reports, handled by report.go.
var commands = []command{
	{Name: "start", Zh: "开始使用", En: "get started", where: anywhere, run: (*Handler).help},
	{Name: "help", Zh: "怎么报告：格式和例子", En: "how to report, with examples", where: anywhere, run: (*Handler).help},
	{Name: "template", Args: "KIND", Zh: "某类报告的模板（返乡 发热 婚丧 租户 日报）", En: "a report template (arrival fever gathering tenant daily)", where: anywhere, run: (*Handler).template},
	{Name: "today", Args: "[DATE]", Zh: "今天（或某天：/today 昨天）的数字", En: "today's numbers (or a day's: /today yesterday)", where: boundGroup, run: (*Handler).today},
	{Name: "list", Args: "KIND [DAYS]", Zh: "列出报告：/list 返乡 昨天｜本周｜近7天｜2月1日-2月7日", En: "list reports: /list arrival yesterday | this week", where: readChats, run: (*Handler).list},
	{Name: "observation", Zh: "居家观察人员及解除日期", En: "people under home observation", where: boundGroup, run: (*Handler).observation},
	{Name: "undo", Zh: "撤销自己今天最近的一条报告（或回复要撤销的那条）", En: "withdraw your latest report today (or reply to the one to withdraw)", where: villageChats, run: (*Handler).undoCommand},
	{Name: "join", Zh: "加入日报名单", En: "join the daily report roster", where: villageGroup, run: (*Handler).join},
	{Name: "roster", Args: "[add|remove]", Zh: "日报名单；管理员回复某人发 /roster add 或 /roster remove", En: "the daily roster; admins reply to someone with /roster add or remove", where: villageGroup, run: (*Handler).roster},
	{Name: "leave", Zh: "退出日报名单", En: "leave the daily report roster", where: villageGroup, run: (*Handler).leave},
	{Name: "settings", Zh: "本群的定时设置", En: "this group's schedule settings", where: boundGroup, run: (*Handler).settingsCommand},
	{Name: "set", Args: "NAME VALUE", Zh: "管理员：修改设置", En: "admins: change a setting", where: boundGroup, run: (*Handler).set},
	{Name: "whoami", Zh: "我的身份和权限", En: "who am I here", where: anywhere, run: (*Handler).whoami},
	{Name: "invite", Zh: "生成房东邀请码（管理员或网格员）", En: "an invite code for a landlord (admins, grid workers)", where: villageGroup, run: (*Handler).invite},
	{Name: "village", Args: "NAME|CODE", Zh: "房东：选择所在的村（村群成员或凭邀请码）", En: "landlords: choose your village (as a group member, or with a code)", where: privateChat, run: (*Handler).village},
	{Name: "bind", Args: "village|command NAME", Zh: "运营者：绑定本群", En: "operators: bind this group", where: groups, run: (*Handler).bind},
	{Name: "unbind", Zh: "运营者：解除绑定", En: "operators: unbind this group", where: groups, run: (*Handler).unbind},
}

var commandByName = func() map[string]*command {
	m := map[string]*command{}
	for i := range commands {
		m[commands[i].Name] = &commands[i]
	}
	return m
}()

// CommandInfo describes a command for Telegram's command menu.
type CommandInfo struct {
	Name, Zh, En string
	// Groups and Private say where the command is offered.
	Groups, Private bool
}

// Commands lists the commands for setMyCommands.
func Commands() []CommandInfo {
	out := make([]CommandInfo, 0, len(commands))
	for _, c := range commands {
		out = append(out, CommandInfo{
			Name: c.Name, Zh: c.Zh, En: c.En,
			Groups:  c.where != privateChat,
			Private: c.where == anywhere || c.where == villageChats || c.where == privateChat || c.where == readChats,
		})
	}
	return out
}

// runCommand checks where a command may run, then runs it.
func (h *Handler) runCommand(ctx context.Context, cmd *command, m Message, args string) ([]Action, error) {
	c := &call{m: m, args: args, lang: langOf(m.From, args)}
	b, ok, err := h.store.Binding(ctx, m.Chat.ID)
	if err != nil {
		return nil, fmt.Errorf("handlers: %s: binding: %w", cmd.Name, err)
	}
	c.binding, c.bound = b, ok
	allowed := false
	switch cmd.where {
	case anywhere:
		allowed = true
	case villageChats:
		allowed = ok && (b.Role == store.RoleVillage || b.Role == store.RoleLandlord)
	case villageGroup:
		allowed = ok && b.Role == store.RoleVillage
	case boundGroup:
		allowed = ok && (b.Role == store.RoleVillage || b.Role == store.RoleCommand)
	case groups:
		allowed = !m.Chat.Private()
	case privateChat:
		allowed = m.Chat.Private()
	case readChats:
		allowed = ok && b.Role != store.RoleNone
	}
	if !allowed {
		if !ok && !m.Chat.Private() {
			return nil, nil // an unbound group stays silent but for /start, /help, /whoami, /bind
		}
		return h.reply(c, "notHere", "/"+cmd.Name, say(c.lang, whereText[cmd.where])), nil
	}
	return cmd.run(h, ctx, c)
}

// reply answers a command with one of the texts in texts.go.
func (h *Handler) reply(c *call, text string, args ...any) []Action {
	return []Action{{
		Kind: Send, Key: key("reply", c.m.Chat.ID, c.m.ID), Chat: c.m.Chat.ID, ReplyTo: c.m.ID,
		Text: say(c.lang, text, args...),
	}}
}

// replyHTML answers a command with text already rendered.
func replyHTML(c *call, html string) []Action {
	return []Action{{Kind: Send, Key: key("reply", c.m.Chat.ID, c.m.ID), Chat: c.m.Chat.ID, ReplyTo: c.m.ID, Text: html}}
}
