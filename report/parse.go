package report

import (
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Lang is the language a report was written in and is answered in.
type Lang string

// The languages the bot speaks.
const (
	Zh Lang = "zh"
	En Lang = "en"
)

// Context is what Parse needs besides the text.
type Context struct {
	// Now is when the message was sent; relative dates (今天, 昨天) and the
	// year of a date written without one are taken from it.
	Now time.Time
	// Location is the chat's time zone; nil means Now's own location.
	Location *time.Location
	// Sender is the sender's display name: a tenant's default landlord.
	Sender string
	// BotUsername, when set, makes /cmd@otherbot ordinary chat.
	BotUsername string
}

// Notice is a problem or a warning about one field.
type Notice struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Problem and warning codes. They are stable: handlers and tests match them.
const (
	CodeMissing            = "missing"
	CodeInvalidPhone       = "invalid_phone"
	CodeInvalidIDNumber    = "invalid_id_number"
	CodeInvalidTemperature = "invalid_temperature"
	CodeInvalidDate        = "invalid_date"
	CodeInvalidGender      = "invalid_gender"
	CodeInvalidNumber      = "invalid_number"
	CodeInvalidResult      = "invalid_result"  // a follow-up result that is none of the four
	CodeMaskedNumber       = "masked_number"   // 137****1111 in a required field: the full number is needed
	CodeTemplateSample     = "template_sample" // the template's sample sent back unchanged

	WarnMaskedNumber = "masked_number" // 137****1111 in an optional field: dropped

	WarnBelowThreshold = "below_threshold" // a fever below 37.3 °C
	WarnFutureDate     = "future_date"     // an arrival or move-in after today
	WarnPastDate       = "past_date"       // a gathering reported after its day
	WarnAboveThreshold = "above_threshold" // a gathering above 50 people or 5 tables
	WarnAgeMismatch    = "age_mismatch"    // age disagrees with the ID number's birth date
	WarnUnknownField   = "unknown_field"   // a label that does not belong to the kind: kept in note
	WarnDuplicateField = "duplicate_field" // a field given twice: the second kept in note
	WarnNoCounts       = "no_counts"       // a daily report without numbers: recorded as a zero report
	WarnLabelReadAs    = "label_read_as"   // a question or a mistyped label, read as a field's label
)

// Thresholds from the reporting rules.
const (
	FeverThreshold  = 373 // tenths of a degree Celsius
	GuestsThreshold = 50
	TablesThreshold = 5
)

// Report is a parsed message.
type Report struct {
	Kind Kind
	Lang Lang
	// Fields holds normalised values under canonical names; see ValueType
	// for each type's text form.
	Fields   map[string]string
	Problems []Notice
	Warnings []Notice
}

// OK reports whether the message is a report with no problems.
func (r Report) OK() bool { return r.Kind != None && len(r.Problems) == 0 }

// Parse turns a message into a Report. A message that does not start with a
// trigger is ordinary chat: the Report's Kind is None. Parse never panics and
// takes time linear in the length of text.
func Parse(text string, c Context) Report {
	m, lang := start(text, c)
	if m.kind == None {
		return Report{Lang: lang}
	}
	return parseOne(m, c, lang)
}

// start cleans a message, finds its language and its trigger, and mends
// what input methods do to numbers in the body.
func start(text string, c Context) (triggerMatch, Lang) {
	s := clean(text)
	lang := detectLang(s)
	m := matchTrigger(s, c.BotUsername)
	if m.kind == Fever || m.kind == Followup {
		m.body = mendDecimals(m.body)
	}
	if strings.Contains(m.body, "(") {
		for _, ph := range placeholderList {
			m.body = strings.ReplaceAll(m.body, ph, "")
		}
	}
	if strings.IndexByte(m.body, '\n') >= 0 {
		m.body = dropHeaderRows(m.body)
	}
	return m, lang
}

// dropHeaderRows drops the heading row of a table pasted from a
// spreadsheet: a line of three or more labels and nothing else (姓名 电话
// 来自 日期 住址). Its columns say nothing the values do not.
func dropHeaderRows(body string) string {
	lines := strings.Split(body, "\n")
	kept := lines[:0]
	for _, line := range lines {
		words := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ',' || r == '|' || r == ';' })
		labels := 0
		for _, w := range words {
			if tables.isLabel(strings.ToLower(w)) {
				labels++
			}
		}
		if labels >= 3 && labels == len(words) {
			continue
		}
		kept = append(kept, line)
	}
	return strings.Join(kept, "\n")
}

