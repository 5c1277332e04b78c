package handlers

import (
	"testing"

	"time"

	"gridbot/report"
)

// TestParseRange reads the days people ask /list for.
func TestParseRange(t *testing.T) {
	today := report.Date{Year: 2020, Month: 2, Day: 7} // a Friday
	d := func(m, day int) report.Date { return report.Date{Year: 2020, Month: time.Month(m), Day: day} }
	tests := []struct {
		in       string
		from, to report.Date
		ok       bool
	}{
		{"", today, today, true},
		{"昨天", d(2, 6), d(2, 6), true},
		{"2月5日", d(2, 5), d(2, 5), true},
		{"本周", d(2, 3), today, true},
		{"上周", d(1, 27), d(2, 2), true},
		{"近7天", d(2, 1), today, true},
		{"近七天", d(2, 1), today, true},
		{"近十天", d(1, 29), today, true},
		{"近十四天", d(1, 25), today, true},
		{"2月1日-2月7日", d(2, 1), today, true},
		{"2月1日至2月3日", d(2, 1), d(2, 3), true},
		{"2020-02-01-2020-02-04", d(2, 1), d(2, 4), true},
		{"2月7日-2月1日", report.Date{}, report.Date{}, false},
		{"下辈子", report.Date{}, report.Date{}, false},
	}
	for _, tt := range tests {
		got, ok := parseRange(tt.in, today)
		if ok != tt.ok || ok && (got.from != tt.from || got.to != tt.to) {
			t.Errorf("parseRange(%q) = %v, %v; want %v～%v, %v", tt.in, got, ok, tt.from, tt.to, tt.ok)
		}
	}
}
