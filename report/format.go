package report

import (
	"strings"
)

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

// MaskText hides the middle of anything in free text that looks like a
// phone or ID number (13812345678 → 138****5678), so a number typed into a
// note or an address is not posted to a group in full.
func MaskText(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) {
		if !numberByte(s[i]) {
			j := i
			for j < len(s) && !numberByte(s[j]) {
				j++
			}
			b.WriteString(s[i:j])
			i = j
			continue
		}
		j := i
		for j < len(s) && (numberByte(s[j]) || s[j] == ' ' && j+1 < len(s) && s[j+1] >= '0' && s[j+1] <= '9') {
			j++
		}
		run := strings.TrimRight(s[i:j], " ")
		j = i + len(run)
		switch {
		case looksLikeID(strings.ReplaceAll(run, " ", "")):
			b.WriteString(MaskID(strings.ReplaceAll(run, " ", "")))
		case looksLikePhone(run):
			b.WriteString(maskRun(run))
		default:
			b.WriteString(run)
		}
		i = j
	}
	return b.String()
}

func numberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == 'x' || c == 'X' || c == '+' || c == '-'
}

// maskRun stars the digits of a phone-like run but its first three and
// last four.
func maskRun(run string) string {
	digits := 0
	for i := 0; i < len(run); i++ {
		if run[i] >= '0' && run[i] <= '9' {
			digits++
		}
	}
	out := []byte(run)
	seen := 0
	for i := range out {
		if out[i] >= '0' && out[i] <= '9' {
			if seen >= 3 && seen < digits-4 {
				out[i] = '*'
			}
			seen++
		}
	}
	return string(out)
}

// resultNames are how a follow-up's result reads, zh and en.
var resultNames = map[string][2]string{
	"recovered":   {"已退烧", "recovered"},
	"still_fever": {"仍发热", "still fever"},
	"hospital":    {"已送医", "hospital"},
	"released":    {"解除观察", "released"},
}

// FormatOptions control Format.
type FormatOptions struct {
	// Mask hides phone and ID numbers, for anything posted to a group.
	Mask bool
	// Lang overrides the report's own language when set.
	Lang Lang
}

// Format renders a report as a labelled message, one field a line, in the
// order of its kind's fields. Unmasked, the text parses back to the same
// fields.
func Format(r Report, opts FormatOptions) string {
	lang := r.Lang
	if opts.Lang != "" {
		lang = opts.Lang
	}
	spec, ok := tables.kindByKind[r.Kind]
	if !ok {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading(spec, lang))
	for _, field := range spec.Fields() {
		v, ok := r.Fields[field]
		if !ok {
			continue
		}
		b.WriteByte('\n')
		writeField(&b, field, DisplayValue(field, v, lang, opts.Mask), lang)
	}
	return b.String()
}

// heading is the first line of a formatted report: its trigger.
func heading(spec *KindSpec, lang Lang) string {
	if lang == En {
		return "/" + spec.En
	}
	return "#" + spec.Zh
}

func writeField(b *strings.Builder, field, value string, lang Lang) {
	b.WriteString(Label(field, lang))
	if lang == En {
		b.WriteString(": ")
	} else {
		b.WriteString("：")
	}
	b.WriteString(value)
}

// DisplayValue renders a canonical value for people: 男 rather than male,
// 婚礼 rather than wedding, masked numbers when mask is set.
func DisplayValue(field, v string, lang Lang, mask bool) string {
	switch field {
	case "phone":
		if mask {
			return MaskPhone(v)
		}
	case "id_number":
		if mask {
			return MaskID(v)
		}
	case "gender":
		if lang != En {
			return map[string]string{"male": "男", "female": "女"}[v]
		}
	case "type":
		if lang != En {
			return map[string]string{"wedding": "婚礼", "funeral": "丧事", "other": "其他"}[v]
		}
	case "result":
		if lang != En {
			return resultNames[v][0]
		}
		return resultNames[v][1]
	case "temperature":
		if lang != En {
			return v + "℃"
		}
		return v + " °C"
	}
	if mask && tables.fieldByName[field] != nil && tables.fieldByName[field].Type == Text {
		return MaskText(v)
	}
	return v
}

// Template renders a fill-in template for a kind with example values, to
// copy and edit.
func Template(k Kind, lang Lang) string {
	spec, ok := tables.kindByKind[k]
	if !ok {
		return ""
	}
	var b strings.Builder
	b.WriteString(heading(spec, lang))
	fields := spec.Required
	switch {
	case len(spec.Template) > 0:
		fields = spec.Template
	case len(fields) == 0:
		fields = spec.Optional
	}
	for _, field := range fields {
		if field == "note" {
			continue
		}
		b.WriteByte('\n')
		writeField(&b, field, kindExample(k, field, lang), lang)
	}
	return b.String()
}

// OptionalFields names a kind's optional fields in a language, for a hint
// under a template: 性别、年龄、身份证.
func OptionalFields(k Kind, lang Lang) string {
	spec, ok := tables.kindByKind[k]
	if !ok || len(spec.Required) == 0 {
		return ""
	}
	labels := make([]string, 0, len(spec.Optional))
	inTemplate := map[string]bool{}
	for _, f := range spec.Template {
		inTemplate[f] = true
	}
	for _, f := range spec.Optional {
		if !tables.fieldByName[f].Assigned && !inTemplate[f] {
			labels = append(labels, Label(f, lang))
		}
	}
	if lang == En {
		return strings.Join(labels, ", ")
	}
	return strings.Join(labels, "、")
}

// FillTemplate renders the template of a report's kind with what the
// report got right filled in and a placeholder where a required field is
// missing or wrong, so the sender can copy it, complete it and send again.
// mask is for a template posted to a group: a phone or ID number it holds
// is not shown masked but as （请重新填写完整号码）, so no template offered
// to copy holds a starred number.
func FillTemplate(r Report, mask bool) string {
	spec, ok := tables.kindByKind[r.Kind]
	if !ok {
		return ""
	}
	placeholder := "（请填写）"
	if r.Lang == En {
		placeholder = "(fill in)"
	}
	var b strings.Builder
	b.WriteString(heading(spec, r.Lang))
	for _, field := range spec.Fields() {
		v, ok := r.Fields[field]
		required := false
		for _, f := range spec.Required {
			required = required || f == field
		}
		switch {
		case ok && mask && (field == "phone" || field == "id_number"):
			// a masked number copied back would be no number: ask for it
			v = r.Lang.Pick("（请重新填写完整号码）", "(re-enter the full number)")
		case ok:
			v = DisplayValue(field, v, r.Lang, mask)
		case required:
			v = placeholder
		default:
			continue
		}
		b.WriteByte('\n')
		writeField(&b, field, v, r.Lang)
	}
	return b.String()
}
