package report

import (
	"testing"
	"time"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"13812345678", "13812345678", true},
		{"138 1234 5678", "13812345678", true},
		{"138-1234-5678", "13812345678", true},
		{"+86 138-0013-8000", "13800138000", true},
		{"+8613800138000", "13800138000", true},
		{"008613800138000", "13800138000", true},
		{"8613800138000", "13800138000", true},
		{"19912345678", "19912345678", true},
		{"0372-5123456", "0372-5123456", true},
		{"03725123456", "0372-5123456", true},
		{"(0372)5123456", "0372-5123456", true},
		{"010-12345678", "010-12345678", true},
		{"02112345678", "021-12345678", true},
		{"1381234567", "", false},   // 10 digits
		{"138123456789", "", false}, // 12 digits
		{"12812345678", "", false},  // no mobile starts 12
		{"5123456", "", false},      // a landline without its area code
		{"0000-1234567", "", false},
		{"13812345678a", "", false},
		{"", "", false},
		{"电话", "", false},
	}
	for _, tt := range tests {
		got, ok := normalizePhone(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizePhone(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNormalizeID(t *testing.T) {
	today := Date{2020, 2, 7}
	tests := []struct {
		in, want string
		problem  idProblem
	}{
		{"420102199007183514", "420102199007183514", idOK},
		{"412723199209098849", "412723199209098849", idOK},
		{"41050519870601006x", "41050519870601006X", idOK},
		{"11010519491231002X", "11010519491231002X", idOK},
		{"110105 19491231 002X", "11010519491231002X", idOK},
		{"420102199007183515", "", idChecksum},
		{"420102199002303514", "", idBirthDate}, // 30 February
		{"420102203007183514", "", idBirthDate}, // born in the future
		{"990102199007183514", "", idRegion},
		{"42010219900718351", "", idLength},
		{"4201021990071835144", "", idLength},
		{"42010219900718351Y", "", idLength},
		{"420102X99007183514", "", idLength},
	}
	for _, tt := range tests {
		got, problem := normalizeID(tt.in, today)
		if got != tt.want || problem != tt.problem {
			t.Errorf("normalizeID(%q) = %q, %q; want %q, %q", tt.in, got, problem, tt.want, tt.problem)
		}
	}
}

func TestParseTemperature(t *testing.T) {
	tests := []struct {
		in     string
		tenths int
		shape  tempShape
		ok     bool
	}{
		{"38.5", 385, bareTemp, true},
		{"38.5℃", 385, unitTemp, true},
		{"38.5度", 385, unitTemp, true},
		{"38.5°C", 385, unitTemp, true},
		{"38.5 °C", 385, unitTemp, true},
		{"38.5°", 385, unitTemp, true},
		{"38度5", 385, unitTemp, true},
		{"38°5", 385, unitTemp, true},
		{"39度", 390, unitTemp, true},
		{"三十八度五", 385, unitTemp, true},
		{"三十七点五度", 375, unitTemp, true},
		{"三十九度", 390, unitTemp, true},
		{"37", 370, bareTemp, true},
		{"37.25", 373, bareTemp, true}, // rounded to one decimal
		{"101.3°F", 385, unitTemp, true},
		{"摄氏38度", 380, unitTemp, true},
		{"385", 3850, bareTemp, false},
		{"34.9", 349, bareTemp, false},
		{"42.6", 426, bareTemp, false},
		{"42.5", 425, bareTemp, true},
		{"35.0", 350, bareTemp, true},
		{"38度55", 0, notTemp, false},
		{"高烧", 0, notTemp, false},
		{"", 0, notTemp, false},
		{"38.5kg", 0, notTemp, false},
	}
	for _, tt := range tests {
		tenths, shape, ok := parseTemperature(tt.in)
		if shape != tt.shape || ok != tt.ok || (shape != notTemp && tenths != tt.tenths) {
			t.Errorf("parseTemperature(%q) = %d, %d, %v; want %d, %d, %v", tt.in, tenths, shape, ok, tt.tenths, tt.shape, tt.ok)
		}
	}
}

func TestParseDate(t *testing.T) {
	today := Date{2020, 2, 7}
	tests := []struct {
		in     string
		strict bool
		want   string
		shape  dateShape
	}{
		{"2020-02-05", true, "2020-02-05", goodDate},
		{"2020/2/5", true, "2020-02-05", goodDate},
		{"2020.2.5", true, "2020-02-05", goodDate},
		{"2020年2月5日", true, "2020-02-05", goodDate},
		{"2020年2月5号", true, "2020-02-05", goodDate},
		{"20-2-5", true, "2020-02-05", goodDate},
		{"20200205", true, "2020-02-05", goodDate},
		{"2月5日", true, "2020-02-05", goodDate},
		{"2月5号", true, "2020-02-05", goodDate},
		{"2月5", true, "2020-02-05", goodDate},
		{"2-5", true, "2020-02-05", goodDate},
		{"2/5", true, "2020-02-05", goodDate},
		{"2.5", false, "2020-02-05", goodDate},
		{"2.5", true, "", notDate}, // unlabelled, 2.5 is a number
		{"二月五日", true, "2020-02-05", goodDate},
		{"二〇二〇年二月五日", true, "2020-02-05", goodDate},
		{"十二月三十日", true, "2019-12-30", goodDate},
		{"今天", true, "2020-02-07", goodDate},
		{"昨天", true, "2020-02-06", goodDate},
		{"前天", true, "2020-02-05", goodDate},
		{"大前天", true, "2020-02-04", goodDate},
		{"明天", true, "2020-02-08", goodDate},
		{"后天", true, "2020-02-09", goodDate},
		{"today", true, "2020-02-07", goodDate},
		{"Yesterday", true, "2020-02-06", goodDate},
		{"昨天下午", true, "2020-02-06", goodDate},
		{"2月5日下午3点", true, "2020-02-05", goodDate},
		{"2020-02-05 14:30", true, "2020-02-05", goodDate},
		{"Feb 5", true, "2020-02-05", goodDate},
		{"February 5, 2020", true, "2020-02-05", goodDate},
		{"5 Feb", true, "2020-02-05", goodDate},
		{"Feb. 5th", true, "2020-02-05", goodDate},
		{"5日", false, "2020-02-05", goodDate},
		{"25号", false, "2020-01-25", goodDate},
		{"5日", true, "", notDate},
		{"12月30日", true, "2019-12-30", goodDate}, // the nearest year
		{"1月3日", true, "2020-01-03", goodDate},
		{"2月30日", true, "", badDate},
		{"2020-02-30", true, "", badDate},
		{"13月5日", true, "", badDate},
		{"2019-13-01", true, "", badDate},
		{"2月29日", true, "2020-02-29", goodDate}, // 2020 is a leap year
		{"郝家店村", true, "", notDate},
		{"138-0013-8000", true, "", notDate},
		{"0372-5123456", true, "", notDate},
		{"", true, "", notDate},
	}
	for _, tt := range tests {
		got, shape := parseDate(tt.in, today, tt.strict)
		if shape != tt.shape || shape == goodDate && got.String() != tt.want {
			t.Errorf("parseDate(%q, strict=%v) = %s, %d; want %s, %d", tt.in, tt.strict, got, shape, tt.want, tt.shape)
		}
	}
}

func TestNearestYearAcrossNewYear(t *testing.T) {
	tests := []struct {
		today Date
		in    string
		want  string
	}{
		{Date{2020, 1, 3}, "12月30日", "2019-12-30"},
		{Date{2019, 12, 30}, "1月2日", "2020-01-02"},
		{Date{2020, 6, 1}, "12月30日", "2019-12-30"},
		{Date{2020, 7, 1}, "12月30日", "2020-12-30"},
		{Date{2021, 3, 1}, "2月29日", "2020-02-29"}, // the only leap year near
	}
	for _, tt := range tests {
		got, shape := parseDate(tt.in, tt.today, true)
		if shape != goodDate || got.String() != tt.want {
			t.Errorf("parseDate(%q) on %s = %s, %d; want %s", tt.in, tt.today, got, shape, tt.want)
		}
	}
}

func TestChineseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"五", 5, true}, {"十", 10, true}, {"十五", 15, true}, {"三十八", 38, true},
		{"一百二十", 120, true}, {"两百", 200, true}, {"一百零五", 105, true}, {"廿三", 23, true},
		{"二〇二〇", 2020, true}, {"零", 0, true}, {"三四十", 0, false}, {"十百", 0, false}, {"五x", 0, false},
	}
	for _, tt := range tests {
		got, ok := chineseNumber(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("chineseNumber(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseCount(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		unit string
		ok   bool
	}{
		{"30", 30, "", true}, {"30人", 30, "人", true}, {"约30人", 30, "人", true}, {"预计20人", 20, "人", true},
		{"30人左右", 30, "人", true}, {"30余人", 30, "人", true}, {"三十人", 30, "人", true}, {"5桌", 5, "桌", true},
		{"35岁", 35, "岁", true}, {"35周岁", 35, "周岁", true}, {"120户", 120, "户", true}, {"三十", 30, "", true},
		{"30kg", 0, "", false}, {"人", 0, "", false}, {"", 0, "", false}, {"1234567890", 0, "", false},
	}
	for _, tt := range tests {
		n, unit, ok := parseCount(tt.in, countUnits...)
		if n != tt.n || unit != tt.unit || ok != tt.ok {
			t.Errorf("parseCount(%q) = %d, %q, %v; want %d, %q, %v", tt.in, n, unit, ok, tt.n, tt.unit, tt.ok)
		}
	}
}

func TestGenderAndGatheringType(t *testing.T) {
	for in, want := range map[string]string{"男": "male", "女": "female", "男性": "male", "F": "female", "Male": "male", "女士": "female"} {
		if got, ok := normalizeGender(in); !ok || got != want {
			t.Errorf("normalizeGender(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := normalizeGender("未知"); ok {
		t.Error("normalizeGender(未知) accepted")
	}
	for in, want := range map[string]string{
		"婚礼": "wedding", "结婚": "wedding", "喜事": "wedding", "婚事": "wedding", "女儿出嫁": "wedding", "wedding": "wedding",
		"丧事": "funeral", "葬礼": "funeral", "老人去世": "funeral", "白事": "funeral", "出殡": "funeral", "Funeral": "funeral",
		"满月酒": "other", "寿宴": "other", "other": "other",
	} {
		if got := gatheringType(in); got != want {
			t.Errorf("gatheringType(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestNormalizeOriginAndAddress(t *testing.T) {
	for in, want := range map[string]string{
		"从武汉返回": "武汉", "武汉返乡": "武汉", "来自湖北武汉": "湖北武汉", "武汉回来": "武汉", "武汉": "武汉", "返回": "返回", "从武汉来": "武汉",
	} {
		if got := normalizeOrigin(in); got != want {
			t.Errorf("normalizeOrigin(%q) = %q; want %q", in, got, want)
		}
		if again := normalizeOrigin(normalizeOrigin(in)); again != normalizeOrigin(in) {
			t.Errorf("normalizeOrigin is not idempotent on %q: %q", in, again)
		}
	}
	for in, want := range map[string]string{
		"住郝家店村2组": "郝家店村2组", "现住 钢花路社区": "钢花路社区", "郝家店村 3组 12号": "郝家店村3组12号",
		"Haojiadian Village Group 2": "Haojiadian Village Group 2", "住": "住",
	} {
		if got := normalizeAddress(in); got != want {
			t.Errorf("normalizeAddress(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"13812345678", "138****5678"},
		{"0372-5123456", "0372-***3456"},
		{"010-12345678", "010-****5678"},
	}
	for _, tt := range tests {
		if got := MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	if got := MaskID("410505198706012010"); got != "410505********2010" {
		t.Errorf("MaskID = %q", got)
	}
	if got := MaskID("123"); got != "***" {
		t.Errorf("MaskID(short) = %q", got)
	}
}

func TestDate(t *testing.T) {
	d := Date{2020, 2, 28}
	if got := d.AddDays(2).String(); got != "2020-03-01" {
		t.Errorf("AddDays = %s", got)
	}
	if got := d.Int(); got != 20200228 {
		t.Errorf("Int = %d", got)
	}
	if DateFromInt(20200228) != d {
		t.Error("DateFromInt round trip")
	}
	if got := (Date{2020, 3, 1}).DaysSince(d); got != 2 {
		t.Errorf("DaysSince = %d", got)
	}
	loc := time.FixedZone("CST", 8*3600)
	if got := DateOf(d.Start(loc).Add(23 * time.Hour)); got != d {
		t.Errorf("DateOf(Start) = %s", got)
	}
	if p, err := ParseDate("2020-02-28"); err != nil || p != d {
		t.Errorf("ParseDate = %v, %v", p, err)
	}
	if _, err := ParseDate("2020-02-30"); err == nil {
		t.Error("ParseDate accepted 30 February")
	}
}
