package handlers

// privacyNote adds to the answer of /bind, when the bot's privacy mode is
// on (Config.PrivacyMode), that it will not see the group's reports and
// how to turn privacy mode off. Texts are HTML.
func (h *Handler) privacyNote(c *call, actions []Action) []Action {
	if !h.cfg.PrivacyMode || len(actions) == 0 {
		return actions
	}
	actions[0].Text += "\n\n" + c.lang.Pick(
		"⚠️ 注意：机器人的“隐私模式”还开着，群里大家发的报告它<b>看不到</b>（只看得到 / 开头的命令）。"+
			"请运营者在 Telegram 里找 @BotFather，发送 /setprivacy，选这个机器人，再选 <b>Disable</b>；"+
			"然后把机器人移出本群、再重新拉进来（不这样做不生效），再发一次 /bind。也可以把机器人设为本群管理员。",
		"⚠️ Note: the bot's privacy mode is on, so it <b>cannot see</b> the reports people send in this group (only / commands). "+
			"An operator should open @BotFather, send /setprivacy, choose this bot and choose <b>Disable</b>, "+
			"then remove the bot from this group, add it again (the change applies only then) and /bind again. "+
			"Making the bot an admin of this group works too.")
	return actions
}
