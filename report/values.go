package report

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Normalisers turn what a user typed into a field's canonical text. Each
// returns a reason code when the text is not a valid value; the codes are
// what Problem.Code carries.

// normalizePhone accepts Chinese mobile numbers (11 digits, 1[3-9]…) with
// spaces, dashes, dots, brackets or a +86/0086 prefix, and landlines with
// their area code (0372-5123456, 010 12345678, (0372)5123456).
func normalizePhone(s string) (string, bool) {
	var b [24]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(b) {
				return "", false
			}
			b[n] = c
			n++
		case c == ' ' || c == '-' || c == '(' || c == ')' || c == '.' || c == '+':
		default:
			return "", false
		}
	}
	d := string(b[:n])
	switch {
	case strings.HasPrefix(d, "0086") && len(d) == 15:
		d = d[4:]
	case strings.HasPrefix(d, "86") && len(d) == 13 && d[2] == '1':
		d = d[2:]
	}
	if len(d) == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9' {
		return d, true
	}
	if len(d) >= 10 && len(d) <= 12 && d[0] == '0' && d[1] != '0' {
		area := 4
		if d[1] == '1' || d[1] == '2' {
			area = 3
		}
		if local := len(d) - area; local == 7 || local == 8 {
			return d[:area] + "-" + d[area:], true
		}
	}
	return "", false
}

// looksLikePhone reports whether s is a digit string someone meant as a
// phone number (valid or not): 7–13 digits, maybe with separators, starting
// with 1, 0 or +.
func looksLikePhone(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '-' || c == '+' || c == ' ' || c == '(' || c == ')':
		default:
			return false
		}
	}
	if digits < 7 || digits > 13 {
		return false
	}
	t := strings.TrimLeft(s, "(+ ")
	return t != "" && (t[0] == '1' || t[0] == '0' || s[0] == '+')
}

// idWeights and idCheck are GB 11643's check digit scheme.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheck = "10X98765432"

// provinces holds the first two digits of every valid ID number region.
var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true, "21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "81": true, "82": true, "83": true, "91": true,
}

// idProblem names what is wrong with an ID number; "" when it is valid.
type idProblem string

const (
	idOK        idProblem = ""
	idLength    idProblem = "length"
	idRegion    idProblem = "region"
	idBirthDate idProblem = "birth_date"
	idChecksum  idProblem = "check_digit"
)

// normalizeID checks an 18-character resident ID number: digits, a region
// code, a real birth date no later than today, and the check digit. It
// strips spaces and upper-cases a final x.
func normalizeID(s string, today Date) (string, idProblem) {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if len(s) != 18 {
		return "", idLength
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return "", idLength
		}
		sum += int(c-'0') * idWeights[i]
	}
	last := s[17]
	if !(last >= '0' && last <= '9' || last == 'X') {
		return "", idLength
	}
	if !provinces[s[:2]] {
		return "", idRegion
	}
	birth, _ := strconv.Atoi(s[6:14])
	d := DateFromInt(birth)
	if !d.valid() || d.Year < 1890 || (!today.IsZero() && d.Compare(today) > 0) {
		return "", idBirthDate
	}
	if idCheck[sum%11] != last {
		return "", idChecksum
	}
	return s, idOK
}

// looksLikeID reports whether s has the shape of an ID number someone
// meant: 15 to 18 digits, maybe ending in X.
func looksLikeID(s string) bool {
	if len(s) < 15 || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9') && !(i == len(s)-1 && (c == 'x' || c == 'X')) {
			return false
		}
	}
	return true
}

// tempShape is what parseTemperature found.
type tempShape int

const (
	notTemp  tempShape = iota // not a temperature
	bareTemp                  // a plain number that would be a temperature
	unitTemp                  // a number with a degree unit: unmistakable
)