// mendDecimals turns the 。 or ， an input method types for a decimal
// point back into one inside a temperature: 体温37。8, 38，5℃. Only a
// reading of 35–42 followed by one digit is mended, and only after a
// temperature label or a separator, so 年龄38，5组 stays as it is.
func mendDecimals(body string) string {
	if !strings.Contains(body, ",") && !strings.Contains(body, "。") {
		return body
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(body); i++ {
		size := 0
		switch {
		case body[i] == ',':
			size = 1
		case strings.HasPrefix(body[i:], "。"):
			size = len("。")
		default:
			continue
		}
		if i < 2 || !isDigits(body[i-2:i]) || i >= 3 && isDigits(body[i-3:i-2]) {
			continue
		}
		whole := int(body[i-2]-'0')*10 + int(body[i-1]-'0')
		j := i + size
		if whole < 35 || whole > 42 || j >= len(body) || !isDigits(body[j:j+1]) || j+1 < len(body) && isDigits(body[j+1:j+2]) {
			continue
		}
		before, after := body[:i-2], body[j+1:]
		labelled := false
		for _, l := range []string{"体温", "温度", "体温:", "温度:", "体温=", "temp", "temp:", "temp=", "temperature:"} {
			labelled = labelled || strings.HasSuffix(strings.ToLower(before), l)
		}
		unit := false
		for _, u := range []string{"℃", "度", "°", "c", "C"} {
			unit = unit || strings.HasPrefix(after, u)
		}
		r, _ := utf8.DecodeLastRuneInString(before)
		separated := before == "" || strings.ContainsRune(" \n,:", r) || strings.HasSuffix(before, "。")
		ends := after == "" || after[0] == ' ' || after[0] == '\n' || after[0] == ',' || strings.HasPrefix(after, "。")
		if labelled || separated && (unit || ends) {
			b.WriteString(body[last:i])
			b.WriteByte('.')
			last = j
			i = j - 1
		}
	}
	if last == 0 {
		return body
	}
	b.WriteString(body[last:])
	return b.String()
}

// parseOne reads the body after a trigger as one report.
func parseOne(m triggerMatch, c Context, lang Lang) Report {
	p := newParser(m, c, lang)
	p.chunkBody(m.body)
	p.assign()
	if !m.explicit && p.recognised == 0 && (strings.TrimSpace(m.body) != "" || m.kind != Daily) {
		// 发热 怎么办, or 返回 alone: a trigger word followed by nothing a
		// report holds. (日报 alone is a zero report.)
		return Report{Lang: lang}
	}
	return p.finish(m.trigger, c.Sender)
}

// newParser starts the parse of a body after the trigger m.
func newParser(m triggerMatch, c Context, lang Lang) *parser {
	now := c.Now
	if c.Location != nil {
		now = now.In(c.Location)
	}
	return &parser{
		kind:   m.kind,
		spec:   tables.kindByKind[m.kind],
		today:  DateOf(now),
		lang:   lang,
		sepMod: strings.ContainsAny(m.body, hardSeparators),
		raw:    map[string]string{},
	}
}

// hardSeparators split fields everywhere; spaces split them only in a
// message that has none of these.
const hardSeparators = "\n,;。|"

// clean folds full-width forms to their ASCII equivalents (x/text/width),
// turns every kind of space into a plain one and line separators into \n,
// and drops control characters, zero-width and bidirectional marks and
// invalid UTF-8, so the parser sees one normal form.
func clean(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\r':
			if i < len(s) && s[i] == '\n' {
				continue
			}
			b.WriteByte('\n')
		case r == '\n':
			b.WriteByte('\n')
		case r == '\u2028' || r == '\u2029' || r == '\u0085':
			b.WriteByte('\n')
		case r == '\t' || r == '\u00a0' || (r >= '\u2000' && r <= '\u200a') || r == '\u202f' || r == '\u205f':
			b.WriteByte(' ')
		case r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0):
			// control characters carry nothing a report needs
		case isInvisible(r):
		case r >= 0x2000:
			if f := width.LookupRune(r).Folded(); f != 0 {
				r = f
			}
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isInvisible reports zero-width characters and bidirectional controls.
func isInvisible(r rune) bool {
	switch {
	case r >= '\u200b' && r <= '\u200f', r >= '\u202a' && r <= '\u202e',
		r >= '\u2060' && r <= '\u2069', r == '\ufeff', r == '\u061c', r == '\u00ad':
		return true
	}
	return false
}

// isClean reports whether clean would return s unchanged.
func isClean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < ' ' && c != '\n') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r < 0xa0 || r == '\u00a0' || r >= 0x2000 && r <= 0x206f ||
			r == '\u3000' || r >= 0xfe00 || r == '\u00ad' || r == '\u061c' {
			return false
		}
		i += size
	}
	return true
}

// detectLang answers Chinese unless the message is mostly Latin letters.
func detectLang(s string) Lang {
	han, latin := 0, 0
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
				latin++
			}
		case unicode.Is(unicode.Han, r):
			han++
		}
	}
	if latin > 3*han+3 {
		return En
	}
	return Zh
}

// triggerMatch is where a report starts.
type triggerMatch struct {
	kind     Kind
	trigger  string // the trigger as matched, lower case
	body     string // what follows the trigger
	explicit bool   // #, /command or a suffix made it unmistakable
}

