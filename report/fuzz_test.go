package report

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var fuzzContext = Context{
	Now:         time.Date(2020, 2, 7, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)),
	Sender:      "老周",
	BotUsername: "gridbot",
}

// checkInvariants holds for every message, whatever it says.
func checkInvariants(t *testing.T, text string) {
	t.Helper()
	checkReport(t, text, Parse(text, fuzzContext))
	checkSeveral(t, text)
}

// checkReport holds for every report Parse or ParseAll returns.
func checkReport(t *testing.T, text string, r Report) {
	t.Helper()
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if r.Kind == None {
		if len(r.Fields) != 0 || len(r.Problems) != 0 {
			t.Fatalf("ordinary chat with fields or problems: %+v", r)
		}
		return
	}
	spec, _ := Spec(r.Kind)
	allowed := map[string]bool{}
	for _, f := range spec.Fields() {
		allowed[f] = true
	}
	for f, v := range r.Fields {
		if !allowed[f] {
			t.Fatalf("field %q does not belong to %s", f, r.Kind)
		}
		if v == "" {
			t.Fatalf("field %q is empty", f)
		}
	}
	for _, p := range append(append([]Notice{}, r.Problems...), r.Warnings...) {
		if p.Code == "" || p.Message == "" {
			t.Fatalf("notice without code or message: %+v", p)
		}
	}
	for _, p := range r.Problems {
		if !allowed[p.Field] {
			t.Fatalf("problem names field %q outside %s", p.Field, r.Kind)
		}
	}
	if !r.OK() {
		return
	}
	for _, f := range spec.Required {
		if r.Fields[f] == "" {
			t.Fatalf("accepted %s without required %q: %+v", r.Kind, f, r.Fields)
		}
	}
	formatted := Format(r, FormatOptions{})
	again := Parse(formatted, fuzzContext)
	if again.Kind != r.Kind || !reflect.DeepEqual(again.Fields, r.Fields) {
		t.Fatalf("round trip changed the report\ninput:     %q\nformatted: %q\nfirst:  %v\nsecond: %v (problems %v)", text, formatted, r.Fields, again.Fields, again.Problems)
	}
}

