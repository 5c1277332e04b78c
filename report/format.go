package report

import (
	"strings"
)

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