// matchTrigger finds the trigger a report starts with. A trigger must be
// followed by a separator, a suffix such as 登记, a label or the end: 发热门诊
// is not a fever report.
func matchTrigger(s, botUsername string) triggerMatch {
	t := strings.TrimLeft(s, " \n")
	if strings.HasPrefix(t, "@") { // "@gridbot #返乡 …"
		if w := asciiWord(t[1:]); w != "" && (botUsername == "" || strings.EqualFold(w, botUsername)) {
			t = strings.TrimLeft(t[1+len(w):], " \n,:")
		}
	}
	bracket := false
	if r, ok := cutAnyPrefix(t, "【", "["); ok {
		t, bracket = strings.TrimLeft(r, " "), true
	}
	var m triggerMatch
	switch {
	case strings.HasPrefix(t, "#"):
		t = strings.TrimLeft(strings.TrimLeft(t, "#"), " ")
		m.explicit = true
	case strings.HasPrefix(t, "/"):
		t = t[1:]
		m.explicit = true
		name := asciiWord(t)
		if name == "" {
			break // /返乡: a Chinese trigger after the slash
		}
		rest := t[len(name):]
		if strings.HasPrefix(rest, "@") {
			bot := asciiWord(rest[1:])
			if botUsername != "" && !strings.EqualFold(bot, botUsername) {
				return triggerMatch{}
			}
			rest = rest[1+len(bot):]
		}
		kind := tables.triggers[strings.ToLower(name)]
		if kind == None || !startsWithBoundary(rest) {
			return triggerMatch{} // another command: /start, /help, …
		}
		return triggerMatch{kind: kind, trigger: strings.ToLower(name), body: trimBodyStart(rest), explicit: true}
	}
	// the longest trigger word at the start
	var buf [16]int
	ends := prefixEnds(buf[:0], t, tables.maxTriggerRune)
	for k := len(ends) - 1; k >= 1; k-- {
		word := strings.ToLower(t[:ends[k]])
		kind, ok := tables.triggers[word]
		if !ok {
			continue
		}
		rest := t[ends[k]:]
		explicit := m.explicit || bracket
		for {
			suffix := false
			for _, suf := range triggerSuffixes {
				if r, found := strings.CutPrefix(rest, suf); found {
					rest, suffix, explicit = r, true, true
					break
				}
			}
			if !suffix {
				break
			}
		}
		if r, ok := cutAnyPrefix(rest, "】", "]"); ok {
			rest, explicit = r, true
		}
		if strings.HasPrefix(rest, "(") {
			// 返乡登记（郝家店村3组）: what the brackets hold is stated for
			// the whole message
			if j := strings.IndexByte(rest, ')'); j > 1 && j < 64 && !strings.Contains(rest[:j], "\n") {
				rest = "," + rest[1:j] + "," + rest[j+1:]
			}
		}
		ascii := word[0] < utf8.RuneSelf
		switch {
		case ascii && !explicit && !strings.HasPrefix(rest, ":") && !strings.HasPrefix(rest, "\n"):
			// "fever clinic opens at 9": English words need # or /.
			continue
		case !startsWithBoundary(rest) && !startsWithLabel(kind, rest) && !gluedRunOn(rest):
			continue
		}
		return triggerMatch{kind: kind, trigger: word, body: trimBodyStart(rest), explicit: explicit}
	}
	if i := strings.Index(t, "日报"); i > 0 && i <= 48 && !m.explicit && !bracket && dailyPrefix(t[:i]) {
		return matchTrigger(t[i:], botUsername)
	}
	return triggerMatch{}
}

// dailyPrefix accepts what people put before 日报: the day (今日日报,
// 2月7日日报) or the place (郝家店村3组日报, 李网格今日日报 is not).
func dailyPrefix(s string) bool {
	words := strings.Fields(s)
	if len(words) == 0 || len(words) > 3 {
		return false
	}
	for _, w := range words {
		w = strings.TrimSuffix(w, "的") // 今天的日报
		for _, today := range []string{"今日", "今天", "本日"} {
			if r, ok := strings.CutSuffix(w, today); ok {
				w = r
				break
			}
		}
		if w == "" {
			continue
		}
		if _, shape := parseDate(w, Date{Year: 2000, Month: 1, Day: 1}, true); shape != notDate {
			continue
		}
		if strings.ContainsAny(w, ",;:=#/") || !isAddress(w) && !strings.HasSuffix(w, "网格") {
			return false
		}
	}
	return true
}

// prefixEnds appends to ends the byte offsets at which the prefixes of s of
// 0, 1, … maxRunes runes end (fewer when s is shorter): s[:ends[k]] is the
// prefix of k runes. The longest-match loops over triggers and labels
// walk them from the longest down.
func prefixEnds(ends []int, s string, maxRunes int) []int {
	for i := range s {
		if len(ends) > maxRunes {
			return ends
		}
		ends = append(ends, i)
	}
	if len(ends) <= maxRunes {
		ends = append(ends, len(s))
	}
	return ends
}

func cutAnyPrefix(s string, prefixes ...string) (string, bool) {
	for _, p := range prefixes {
		if r, ok := strings.CutPrefix(s, p); ok {
			return r, true
		}
	}
	return s, false
}

// asciiWord returns the leading run of letters, digits and underscores.
func asciiWord(s string) string {
	i := 0
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9' || s[i] == '_') {
		i++
	}
	return s[:i]
}

// startsWithBoundary reports whether s is empty or starts with a separator.
func startsWithBoundary(s string) bool {
	if s == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s)
	return strings.ContainsRune(" \n,;:=。|!?-~/#【[", r) || r >= 0x2190 && (unicode.IsSymbol(r) || unicode.Is(unicode.So, r))
}

// startsWithLabel reports whether s starts with a label of kind followed by
// a value separator: 返乡登记姓名:张三.
func startsWithLabel(kind Kind, s string) bool {
	lower := strings.ToLower(s)
	for label := range tables.labels {
		if rest, ok := strings.CutPrefix(lower, label); ok && tables.resolveLabel(kind, label) != "" &&
			(strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "=")) {
			return true
		}
	}
	return false
}

// trimBodyStart drops the separators between a trigger and its fields.
func trimBodyStart(s string) string {
	return strings.TrimLeftFunc(s, func(r rune) bool {
		return strings.ContainsRune(" :=-~|!】]", r) || r >= 0x2190 && (unicode.IsSymbol(r) || unicode.Is(unicode.So, r))
	})
}

// chunk is one field's worth of words: labelled (field set, or label set
// for a label of another kind) or not.
type chunk struct {
	field   string
	label   string
	parts   []string
	pending bool // a label seen, its value still to come
	digits  int  // digits so far, for numbers typed in groups
	latin   bool // the first word was Latin letters only
	address bool // the first word had the shape of an address
}

func (c *chunk) value() string { return strings.Join(c.parts, " ") }

// parser holds the state of one Parse call.
type parser struct {
	kind   Kind
	spec   *KindSpec
	today  Date
	lang   Lang
	sepMod bool // the body has hard separators: spaces stay inside labelled values

	chunks     []*chunk
	raw        map[string]string // field → text to normalise
	order      []string          // fields in the order first seen
	notes      []string
	warnings   []Notice
	zero       bool // 无异常: the daily counts are zero
	shared     bool // assigning what a several-person message states once
	recognised int  // chunks that went to a field other than note
}