// parseTemperature reads a body temperature in tenths of a degree Celsius:
// 38.5, 38.5℃, 38.5度, 38.5°C, 38度5, 三十八度五, 三十八点五度, 101.3°F.
// ok is false when the text has the shape of a temperature but the value is
// outside 35.0–42.5 (a typo such as 385, not a patient).
func parseTemperature(s string) (tenths int, shape tempShape, ok bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "摄氏")
	if s == "" || len(s) > 40 {
		return 0, notTemp, false
	}
	whole, rest, okNum := leadingNumber(s)
	if !okNum || whole > 1000 {
		return 0, notTemp, false
	}
	frac, fracDigits := 0, 0
	readFrac := func() bool {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' && i < 2 {
			frac = frac*10 + int(rest[i]-'0')
			i++
		}
		if i == 0 {
			r, size := utf8.DecodeRuneInString(rest)
			d, isDigit := chineseDigits[r]
			if !isDigit {
				return false
			}
			frac, i = d, size
			fracDigits = 1
			rest = rest[i:]
			return true
		}
		fracDigits = i
		rest = rest[i:]
		return true
	}
	if r, found := strings.CutPrefix(rest, "."); found {
		rest = r
		if !readFrac() {
			return 0, notTemp, false
		}
	} else if r, found := strings.CutPrefix(rest, "点"); found {
		rest = r
		if !readFrac() {
			return 0, notTemp, false
		}
	}
	rest = strings.TrimSpace(rest)
	unit, fahrenheit := false, false
	for _, u := range []string{"℉", "°f", "°F", "华氏度"} {
		if r, found := strings.CutPrefix(rest, u); found {
			rest, unit, fahrenheit = r, true, true
			break
		}
	}
	if !unit {
		for _, u := range []string{"℃", "°c", "°C", "摄氏度", "度", "°", "c", "C"} {
			if r, found := strings.CutPrefix(rest, u); found {
				rest, unit = r, true
				break
			}
		}
	}
	if !unit && (rest == "f" || rest == "F") && whole >= 90 {
		rest, unit, fahrenheit = "", true, true
	}
	// 38度5, 38°5: the decimal after the unit.
	if unit && fracDigits == 0 && rest != "" {
		if !readFrac() || fracDigits != 1 {
			return 0, notTemp, false
		}
	}
	if strings.TrimSpace(rest) != "" {
		return 0, notTemp, false
	}
	for fracDigits < 2 {
		frac *= 10
		fracDigits++
	}
	hundredths := whole*100 + frac
	if fahrenheit {
		hundredths = (hundredths - 3200) * 5 / 9
	}
	tenths = (hundredths + 5) / 10
	shape = bareTemp
	if unit {
		shape = unitTemp
	}
	return tenths, shape, tenths >= 350 && tenths <= 425
}

// formatTenths renders tenths of a degree as "38.5".
func formatTenths(t int) string {
	return strconv.Itoa(t/10) + "." + strconv.Itoa(t%10)
}

var genders = map[string]string{
	"男": "male", "男性": "male", "男士": "male", "男的": "male", "male": "male", "m": "male", "man": "male",
	"女": "female", "女性": "female", "女士": "female", "女的": "female", "female": "female", "f": "female", "woman": "female",
}

// normalizeGender accepts 男/女 and English forms.
func normalizeGender(s string) (string, bool) {
	g, ok := genders[strings.ToLower(strings.TrimSpace(s))]
	return g, ok
}

// gatheringWords decide a gathering's type from any text that names it.
var (
	weddingWords = []string{"婚", "嫁", "娶", "喜事", "wedding", "marriage", "marry"}
	funeralWords = []string{"丧", "葬", "去世", "逝世", "过世", "病故", "出殡", "白事", "funeral", "burial", "died"}
)

// gatheringType classifies the text of a 类型 field: wedding, funeral or
// other. It never fails: any other occasion is "other".
func gatheringType(s string) string {
	lower := strings.ToLower(s)
	if containsAny(lower, weddingWords) {
		return "wedding"
	}
	if containsAny(lower, funeralWords) {
		return "funeral"
	}
	return "other"
}

