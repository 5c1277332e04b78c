package bot

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// telegramTags are the tags of Telegram's HTML parse mode.
var telegramTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true, "s": true, "strike": true, "del": true,
	"span": true, "tg-spoiler": true, "a": true, "code": true, "pre": true, "blockquote": true, "tg-emoji": true,
}

// checkHTML returns why s is not text Telegram's HTML parse mode accepts
// as documented: only its tags, nested and closed, and every <, > and &
// that is not part of a tag or an entity escaped.
func checkHTML(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("invalid UTF-8")
	}
	var open []string
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				return fmt.Errorf("a tag cut at byte %d: %q", i, clipFor(s[i:]))
			}
			tag := s[i+1 : i+j]
			closing := strings.HasPrefix(tag, "/")
			name, _, _ := strings.Cut(strings.TrimPrefix(tag, "/"), " ")
			if !telegramTags[name] {
				return fmt.Errorf("unsupported tag <%s> at byte %d", tag, i)
			}
			if closing {
				if len(open) == 0 || open[len(open)-1] != name {
					return fmt.Errorf("unexpected </%s> at byte %d (open: %v)", name, i, open)
				}
				open = open[:len(open)-1]
			} else {
				open = append(open, name)
			}
			i += j + 1
		case '>':
			return fmt.Errorf("a bare > at byte %d: %q", i, clipFor(s[max(i-20, 0):]))
		case '&':
			j := strings.IndexByte(s[i:], ';')
			ent := ""
			if j > 0 {
				ent = s[i+1 : i+j]
			}
			if !entity(ent) {
				return fmt.Errorf("a bare or cut & at byte %d: %q", i, clipFor(s[i:]))
			}
			i += j + 1
		default:
			i++
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("tags left open: %v", open)
	}
	return nil
}

func entity(e string) bool {
	switch e {
	case "lt", "gt", "amp", "quot", "#39", "#x27":
		return true
	}
	if strings.HasPrefix(e, "#") && len(e) > 1 && strings.Trim(e[1:], "0123456789") == "" {
		return true
	}
	return false
}

func clipFor(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// telegramLen is a text's length as Telegram counts it, in UTF-16 code
// units of the text after parsing (tags removed, entities one character).
func telegramLen(html string) int {
	plain := stripTags(html)
	for _, e := range []struct{ from, to string }{{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", `"`}, {"&#39;", "'"}, {"&amp;", "&"}} {
		plain = strings.ReplaceAll(plain, e.from, e.to)
	}
	return len(utf16.Encode([]rune(plain)))
}

func TestCheckHTML(t *testing.T) {
	for _, tt := range []struct {
		s  string
		ok bool
	}{
		{"plain", true},
		{"<b>x</b> &lt;y&gt; &amp; &quot;", true},
		{"<pre>a\nb</pre>", true},
		{`<a href="tg://user?id=1">x</a>`, true},
		{"<b>x", false},
		{"x</b>", false},
		{"<b><i>x</b></i>", false},
		{"<b", false},
		{"b>", false},
		{"a & b", false},
		{"&am", false},
		{"<script>", false},
	} {
		if err := checkHTML(tt.s); (err == nil) != tt.ok {
			t.Errorf("checkHTML(%q) = %v, want ok %v", tt.s, err, tt.ok)
		}
	}
}