// chunkBody splits the body into words and groups them into chunks.
func (p *parser) chunkBody(body string) {
	var cur *chunk
	flush := func() {
		if cur != nil {
			p.chunks = append(p.chunks, cur)
			cur = nil
		}
	}
	hard := true
	start := -1
	var emitWord func(w string)
	emit := func(w string) {
		if pieces := splitRunOn(w); pieces != nil {
			for _, piece := range pieces {
				hard = true // the pieces of a run-on never join each other
				emitWord(piece)
			}
			return
		}
		emitWord(w)
	}
	emitWord = func(w string) {
		defer func() { hard = false }()
		if hard || cur == nil || cur.field == "" && cur.label == "" {
			w = stripListMarker(w) // 1.张三, ②李四; not inside a labelled value
		}
		if w == ":" || w == "=" {
			if cur != nil && (cur.field != "" || cur.label != "") && len(cur.parts) == 0 {
				cur.pending = true
			}
			return
		}
		if lm, ok := p.labelStart(w); ok && !(lm.bare && cur != nil && cur.pending) {
			flush()
			cur = &chunk{field: lm.field, label: lm.label, latin: isLatinWord(lm.value)}
			if lm.value == "" {
				cur.pending = true
			} else {
				p.addPart(cur, lm.value)
			}
			return
		}
		if cur != nil && cur.pending {
			cur.pending = false
			cur.latin = isLatinWord(w)
			p.addPart(cur, w)
			return
		}
		if cur != nil && !hard && p.canJoin(cur, w) {
			p.addPart(cur, w)
			return
		}
		flush()
		cur = &chunk{}
		p.addPart(cur, w)
		cur.latin = isLatinWord(w)
		field, _ := p.classify(w)
		if field == "address" {
			_, _, dated := p.splitLeadingDate(w) // 15号到的 is a date, not an address
			cur.address = !dated
		}
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		isHard := strings.IndexByte("\n,;|", c) >= 0
		isSpace := c == ' '
		isStop := false
		if c == 0xe3 && strings.HasPrefix(body[i:], "。") {
			isHard, isStop = true, true
		}
		if isHard || isSpace {
			if start >= 0 {
				emit(body[start:i])
				start = -1
			}
			if isHard {
				hard = true
				if cur != nil && !cur.pending {
					flush()
				}
			}
			if isStop {
				i += len("。") - 1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		emit(body[start:])
	}
	flush()
}

func (p *parser) addPart(c *chunk, w string) {
	c.parts = append(c.parts, w)
	for i := 0; i < len(w); i++ {
		if w[i] >= '0' && w[i] <= '9' {
			c.digits++
		}
	}
}

// labelMatch is a label found at the start of a word.
type labelMatch struct {
	field string // canonical field; "" for a label of another kind
	label string // as matched, lower case
	value string // what follows the label in the same word
	bare  bool   // the word is the label alone, without ":" or a value
}

// labelStart recognises a word that starts a labelled field: 姓名:张三,
// 体温38.5, name=Zhang, 【姓名】张三, 1.姓名：张三, or a bare label whose value
// is the next word.
func (p *parser) labelStart(w string) (labelMatch, bool) {
	s := stripListMarker(w)
	if r, ok := cutAnyPrefix(s, "【", "["); ok {
		s = r
	}
	if p.kind == Daily {
		s = trimToday(s)
	}
	var buf [16]int
	ends := prefixEnds(buf[:0], s, tables.maxLabelRunes)
	for k := len(ends) - 1; k >= 1; k-- {
		label := strings.ToLower(s[:ends[k]])
		if !tables.isLabel(label) {
			continue
		}
		rest := s[ends[k]:]
		field := tables.resolveLabel(p.kind, label)
		sep := false
		rest = skipHint(rest)
		if r, ok := cutAnyPrefix(rest, ":", "=", "】", "]"); ok {
			rest, sep = strings.TrimLeft(r, " :="), true
			rest = dropEchoedLabel(rest, field)
		}
		if sep || rest == "" {
			if field == "" && !sep {
				continue // a bare word that labels another kind's field
			}
			return labelMatch{field: field, label: label, value: rest, bare: !sep}, true
		}
		if field == "" {
			continue
		}
		if question, loose := tables.loose[label]; loose && question {
			continue // 几个人30: a question runs into no value
		}
		if label[0] >= utf8.RuneSelf {
			if r, ok := cutAnyPrefix(rest, "为", "是"); ok && r != "" {
				rest = r
			}
		}
		if p.acceptRunIn(field, label, rest) {
			return labelMatch{field: field, label: label, value: rest}, true
		}
	}
	return labelMatch{}, false
}

// skipHint drops a hint in brackets between a label and its colon, as
// forms print them: 住址（村组门牌）：郝家店村.
func skipHint(rest string) string {
	if !strings.HasPrefix(rest, "(") {
		return rest
	}
	j := strings.IndexByte(rest, ')')
	if j < 0 || j > 48 {
		return rest
	}
	if after := rest[j+1:]; strings.HasPrefix(after, ":") || strings.HasPrefix(after, "=") {
		return after
	}
	return rest
}

// dropEchoedLabel drops the words of a second label or question that
// sits between a label's colon and its value, so they never leak into it:
// 来自：哪里返回:郑州 → 郑州, 住址：住哪：郝家店村 → 郝家店村.
func dropEchoedLabel(v, field string) string {
	i := strings.IndexAny(v, ":=")
	if i <= 0 || i > 36 || field == "" || field == "note" {
		return v
	}
	head := strings.ToLower(strings.TrimSpace(v[:i]))
	same := false
	for _, f := range tables.labels[head] {
		same = same || f == field
	}
	question := strings.ContainsAny(head, "哪几何谁") || strings.Contains(head, "什么") || strings.Contains(head, "多少")
	if !same && !(question && utf8.RuneCountInString(head) <= 8) {
		return v
	}
	return strings.TrimLeft(v[i+1:], " :=")
}

// stripListMarker drops a leading "1." "2、" "3)" "(4)" or circled number.
func stripListMarker(w string) string {
	if r, size := utf8.DecodeRuneInString(w); r >= '①' && r <= '⑳' && size < len(w) {
		return w[size:]
	}
	i := 0
	if strings.HasPrefix(w, "(") {
		i = 1
	}
	j := i
	for j < len(w) && j-i < 2 && w[j] >= '0' && w[j] <= '9' {
		j++
	}
	if j == i || j >= len(w) {
		return w
	}
	for _, m := range []string{".", "、", ")"} {
		if rest, ok := strings.CutPrefix(w[j:], m); ok && rest != "" && (rest[0] < '0' || rest[0] > '9') {
			return rest
		}
	}
	return w
}

// acceptRunIn decides whether a label running straight into its value
// (体温38.5, 电话13812345678, 从武汉返回) really is one.
func (p *parser) acceptRunIn(field, label, value string) bool {
	if label[0] < utf8.RuneSelf {
		r, _ := utf8.DecodeRuneInString(value)
		if unicode.IsLetter(r) && r < utf8.RuneSelf {
			return false // "fromage" is not "from" + "age"
		}
	}
	switch f := tables.fieldByName[field]; f.Type {
	case Int:
		_, _, ok := parseCount(value, countUnits...)
		return ok || zeroWords[value]
	case Phone:
		_, ok := normalizePhone(value)
		return ok || looksLikePhone(value) || isMaskedNumber(value)
	case IDNumber:
		return looksLikeID(value) || isMaskedNumber(value)
	case Temperature:
		_, shape, _ := parseTemperature(value)
		return shape != notTemp
	case DateValue:
		_, shape := parseDate(value, p.today, false)
		return shape != notDate
	case Gender:
		_, ok := normalizeGender(value)
		return ok
	case GatheringType:
		return isGatheringWord(value)
	case FollowupResult:
		_, ok := normalizeResult(value)
		return ok
	}
	if field == "origin" {
		return isOriginPhrase(label+value) || isPlace(value)
	}
	return utf8.RuneCountInString(label) >= 2
}

// countUnits are the units a count may carry.
var countUnits = []string{"周岁", "岁", "人", "户", "桌", "名", "位", "家", "起", "例", "场", "次", "个"}

// canJoin decides whether a word after a space continues the current chunk.
func (p *parser) canJoin(c *chunk, w string) bool {
	// digits typed in groups: 139 1234 5678, +86 138-0013-8000
	if isDigitGroup(w) && (c.field == "phone" || c.field == "id_number" || c.field == "" && len(c.parts) > 0 && isDigitGroup(c.parts[0])) {
		v := c.value()
		if c.digits+countDigits(w) <= 18 && !p.completeNumber(v) && (c.field != "" || isCountryCode(v) || !p.completeNumber(w)) {
			return true
		}
	}
	field, strength := p.classify(w)
	if c.field == "" && c.label == "" {
		switch {
		case strength == strong:
			return false
		case c.latin && (isLatinWord(w) || c.address && isDigits(w) && len(w) <= 4):
			c.address = c.address || field == "address"
			return true
		}
		return c.address && field == "address"
	}
	if c.field != "" && tables.fieldByName[c.field].Type != Text {
		// 体温:38.5 ℃, 日期:2月5日 14:30 — but not 身份证:… 2月1日入住
		joined := c.value() + " " + w
		if len(joined) > 64 {
			return false
		}
		_, code, _ := p.normalize(c.field, joined)
		return code == ""
	}
	switch {
	case c.field == "note" && p.sepMod:
		return true // a labelled note is free text to the end of its line
	case strength == strong:
		return false
	case p.sepMod:
		return true
	case c.field == "address" && field == "address":
		return true
	}
	// One line without separators splits at spaces, but a Latin name or
	// place keeps its words: 姓名:Zhang Wei.
	return c.field != "" && strength == none && c.latin && isLatinWord(w)
}

func isCountryCode(s string) bool { return s == "+86" || s == "86" || s == "0086" || s == "+ 86" }

// completeNumber reports whether text already is a whole phone or ID number.
func (p *parser) completeNumber(s string) bool {
	if _, ok := normalizePhone(s); ok {
		return true
	}
	_, problem := normalizeID(s, p.today)
	return problem == idOK
}

// isDigitGroup reports a short run of digits as typed in a number: 139,
// 1234, +86, 138-0013-8000, 006X.
func isDigitGroup(w string) bool {
	if w == "" || len(w) > 14 {
		return false
	}
	digits := 0
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' || c == '-':
		case (c == 'x' || c == 'X') && i == len(w)-1:
		default:
			return false
		}
	}
	return digits > 0
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

func isLatinWord(w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '\'' || c == '.') {
			return false
		}
	}
	return true
}

