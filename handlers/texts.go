package handlers

import (
	"fmt"
	"html"

	"gridbot/report"
)

// safeHTML is text already rendered as HTML: say does not escape it.
type safeHTML string

// texts are the bot's answers, Chinese and English, as fmt formats.
// Arguments are escaped unless they are safeHTML.
var texts = map[string][2]string{
	"notHere":           {"%s 不能在这里使用：%s。", "%s cannot be used here: %s."},
	"whereVillageChats": {"请在村群里使用（房东可以在私聊里使用）", "use it in the village group (landlords: in your private chat with the bot)"},
	"whereVillageGroup": {"请在村群里使用", "use it in the village group"},
	"whereBoundGroup":   {"请在村群或指挥部群里使用", "use it in a village group or the command group"},
	"whereGroups":       {"请在群里使用", "use it in a group"},
	"wherePrivate":      {"请私聊机器人使用", "use it in a private chat with the bot"},
	"whereRead":         {"请在村群、指挥部群或房东私聊里使用", "use it in a village group, the command group or a landlord's private chat"},
	"helpUnbound": {
		"你好！我是网格报告机器人。本群还没有绑定到村或指挥部，暂不处理报告。\n请运营者在本群发送：\n<code>/bind village 村名</code>（村群）或 <code>/bind command 指挥部</code>（指挥部群）。\n私聊本机器人发送 /whoami 可查看自己的用户 id。",
		"Hello! I am the grid reporting bot. This group is not bound to a village or the command yet, so I do not take reports here.\nAn operator binds it with <code>/bind village NAME</code> or <code>/bind command NAME</code>.\nSend /whoami to the bot in a private chat to see your user id.",
	},
	"helpPrivate": {
		"你好！房东可以在这里登记租户。\n先发送 <code>/village 村名</code> 选择所在的村（只需一次），然后按格式发送，例如：\n%s\n发送 /template 租户 获取模板。",
		"Hello! Landlords can register tenants here.\nFirst send <code>/village NAME</code> once to choose your village, then send a report such as:\n%s\nSend /template tenant for a template.",
	},
	"helpVillage": {
		"📋 <b>%s</b> 网格报告\n每条报告一条消息，以类型开头，例如：\n%s\n类型：返乡、发热、婚丧、租户、日报（无情况发“零报告”）。\n报错了：长按你的消息 → 编辑；要撤销：回复那条报告“撤销”，或发送 /undo 撤销你最近的一条。\n/template 类型 获取模板，/today 今天的数字，/join 加入日报名单。",
		"📋 <b>%s</b> grid reports\nOne report per message, starting with its kind, e.g.:\n%s\nKinds: arrival, fever, gathering, tenant, daily (send /daily with nothing else for a zero report).\nTo fix one, edit your message, or reply “undo” to it.\n/template KIND for a template, /today for today's numbers, /join to join the daily roster.",
	},
	"helpCommand": {
		"📋 <b>%s</b>：指挥部群。每晚自动发送各村汇总；/today 查看今天各村的数字。",
		"📋 <b>%s</b>: the command group. The evening roll-up of every village is posted here; /today shows today's numbers.",
	},
	"templateUsage":    {"用法：/template 类型，例如 /template 返乡。类型：%s", "Usage: /template KIND, e.g. /template arrival. Kinds: %s"},
	"template":         {"复制下面的模板，改成实际内容后发送：\n<pre>%s</pre>%s", "Copy this template, fill it in and send it:\n<pre>%s</pre>%s"},
	"optional":         {"\n选填：%s", "\nOptional: %s"},
	"bindUsage":        {"用法：/bind village 村名，或 /bind command 指挥部名称", "Usage: /bind village NAME, or /bind command NAME"},
	"notOperator":      {"只有运营者可以绑定或解绑群。请私聊本机器人发送 /whoami 查看你的用户 id，把它发给部署本机器人的管理员，由他把你加为运营者。", "Only operators can bind or unbind groups. Send /whoami to the bot in a private chat for your user id and give it to whoever runs this bot, to be added as an operator."},
	"boundVillage":     {"✅ 已绑定：本群是 <b>%s</b> 的村群。\n网格员请发送 /join 加入日报名单；发送 /help 查看报告格式。", "✅ Bound: this group is the village group of <b>%s</b>.\nGrid workers: send /join to join the daily roster; /help shows how to report."},
	"boundCommand":     {"✅ 已绑定：本群是 <b>%s</b> 指挥部群，每晚会收到各村汇总。", "✅ Bound: this group is the command group <b>%s</b>; the evening roll-up is posted here."},
	"nameTaken":        {"“%s”已经绑定到另一个群。同一个村只能有一个村群。", "“%s” is already bound to another group. A village has one group."},
	"unbound":          {"已解除绑定：本群不再处理报告，已有记录都保留。", "Unbound: this group no longer takes reports; what was recorded is kept."},
	"notBound":         {"本群没有绑定。", "This group is not bound."},
	"villageUsage":     {"用法：/village 村名（你需要在这个村的村群里），或 /village 邀请码。已有的村：%s", "Usage: /village NAME (you need to be in that village's group), or /village CODE. Villages: %s"},
	"villageSet":       {"✅ 好的，你在这里登记的租户将记在 <b>%s</b>。现在可以发送租户登记了。", "✅ Done: tenants you register here are recorded for <b>%s</b>. You can send tenant reports now."},
	"noVillage":        {"没有叫“%s”的村。已有的村：%s", "There is no village called “%s”. Villages: %s"},
	"chooseVillage":    {"请先发送 <code>/village 村名</code> 选择你所在的村，再发送报告。", "Please send <code>/village NAME</code> to choose your village first, then send the report."},
	"reportInGroup":    {"你是 %s 的网格员：报告请直接发到村群里，大家都能看到，汇总也会算上。私聊只给房东登记租户用。", "You are a grid worker of %s: send your reports in the village group, where everyone sees them and they count in the summary. The private chat is for landlords registering tenants."},
	"villageGone":      {"“%s”已不再有村群，请重新发送 <code>/village 村名</code> 选择你所在的村。", "“%s” has no village group any more: send <code>/village NAME</code> to choose your village again."},
	"privateKinds":     {"私聊只能登记租户。其他报告请发到村群。", "Only tenant reports are taken in a private chat; send other reports to your village group."},
	"joined":           {"✅ %s 已加入日报名单，每天 %s 前请发送日报（无情况发“零报告”），到时没报会提醒你。", "✅ %s joined the daily roster: send your daily report before %s (a zero report when nothing happened); you are reminded then if you have not."},
	"joinedNoReminder": {"✅ %s 已加入日报名单，请每天发送日报（无情况发“零报告”）。本群的日报提醒已关闭。", "✅ %s joined the daily roster: send your daily report every day (a zero report when nothing happened). This group's reminder is off."},
	"alreadyJoined":    {"%s 已在日报名单中。", "%s is already on the daily roster."},
	"rosterList":       {"📝 <b>日报名单</b>（%d 人）：%s", "📝 <b>Daily roster</b> (%d): %s"},
	"rosterEmpty":      {"📝 日报名单还是空的。网格员在本群发送 /join 加入；管理员可以回复某人的消息发送 /roster add 把他加入。", "📝 The daily roster is empty. Grid workers send /join here; admins reply to someone's message with /roster add."},
	"rosterLeft":       {"已退出：%s", "Left: %s"},
	"rosterHowTo":      {"管理员：回复某人的消息发送 /roster add 加入名单，/roster remove 移出名单（也可以 /roster remove 名字）。", "Admins: reply to someone's message with /roster add or /roster remove (or /roster remove NAME)."},
	"rosterNotAdmin":   {"只有本群管理员可以修改日报名单。网格员自己发送 /join 加入、/leave 退出。", "Only this group's admins change the roster; grid workers send /join or /leave themselves."},
	"rosterWho":        {"请回复要加入或移出的那个人的消息，再发送 /roster add 或 /roster remove；移出也可以写名字：/roster remove 李网格。", "Reply to that person's message with /roster add or /roster remove; to remove, a name works too: /roster remove NAME."},
	"rosterNoOne":      {"日报名单里没有“%s”。现在的名单：%s", "“%s” is not on the daily roster. It has: %s"},
	"rosterAdded":      {"✅ 已把 %s 加入日报名单。", "✅ %s is on the daily roster now."},
	"rosterRemoved":    {"✅ 已把 %s 移出日报名单，不会再提醒。", "✅ %s is off the daily roster and will not be reminded."},
	"rosterBot":        {"机器人不用报日报。", "Bots do not send daily reports."},
	"left":             {"%s 已退出日报名单，不会再被提醒。", "%s left the daily roster and will not be reminded."},
	"notJoined":        {"%s 不在日报名单中。", "%s is not on the daily roster."},
	"whoami":           {"你的用户 id：<code>%d</code>\n名字：%s\n运营者：%s\n本群管理员：%s\n本群：%s", "Your user id: <code>%d</code>\nName: %s\nOperator: %s\nAdmin here: %s\nThis chat: %s"},
	"yes":              {"是", "yes"},
	"no":               {"否", "no"},
	"chatUnbound":      {"未绑定", "not bound"},
	"chatVillage":      {"%s 的村群", "village group of %s"},
	"chatCommand":      {"指挥部群 %s", "command group %s"},
	"chatLandlord":     {"房东私聊，登记到 %s", "landlord's private chat, reporting for %s"},
	"undoWhich":        {"请回复要撤销的那条报告，再发送 /undo 或“撤销”。", "Reply to the report you want to withdraw with /undo or “undo”."},
	"undoNone":         {"那条消息没有可撤销的报告。", "That message holds no report to withdraw."},
	"undoNotYours":     {"只能撤销自己的报告；管理员可以撤销任何报告。", "You can only withdraw your own reports; admins can withdraw any."},
	"undone":           {"↩️ 已撤销：%s", "↩️ Withdrawn: %s"},
	"undoNoneToday":    {"你今天在本群没有可撤销的报告。要撤销更早的报告，请回复那条报告（或机器人对它的回复）发送“撤销”。", "You have no report to withdraw in this chat today. To withdraw an earlier one, reply “undo” to it (or to the bot's answer to it)."},
	"undoReplyNone":    {"这条消息没有对应的报告可撤销（可能已经撤销了）。要撤销报告，请回复那条报告或机器人对它的回复，发送“撤销”；直接发送 /undo 撤销你今天最近的一条。", "No report to withdraw goes with that message (it may be withdrawn already). Reply “undo” to a report or to the bot's answer to it; send /undo alone to withdraw your latest report today."},
	"replyToReceipt":   {"这条报告已经记录好了。要修改：长按你的原消息 → 编辑；要撤销：回复机器人的这条回复，发送“撤销”。", "That report is recorded. To change it, long-press your message → Edit; to withdraw it, reply “undo” to the bot's answer."},
	"replyToBot":       {"没看懂这条回复，没有记录。报告请以类型开头发送（返乡、发热、婚丧、租户、日报），例如：\n<code>返乡 张强 13812345678 从武汉返回 2月5日 郝家店村3组</code>\n发送 /template 类型 获取模板，回复模板填写即可。", "I did not understand that reply, so nothing was recorded. Start a report with its kind (/arrival, /fever, /gathering, /tenant, /daily), or send /template KIND and reply to the template with the details."},
	"replyInCommand":   {"指挥部群不收报告：报告请发到各村的村群。在这里可以发送 /today 看今天各村的数字，/list 返乡 看登记，/observation 看居家观察人员。", "The command group takes no reports: send them in the village groups. Here, /today shows every village's numbers, /list arrival the registrations, /observation who is under home observation."},
	"withdrawnEdit":    {"这条报告已经撤销，编辑不会恢复它，本次修改没有记录。如需重新登记，请把内容作为一条新消息重新发送。", "This report was withdrawn: editing it does not bring it back, and the edit was not recorded. To file it again, send it as a new message."},
	"kindMissing":      {"🤔 这条看起来像一条登记，但开头没有写类型，所以没有记录。请长按你的消息 → 编辑，在最前面加上类型（返乡、发热、婚丧、租户、日报），例如：\n<code>返乡 张强 13812345678 从武汉返回 2月5日 郝家店村3组</code>", "🤔 This looks like a report, but it does not start with its kind, so nothing was recorded. Long-press your message → Edit and put the kind first (/arrival, /fever, /gathering, /tenant, /daily)."},
	"kindMissingOne":   {"🤔 这条看起来像%s，但开头没有写类型，所以没有记录。请长按你的消息 → 编辑，在最前面加上“%s”。", "🤔 This looks like a %s, but it does not start with its kind, so nothing was recorded. Long-press your message → Edit and put %s first."},
	"listUsage":        {"用法：/list 类型 [日期]，例如 /list 返乡、/list 发热 昨天、/list 日报 本周、/list 返乡 近7天、/list 租户 2月1日-2月7日。类型：%s", "Usage: /list KIND [DAYS], e.g. /list arrival, /list fever yesterday, /list daily this week, /list tenant 2020-02-01-2020-02-07. Kinds: %s"},
	"listUnknownKind":  {"没有“%s”这一类。可以列出的类型：%s。例如 /list 返乡", "There is no kind “%s”. Kinds: %s. For example /list arrival"},
	"badRange":         {"看不懂日期“%s”。可以写：今天、昨天、2月5日、本周、近7天、2月1日-2月7日。", "Cannot read the days “%s”; try today, yesterday, 2020-02-05, this week, or 2020-02-01-2020-02-07."},
	"listEmpty":        {"%s %s：没有记录。", "%s %s: nothing recorded."},
	"listHead":         {"📋 %s %s，共 %d 条：", "📋 %s %s, %d in all:"},
	"badDate":          {"看不懂日期“%s”，例如 2月5日、2020-02-05、昨天。", "Cannot read the date “%s”; try 2020-02-05 or yesterday."},
	"notAdmin":         {"只有本群管理员可以修改设置：请群主或管理员发送这条命令。", "Only this group's admins can change settings: ask an admin of this group to send it."},
	"setReminder":      {"⏰ 日报提醒：%s", "⏰ daily report reminder: %s"},
	"setSummary":       {"📊 每日汇总：%s", "📊 daily summary: %s"},
	"setFollowUp":      {"🔔 早间回访提示：%s", "🔔 morning follow-ups: %s"},
	"setRollup":        {"📋 各村汇总：%s", "📋 roll-up of every village: %s"},
	"setObservation":   {"🏠 居家观察天数：%d", "🏠 home observation days: %d"},
	"setTZ":            {"🌐 时区：%s", "🌐 time zone: %s"},
	"setLang":          {"🈶 定时消息语言：%s", "🈶 language of scheduled posts: %s"},
	"langZh":           {"中文", "Chinese"},
	"langEn":           {"英文", "English"},
	"setHelp": {
		"管理员修改：/set 汇总 20:30、/set 提醒 16:30、/set 提醒 关闭、/set 观察 14",
		"Admins change them with /set summary 20:30, /set reminder off, /set observation 14, /set tz Asia/Shanghai",
	},
	"setUsage":    {"用法：/set 项目 值，例如 /set 提醒 16:30、/set 汇总 20:30、/set 提醒 关闭、/set 观察 14、/set 语言 中文。项目：提醒（日报提醒）、汇总（每日汇总）、回访（早间提示）、总汇总（指挥部群的各村汇总）、观察（居家观察天数）、时区、语言", "Usage: /set NAME VALUE. Names: reminder summary followup rollup (a time like 20:30, or off), observation (days), tz (time zone), lang (zh/en)"},
	"setBadTime":  {"看不懂时间“%s”，例如 20:30、下午4点半，或 关闭。", "Cannot read the time “%s”; try 20:30 or off."},
	"setBadDays":  {"观察天数应为 1 到 60 的整数，而不是“%s”。", "Observation days must be a whole number from 1 to 60, not “%s”."},
	"setBadTZ":    {"没有时区“%s”，例如 Asia/Shanghai（北京时间）。", "There is no time zone “%s”; try Asia/Shanghai."},
	"setBadLang":  {"语言只能是 中文 或 英文，而不是“%s”。", "The language is zh or en, not “%s”."},
	"setDone":     {"✅ %s改为 %s。%s", "✅ %s set to %s. %s"},
	"setDoneOff":  {"✅ %s已关闭。%s", "✅ %s: off. %s"},
	"setNow":      {"立即生效。", "Effective at once."},
	"setTomorrow": {"今天的 %s 已经过了，从明天起按新时间发送。", "Today's %s has passed: the new time applies from tomorrow."},
	"setInactive": {"⚠️ Telegram 拒绝过本机器人在本群发言（被移出或禁言），定时消息已暂停；把机器人加回本群或重新 /bind 即恢复。", "⚠️ Telegram refused the bot's posts here (removed or muted): scheduled posts are paused until the bot is added back or the group is bound again."},
	"setNotHere":  {"“%s”不适用于本群。村群可以设：提醒、汇总、回访、观察；指挥部群可以设：总汇总。", "%s does not apply to this group: village groups set reminder, summary, followup, observation; the command group sets rollup."},
	"staleButton": {"这个按钮已失效。", "This button is no longer active."},
}

// say renders a text in a language.
func say(lang report.Lang, name string, args ...any) string {
	t, ok := texts[name]
	if !ok {
		t, ok = villageTexts[name]
	}
	if !ok {
		return name
	}
	format := t[0]
	if lang == report.En {
		format = t[1]
	}
	escaped := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case safeHTML:
			escaped[i] = string(v)
		case string:
			escaped[i] = html.EscapeString(v)
		default:
			escaped[i] = a
		}
	}
	return fmt.Sprintf(format, escaped...)
}

// yesNo renders a boolean.
func yesNo(lang report.Lang, b bool) string {
	if b {
		return say(lang, "yes")
	}
	return say(lang, "no")
}
