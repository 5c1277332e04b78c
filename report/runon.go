package report

import (
	"strings"
	"unicode/utf8"
)

// Run-ons: voice input and hurried typing give a whole report as one word,
// 王强男45岁电话13598765432从武汉回来的12月2号到的住郝家店村五组. splitRunOn
// cuts such a word where the shapes the language knows begin and end: a
// phone or ID number, an age (45岁), 男/女 next to a number, a label
// (电话, 体温), 从…回来的, a date with 号/日 and the verb after it (到的),
// 住/住在/家住 before an address, a temperature with its unit, a count of
// people or tables. Words without such shapes, and well-formed values
// (郝家店村3组12号, 钢花路社区5号楼2单元301), are left whole.

// runOnFillers are words between the shapes of a run-on that say nothing.
var runOnFillers = map[string]bool{"都是": true, "均是": true, "均系": true, "都": true, "均": true, "是": true, "的": true}

// runOnLabels are the labels a run-on is cut before.
var runOnLabels = []string{
	"联系电话", "手机号码", "手机号", "电话", "手机", "身份证号", "身份证", "体温", "住址", "地址", "现住址", "年龄", "性别", "姓名",
	"返回日期", "到达日期", "症状", "事主", "人数", "桌数", "入住", "房东",
}

// runOnDateVerbs may follow a date inside a run-on.
var runOnDateVerbs = []string{"回来的", "到家的", "返回的", "到达的", "到的", "到家", "回来", "返回", "返乡", "到达", "抵达", "回的", "入住", "搬来", "来的", "到"}

// runOnOriginVerbs end 从武汉回来的 inside a run-on.
var runOnOriginVerbs = []string{"回来的", "返回的", "过来的", "返乡的", "回来", "返回", "过来", "返乡", "来的", "回"}

// runOnHomes start an address inside a run-on.
var runOnHomes = []string{"居住在", "现住在", "现住", "住在", "家住", "住"}

// splitRunOn returns the pieces of a run-on word, or nil when w is not
// one (fewer than three pieces, or no Chinese in it).
func splitRunOn(w string) []string {
	if len(w) < 12 || len(w) > 400 || strings.ContainsAny(w, ":=]】") || !hasHan(w) {
		return nil
	}
	cuts := make([]int, 0, 16)
	// sure is set by a cut that alone makes two pieces: an address and
	// the name after it (相台村3组张建国), a place and the travel after it
	// (从武汉坐高铁回来的)
	sure := false
	if i := nameAfterAddress(w); i > 0 {
		cuts = append(cuts, i)
		sure = true
	}
	cut := func(i int) {
		if i > 0 && i < len(w) && (len(cuts) == 0 || cuts[len(cuts)-1] < i) {
			cuts = append(cuts, i)
		}
	}
	for i := 0; i < len(w); {
		if c := w[i]; c >= '0' && c <= '9' {
			if i > 0 && isDigitByte(w[i-1]) {
				i++
				continue
			}
			if end := runOnNumber(w, i); end > i {
				cut(i)
				cut(end)
				i = end
				continue
			}
			j := i
			for j < len(w) && isDigitByte(w[j]) {
				j++
			}
			i = j
			continue
		}
		rest := w[i:]
		if end := runOnHan(rest); end > 0 {
			if strings.HasPrefix(rest, "从") && end < len(rest) && transportAt(rest[end:]) != "" {
				sure = true
			}
			cut(i)
			if end < len(rest) {
				cut(i + end)
			}
			i += end
			continue
		}
		if h := homeAt(rest); h != "" && !afterAny(w[:i], "入居租暂同留借") {
			cut(i)
			i += len(h)
			continue
		}
		if hasAnyPrefix(rest, runOnLabels) != "" {
			cut(i)
		}
		_, size := utf8.DecodeRuneInString(rest)
		i += size
	}
	if len(cuts) == 0 {
		return nil
	}
	pieces := make([]string, 0, len(cuts)+1)
	fillers := 0
	prev := 0
	for _, c := range append(cuts, len(w)) {
		piece := w[prev:c]
		prev = c
		// a label alone goes with the value after it: 电话 + 135…
		if n := len(pieces); n > 0 && isRunOnLabel(pieces[n-1]) {
			pieces[n-1] += piece
			continue
		}
		if runOnFillers[piece] {
			fillers++
			continue
		}
		pieces = append(pieces, piece)
	}
	if n := len(pieces) + fillers; n < 2 || n == 2 && !sure && !hasLongDigitRun(w) || len(pieces) < 2 {
		return nil
	}
	return pieces
}