// strength is how sure classify is.
type strength int

const (
	none   strength = iota // no shape: free text
	weak                   // recognised by words it contains
	strong                 // unmistakable: a phone, a date, 38.5℃, 男, 35岁
)

// Pseudo-fields classify returns for daily reports.
const (
	fieldZero  = "@zero"  // 无异常: every count is zero
	fieldZeroP = "@zero:" // 无发热: one count is zero
)

// classify says which field unlabelled text fills, by its shape.
func (p *parser) classify(t string) (string, strength) {
	if len(t) <= 64 {
		if _, ok := normalizePhone(t); ok {
			return "phone", strong
		}
		if looksLikeID(t) {
			return "id_number", strong
		}
		if looksLikePhone(t) {
			return "phone", strong
		}
		if isMaskedNumber(t) {
			if len(strings.ReplaceAll(t, " ", "")) >= 15 {
				return "id_number", strong
			}
			return "phone", strong
		}
		if _, shape := parseDate(t, p.today, true); shape != notDate || p.dottedDate(t) || p.dayOfMonth(t) {
			if p.spec.DateField == "" {
				return "", strong
			}
			return p.spec.DateField, strong
		}
		takesTemp := p.kind == Fever || p.kind == Followup
		if _, shape, _ := parseTemperature(t); shape == unitTemp || shape == bareTemp && takesTemp && (strings.Contains(t, ".") || strings.Contains(t, "点")) {
			return "temperature", strong
		}
		if takesTemp && len(t) == 3 && (t[0] == '3' || t[0] == '4') && isDigits(t) {
			return "temperature", strong // 385: a temperature missing its point
		}
		if _, ok := normalizeGender(t); ok && !isLatinWord(t) || t == "male" || t == "female" {
			return "gender", strong
		}
		if _, unit, ok := parseCount(t, countUnits...); ok && unit != "" {
			switch unit {
			case "岁", "周岁":
				return "age", strong
			case "人", "名", "位":
				if p.kind == Gathering {
					return "guests", strong
				}
			case "户", "家":
				if p.kind == Daily {
					return "households", strong
				}
			case "桌":
				return "tables", strong
			}
			return "", strong
		}
	}
	lower := strings.ToLower(t)
	switch p.kind {
	case Daily:
		t = trimToday(t)
		if isZeroPhrase(strings.ToLower(t)) {
			return fieldZero, weak
		}
		if f := zeroCount(t); f != "" {
			return fieldZeroP + f, weak
		}
	case Gathering:
		if isGatheringWord(t) {
			return "type", weak
		}
	case Followup:
		if _, ok := normalizeResult(t); ok {
			return "result", weak
		}
	case Fever:
		if containsAny(lower, symptomWords) {
			return "symptoms", weak
		}
		if containsAny(lower, actionWords) {
			return "action", weak
		}
	}
	hasOrigin := tables.allowed[p.kind]["origin"]
	if p.kind == Arrival && isTransportPhrase(t) {
		return "transport", weak // 自驾返回, 坐高铁回来的
	}
	if hasOrigin && isOriginPhrase(t) {
		return "origin", weak
	}
	if isAddress(t) {
		return "address", weak
	}
	if p.kind == Arrival && (containsAny(lower, transportWords) || isTrainOrFlight(t)) {
		return "transport", weak
	}
	if hasOrigin && isPlace(t) {
		return "origin", weak
	}
	if p.spec.NameField != "" && isName(t) {
		return p.spec.NameField, none
	}
	return "", none
}

