package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Result is what ParseAll makes of one message: no report (ordinary
// chat), one report, or one report per person when the message lists
// several people.
//
// Callers that file reports range over Reports:
//
//	res := report.ParseAll(text, ctx)
//	for i, r := range res.Reports { // none for chat, one for most messages
//		// r is checked on its own: r.OK(), r.Problems, r.Warnings
//	}
//
// A message holds several people when it numbers them (`1.` `1、` `1)`
// `(1)` `①`), puts one person on a line, or names a second person (a name
// with a phone, ID number, age, gender or temperature, or a labelled
// 姓名:) after the first. What the message states once — the trigger, and
// lines before the first person such as `2月5日从武汉返回` or `住址:郝家店村`
// — is shared by every person; a person's own value wins over it. When
// every person takes one line, lines after the last person that hold only
// a date, an origin, an address, a means of travel, an action or a note
// are shared too (`1.张三 138… 2.李四 139… 都住郝家店村3组`).
type Result struct {
	// Kind is the kind of every report; None for ordinary chat.
	Kind Kind
	// Lang is the language the message was written in.
	Lang Lang
	// Reports holds one report per person, in the order of the message:
	// empty for ordinary chat, one element for a one-person message (the
	// same Report Parse returns), two or more for a list of people.
	Reports []Report
}

// Several reports whether the message lists more than one person.
func (r Result) Several() bool { return len(r.Reports) > 1 }

// OK reports whether the message is a report and every report in it has
// no problems.
func (r Result) OK() bool {
	if r.Kind == None || len(r.Reports) == 0 {
		return false
	}
	for _, rep := range r.Reports {
		if !rep.OK() {
			return false
		}
	}
	return true
}

// MarshalJSON renders what `gridbot parse` prints. Chat and a one-person
// message print exactly as their Report does; several people print
//
//	{"kind": "arrival", "ok": bool, "reports": [ {…}, {…} ]}
//
// where each element is shaped like a single Report and "ok" is true only
// when every report is.
func (r Result) MarshalJSON() ([]byte, error) {
	switch len(r.Reports) {
	case 0:
		return Report{Kind: r.Kind, Lang: r.Lang}.MarshalJSON()
	case 1:
		return r.Reports[0].MarshalJSON()
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // as Report.MarshalJSON writes its strings
	err := enc.Encode(struct {
		Kind    Kind     `json:"kind"`
		OK      bool     `json:"ok"`
		Reports []Report `json:"reports"`
	}{r.Kind, r.OK(), r.Reports})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// ParseAll turns a message into one report per person it holds (see
// Result). A one-person message gives exactly what Parse gives. Like
// Parse, it never panics and takes time linear in the length of text.
func ParseAll(text string, c Context) Result {
	m, lang := start(text, c)
	if m.kind == None {
		return Result{Lang: lang}
	}
	if people := parsePeople(m, c, lang); len(people) > 1 {
		return Result{Kind: m.kind, Lang: lang, Reports: people}
	}
	r := parseOne(m, c, lang)
	if r.Kind == None {
		return Result{Lang: lang}
	}
	return Result{Kind: r.Kind, Lang: lang, Reports: []Report{r}}
}

// part is a stretch of a message's body that holds at most one person's
// name: a line, an item of a numbered list, or a piece of a line that
// names a second person.
type part struct {
	chunks   []*chunk
	fields   map[string]bool
	name     string // the name (or host) it states, lower-cased for comparison
	labelled bool   // the name came with a label: 姓名:张三
	evidence bool   // it states a phone, ID number, age, gender or temperature
	marker   bool   // it starts with a list marker: 1. 1、 ①
}

// evidenceFields make a name a person rather than a stray word.
var evidenceFields = []string{"phone", "id_number", "age", "gender", "temperature"}

// shareableFields may be stated once after a one-person-a-line list for
// everyone in it.
var shareableFields = map[string]bool{
	"arrived_on": true, "moved_in": true, "date": true, "origin": true, "address": true,
	"transport": true, "action": true, "note": true, "landlord": true,
}

// parsePeople splits the body after the trigger into people and parses
// each with what the message states once. It returns nil when the message
// holds fewer than two people.
func parsePeople(m triggerMatch, c Context, lang Lang) []Report {
	if m.kind == Daily || !mayHoldSeveral(m.body) {
		return nil
	}
	scan := newParser(m, c, lang)
	var parts []part
	for _, seg := range splitItems(m.body) {
		scan.chunks = scan.chunks[:0]
		scan.chunkBody(seg.text)
		parts = append(parts, scan.splitNames(scan.chunks, seg.marker)...)
	}
	var header []part
	var people [][]part
	for _, pt := range parts {
		starts := pt.name != "" && (pt.marker || pt.labelled || pt.evidence)
		switch {
		case len(people) == 0 && starts:
			people = append(people, []part{pt})
		case len(people) == 0:
			header = append(header, pt)
		case starts && pt.name != people[len(people)-1][0].name:
			people = append(people, []part{pt})
		default:
			people[len(people)-1] = append(people[len(people)-1], pt)
		}
	}
	if len(people) < 2 {
		return nil
	}
	// one person a line: what follows the last person and no one else
	// states is shared
	var trailer []part
	oneLine := true
	others := map[string]bool{}
	for _, pt := range header {
		for f := range pt.fields {
			others[f] = true
		}
	}
	for _, ps := range people[:len(people)-1] {
		oneLine = oneLine && len(ps) == 1
		for _, pt := range ps {
			for f := range pt.fields {
				others[f] = true
			}
		}
	}
	if oneLine {
		last := people[len(people)-1]
		keep := len(last)
		for keep > 1 && onlyShareable(last[keep-1].fields, others) {
			keep--
		}
		trailer = last[keep:]
		last = last[:keep]
		if keep == 1 {
			// 2.李四 139… 武汉 2月5日 郝家店村3组: the words after the
			// last person's own on its line
			first := &last[0]
			n := len(first.chunks)
			for n > 1 {
				fields, _ := scan.chunkFields(first.chunks[n-1])
				if !onlyShareable(toSet(fields), others) {
					break
				}
				n--
			}
			if n < len(first.chunks) {
				trailer = append([]part{{chunks: first.chunks[n:]}}, trailer...)
				first.chunks = first.chunks[:n]
			}
		}
		people[len(people)-1] = last
	}
	shared := append(header, trailer...)
	out := make([]Report, 0, len(people))
	for _, ps := range people {
		p := newParser(m, c, lang)
		for _, pt := range ps {
			p.chunks = append(p.chunks, pt.chunks...)
		}
		p.assign()
		p.chunks = p.chunks[:0]
		for _, pt := range shared {
			p.chunks = append(p.chunks, pt.chunks...)
		}
		p.shared = true
		p.assign()
		out = append(out, p.finish(m.trigger, c.Sender))
	}
	return out
}

// mayHoldSeveral is a cheap test that spares most messages — one line,
// or a one-person form — the work of looking for people: it wants two of
// something each person has (list markers, phone or ID numbers,
// temperatures, name labels).
func mayHoldSeveral(body string) bool {
	circled, markers, numbers, temps, names := 0, 0, 0, 0, 0
	lineStart := true
	digits := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c >= '0' && c <= '9' {
			if digits == 0 && lineStart {
				if _, size := listMarkerAt(body, i); size > 0 {
					markers++
				}
			}
			digits++
			lineStart = false
			continue
		}
		if digits >= 7 {
			numbers++
		}
		if digits == 2 && c == '.' && i+1 < len(body) && body[i+1] >= '0' && body[i+1] <= '9' && (body[i-2] == '3' || body[i-2] == '4') {
			temps++
		}
		digits = 0
		switch {
		case c == '\n':
			lineStart = true
			continue
		case c == ' ' || c == '(':
			continue
		case c >= 0xe0:
			if strings.HasPrefix(body[i:], "姓名") || strings.HasPrefix(body[i:], "事主") || strings.HasPrefix(body[i:], "名字") {
				names++
			}
			if r, _ := utf8.DecodeRuneInString(body[i:]); r >= '①' && r <= '⑳' {
				circled++
			}
		case c == 'n' && strings.HasPrefix(body[i:], "name"):
			names++
		}
		lineStart = false
	}
	if digits >= 7 {
		numbers++
	}
	return circled >= 2 || markers >= 2 || numbers >= 2 || temps >= 2 || names >= 2
}

// onlyShareable reports whether fields are all shareable and stated by
// no one else.
func onlyShareable(fields, others map[string]bool) bool {
	if len(fields) == 0 {
		return false
	}
	for f := range fields {
		if !shareableFields[f] || others[f] {
			return false
		}
	}
	return true
}

func toSet(fields []string) map[string]bool {
	set := make(map[string]bool, len(fields))
	for _, f := range fields {
		set[f] = true
	}
	return set
}

// item is a line of the body or an item of a numbered list in it.
type item struct {
	text   string
	marker bool
}

// splitItems cuts the body into lines, and lines at list markers: a
// circled number anywhere, or 1. 1、 1) (1) at the start of a line or
// after a space or a comma when it continues the numbering.
func splitItems(body string) []item {
	var out []item
	for _, line := range strings.Split(body, "\n") {
		next := 0 // the number the next inline marker must have
		start := 0
		marker := false
		for i := 0; i < len(line); {
			n, size := listMarkerAt(line, i)
			atStart := strings.TrimSpace(line[:i]) == ""
			if size > 0 && (atStart || n == next || n == 0) && (atStart || afterSeparator(line[:i])) {
				if text := strings.TrimSpace(line[start:i]); text != "" {
					out = append(out, item{text: text, marker: marker})
				}
				start, marker = i+size, true
				if n > 0 {
					next = n + 1
				}
				i += size
				continue
			}
			_, w := utf8.DecodeRuneInString(line[i:])
			i += w
		}
		if text := strings.TrimSpace(line[start:]); text != "" {
			out = append(out, item{text: text, marker: marker})
		}
	}
	return out
}

// afterSeparator reports whether s ends where a list item may begin.
func afterSeparator(s string) bool {
	if s == "" {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	return strings.ContainsRune(" ,;，；。:：", r)
}

// listMarkerAt recognises a list marker at s[i:]: ① (number 0: any),
// 1. 1、 1) (1). It returns the number and the marker's length in bytes,
// or size 0. A marker is followed by something other than a digit, so
// 12.2 and 37.5 are not markers.
func listMarkerAt(s string, i int) (n, size int) {
	r, w := utf8.DecodeRuneInString(s[i:])
	if r >= '①' && r <= '⑳' {
		return 0, w
	}
	j := i
	paren := false
	if s[j] == '(' {
		paren = true
		j++
	}
	k := j
	for k < len(s) && k-j < 2 && s[k] >= '0' && s[k] <= '9' {
		n = n*10 + int(s[k]-'0')
		k++
	}
	if k == j || k >= len(s) || s[k] >= '0' && s[k] <= '9' {
		return 0, 0
	}
	end := k
	switch {
	case paren && s[k] == ')':
		end = k + 1
	case !paren && (s[k] == '.' || s[k] == ')'):
		end = k + 1
	case !paren && strings.HasPrefix(s[k:], "、"):
		end = k + len("、")
	default:
		return 0, 0
	}
	if end < len(s) && s[end] >= '0' && s[end] <= '9' {
		return 0, 0
	}
	if n == 0 {
		return 0, 0
	}
	return n, end - i
}

// splitNames turns the chunks of one item into parts, cutting before a
// second name that brings its own phone, ID number, age, gender or
// temperature: 张三13812345678，李四13912345678.
func (p *parser) splitNames(chunks []*chunk, marker bool) []part {
	var out []part
	cur := part{fields: map[string]bool{}, marker: marker}
	for _, c := range chunks {
		fields, name := p.chunkFields(c)
		if name != "" && cur.name != "" && name != cur.name && cur.evidence {
			out = append(out, cur)
			cur = part{fields: map[string]bool{}}
		}
		cur.chunks = append(cur.chunks, c)
		for _, f := range fields {
			cur.fields[f] = true
			for _, e := range evidenceFields {
				cur.evidence = cur.evidence || f == e
			}
		}
		if name != "" && cur.name == "" {
			cur.name = name
			cur.labelled = c.field != ""
		}
	}
	out = append(out, cur)
	// a cut part without evidence of its own is no person: join it back
	for i := len(out) - 1; i > 0; i-- {
		if !out[i].evidence {
			prev := &out[i-1]
			prev.chunks = append(prev.chunks, out[i].chunks...)
			for f := range out[i].fields {
				prev.fields[f] = true
			}
			out = append(out[:i], out[i+1:]...)
		}
	}
	return out
}

// chunkFields says which fields a chunk fills, as assign would, and the
// name it states when it fills the kind's name field.
func (p *parser) chunkFields(c *chunk) (fields []string, name string) {
	v := c.value()
	nameOf := func(f, v string) {
		if f == p.spec.NameField && p.spec.NameField != "" {
			name = strings.ToLower(cleanText(v))
		}
	}
	if c.field != "" {
		nameOf(c.field, v)
		return []string{c.field}, name
	}
	if c.label != "" {
		return nil, ""
	}
	pieces := []string{v}
	if _, rest, ok := p.splitLeadingDate(v); ok {
		fields = append(fields, p.spec.DateField)
		pieces = []string{rest}
	}
	for _, piece := range pieces {
		if piece == "" {
			continue
		}
		f, _ := p.classify(piece)
		if f == "" || strings.HasPrefix(f, "@") || !tables.allowed[p.kind][f] {
			f = "note"
		}
		fields = append(fields, f)
		nameOf(f, piece)
	}
	return fields, name
}
