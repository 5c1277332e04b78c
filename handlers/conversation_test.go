package handlers

import (
	"testing"
	"time"

	"gridbot/report"
)

// TestLooksLikeReport: a report typed without its kind is noticed; chat,
// even chat with a number in it, is not.
func TestLooksLikeReport(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	c := report.Context{Now: time.Date(2020, 2, 7, 9, 0, 0, 0, loc), Location: loc}
	tests := []struct {
		text string
		kind report.Kind
		ok   bool
	}{
		{"王强 13598765432 从武汉回来 郝家店村五组", report.Arrival, true},
		{"陈刚 体温38.6 钢花路社区3号楼", report.Fever, true},
		{"刘奶奶 38度5 郝家店村2组", report.Fever, true},
		{"张三 13812345678 武汉 2月5日 郝家店村3组", report.None, true},
		{"王强今天返乡了，电话13598765432", report.Arrival, true},
		{"田甜 13937265432 租房 相台村4组8号", report.Tenant, true},
		{"大家中午好，今天降温，我电话13800001111有事找我", report.None, false},
		{"有事打我电话13800001111", report.None, false},
		{"明天有人返乡吗", report.None, false},
		{"今天38度，太热了", report.None, false},
		{"", report.None, false},
	}
	for _, tt := range tests {
		k, ok := looksLikeReport(tt.text, c)
		if k != tt.kind || ok != tt.ok {
			t.Errorf("looksLikeReport(%q) = %q, %v; want %q, %v", tt.text, k, ok, tt.kind, tt.ok)
		}
	}
}

func TestIsCourtesy(t *testing.T) {
	for _, s := range []string{"好的", "收到，谢谢！", "👍", "辛苦了", "ok", "Thanks", "好的好的～"} {
		if !isCourtesy(s) {
			t.Errorf("isCourtesy(%q) = false", s)
		}
	}
	for _, s := range []string{"张三的电话写错了", "好的，明天补报", "撤销", "地址：郝家店村1组"} {
		if isCourtesy(s) {
			t.Errorf("isCourtesy(%q) = true", s)
		}
	}
}

// TestClassifyReplied reads the bot's template and reminder, as Telegram
// quotes them (plain) and as the fake quotes them (HTML).
func TestClassifyReplied(t *testing.T) {
	tests := []struct {
		text string
		want repliedKind
		kind report.Kind
	}{
		{"复制下面的模板，改成实际内容后发送：\n#返乡登记\n姓名：张三\n选填：性别", repliedTemplate, report.Arrival},
		{"复制下面的模板，改成实际内容后发送：\n<pre>#发热报告\n姓名：张三</pre>", repliedTemplate, report.Fever},
		{"Copy this template, fill it in and send it:\n<pre>/tenant\nname: Zhang San</pre>\nOptional: landlord", repliedTemplate, report.Tenant},
		{"⏰ 日报提醒 2020-02-07\n以下网格员还没有报送今天的日报", repliedReminder, report.Daily},
		{"✅ 王书记 的返乡登记已记录", repliedOther, report.None},
	}
	for _, tt := range tests {
		got, k := classifyReplied(tt.text)
		if got != tt.want || k != tt.kind {
			t.Errorf("classifyReplied(%q) = %v, %q; want %v, %q", tt.text, got, k, tt.want, tt.kind)
		}
	}
}