// dottedDate recognises 12.2 (December 2nd) as a date in a kind that
// expects one and takes no temperature.
func (p *parser) dottedDate(t string) bool {
	if p.spec.DateField == "" || tables.allowed[p.kind]["temperature"] || len(t) > 8 {
		return false
	}
	toks, rest, ok := lexDate(t)
	if !ok || rest != "" || len(toks) < 3 || len(toks) > 4 || toks[1].sep != "." || toks[0].digits == 0 || toks[2].digits == 0 ||
		toks[0].digits > 2 || toks[2].digits > 2 || len(toks) == 4 && toks[3].sep != "日" && toks[3].sep != "号" {
		return false
	}
	_, shape := parseDate(t, p.today, false)
	return shape == goodDate
}

// dayOfMonth recognises 5日 alone as a day of this or a nearby month,
// and 5号 too in a gathering (elsewhere 5号 is more often a house number).
func (p *parser) dayOfMonth(t string) bool {
	if p.spec.DateField == "" || len(t) > 5 {
		return false
	}
	toks, rest, ok := lexDate(t)
	if !ok || rest != "" || len(toks) != 2 || toks[0].num < 1 || toks[0].num > 31 ||
		toks[1].sep != "日" && (toks[1].sep != "号" || p.kind != Gathering) {
		return false
	}
	return true
}

