// Package masktest finds what masking must never let through: a number of
// seven or more digits, written in any digits (ASCII, full-width, Chinese
// digit words) with any of the separators report.MaskText ignores. It is
// written apart from report's masking, so tests of that masking and of
// everything the bot posts to a group have an independent judge.
package masktest

import (
	"html"
	"math/rand"
	"regexp"
	"strings"
	"unicode"
)

// chinese are the Chinese digit words.
const chinese = "〇零一幺二两兩三四五六七八九壹贰貳叁參肆伍陆陸柒捌玖"

// class maps a rune to one letter: d digit, s space, h visible separator,
// i invisible, x anything else (a line break included).
func class(r rune) byte {
	switch {
	case r >= '0' && r <= '9', r > 127 && unicode.IsNumber(r), strings.ContainsRune(chinese, r):
		return 'd'
	case r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == 0x85 || r == 0x2028 || r == 0x2029:
		return 'x'
	case unicode.IsSpace(r) || unicode.Is(unicode.Zs, r):
		return 's'
	case unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me):
		return 'i'
	case strings.ContainsRune("-./_+－．／＿＋‐‑‒–—―−·・･。", r):
		return 'h'
	}
	return 'x'
}

// number is a chain: digits with at most three visible separators between
// two of them (invisible ones do not count).
var number = regexp.MustCompile(`d(?:i*(?:[sh]i*){0,3}d)*`)

var date = regexp.MustCompile(`(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])`)

// Exposed returns the numbers of seven or more digits in plain text s
// (each as written), apart from standalone YYYY-MM-DD dates and the bot's
// example numbers (13812345678, 0372-5123456, 11010519491231002X).
func Exposed(s string) []string {
	rs := []rune(s)
	classes := make([]byte, len(rs))
	for k, r := range rs {
		classes[k] = class(r)
	}
	// a standalone date: D, which chains with nothing
	byteToRune := map[int]int{}
	n := 0
	for b := range s {
		byteToRune[b] = n
		n++
	}
	byteToRune[len(s)] = n
	for _, m := range date.FindAllStringIndex(s, -1) {
		from, to := byteToRune[m[0]], byteToRune[m[1]]
		if glued(classes, from-1, -1) || glued(classes, to, 1) {
			continue
		}
		for k := from; k < to; k++ {
			classes[k] = 'D'
		}
	}
	var out []string
	for _, m := range number.FindAllIndex(classes, -1) {
		if strings.Count(string(classes[m[0]:m[1]]), "d") >= 7 && !examples[digitsOf(rs[m[0]:m[1]])] {
			out = append(out, string(rs[m[0]:m[1]]))
		}
	}
	return out
}

// examples are the bot's own example numbers, shown in full on purpose.
var examples = map[string]bool{"13812345678": true, "03725123456": true, "11010519491231002": true}

// digitsOf returns the digits of a chain, or "" when any is not ASCII.
func digitsOf(rs []rune) string {
	var b strings.Builder
	for _, r := range rs {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case class(r) == 'd':
			return ""
		}
	}
	return b.String()
}

// glued reports whether the rune at k (going dir) is a digit, or a
// separator other than a space that leads to a digit.
func glued(classes []byte, k, dir int) bool {
	if k < 0 || k >= len(classes) {
		return false
	}
	switch classes[k] {
	case 'd', 'D':
		return true
	case 'h', 'i':
		for k += dir; k >= 0 && k < len(classes); k += dir {
			switch classes[k] {
			case 'd', 'D':
				return true
			case 'x':
				return false
			}
		}
	}
	return false
}

var tag = regexp.MustCompile(`<[^>]*>`)

// ExposedHTML is Exposed on the text a Telegram HTML message shows.
func ExposedHTML(s string) []string {
	return Exposed(html.UnescapeString(tag.ReplaceAllString(s, "")))
}

var (
	digitForms = [][]string{
		{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
		{"０", "１", "２", "３", "４", "５", "６", "７", "８", "９"},
		{"〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"},
		{"零", "幺", "两", "叁", "肆", "伍", "陆", "柒", "捌", "玖"},
		{"٠", "١", "٢", "٣", "٤", "٥", "٦", "٧", "٨", "٩"},
	}
	separators = []string{"", "", "", " ", "-", ".", "/", "_", "\u00a0", "\u3000", "\u202f", "\u200b", "\u200d", "－", "．", " - ", "  ", "·", "\u2009", "+", "\u00ad"}
	words      = []string{"电话", "手机", "身份证", "住址", "郝家店村3组12号", "备注:", "张三", " ", "，", "、", "\n", "x", "X", "2020-02-05", "2020-02-05 ", "38.5", "*", "号", "<", ">", "&", "\u202e", "\u2066", "\u2069", "tel:", "+86"}
)

// Number writes a random number of n digits in a random disguise: ASCII,
// full-width, Chinese or Arabic-Indic digits (sometimes mixed), with any
// separator masking ignores between them.
func Number(r *rand.Rand, n int) string {
	var b strings.Builder
	forms := digitForms[r.Intn(len(digitForms))]
	for k := range n {
		if k > 0 {
			b.WriteString(separators[r.Intn(len(separators))])
		}
		if r.Intn(8) == 0 {
			forms = digitForms[r.Intn(len(digitForms))]
		}
		b.WriteString(forms[r.Intn(10)])
	}
	return b.String()
}

// Text writes random text: words, spaces, dates, bidirectional controls
// and numbers of 1 to 20 digits in disguise.
func Text(r *rand.Rand) string {
	var b strings.Builder
	for range 1 + r.Intn(6) {
		if r.Intn(3) == 0 {
			b.WriteString(words[r.Intn(len(words))])
			continue
		}
		b.WriteString(Number(r, 1+r.Intn(20)))
	}
	return b.String()
}
