package report

import (
	"strings"
	"testing"
)

// TestTemplateSampleRefused sends every template back unchanged: it is
// never a person, and the problem says to fill in the real values.
func TestTemplateSampleRefused(t *testing.T) {
	for _, k := range Kinds() {
		spec, _ := Spec(k)
		if spec.NameField == "" {
			continue
		}
		for _, lang := range []Lang{Zh, En} {
			r := Parse(Template(k, lang), fuzzContext)
			if r.Kind != k || r.OK() || len(r.Problems) == 0 || r.Problems[0].Code != CodeTemplateSample {
				t.Errorf("%s %s: the unchanged template was not refused: %+v", k, lang, r)
				continue
			}
			if want := lang.Pick("真实", "real"); !strings.Contains(r.Problems[0].Message, want) {
				t.Errorf("%s %s: the problem does not ask for real values: %q", k, lang, r.Problems[0].Message)
			}
			// one value changed: a real report
			edited := strings.Replace(Template(k, lang), kindExample(k, spec.NameField, lang), lang.Pick("王桂兰", "Wang Guilan"), 1)
			if r := Parse(edited, fuzzContext); hasNotice(r.Problems, spec.NameField) {
				t.Errorf("%s %s: an edited template is still refused: %+v", k, lang, r.Problems)
			}
		}
	}
}

// TestNoTemplateHoldsAMaskedNumber: the templates the bot offers to copy
// in a group ask for the full number instead of showing it starred, and
// that line sent back unchanged is no value at all.
func TestNoTemplateHoldsAMaskedNumber(t *testing.T) {
	for _, text := range []string{
		"#返乡 姓名:王桂兰 电话:13812345679 身份证:420102199007183514 来自:武汉",
		"#租户 姓名:罗娟 电话:15837201234 身份证:412723199209098849",
		"/arrival name=Wang Gui; phone=13812345679; id=420102199007183514",
	} {
		r := Parse(text, fuzzContext)
		filled := FillTemplate(r, true)
		if strings.Contains(filled, "*") {
			t.Errorf("a template to copy holds a masked number:\n%s", filled)
		}
		if !strings.Contains(filled, r.Lang.Pick("（请重新填写完整号码）", "(re-enter the full number)")) {
			t.Errorf("the number line does not ask for the full number:\n%s", filled)
		}
		back := Parse(filled, fuzzContext)
		for _, p := range back.Problems {
			if p.Code == CodeInvalidPhone || p.Code == CodeInvalidIDNumber {
				t.Errorf("the template sent back unchanged gives %s: %+v", p.Code, back.Problems)
			}
		}
		if !hasNotice(back.Problems, "phone") {
			t.Errorf("the template sent back unchanged does not ask for the phone: %+v", back.Problems)
		}
	}
}

// TestMaskedNumbers: a starred number copied from a bot message is never
// an invalid one.
func TestMaskedNumbers(t *testing.T) {
	tests := []struct {
		text    string
		problem string // the field whose problem is masked_number, or ""
		warning string // the field whose warning is masked_number, or ""
	}{
		{"#返乡 王桂兰 137****1111 武汉 2月5日 郝家店村3组", "phone", ""},
		{"#返乡 姓名:王桂兰 电话:137****1111 来自:武汉 日期:2月5日 住址:郝家店村3组", "phone", ""},
		{"#发热 刘洋 38.5 郝家店村3组 电话137****1111", "", "phone"},
		{"#返乡 王桂兰 身份证410505********2010 13912345678 武汉 2月5日 郝家店村3组", "", "id_number"},
		{"#租户 罗娟 0372-***3456 2月3日 钢花路12号院", "phone", ""},
	}
	for _, tt := range tests {
		r := Parse(tt.text, fuzzContext)
		for _, p := range r.Problems {
			if p.Code == CodeInvalidPhone || p.Code == CodeInvalidIDNumber {
				t.Errorf("%s: a masked number called invalid: %+v", tt.text, p)
			}
		}
		if tt.problem != "" && !hasCode(r.Problems, tt.problem, CodeMaskedNumber) {
			t.Errorf("%s: want a masked_number problem on %s, got %+v", tt.text, tt.problem, r.Problems)
		}
		if tt.warning != "" {
			if !hasCode(r.Warnings, tt.warning, WarnMaskedNumber) || r.Fields[tt.warning] != "" || !r.OK() {
				t.Errorf("%s: want %s dropped with a warning, got %+v %+v", tt.text, tt.warning, r.Fields, r.Warnings)
			}
		}
	}
}

func hasCode(ns []Notice, field, code string) bool {
	for _, n := range ns {
		if n.Field == field && n.Code == code {
			return true
		}
	}
	return false
}
