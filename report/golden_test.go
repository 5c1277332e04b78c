package report

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from what the code renders now (go test -update rewrites it)\ngot:\n%s", path, got)
	}
}

// TestTextsGolden pins what users read: templates, receipts and problem
// messages in both languages.
func TestTextsGolden(t *testing.T) {
	samples := map[Kind][2]string{ // a valid and an invalid report of each kind
		Arrival:   {"#返乡 姓名:张三 性别:男 电话:13812345678 身份证:420102199007183514 来自:武汉 日期:2月5日 住址:郝家店村3组", "#返乡 姓名:张三 电话:1381234567 日期:2月30日 住址:郝家店村3组"},
		Fever:     {"#发热 姓名:刘洋 体温:38.5 住址:郝家店村3组 症状:咳嗽、乏力 处置:已送发热门诊", "#发热 姓名:刘洋 体温:385"},
		Gathering: {"#婚丧 类型:婚礼 事主:马超 日期:2月15日 地址:郝家店村 人数:80 桌数:8", "#红白事 事主:马超 日期:2月15日"},
		Tenant:    {"#租户 房东:何明 姓名:罗娟 电话:15837201234 身份证:412723199209098849 入住:2月3日 地址:钢花路12号院3单元", "#租户 姓名:罗娟 身份证:412723199209098848"},
		Daily:     {"#日报 排查户数:120 返乡人数:2 发热人数:0 婚丧:0", "#日报 排查户数:abc"},
		Followup:  {"#回访 姓名:刘洋 体温:36.8 结果:已退烧 住址:郝家店村3组", "#回访 体温:36.8 结果:好多了"},
	}
	english := map[Kind][2]string{
		Arrival:  {"/arrival name=Zhang Wei; phone=13800138000; from=Wuhan; date=2020-02-06; address=Haojiadian Village Group 2", "/arrival name=Zhang Wei; phone=138"},
		Fever:    {"/fever name=Li Lei; temp=37.1; address=Haojiadian Village", "/fever name=Li Lei; temp=45"},
		Followup: {"/followup name=Li Lei; temp=36.6; result=released", "/followup temp=36.6"},
	}
	var b strings.Builder
	for _, k := range Kinds() {
		for _, lang := range []Lang{Zh, En} {
			b.WriteString("== template " + string(k) + " " + string(lang) + "\n" + Template(k, lang) + "\n")
			if opt := OptionalFields(k, lang); opt != "" {
				b.WriteString("optional: " + opt + "\n")
			}
		}
		zh, en := samples[k], english[k]
		for i, text := range []string{zh[0], zh[1], en[0], en[1]} {
			if text == "" {
				continue
			}
			r := Parse(text, fuzzContext)
			b.WriteString("== " + text + "\n")
			if i%2 == 0 {
				b.WriteString(Format(r, FormatOptions{Mask: true}) + "\n")
			} else {
				b.WriteString(FillTemplate(r, true) + "\n")
			}
			for _, p := range r.Problems {
				b.WriteString("problem " + p.Field + " " + p.Code + ": " + p.Message + "\n")
			}
			for _, w := range r.Warnings {
				b.WriteString("warning " + w.Field + " " + w.Code + ": " + w.Message + "\n")
			}
		}
	}
	golden(t, "texts.golden", b.String())
}