// hasLongDigitRun reports a run of 11 or more digits: a phone or ID
// number, which is a cut of its own.
func hasLongDigitRun(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigitByte(s[i]) {
			n++
			if n >= 11 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

// gluedRunOn reports a trigger glued to a run-on report: 返乡王强男45岁….
// The word after the trigger must cut into three pieces or more.
func gluedRunOn(rest string) bool {
	end := strings.IndexAny(rest, " \n,;|")
	if end < 0 {
		end = len(rest)
	}
	return len(splitRunOn(rest[:end])) >= 3
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }

func hasAnyPrefix(s string, words []string) string {
	for _, w := range words {
		if strings.HasPrefix(s, w) {
			return w
		}
	}
	return ""
}

// isRunOnLabel reports a piece that is only a label (电话, 电话是,
// 今日排查): it goes with the value after it.
func isRunOnLabel(s string) bool {
	s = trimToday(s)
	for _, suffix := range []string{"为", "是", "了"} {
		if r, ok := strings.CutSuffix(s, suffix); ok && r != "" {
			s = r
			break
		}
	}
	return tables.isLabel(strings.ToLower(s))
}

// homeAt recognises 住, 住在, 家住 starting an address (not 住院, 住户).
func homeAt(s string) string {
	h := hasAnyPrefix(s, runOnHomes)
	if h == "" {
		return ""
	}
	after := s[len(h):]
	if strings.HasPrefix(after, "院") || strings.HasPrefix(after, "户") || strings.HasPrefix(after, "址") || after == "" {
		return ""
	}
	return h
}

// runOnNumber returns where a shape starting with a digit at w[i] ends: a
// phone or ID number, 45岁, 30人, 5桌, 38.5度, 12月2号到的, 2号到的; or i.
func runOnNumber(w string, i int) int {
	j := i
	for j < len(w) && isDigitByte(w[j]) {
		j++
	}
	digits := j - i
	rest := w[j:]
	switch {
	case digits == 11 && w[i] == '1':
		return j
	case digits == 17 && (strings.HasPrefix(rest, "X") || strings.HasPrefix(rest, "x")):
		return j + 1
	case digits == 18:
		return j
	}
	if u := hasAnyPrefix(rest, []string{"周岁", "岁", "人", "桌", "户"}); u != "" && digits <= 5 {
		return j + len(u)
	}
	// 38.5度, 38度5, 38.5℃
	if digits == 2 && w[i] >= '3' && w[i] <= '4' {
		t := rest
		if strings.HasPrefix(t, ".") && len(t) > 1 && isDigitByte(t[1]) {
			t = t[2:]
		}
		if u := hasAnyPrefix(t, []string{"℃", "度", "°"}); u != "" {
			end := len(w) - len(t) + len(u)
			if u == "度" && end < len(w) && isDigitByte(w[end]) && len(t) == len(rest) {
				end++ // 38度5
			}
			return end
		}
	}
	// dates: 12月2号, 2月5日, 2号到的
	if toks, after, ok := lexDate(w[i:]); ok && len(toks) >= 2 && digits <= 4 {
		last := toks[len(toks)-1].sep
		if last == "日" || last == "号" {
			end := len(w) - len(after)
			verb := hasAnyPrefix(after, runOnDateVerbs)
			if len(toks) == 2 && verb == "" {
				return i // 5号 alone: a house number as often as a day
			}
			return end + len(verb)
		}
	}
	return i
}

// runOnHan returns the length of a shape starting with a Chinese word at
// the start of s: 男/女 before a number, 从武汉回来的, 昨天到的; or 0.
func runOnHan(s string) int {
	r, _ := utf8.DecodeRuneInString(s)
	if !strings.ContainsRune("男女从今昨前大明后当", r) {
		return 0
	}
	for _, g := range []string{"男性", "女性", "男的", "女的", "男", "女"} {
		if rest, ok := strings.CutPrefix(s, g); ok {
			if rest == "" || isDigitByte(rest[0]) || hasAnyPrefix(rest, runOnLabels) != "" || homeAt(rest) != "" || isChineseNumberStart(rest) {
				return len(g)
			}
			return 0
		}
	}
	if rest, ok := strings.CutPrefix(s, "从"); ok {
		// 从武汉回来的: two to eight characters, then a verb; 从武汉自驾回来的
		// ends before the means of travel
		n := 0
		for i, r := range rest {
			if n >= 2 {
				if v := hasAnyPrefix(rest[i:], runOnOriginVerbs); v != "" {
					return len("从") + i + len(v)
				}
				if transportAt(rest[i:]) != "" {
					return len("从") + i
				}
			}
			if n >= 8 || r < utf8.RuneSelf {
				return 0
			}
			n++
		}
		return 0
	}
	for _, rd := range relativeDayList {
		if rest, ok := strings.CutPrefix(s, rd.word); ok {
			return len(rd.word) + len(hasAnyPrefix(rest, runOnDateVerbs))
		}
	}
	return 0
}

// transportAt returns the means of travel s starts with: 自驾, 坐高铁,
// 乘坐火车; or "".
func transportAt(s string) string {
	for _, verb := range []string{"乘坐", "搭乘", "坐", "乘", "搭", "开"} {
		if r, ok := strings.CutPrefix(s, verb); ok {
			if t := hasAnyPrefix(r, transportWords); t != "" {
				return verb + t
			}
		}
	}
	return hasAnyPrefix(s, transportWords)
}

// nameAfterAddress finds a name glued after an address (相台村3组张建国)
// and returns where it starts, or 0.
func nameAfterAddress(w string) int {
	best := -1
	for _, m := range []string{"组", "号", "室", "单元", "楼"} {
		if i := strings.LastIndex(w, m); i >= 0 && i+len(m) > best {
			best = i + len(m)
		}
	}
	if best <= 0 || best >= len(w) {
		return 0
	}
	tail := w[best:]
	if n := utf8.RuneCountInString(tail); n < 2 || n > 3 || !isName(tail) || !isAddress(w[:best]) {
		return 0
	}
	return best
}

// afterAny reports whether s ends with one of the runes of set: 入住 is
// no 住 before an address.
func afterAny(s, set string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && strings.ContainsRune(set, r)
}

// isChineseNumberStart reports 四十五岁 after 男: a Chinese numeral and an age.
func isChineseNumberStart(s string) bool {
	n, rest, ok := leadingNumber(s)
	return ok && n > 0 && (strings.HasPrefix(rest, "岁") || strings.HasPrefix(rest, "周岁"))
}