// isGatheringWord reports whether unlabelled text names a gathering type.
func isGatheringWord(s string) bool {
	lower := strings.ToLower(s)
	if utf8.RuneCountInString(lower) > 6 {
		return false
	}
	return containsAny(lower, weddingWords) || containsAny(lower, funeralWords) ||
		lower == "满月酒" || lower == "寿宴" || lower == "升学宴" || lower == "other"
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// cleanText trims a free-text value and collapses runs of spaces.
func cleanText(s string) string {
	s = strings.Trim(s, " 、:=")
	if !strings.Contains(s, "  ") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// originVerbs end an origin written as a phrase: 从武汉返回, 武汉返乡.
var originVerbs = []string{"回来的", "过来的", "返回的", "返乡的", "来的", "回的", "返回", "返乡", "回来", "归来", "回乡", "回到", "到达", "来到", "而来", "过来", "返", "回", "来"}

// normalizeOrigin strips the words around a place: 从武汉返回 → 武汉. It
// strips to a fixed point, so normalising twice changes nothing.
func normalizeOrigin(s string) string {
	s = cleanText(s)
	for {
		t := s
		for _, p := range []string{"来自", "从"} {
			if r, found := strings.CutPrefix(t, p); found && r != "" {
				t = r
				break
			}
		}
		for _, v := range originVerbs {
			if r, found := strings.CutSuffix(t, v); found {
				if r != "" {
					t = r
				}
				break
			}
		}
		t = cleanText(t)
		if t == s || t == "" {
			return s
		}
		s = t
	}
}

// normalizeAddress drops the verb an address is often typed with (住, 现住,
// 家住) and the spaces between Chinese parts: 住 郝家店村 3组 → 郝家店村3组.
func normalizeAddress(s string) string {
	for stripped := true; stripped; { // to a fixed point, so normalising twice changes nothing
		stripped = false
		for _, p := range []string{"现住在", "现住", "住在", "家住", "居住在", "居住于", "住"} {
			if r, ok := strings.CutPrefix(s, p); ok && cleanText(r) != "" {
				s, stripped = cleanText(r), true // 住:社区 → 社区
				break
			}
		}
	}
	if !strings.Contains(s, " ") || !hasHan(s) {
		return s
	}
	var b strings.Builder
	words := strings.Fields(s)
	for i, w := range words {
		if i > 0 {
			prev, _ := utf8.DecodeLastRuneInString(words[i-1])
			next, _ := utf8.DecodeRuneInString(w)
			if !(prev >= utf8.RuneSelf || next >= utf8.RuneSelf) {
				b.WriteByte(' ')
			}
		}
		b.WriteString(w)
	}
	return b.String()
}

// followupResults map what people write after a follow-up visit to a
// result, longest phrases first where one holds another.
var followupResults = []struct{ word, result string }{
	{"解除观察", "released"}, {"解除隔离", "released"}, {"解除居家观察", "released"}, {"期满解除", "released"}, {"released", "released"},
	{"仍发热", "still_fever"}, {"仍发烧", "still_fever"}, {"还在发烧", "still_fever"}, {"还发烧", "still_fever"}, {"未退烧", "still_fever"},
	{"没退烧", "still_fever"}, {"仍有发热", "still_fever"}, {"持续发热", "still_fever"}, {"still fever", "still_fever"}, {"still_fever", "still_fever"},
	{"已送医", "hospital"}, {"送医", "hospital"}, {"住院", "hospital"}, {"已就医", "hospital"}, {"转院", "hospital"}, {"送医院", "hospital"},
	{"hospital", "hospital"},
	{"已退烧", "recovered"}, {"退烧", "recovered"}, {"体温正常", "recovered"}, {"已恢复", "recovered"}, {"恢复正常", "recovered"},
	{"痊愈", "recovered"}, {"已痊愈", "recovered"}, {"好了", "recovered"}, {"recovered", "recovered"},
}

// normalizeResult reads the result of a follow-up: 已退烧 → recovered,
// 仍发热 → still_fever, 已送医 → hospital, 解除观察 → released.
func normalizeResult(s string) (string, bool) {
	lower := strings.ToLower(strings.TrimSpace(s))
	if lower == "" || utf8.RuneCountInString(lower) > 12 {
		return "", false
	}
	for _, r := range followupResults {
		if strings.Contains(lower, r.word) {
			return r.result, true
		}
	}
	return "", false
}

// isMaskedNumber reports a phone or ID number with its middle starred, as
// the bot shows them in groups: 137****1111, 0372-***3456,
// 410505********2010.
func isMaskedNumber(s string) bool {
	stars, digits, other := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '*':
			stars++
		case c >= '0' && c <= '9':
			digits++
		case c == '-' || c == ' ' || (c == 'x' || c == 'X') && i == len(s)-1:
		default:
			other++
		}
	}
	return other == 0 && stars >= 2 && digits >= 4 && stars+digits >= 10 && stars+digits <= 19
}

// placeholderList holds what the bot's templates put where a value is to
// be typed (after full-width brackets are folded); sent back unchanged it
// is no value at all.
var placeholderList = []string{"(请填写)", "(请重新填写完整号码)", "(fill in)", "(re-enter the full number)"}

func isPlaceholder(s string) bool {
	for _, ph := range placeholderList {
		if strings.EqualFold(s, ph) || strings.EqualFold(s, ph[1:len(ph)-1]) {
			return true
		}
	}
	return false
}

// normalizeTransport drops the verb a means of travel is typed with:
// 自驾回来的 → 自驾, 坐高铁回来 → 坐高铁.
func normalizeTransport(s string) string {
	for _, v := range transportVerbs {
		if r, ok := strings.CutSuffix(s, v); ok && r != "" && containsAny(r, transportWords) {
			return r
		}
	}
	return s
}

// transportVerbs end a means of travel typed as a phrase: 自驾返回.
var transportVerbs = []string{"回来的", "过来的", "返回的", "返乡的", "回来", "过来", "返回", "返乡", "来的"}

// isTransportPhrase recognises 自驾返回, 坐高铁回来的: a means of travel
// and a verb, with no place in it.
func isTransportPhrase(s string) bool {
	for _, v := range transportVerbs {
		if r, ok := strings.CutSuffix(s, v); ok && r != "" {
			return utf8.RuneCountInString(r) <= 6 && transportAt(r) == r && !isPlace(r)
		}
	}
	return false
}
