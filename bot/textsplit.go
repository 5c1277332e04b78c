package bot

import "strings"

// textLimit keeps a message under Telegram's 4096 characters, HTML
// tags included, so no count of entities can push it over.
const textLimit = 4000

// captionLimit is Telegram's limit on a document's caption.
const captionLimit = 1024

// clipCaption cuts a caption to Telegram's limit on a line boundary.
func clipCaption(text string) string {
	if len(text) <= captionLimit {
		return text
	}
	return splitText(text, captionLimit)[0]
}

// clip cuts a text to Telegram's limit on a line boundary.
func clip(text string) string {
	if len(text) <= textLimit {
		return text
	}
	return splitText(text, textLimit)[0]
}

// splitText splits a text into pieces of at most limit bytes: between
// blocks (blank lines) where it can, between lines where it must, and
// inside a line only when one line alone is too long. A piece that would
// cut an HTML element in two is sent as plain text instead.
func splitText(text string, limit int) []string {
	if len(text) <= limit {
		return []string{text}
	}
	var pieces []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			pieces = append(pieces, cur.String())
			cur.Reset()
		}
	}
	for _, line := range strings.SplitAfter(text, "\n") {
		if len(line) > limit {
			// a line this long is cut inside, which its tags could not
			// survive: it goes as plain text (its entities kept)
			line = stripTags(line)
		}
		for len(line) > limit {
			flush()
			cut := safeCut(line, limit)
			pieces = append(pieces, line[:cut])
			line = line[cut:]
		}
		if cur.Len()+len(line) > limit {
			flush()
		}
		cur.WriteString(line)
	}
	flush()
	for i, p := range pieces {
		p = strings.TrimRight(p, "\n")
		if !balanced(p) {
			p = stripTags(p)
		}
		pieces[i] = p
	}
	return pieces
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// safeCut returns where to cut s, which is longer than limit: as near
// limit as it can without cutting a UTF-8 character or an HTML entity
// (&amp; &lt; &#39; …) in two, and never at 0.
func safeCut(s string, limit int) int {
	cut := limit
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	from := max(cut-maxEntity, 0)
	if amp := strings.LastIndexByte(s[from:cut], '&'); amp >= 0 && !strings.ContainsRune(s[from+amp:cut], ';') {
		cut = from + amp
	}
	if cut == 0 { // not text (invalid UTF-8): cut anywhere, but move on
		return limit
	}
	return cut
}

// maxEntity is the length of the longest entity html.EscapeString makes
// (&quot;), with a margin.
const maxEntity = 8

// balanced reports whether every tag opened in s is closed in s.
func balanced(s string) bool {
	var open []string
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return len(open) == 0
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return false
		}
		tag := s[i+1 : i+j]
		s = s[i+j+1:]
		name, _, _ := strings.Cut(tag, " ")
		if strings.HasPrefix(name, "/") {
			if len(open) == 0 || open[len(open)-1] != name[1:] {
				return false
			}
			open = open[:len(open)-1]
		} else {
			open = append(open, name)
		}
	}
}

// stripTags turns HTML into its plain text, escapes kept.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
