package report

import (
	"bytes"
	"encoding/json"
)

// MarshalJSON renders the shape `gridbot parse` prints:
//
//	{"kind": "arrival"|…|null, "ok": bool, "fields": {…},
//	 "problems": [{"field","code","message"}], "warnings": […]}
//
// Fields appear in their kind's order; counts and temperatures are JSON
// numbers, dates YYYY-MM-DD, everything else strings.
func (r Report) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"kind":`)
	if r.Kind == None {
		b.WriteString("null")
	} else {
		writeJSONString(&b, string(r.Kind))
	}
	b.WriteString(`,"ok":`)
	if r.OK() {
		b.WriteString("true")
	} else {
		b.WriteString("false")
	}
	b.WriteString(`,"fields":{`)
	n := 0
	if spec, ok := tables.kindByKind[r.Kind]; ok {
		for _, field := range spec.Fields() {
			v, ok := r.Fields[field]
			if !ok {
				continue
			}
			if n > 0 {
				b.WriteByte(',')
			}
			n++
			writeJSONString(&b, field)
			b.WriteByte(':')
			switch tables.fieldByName[field].Type {
			case Int, Temperature:
				if json.Valid([]byte(v)) {
					b.WriteString(v)
					continue
				}
			}
			writeJSONString(&b, v)
		}
	}
	b.WriteString(`},"problems":`)
	if err := writeNotices(&b, r.Problems); err != nil {
		return nil, err
	}
	b.WriteString(`,"warnings":`)
	if err := writeNotices(&b, r.Warnings); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeNotices(b *bytes.Buffer, ns []Notice) error {
	if ns == nil {
		ns = []Notice{}
	}
	out, err := json.Marshal(ns)
	if err != nil {
		return err
	}
	b.Write(out)
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	out, _ := json.Marshal(s) // a string always marshals
	b.Write(out)
}
