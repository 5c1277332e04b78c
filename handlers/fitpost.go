package handlers

import (
	"gridbot/report"
)

// Privacy at the edge: whatever a handler, a schedule or a press composes,
// the text that goes to a group is masked once more on its way into the
// outbox, so a number that slipped through (a digit in a display name, a
// phone in a note written 一三八…) is never posted in full.

// isGroup reports whether a chat id is a group's: Telegram gives users
// (and so private chats) positive ids, groups and channels negative ones.
func isGroup(chat int64) bool { return chat < 0 }

// fitToPost returns the action with its text fit to post: bidirectional
// controls removed everywhere, and in a group every number of seven or
// more digits masked (report.MaskHTML).
func (a Action) fitToPost() Action {
	a.Text = fitToPost(a.Chat, a.Text)
	return a
}

// fitToPost makes an HTML text fit to post in chat.
func fitToPost(chat int64, html string) string {
	if isGroup(chat) {
		return report.MaskHTML(html)
	}
	return report.StripBidi(html)
}
