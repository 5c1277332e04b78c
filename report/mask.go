package report

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Masking: what the bot posts to a group never shows a phone or ID number
// in full, however it was typed.
//
// A number is a chain of digits. A digit is any Unicode number (ASCII,
// full-width ０-９, ①, ٣ …) or a Chinese digit word (〇 零 一 幺 二 两 三 四 五
// 六 七 八 九 and 壹 贰 叁 肆 伍 陆 柒 捌 玖). Digits chain across separators —
// spaces of any kind (also no-break and full-width spaces), - . / _ +
// and their full-width forms, dashes, middle dots — up to three visible
// separators between two digits; invisible characters (zero-width spaces,
// joiners, combining marks) do not count and never break a chain. A line
// break ends a chain. A chain of 7 or more digits is masked: its digits are
// replaced by * but the first three and the last four (the first six and
// the last four of an ID number's 18), or only the last four of a chain of
// 7 to 9; the separators and the text around stay as they are.
//
// Two exceptions keep the bot's own texts readable: the example numbers
// its templates and error messages show (13812345678, 0372-5123456,
// 11010519491231002X: nobody's; an example must not follow a digit word
// such as the 三 of 张三, which would chain into it), and a date written
// YYYY-MM-DD (1900–2099), standing on its own (not glued by a separator
// other than a space to more digits), is not a number and does not chain
// with the digits around it.

// maskMinDigits is the shortest chain of digits that is masked.
const maskMinDigits = 7

// maxGap is how many visible separators may stand between two digits of
// one chain.
const maxGap = 3

// MaskPhone hides the middle of a phone number: 138****5678, 0372-***3456.
func MaskPhone(p string) string {
	if area, local, ok := strings.Cut(p, "-"); ok {
		if len(local) <= 4 {
			return p
		}
		return area + "-" + strings.Repeat("*", len(local)-4) + local[len(local)-4:]
	}
	if len(p) < 8 {
		return strings.Repeat("*", len(p))
	}
	return p[:3] + strings.Repeat("*", len(p)-7) + p[len(p)-4:]
}

// MaskID hides the birth date and sequence of an ID number:
// 410505********2010.
func MaskID(id string) string {
	if len(id) < 10 {
		return strings.Repeat("*", len(id))
	}
	return id[:6] + strings.Repeat("*", len(id)-10) + id[len(id)-4:]
}

// MaskText makes free text fit to post to a group: every chain of 7 or more
// digits in it is masked (13812345678 → 138****5678, 一三八二三四五六七八九 →
// 一三八****六七八九, 138.1234.5678 → 138.****.5678) and bidirectional
// controls are removed (see StripBidi).
func MaskText(s string) string {
	s = StripBidi(s)
	if !strings.ContainsFunc(s, IsDigitRune) {
		return s
	}
	rs := []rune(s)
	if !maskRunes(rs) {
		return s
	}
	return string(rs)
}

// MaskHTML masks the visible text of a Telegram HTML message as MaskText
// does, across tags (a number split by <b>…</b> is one number) and leaving
// tags and entities as they are.
func MaskHTML(s string) string {
	s = StripBidi(s)
	if !strings.ContainsFunc(s, IsDigitRune) {
		return s
	}
	// the visible runes, and the byte offset in s of each (-1 for one
	// spelt as an entity)
	visible := make([]rune, 0, len(s))
	spans := make([]int, 0, len(s))
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				end = len(s) - i - 1
			}
			i += end + 1
			continue
		case '&':
			if end := strings.IndexByte(s[i:], ';'); end > 0 && end < 12 {
				for _, r := range html.UnescapeString(s[i : i+end+1]) {
					visible = append(visible, r)
					spans = append(spans, -1)
				}
				i += end + 1
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		visible = append(visible, r)
		spans = append(spans, i)
		i += size
	}
	masked := append([]rune(nil), visible...)
	if !maskRunes(masked) {
		return s
	}
	var b strings.Builder
	last := 0
	for k, r := range masked {
		if r == visible[k] || spans[k] < 0 {
			continue // unchanged, or a digit spelt as an entity (we never write one)
		}
		b.WriteString(s[last:spans[k]])
		b.WriteRune(r)
		last = spans[k] + utf8.RuneLen(visible[k])
	}
	b.WriteString(s[last:])
	return b.String()
}

// StripBidi removes the bidirectional embedding, override and isolate
// controls (U+202A–U+202E, U+2066–U+2069), so that a name cannot turn the
// rest of a message around.
func StripBidi(s string) string {
	if !strings.ContainsFunc(s, isBidiControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isBidiControl(r) {
			return -1
		}
		return r
	}, s)
}

