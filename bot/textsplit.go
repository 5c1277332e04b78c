package bot

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Telegram's limits on a text and a caption count the text as it shows:
// in UTF-16 code units, after the HTML is parsed (a tag counts nothing,
// an entity such as &amp; one character).
const (
	textLimit    = 4096
	captionLimit = 1024
)

// token is a piece of an HTML text that is never cut: a tag, an entity or
// one character.
type token struct {
	s     string
	units int    // what it counts in Telegram's length: 0 for a tag
	open  string // the tag's name, when it opens one
	close string // the tag's name, when it closes one
}

// tokenize cuts an HTML text into tokens. What is not a tag or an entity
// is text, character by character (invalid UTF-8 a byte at a time).
func tokenize(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			if j := strings.IndexByte(s[i:], '>'); j > 0 {
				tag := s[i : i+j+1]
				name, _, _ := strings.Cut(strings.Trim(tag, "<>/"), " ")
				t := token{s: tag}
				if strings.HasPrefix(tag, "</") {
					t.close = name
				} else {
					t.open = name
				}
				out = append(out, t)
				i += j + 1
				continue
			}
		case '&':
			if j := strings.IndexByte(s[i:], ';'); j > 1 && j <= maxEntity && !strings.ContainsAny(s[i+1:i+j], " &<>\n") {
				units := 1
				if r := entityRune(s[i : i+j+1]); r > 0xFFFF {
					units = 2
				}
				out = append(out, token{s: s[i : i+j+1], units: units})
				i += j + 1
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		units := 1
		if r != utf8.RuneError && utf16.RuneLen(r) == 2 {
			units = 2
		}
		out = append(out, token{s: s[i : i+size], units: units})
		i += size
	}
	return out
}

// maxEntity is the length of the longest entity we accept as one
// (&#x1F600; and the named ones html.EscapeString makes fit).
const maxEntity = 10

// entityRune returns the character a numeric entity stands for, or 0.
func entityRune(e string) rune {
	var r rune
	switch {
	case strings.HasPrefix(e, "&#x"), strings.HasPrefix(e, "&#X"):
		for _, c := range e[3 : len(e)-1] {
			switch {
			case c >= '0' && c <= '9':
				r = r*16 + c - '0'
			case c >= 'a' && c <= 'f':
				r = r*16 + c - 'a' + 10
			case c >= 'A' && c <= 'F':
				r = r*16 + c - 'A' + 10
			}
		}
	case strings.HasPrefix(e, "&#"):
		for _, c := range e[2 : len(e)-1] {
			if c >= '0' && c <= '9' {
				r = r*10 + c - '0'
			}
		}
	}
	return r
}

// visibleLen is the length Telegram gives an HTML text.
func visibleLen(s string) int {
	n := 0
	for _, t := range tokenize(s) {
		n += t.units
	}
	return n
}

// splitText splits an HTML text into parts of at most limit characters as
// Telegram counts them: between blocks (a blank line) where it can, else
// between lines, else at a space, else between two characters. Nothing is
// lost (only the line breaks a cut falls on are dropped), no tag or entity
// is cut, and a part never ends inside an element: the tags open at a cut
// are closed at the end of the part and opened again, with their
// attributes, at the start of the next.
func splitText(text string, limit int) []string {
	if visibleLen(text) <= limit {
		return []string{text}
	}
	toks := tokenize(text)
	var parts []string
	var reopen []token // the tags open where the current part starts
	start := 0
	for start < len(toks) {
		// how far the part can reach, and the best place to cut before it
		units, end := 0, start
		cut := [3]int{-1, -1, -1} // after a blank line, a line, a space
		for end < len(toks) && units+toks[end].units <= limit {
			units += toks[end].units
			end++
			switch t := toks[end-1].s; {
			case t == "\n" && end-2 >= start && toks[end-2].s == "\n":
				cut[0] = end
			case t == "\n":
				cut[1] = end
			case t == " ":
				cut[2] = end
			}
		}
		at := end
		if end < len(toks) {
			for _, c := range cut {
				if c > start {
					at = c
					break
				}
			}
		}
		// a closing tag at the cut stays with its part, an opening one goes
		// with the next
		for at < len(toks) && toks[at].close != "" {
			at++
		}
		for at > start+1 && toks[at-1].open != "" {
			at--
		}
		// the part: the tags open before it, its tokens, the tags it leaves
		// open closed
		stack := append([]token(nil), reopen...)
		var b strings.Builder
		for _, t := range reopen {
			b.WriteString(t.s)
		}
		body := toks[start:at]
		for len(body) > 0 && body[len(body)-1].s == "\n" { // trailing line breaks
			body = body[:len(body)-1]
		}
		for _, t := range body {
			b.WriteString(t.s)
		}
		for _, t := range toks[start:at] {
			switch {
			case t.open != "":
				stack = append(stack, t)
			case t.close != "":
				for k := len(stack) - 1; k >= 0; k-- {
					if stack[k].open == t.close {
						stack = append(stack[:k], stack[k+1:]...)
						break
					}
				}
			}
		}
		for k := len(stack) - 1; k >= 0; k-- {
			b.WriteString("</" + stack[k].open + ">")
		}
		if p := b.String(); visibleLen(p) > 0 {
			parts = append(parts, p)
		}
		reopen = stack
		start = at
		for start < len(toks) && toks[start].s == "\n" { // leading line breaks
			start++
		}
	}
	return parts
}

// clipped marks a text cut to fit where it cannot be split (an edit, a
// caption): the reader sees that something is missing.
const (
	clippedZh = "\n……（内容太长，后面的没有显示）"
	clippedEn = "\n… (too long: the rest is not shown)"
)

// clip cuts a text to limit characters, on the best boundary, and says so
// at the end when it had to cut; ok is false then.
func clip(text string, limit int) (string, bool) {
	if visibleLen(text) <= limit {
		return text, true
	}
	mark := clippedEn
	if hasChinese(text) {
		mark = clippedZh
	}
	return splitText(text, limit-visibleLen(mark))[0] + mark, false
}

// hasChinese reports whether a text holds Chinese characters: what the
// sender adds to it is then in Chinese.
func hasChinese(text string) bool {
	for _, r := range text {
		if r >= 0x4E00 && r <= 0x9FFF {
			return true
		}
	}
	return false
}

// stripTags turns HTML into its plain text, escapes kept.
func stripTags(s string) string {
	var b strings.Builder
	for _, t := range tokenize(s) {
		if t.open == "" && t.close == "" {
			b.WriteString(t.s)
		}
	}
	return b.String()
}
