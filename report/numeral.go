package report

import (
	"strings"
	"unicode/utf8"
)

var chineseDigits = map[rune]int{
	'零': 0, '〇': 0, '一': 1, '二': 2, '两': 2, '三': 3, '四': 4,
	'五': 5, '六': 6, '七': 7, '八': 8, '九': 9,
}

var chineseUnits = map[rune]int{'十': 10, '百': 100, '千': 1000, '廿': 20, '卅': 30}

func isChineseDigit(r rune) bool {
	if _, ok := chineseDigits[r]; ok {
		return true
	}
	_, ok := chineseUnits[r]
	return ok
}

// chineseNumber reads a number written in Chinese numerals: 三十八, 十五,
// 一百二十, 两百, 廿三, or digit by digit: 二〇二〇. Values stay below 10,000.
func chineseNumber(s string) (int, bool) {
	if s == "" || utf8.RuneCountInString(s) > 12 {
		return 0, false
	}
	hasUnit := false
	for _, r := range s {
		if _, ok := chineseUnits[r]; ok {
			hasUnit = true
		} else if _, ok := chineseDigits[r]; !ok {
			return 0, false
		}
	}
	if !hasUnit {
		n := 0
		for _, r := range s {
			n = n*10 + chineseDigits[r]
		}
		return n, true
	}
	total, digit, lastUnit := 0, -1, 100000
	for _, r := range s {
		if d, ok := chineseDigits[r]; ok {
			if digit >= 0 && d != 0 {
				return 0, false // two digits in a row: 三四十
			}
			if d != 0 {
				digit = d
			}
			continue
		}
		unit := chineseUnits[r]
		if unit >= lastUnit {
			return 0, false // 十百, 百百
		}
		switch {
		case r == '廿' || r == '卅':
			if digit >= 0 {
				return 0, false
			}
			total += unit
		case digit < 0:
			total += unit // 十五: an implicit one
		default:
			total += digit * unit
		}
		lastUnit, digit = unit, -1
		if r == '廿' || r == '卅' {
			lastUnit = 10
		}
	}
	if digit > 0 {
		total += digit
	}
	return total, true
}

// leadingNumber reads an integer at the start of s, in Arabic digits or
// Chinese numerals, and returns it with the rest of s.
func leadingNumber(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if i >= 9 {
			return 0, s, false
		}
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i > 0 {
		return n, s[i:], true
	}
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isChineseDigit(r) {
			break
		}
		i += size
	}
	if i == 0 {
		return 0, s, false
	}
	n, ok = chineseNumber(s[:i])
	return n, s[i:], ok
}

// parseCount reads an integer with an optional unit and the words people put
// around counts: 30, 30人, 约30人, 30人左右, 三十人, 5桌, 35岁. units lists the
// accepted units; unit reports which one was present ("" for none).
func parseCount(s string, units ...string) (n int, unit string, ok bool) {
	s = strings.TrimSpace(s)
	for _, p := range []string{"预计", "大约", "大概", "约莫", "约", "共", "计", "近", "有", "了", "about", "around", "approximately", "approx.", "approx", "~"} {
		if rest, found := strings.CutPrefix(s, p); found {
			s = strings.TrimSpace(rest)
			break
		}
	}
	n, rest, ok := leadingNumber(s)
	if !ok {
		return 0, "", false
	}
	rest = strings.TrimSpace(rest)
	rest = strings.TrimPrefix(rest, "余")
	rest = strings.TrimPrefix(rest, "多")
	rest = strings.TrimPrefix(rest, "来") // 三十来人: about thirty
	for _, u := range units {
		if r, found := strings.CutPrefix(rest, u); found {
			unit, rest = u, r
			break
		}
	}
	for _, p := range []string{"左右", "上下", "以内", "以上", "整"} {
		if r, found := strings.CutSuffix(rest, p); found {
			rest = r
			break
		}
	}
	if rest != "" {
		return 0, "", false
	}
	return n, unit, true
}