func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// maskRunes masks the numbers in rs in place and reports whether it
// changed anything.
func maskRunes(rs []rune) bool {
	changed := false
	var digits []int
	for i := 0; i < len(rs); {
		if !IsDigitRune(rs[i]) {
			i++
			continue
		}
		if n := dateAt(rs, i); n > 0 {
			i += n
			continue
		}
		digits = append(digits[:0], i)
		j := i + 1
		for j < len(rs) {
			if IsDigitRune(rs[j]) {
				digits = append(digits, j)
				j++
				continue
			}
			k, visible := j, 0
			for k < len(rs) && isNumberSeparator(rs[k]) {
				if !isUnseen(rs[k]) {
					visible++
				}
				k++
			}
			if k == j || visible > maxGap || k == len(rs) || !IsDigitRune(rs[k]) || dateAt(rs, k) > 0 {
				break
			}
			j = k
		}
		end := digits[len(digits)-1] + 1
		if len(digits) >= maskMinDigits && !isExample(rs, digits) {
			id := len(digits) == 18 || len(digits) == 17 && end < len(rs) && (rs[end] == 'x' || rs[end] == 'X')
			first, last := 3, 4
			switch {
			case id:
				first, last = 6, 4
				if len(digits) == 17 {
					last = 3 // and the check character X
				}
			case len(digits) < 10:
				first = 0
			}
			for n, at := range digits {
				if n >= first && n < len(digits)-last {
					rs[at] = '*'
					changed = true
				}
			}
		}
		i = end
	}
	return changed
}

// exampleNumbers are the numbers the bot's own examples show.
var exampleNumbers = map[string]bool{"13812345678": true, "03725123456": true, "11010519491231002": true}

// isExample reports whether the digits at positions digits of rs are one
// of the example numbers, in ASCII digits.
func isExample(rs []rune, digits []int) bool {
	if len(digits) > 17 {
		return false
	}
	var b [17]byte
	for n, at := range digits {
		if rs[at] >= utf8.RuneSelf {
			return false
		}
		b[n] = byte(rs[at])
	}
	return exampleNumbers[string(b[:len(digits)])]
}

// IsDigitRune reports whether r counts as a digit for masking: any Unicode
// number or a Chinese digit word.
func IsDigitRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= '0' && r <= '9'
	}
	if unicode.IsNumber(r) {
		return true
	}
	switch r {
	case '〇', '零', '一', '幺', '二', '两', '兩', '三', '四', '五', '六', '七', '八', '九',
		'壹', '贰', '貳', '叁', '參', '肆', '伍', '陆', '陸', '柒', '捌', '玖':
		return true
	}
	return false
}

// isNumberSeparator reports whether r may stand between two digits of one
// number.
func isNumberSeparator(r rune) bool {
	if r < utf8.RuneSelf {
		switch r {
		case ' ', '\t', '-', '.', '/', '_', '+':
			return true
		}
		return false
	}
	switch r {
	case '\n', '\r', '\v', '\f', 0x85, 0x2028, 0x2029:
		return false // a line break ends a number
	case '-', '.', '/', '_', '+', '－', '．', '／', '＿', '＋',
		'‐', '‑', '‒', '–', '—', '―', '−', '·', '・', '･', '。':
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) || isUnseen(r)
}

// isInvisible reports characters that show nothing of their own: format
// characters (zero-width spaces and joiners) and combining marks.
func isUnseen(r rune) bool {
	if r < utf8.RuneSelf {
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me)
}

// isSoftSeparator reports the separators across which a date does not
// chain: spaces.
func isSoftSeparator(r rune) bool {
	return r != '\n' && (unicode.IsSpace(r) || unicode.Is(unicode.Zs, r))
}

// dateAt returns 10 when rs[i:] starts with a standalone YYYY-MM-DD date,
// 0 otherwise.
func dateAt(rs []rune, i int) int {
	const n = 10
	if i+n > len(rs) {
		return 0
	}
	d := rs[i : i+n]
	for k, r := range d {
		if k == 4 || k == 7 {
			if r != '-' {
				return 0
			}
		} else if r < '0' || r > '9' {
			return 0
		}
	}
	num := func(a, b int) int {
		v := 0
		for _, r := range d[a:b] {
			v = v*10 + int(r-'0')
		}
		return v
	}
	if y, m, day := num(0, 4), num(5, 7), num(8, 10); y < 1900 || y > 2099 || m < 1 || m > 12 || day < 1 || day > 31 {
		return 0
	}
	// standing on its own: no digit next to it, and none glued to it by a
	// separator other than a space
	if i > 0 {
		before := rs[i-1]
		if IsDigitRune(before) || !isSoftSeparator(before) && isNumberSeparator(before) && i > 1 && gluedDigit(rs[:i-1], -1) {
			return 0
		}
	}
	if i+n < len(rs) {
		after := rs[i+n]
		if IsDigitRune(after) || !isSoftSeparator(after) && isNumberSeparator(after) && gluedDigit(rs[i+n+1:], 1) {
			return 0
		}
	}
	return n
}

// gluedDigit reports whether a digit follows (dir 1) or precedes (dir -1)
// the edge of rs across separators only.
func gluedDigit(rs []rune, dir int) bool {
	if dir > 0 {
		for _, r := range rs {
			if !isNumberSeparator(r) {
				return IsDigitRune(r)
			}
		}
		return false
	}
	for k := len(rs) - 1; k >= 0; k-- {
		if !isNumberSeparator(rs[k]) {
			return IsDigitRune(rs[k])
		}
	}
	return false
}
