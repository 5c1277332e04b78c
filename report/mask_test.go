package report

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
	"unicode/utf8"

	"gridbot/report/masktest"
)

func TestMaskText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"身份证:41050519870601006X", "身份证:410505********006X"},
		{"电话:13633721235 备用", "电话:136****1235 备用"},
		{"call 139 1234 5678 now", "call 139 **** 5678 now"},
		{"+86 139-0013-8000", "+86 1**-****-8000"},
		{"郝家店村3组12号", "郝家店村3组12号"},
		{"0373-5123456", "037*-***3456"},
		{"385", "385"},
		{"", ""},
		// separators the old masking missed
		{"电话139.1234.5678", "电话139.****.5678"},
		{"电话139/1234/5678", "电话139/****/5678"},
		{"电话139_1234_5678", "电话139_****_5678"},
		{"电话 139 1234 5678 住址郝家店村", "电话 139 **** 5678 住址郝家店村"},
		{"电话\u00a0139\u00a01234\u00a05678", "电话\u00a0139\u00a0****\u00a05678"},
		{"1 3 9 1 2 3 4 5 6 7 8", "1 3 9 * * * * 5 6 7 8"},
		{"139 - 1234 - 5678", "139 - **** - 5678"},
		{"139\u200b1234\u200b5678", "139\u200b****\u200b5678"},
		{"（0373）5123456", "（0373）***3456"},
		{"身份证：420102********3514（2/6 09:00）", "身份证：420102********3514（2/6 09:00）"},
		// digit words and other digits
		{"电话一三八二三四五六七八九", "电话一三八****六七八九"},
		{"幺三八幺二三四五六七八", "幺三八****五六七八"},
		{"〇三七二五一二三四五六", "〇三七****三四五六"},
		{"手机１３８１２３４５６７８", "手机１３８****５６７８"},
		{"139一二三四5678", "139****5678"},
		// 7 to 10 digits: only the last four show
		{"座机5123456", "座机***3456"},
		{"座机 5123 4567", "座机 **** 4567"},
		// an ID number spaced out
		{"4105 0519 8706 0120 10", "4105 05** **** **20 10"},
		// a line break ends a number
		{"1234\n5678", "1234\n5678"},
		// dates stay; a date glued to more digits is a number
		{"返回日期：2020-02-05", "返回日期：2020-02-05"},
		{"张三 2020-02-05 139****5678", "张三 2020-02-05 139****5678"},
		{"2020-02-05 13912345678", "2020-02-05 139****5678"},
		{"2020-02-05-1234", "202*-**-**-1234"},
		// a digit word in a name chains with the number after it
		{"张三 13912345678", "张三 13*****5678"},
		{"日期20200205", "日期****0205"},
		{"体温37.5", "体温37.5"},
		// bidirectional controls go
		{"王\u202e强\u202c", "王强"},
		{"\u2067名\u2069", "名"},
	}
	for _, tt := range tests {
		if got := MaskText(tt.in); got != tt.want {
			t.Errorf("MaskText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskHTML(t *testing.T) {
	tests := []struct{ in, want string }{
		{"✅ <b>张强 13912345678</b> 的返乡登记", "✅ <b>张强 139****5678</b> 的返乡登记"},
		{"<b>139</b> 1234 5678", "<b>139</b> **** 5678"},
		{`<a href="tg://user?id=1234567890">王 1391234 5678</a>`, `<a href="tg://user?id=1234567890">王 139**** 5678</a>`},
		{"&lt;13912345678&gt; &amp; &#39;x&#39;", "&lt;139****5678&gt; &amp; &#39;x&#39;"},
		{"<pre>电话：一三八二三四五六七八九</pre>", "<pre>电话：一三八****六七八九</pre>"},
		{"<b>no numbers</b>", "<b>no numbers</b>"},
	}
	for _, tt := range tests {
		if got := MaskHTML(tt.in); got != tt.want {
			t.Errorf("MaskHTML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// leaky is text full of numbers in every disguise: the property tests'
// generator (testing/quick calls Generate).
type leaky string

func (leaky) Generate(r *rand.Rand, size int) reflect.Value {
	return reflect.ValueOf(leaky(masktest.Text(r)))
}

// TestMaskTextProperty: whatever the disguise, no number of seven or more
// digits survives MaskText, masking twice changes nothing more, and the
// text around the numbers is kept.
func TestMaskTextProperty(t *testing.T) {
	property := func(in leaky) bool {
		return checkMasked(t, string(in))
	}
	if err := quick.Check(property, &quick.Config{MaxCount: 20000}); err != nil {
		t.Error(err)
	}
}

func checkMasked(t *testing.T, in string) bool {
	t.Helper()
	out := MaskText(in)
	if exposed := masktest.Exposed(out); len(exposed) > 0 {
		t.Errorf("MaskText(%q) = %q: %q survived", in, out, exposed)
		return false
	}
	if again := MaskText(out); again != out {
		t.Errorf("MaskText is not idempotent on %q: %q then %q", in, out, again)
		return false
	}
	// only digits became stars; everything else is as it was, bidi controls aside
	want := []rune(StripBidi(in))
	got := []rune(out)
	if len(got) != len(want) {
		t.Errorf("MaskText(%q) = %q changed the length", in, out)
		return false
	}
	for k := range got {
		if got[k] != want[k] && !(got[k] == '*' && IsDigitRune(want[k])) {
			t.Errorf("MaskText(%q) = %q changed %q at %d", in, out, want[k], k)
			return false
		}
	}
	return true
}

// FuzzMaskText holds the same property for any input.
func FuzzMaskText(f *testing.F) {
	for _, s := range []string{"13912345678", "一三八二三四五六七八九", "139 1234\u00a05678", "2020-02-05 13912345678", "11010519491231002X", "<b>1</b>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		checkMasked(t, s)
		if exposed := masktest.ExposedHTML(MaskHTML(s)); len(exposed) > 0 && !strings.ContainsAny(s, "<&") {
			t.Errorf("MaskHTML(%q): %q survived", s, exposed)
		}
	})
}

func BenchmarkMaskText(b *testing.B) {
	text := strings.Repeat("返乡 张三 电话139 1234 5678 身份证410505198706012010 住址郝家店村3组12号 2020-02-05\n", 40) // ~4 KB, a long summary
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		MaskHTML(text)
	}
}