// checkSeveral holds for every message read as a list of people: each
// report keeps the single-report invariants, and a list of people
// formatted one a line as a numbered list parses back to the same reports.
func checkSeveral(t *testing.T, text string) {
	t.Helper()
	res := ParseAll(text, fuzzContext)
	if _, err := json.Marshal(res); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	switch {
	case res.Kind == None && len(res.Reports) != 0:
		t.Fatalf("ordinary chat with reports: %+v", res)
	case res.Kind != None && len(res.Reports) == 0:
		t.Fatalf("a report without reports: %+v", res)
	}
	if !res.Several() {
		if single := Parse(text, fuzzContext); res.Kind != single.Kind || res.Kind != None && !reflect.DeepEqual(res.Reports[0], single) {
			t.Fatalf("ParseAll and Parse differ on one person\ninput: %q\nall:    %+v\nsingle: %+v", text, res, single)
		}
		return
	}
	for _, r := range res.Reports {
		if r.Kind != res.Kind {
			t.Fatalf("a report of kind %s in a %s message", r.Kind, res.Kind)
		}
		checkReport(t, text, r)
	}
	if !res.OK() {
		return
	}
	var b strings.Builder
	for i, r := range res.Reports {
		lines := strings.Split(Format(r, FormatOptions{}), "\n")
		if i == 0 {
			b.WriteString(lines[0])
		}
		fmt.Fprintf(&b, "\n%d. %s", i+1, strings.Join(lines[1:], "; "))
	}
	again := ParseAll(b.String(), fuzzContext)
	if len(again.Reports) != len(res.Reports) {
		t.Fatalf("round trip of %d people gave %d\ninput:     %q\nformatted: %q\nagain: %+v", len(res.Reports), len(again.Reports), text, b.String(), again)
	}
	for i := range res.Reports {
		if !reflect.DeepEqual(again.Reports[i].Fields, res.Reports[i].Fields) {
			t.Fatalf("round trip changed person %d\ninput:     %q\nformatted: %q\nfirst:  %v\nsecond: %v (problems %v)", i+1, text, b.String(), res.Reports[i].Fields, again.Reports[i].Fields, again.Reports[i].Problems)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range readCasesQuiet(filepath.Join("..", "..", "shared", "examples", "parse.jsonl")) {
		f.Add(c.Text)
	}
	for _, c := range readCasesQuiet(filepath.Join("testdata", "cases.jsonl")) {
		f.Add(c.Text)
	}
	for _, h := range hostileInputs() {
		f.Add(h)
	}
	f.Fuzz(checkInvariants)
}

// TestInvariantsOnCases runs the fuzz invariants over every table case,
// so a plain `go test` checks the round trip too.
func TestInvariantsOnCases(t *testing.T) {
	var texts []string
	for _, c := range readCasesQuiet(filepath.Join("..", "..", "shared", "examples", "parse.jsonl")) {
		texts = append(texts, c.Text)
	}
	for _, c := range readCasesQuiet(filepath.Join("testdata", "cases.jsonl")) {
		texts = append(texts, c.Text)
	}
	if len(texts) == 0 {
		t.Fatal("no cases read")
	}
	for _, text := range texts {
		checkInvariants(t, text)
	}
}

func hostileInputs() []string {
	return []string{
		"",
		"#",
		"/",
		"#返乡",
		"\xff\xfe\xfd",
		"#返乡 姓名:\xff\xfe 电话:13812345678",
		"#返乡 \x00\x01\x02\x1b[31m姓名:张三\x7f",
		"#返乡 姓名:张三\u202e 电话:138\u200f1234\u200b5678",
		"\u202e#发热 姓名:李四 体温:38.5 住址:相台村",
		"#发热 姓名:🦠😷 体温:38.5 住址:相台村👍",
		"#返乡 姓名:Robert'); DROP TABLE reports;-- 电话:13812345678",
		"#租户 姓名:' OR '1'='1 电话:13812345678 地址:相台村 入住:今天",
		"#日报 排查户数:99999999999999999999999",
		"#发热 体温:" + strings.Repeat("9", 500),
		"#返乡 " + strings.Repeat("张三", 2048),
		"#返乡 " + strings.Repeat("a", 4096),
		"#返乡 " + strings.Repeat("姓名:", 1000),
		"#返乡 " + strings.Repeat("1 ", 2000),
		"#返乡 " + strings.Repeat("\n", 4000),
		"#返乡 " + strings.Repeat("、", 4000),
		"#返乡 " + strings.Repeat("【", 2000),
		"#婚丧 " + strings.Repeat("2月5日", 600),
		"/arrival@" + strings.Repeat("x", 300),
		"/fever@otherbot 姓名:沈冰 体温39.1 住址:相台村3组",
		"#返乡 姓名:<b>张三</b> 电话:13812345678 来自:<script>alert(1)</script> 日期:今天 住址:相台村&amp;",
		"#返乡 姓名:\\\\\" 电话:13812345678",
		"＃返乡　姓名：张三　电话：１３８１２３４５６７８",
	}
}

// readCasesQuiet reads a case table for fuzz seeds, or nothing when it is
// not there.
func readCasesQuiet(path string) []parseCase {
	cases, _ := readCasesFile(path)
	return cases
}

func TestHostileInputs(t *testing.T) {
	for _, h := range hostileInputs() {
		checkInvariants(t, h)
	}
	// specific answers, not just survival
	r := Parse("#返乡 姓名:张三\u202e 电话:138\u200f1234\u200b5678 来自:武汉 日期:今天 住址:相台村", fuzzContext)
	if !r.OK() || r.Fields["phone"] != "13812345678" || r.Fields["name"] != "张三" {
		t.Errorf("invisible characters were not removed: %+v", r)
	}
	r = Parse("#返乡\n姓名:Robert') DROP TABLE reports--\n电话:13812345678\n来自:武汉\n日期:今天\n住址:相台村", fuzzContext)
	if r.Fields["name"] != "Robert') DROP TABLE reports--" {
		t.Errorf("SQL-looking text was not kept as text: %q", r.Fields["name"])
	}
	r = Parse("#发热 姓名:🦠 体温:38.5 住址:相台村", fuzzContext)
	if !r.OK() || r.Fields["name"] != "🦠" {
		t.Errorf("emoji name: %+v", r)
	}
	r = Parse("#日报 排查户数:99999999999999999999999", fuzzContext)
	if r.OK() || r.Problems[0].Code != CodeInvalidNumber {
		t.Errorf("a huge number was accepted: %+v", r)
	}
	r = Parse("/fever@otherbot 姓名:沈冰 体温39.1 住址:相台村3组", fuzzContext)
	if r.Kind != None {
		t.Errorf("a command for another bot was taken: %+v", r)
	}
}

// TestHugeInputsFinish guards against quadratic behaviour: a megabyte of
// any shape must parse. The bound is a hang detector, far above the
// milliseconds it takes (BenchmarkParseHuge measures the time per byte).
func TestHugeInputsFinish(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const mb = 1 << 20
	inputs := map[string]string{
		"words":     "#返乡 " + strings.Repeat("张三 ", mb/7),
		"one word":  "#返乡 " + strings.Repeat("张", mb/3),
		"digits":    "#返乡 " + strings.Repeat("1 ", mb/2),
		"labels":    "#返乡 " + strings.Repeat("姓名:张三 ", mb/14),
		"lines":     "#返乡\n" + strings.Repeat("住址:郝家店村\n", mb/22),
		"sep label": "#返乡\n姓名:" + strings.Repeat("张 ", mb/4),
		"address":   "#返乡 住址:" + strings.Repeat("村 ", mb/4),
		"phone":     "#返乡 电话:" + strings.Repeat("1 ", mb/2),
		"latin":     "/arrival " + strings.Repeat("Ab ", mb/3),
		"colons":    "#返乡 " + strings.Repeat(": ", mb/2),
		"dates":     "#返乡 " + strings.Repeat("2月5日 ", mb/10),
		"chat":      strings.Repeat("大家辛苦了 ", mb/16),
	}
	for name, in := range inputs {
		done := make(chan Report, 1)
		go func() { done <- Parse(in, fuzzContext) }()
		select {
		case r := <-done:
			if r.Kind == None && name != "chat" {
				t.Errorf("%s: not recognised as a report", name)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("%s: a 1 MB message did not parse within a minute: quadratic behaviour", name)
		}
	}
}