// trimToday drops the 今日 a daily report's phrases often start with.
func trimToday(s string) string {
	if r, ok := cutAnyPrefix(s, "今日", "今天", "本日"); ok && r != "" {
		return r
	}
	return s
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// appendable fields collect several unlabelled pieces, joined with the
// separator given.
var appendable = map[string]string{"address": " ", "origin": " ", "symptoms": "、", "action": "、", "transport": " "}

// assign routes every chunk to a field or to note.
func (p *parser) assign() {
	for _, c := range p.chunks {
		v := c.value()
		if _, loose := tables.loose[c.label]; loose && c.field != "" && !p.shared {
			p.warn(c.field, WarnLabelReadAs, c.label)
		}
		if c.field != "" {
			p.recognised++
			p.set(c.field, c.label, v, true)
			continue
		}
		if c.label != "" {
			p.note(c.label + ":" + v)
			if v != "" {
				p.warnings = append(p.warnings, Notice{Field: foreignField(c.label), Code: WarnUnknownField,
					Message: message(p.lang, WarnUnknownField, c.label)})
			}
			continue
		}
		// 2月5日从武汉返回, 昨天到家: a date leading other words
		if date, rest, ok := p.splitLeadingDate(v); ok {
			p.recognised++
			p.set(p.spec.DateField, "", date, false)
			if rest != "" {
				p.assignUnlabelled(rest)
			}
			continue
		}
		p.assignUnlabelled(v)
	}
}

func (p *parser) assignUnlabelled(v string) {
	field, strength := p.classify(v)
	if strength > none {
		p.recognised++
	}
	switch {
	case field == fieldZero:
		p.zero = true
	case strings.HasPrefix(field, fieldZeroP):
		p.set(strings.TrimPrefix(field, fieldZeroP), "", "0", false)
	case field == "" || !tables.allowed[p.kind][field]:
		p.note(v)
	default:
		p.set(field, "", v, false)
	}
}

// dateVerbs may follow a date in one word: 昨天到家, 2月1日入住, 2月8日出殡.
var dateVerbs = map[string]bool{
	"到家": true, "到达": true, "返回": true, "返乡": true, "抵达": true, "回来": true, "回村": true, "到村": true,
	"回到": true, "入住": true, "搬入": true, "租住": true, "举办": true, "举行": true, "办事": true, "出殡": true,
	"结婚": true, "下葬": true, "到": true, "回": true, "来": true,
	"到的": true, "回来的": true, "到家的": true, "返回的": true, "回的": true, "来的": true, "入住的": true, "搬来的": true,
	"到达的": true, "回村的": true, "住进来": true, "搬进来": true, "办": true, "办事的": true, "结婚的": true,
}

// splitLeadingDate splits unlabelled text that starts with a date and goes
// on with other words. The date comes back alone; a verb that only says
// what happened on that day is dropped.
func (p *parser) splitLeadingDate(v string) (date, rest string, ok bool) {
	if p.spec.DateField == "" || len(v) > 200 {
		return "", "", false
	}
	if _, shape := parseDate(v, p.today, true); shape != notDate {
		return "", "", false // the whole text is a date
	}
	end := dateEnd(v)
	if end == 0 || end == len(v) {
		return "", "", false
	}
	rest = strings.TrimSpace(v[end:])
	if _, shape := parseDate(v[:end], p.today, true); shape == notDate {
		// 5号到的, 12.2到的: a looser date, but only before a verb
		if !dateVerbs[rest] {
			return "", "", false
		}
		if _, shape := parseDate(v[:end], p.today, false); shape == notDate {
			return "", "", false
		}
	}
	if dateVerbs[rest] {
		rest = ""
	}
	return v[:end], rest, true
}

// dateEnd returns how many bytes at the start of v a date could span: a
// relative word or a run of date tokens ending in 日 or 号.
func dateEnd(v string) int {
	for _, rd := range relativeDayList {
		if strings.HasPrefix(v, rd.word) {
			return len(rd.word)
		}
	}
	toks, rest, ok := lexDate(v)
	if !ok || len(toks) < 2 {
		return 0
	}
	last := toks[len(toks)-1].sep
	if last != "日" && last != "号" {
		if len(toks) == 3 && toks[1].sep == "." && toks[0].digits > 0 && toks[2].digits > 0 {
			return len(v) - len(rest) // 12.2到的
		}
		return 0
	}
	return len(v) - len(rest)
}

// set records raw text for a field; a second value goes to note.
func (p *parser) set(field, label, v string, labelled bool) {
	if field == "note" {
		p.note(v)
		return
	}
	old, seen := p.raw[field]
	switch {
	case p.shared && seen:
		// what the message states once for everyone: a person's own
		// value wins
	case !seen:
		p.raw[field] = v
		p.order = append(p.order, field)
	case old == v:
	case old == "":
		p.raw[field] = v
	case !labelled && appendable[field] != "":
		p.raw[field] = old + appendable[field] + v
	default:
		if label == "" {
			label = p.label(field)
		}
		p.note(label + ":" + v)
		p.warn(field, WarnDuplicateField)
	}
}

func (p *parser) note(v string) {
	if v = cleanText(v); v != "" {
		p.notes = append(p.notes, v)
	}
}

func (p *parser) warn(field, code string, args ...string) {
	p.warnings = append(p.warnings, Notice{Field: field, Code: code, Message: message(p.lang, code, field, args...)})
}

func (p *parser) label(field string) string {
	f := tables.fieldByName[field]
	if p.lang == En {
		return f.En
	}
	return f.Zh
}

// finish normalises every value, applies defaults and checks the rules.
func (p *parser) finish(trigger, sender string) Report {
	r := Report{Kind: p.kind, Lang: p.lang, Fields: map[string]string{}}
	var problems []Notice
	problem := func(field, code string, args ...string) {
		problems = append(problems, Notice{Field: field, Code: code, Message: message(p.lang, code, field, args...)})
	}
	for _, field := range p.order {
		raw := cleanText(p.raw[field])
		if raw == "" || isPlaceholder(raw) {
			continue
		}
		if isMaskedNumber(raw) {
			// 137****1111 copied back from a bot message: not a new number
			if p.required(field) {
				problem(field, CodeMaskedNumber, quote(raw))
			} else {
				p.warn(field, WarnMaskedNumber, quote(raw))
			}
			continue
		}
		v, code, detail := p.normalize(field, raw)
		if code != "" {
			problem(field, code, quote(raw), detail)
			continue
		}
		r.Fields[field] = v
	}
	for field, v := range p.spec.Implied[trigger] {
		if _, ok := r.Fields[field]; !ok && !hasNotice(problems, field) {
			r.Fields[field] = v
		}
	}
	if p.kind == Tenant {
		if _, ok := r.Fields["landlord"]; !ok {
			if s := cleanText(clean(sender)); s != "" {
				r.Fields["landlord"] = s
			}
		}
	}
	if p.kind == Daily {
		counts := 0
		for _, f := range []string{"households", "arrivals", "fevers", "gatherings"} {
			if _, ok := r.Fields[f]; ok || hasNotice(problems, f) {
				counts++
			}
		}
		if counts == 0 && !p.zero {
			p.zero = true
			p.warn("", WarnNoCounts)
		}
		if p.zero {
			for _, f := range []string{"arrivals", "fevers", "gatherings"} {
				if _, ok := r.Fields[f]; !ok && !hasNotice(problems, f) {
					r.Fields[f] = "0"
				}
			}
		}
	}
	if len(p.notes) > 0 {
		r.Fields["note"] = strings.Join(p.notes, " ")
	}
	for _, field := range p.spec.Required {
		if _, ok := r.Fields[field]; !ok && !hasNotice(problems, field) {
			problem(field, CodeMissing)
		}
	}
	if p.isTemplateSample(r.Fields) {
		problems = append([]Notice{{Field: p.spec.NameField, Code: CodeTemplateSample,
			Message: message(p.lang, CodeTemplateSample, p.spec.NameField, quote(r.Fields[p.spec.NameField]))}}, problems...)
	}
	p.checkWarnings(r.Fields)
	rank := map[string]int{}
	for i, f := range p.spec.Fields() {
		rank[f] = i + 1
	}
	sort.SliceStable(problems, func(i, j int) bool { return rank[problems[i].Field] < rank[problems[j].Field] })
	r.Problems = problems
	r.Warnings = p.warnings
	return r
}

func (p *parser) required(field string) bool {
	for _, f := range p.spec.Required {
		if f == field {
			return true
		}
	}
	return false
}

// isTemplateSample reports whether a report is the sample of its kind's
// template sent back unchanged: every field the template shows holds its
// sample exactly as the template writes it (张三, 13812345678, 2月5日 …).
func (p *parser) isTemplateSample(map[string]string) bool {
	if p.spec.NameField == "" {
		return false
	}
	fields := p.spec.Template
	if len(fields) == 0 {
		fields = p.spec.Required
	}
	for _, lang := range []Lang{Zh, En} {
		same := 0
		for _, f := range fields {
			if strings.EqualFold(cleanText(p.raw[f]), kindExample(p.kind, f, lang)) {
				same++
			}
		}
		if same == len(fields) && same >= 2 {
			return true
		}
	}
	return false
}

// foreignField names the field a label of another kind stands for.
func foreignField(label string) string {
	f := tables.labels[label][0]
	if f == "@date" {
		return "date"
	}
	return f
}

func hasNotice(ns []Notice, field string) bool {
	for _, n := range ns {
		if n.Field == field {
			return true
		}
	}
	return false
}

// normalize turns raw text into a field's canonical value, or returns the
// problem code and a detail for the message.
func (p *parser) normalize(field, raw string) (value, code, detail string) {
	f := tables.fieldByName[field]
	switch f.Type {
	case Text:
		switch field {
		case "origin":
			return normalizeOrigin(raw), "", ""
		case "address":
			return normalizeAddress(raw), "", ""
		case "transport":
			return normalizeTransport(raw), "", ""
		}
		return raw, "", ""
	case Int:
		if zeroWords[raw] || raw == "零" {
			raw = "0"
		}
		n, _, ok := parseCount(raw, countUnits...)
		if !ok || n < f.Min || n > f.Max {
			return "", CodeInvalidNumber, itoa(f.Min) + "–" + itoa(f.Max)
		}
		return itoa(n), "", ""
	case Phone:
		v, ok := normalizePhone(raw)
		if !ok {
			return "", CodeInvalidPhone, ""
		}
		return v, "", ""
	case IDNumber:
		v, problem := normalizeID(raw, p.today)
		if problem != idOK {
			return "", CodeInvalidIDNumber, string(problem)
		}
		return v, "", ""
	case Temperature:
		t, _, ok := parseTemperature(raw)
		if !ok {
			return "", CodeInvalidTemperature, ""
		}
		return formatTenths(t), "", ""
	case DateValue:
		d, shape := parseDateLean(raw, p.today, false, dateLeans[field])
		if shape != goodDate {
			return "", CodeInvalidDate, ""
		}
		return d.String(), "", ""
	case Gender:
		v, ok := normalizeGender(raw)
		if !ok {
			return "", CodeInvalidGender, ""
		}
		return v, "", ""
	case GatheringType:
		return gatheringType(raw), "", ""
	case FollowupResult:
		v, ok := normalizeResult(raw)
		if !ok {
			return "", CodeInvalidResult, ""
		}
		return v, "", ""
	}
	return raw, "", ""
}

// checkWarnings adds the warnings for accepted but odd values.
func (p *parser) checkWarnings(fields map[string]string) {
	if t, ok := fields["temperature"]; ok && p.kind == Fever {
		if tenths, _, _ := parseTemperature(t); tenths < FeverThreshold {
			p.warn("temperature", WarnBelowThreshold, t)
		}
	}
	for _, f := range []string{"arrived_on", "moved_in"} {
		if v, ok := fields[f]; ok {
			if d, err := ParseDate(v); err == nil && d.Compare(p.today) > 0 {
				p.warn(f, WarnFutureDate, v)
			}
		}
	}
	if v, ok := fields["date"]; ok && p.kind == Gathering {
		if d, err := ParseDate(v); err == nil && d.Compare(p.today) < 0 {
			p.warn("date", WarnPastDate, v)
		}
	}
	if p.kind == Gathering {
		guests, tables := atoi(fields["guests"]), atoi(fields["tables"])
		if guests > GuestsThreshold || tables > TablesThreshold {
			field := "guests"
			if guests <= GuestsThreshold {
				field = "tables"
			}
			p.warn(field, WarnAboveThreshold)
		}
	}
	if id, ok := fields["id_number"]; ok {
		if age, ok := fields["age"]; ok {
			birth := DateFromInt(atoi(id[6:14]))
			years := p.today.Year - birth.Year
			if p.today.Month < birth.Month || p.today.Month == birth.Month && p.today.Day < birth.Day {
				years--
			}
			if a := atoi(age); a < years-1 || a > years+1 {
				p.warn("age", WarnAgeMismatch, age, itoa(years))
			}
		}
	}
}
