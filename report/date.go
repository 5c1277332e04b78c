package report

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Date is a calendar day without a time or a zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the calendar day of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// DateFromInt turns yyyymmdd into a Date (no validation).
func DateFromInt(n int) Date {
	return Date{Year: n / 10000, Month: time.Month(n / 100 % 100), Day: n % 100}
}

// ParseDate parses the canonical form YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("parse date %q: %w", s, err)
	}
	return DateOf(t), nil
}

// String renders the canonical form YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// Int renders the day as yyyymmdd, which sorts like the dates.
func (d Date) Int() int { return d.Year*10000 + int(d.Month)*100 + d.Day }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// valid reports whether d names a real day.
func (d Date) valid() bool {
	if d.Year < 1 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > 31 {
		return false
	}
	return DateOf(d.utc()) == d
}

func (d Date) utc() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// AddDays returns the day n days after d (before, for negative n).
func (d Date) AddDays(n int) Date { return DateOf(d.utc().AddDate(0, 0, n)) }

// DaysSince returns the number of days from e to d (d − e).
func (d Date) DaysSince(e Date) int {
	return int(d.utc().Sub(e.utc()).Hours() / 24)
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch a, b := d.Int(), e.Int(); {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Start returns the first instant of the day in loc.
func (d Date) Start(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// ParseDay reads a date typed in any of the forms reports accept (2月5日,
// 2020-02-05, 昨天, Feb 5 …), relative to today.
func ParseDay(s string, today Date) (Date, bool) {
	d, shape := parseDate(clean(s), today, false)
	return d, shape == goodDate
}

// relativeDayList holds relativeDays as a list, longest words first
// (大前天 before 前天), for the loops that try each at the start of a text.
var relativeDayList = func() []relativeDay {
	list := make([]relativeDay, 0, len(relativeDays))
	for w, n := range relativeDays {
		list = append(list, relativeDay{w, n})
	}
	sort.Slice(list, func(i, j int) bool {
		if len(list[i].word) != len(list[j].word) {
			return len(list[i].word) > len(list[j].word)
		}
		return list[i].word < list[j].word
	})
	return list
}()

type relativeDay struct {
	word   string
	offset int
}

// relativeDays are words meaning a day relative to the message's day.
var relativeDays = map[string]int{
	"今天": 0, "今日": 0, "当天": 0, "本日": 0, "today": 0,
	"昨天": -1, "昨日": -1, "yesterday": -1,
	"前天": -2, "前日": -2,
	"大前天": -3,
	"明天":  1, "明日": 1, "tomorrow": 1,
	"后天": 2, "后日": 2,
	"大后天": 3,
}

var monthNames = map[string]time.Month{
	"jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3,
	"apr": 4, "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7,
	"aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9, "oct": 10,
	"october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}

// dateToken is one piece of a date: a number, a separator or a month name.
type dateToken struct {
	num    int
	digits int    // how many Arabic digits the number had (0 for Chinese numerals)
	sep    string // "-", "/", ".", "年", "月", "日", "号", "," or ""
	month  time.Month
}

// dateShape is what parseDate found.
type dateShape int

const (
	notDate  dateShape = iota // does not look like a date
	badDate                   // looks like a date but names no real day
	goodDate                  // a real day
)

// dateLean says which way a date written without its year or month leans.
type dateLean int

const (
	leanNearest dateLean = iota // the nearest such day
	leanPast                    // the most recent, at most 3 days ahead: an arrival, a move-in
	leanFuture                  // the next one, from today: a gathering
)

// dateLeans gives the lean of each date field.
var dateLeans = map[string]dateLean{"arrived_on": leanPast, "moved_in": leanPast, "date": leanFuture}

// parseDate reads a date as users type it. today is the message's local day
// and anchors relative words and the year of a date written without one.
// strict limits it to forms that are unmistakably dates, for unlabelled text.
func parseDate(s string, today Date, strict bool) (Date, dateShape) {
	return parseDateLean(s, today, strict, leanNearest)
}

// parseDateLean is parseDate choosing among the days a date without its
// year (2月5日) or month (5号) may mean by lean: the most recent for what
// has happened (at most 3 days ahead, within half a year), the next for
// what is planned (within two months); the nearest otherwise.
func parseDateLean(s string, today Date, strict bool, lean dateLean) (Date, dateShape) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return Date{}, notDate
	}
	lower := strings.ToLower(s)
	for _, rd := range relativeDayList {
		if rest, ok := strings.CutPrefix(lower, rd.word); ok && timeOfDay(rest) {
			return today.AddDays(rd.offset), goodDate
		}
	}
	d, shape := parseDateForms(lower, today, strict, lean)
	if shape == notDate {
		// 2020-02-05 14:30: a date, a space, a time of day
		if i := strings.LastIndexByte(lower, ' '); i > 0 && timeOfDay(lower[i+1:]) {
			return parseDateForms(strings.TrimSpace(lower[:i]), today, strict, lean)
		}
	}
	return d, shape
}

// parseDateForms reads the explicit forms of a date (lower case).
func parseDateForms(lower string, today Date, strict bool, lean dateLean) (Date, dateShape) {
	toks, rest, ok := lexDate(lower)
	if !ok || len(toks) == 0 || !timeOfDay(rest) {
		return Date{}, notDate
	}
	var y, m, d int
	yearGiven := false
	switch {
	// 2020-02-05, 2020/2/5, 2020.2.5, 2020年2月5日
	case len(toks) >= 5 && toks[0].num > 0 && toks[1].sep != "" && toks[2].num > 0 && toks[3].sep == toks[1].sep && toks[4].num > 0 &&
		(toks[1].sep == "-" || toks[1].sep == "/" || toks[1].sep == ".") && (toks[0].digits == 4 || toks[0].digits == 2) && datesEnd(toks[5:]):
		y, m, d, yearGiven = expandYear(toks[0]), toks[2].num, toks[4].num, true
	case len(toks) >= 5 && toks[1].sep == "年" && toks[3].sep == "月" && toks[0].num > 0 && toks[2].num > 0 && toks[4].num > 0 && datesEnd(toks[5:]):
		y, m, d, yearGiven = expandYear(toks[0]), toks[2].num, toks[4].num, true
	// 20200205
	case len(toks) == 1 && toks[0].digits == 8:
		n := toks[0].num
		y, m, d, yearGiven = n/10000, n/100%100, n%100, true
	// 2月5日, 2月5号, 2月5
	case len(toks) >= 3 && toks[1].sep == "月" && toks[0].num > 0 && toks[2].num > 0 && datesEnd(toks[3:]):
		m, d = toks[0].num, toks[2].num
	// Feb 5, Feb 5 2020, February 5, 2020
	case len(toks) >= 2 && toks[0].month > 0 && toks[1].num > 0 && toks[1].digits <= 2:
		m, d = int(toks[0].month), toks[1].num
		rest := toks[2:]
		if len(rest) > 0 && rest[0].sep == "," {
			rest = rest[1:]
		}
		if len(rest) == 1 && rest[0].digits == 4 {
			y, yearGiven = rest[0].num, true
		} else if len(rest) != 0 {
			return Date{}, notDate
		}
	// 5 Feb, 5 February 2020
	case len(toks) >= 2 && toks[0].num > 0 && toks[0].digits <= 2 && toks[1].month > 0:
		m, d = int(toks[1].month), toks[0].num
		if len(toks) == 3 && toks[2].digits == 4 {
			y, yearGiven = toks[2].num, true
		} else if len(toks) != 2 {
			return Date{}, notDate
		}
	// 2-5, 2/5 (and 2.5 where a date is expected)
	case (len(toks) == 3 || len(toks) == 4 && (toks[3].sep == "日" || toks[3].sep == "号")) &&
		toks[0].digits > 0 && toks[0].digits <= 2 && toks[2].digits > 0 && toks[2].digits <= 2 &&
		(toks[1].sep == "-" || toks[1].sep == "/" || (toks[1].sep == "." && (!strict || len(toks) == 4))):
		m, d = toks[0].num, toks[2].num
		if m > 12 || d > 31 {
			return Date{}, notDate
		}
	// 5日, 5号: the nearest day of that number
	case !strict && len(toks) == 2 && toks[0].num > 0 && (toks[1].sep == "日" || toks[1].sep == "号"):
		return nearestDayOfMonth(toks[0].num, today, lean)
	default:
		return Date{}, notDate
	}
	if yearGiven {
		date := Date{y, time.Month(m), d}
		if !date.valid() || y < 1900 || y > 2200 {
			return Date{}, badDate
		}
		return date, goodDate
	}
	return nearestYear(time.Month(m), d, today, lean)
}

// datesEnd accepts what may follow a day number: nothing, 日 or 号.
func datesEnd(toks []dateToken) bool {
	return len(toks) == 0 || (len(toks) == 1 && (toks[0].sep == "日" || toks[0].sep == "号"))
}

func expandYear(t dateToken) int {
	if t.digits == 2 {
		return 2000 + t.num
	}
	return t.num
}

// nearestYear picks the year that puts month/day nearest to today.
func nearestYear(m time.Month, d int, today Date, lean dateLean) (Date, dateShape) {
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return Date{}, badDate
	}
	return leaning(today, lean, 183, Date{today.Year - 1, m, d}, Date{today.Year, m, d}, Date{today.Year + 1, m, d})
}

// nearestDayOfMonth picks the day numbered d nearest to today, in this
// month, the one before or the one after.
func nearestDayOfMonth(d int, today Date, lean dateLean) (Date, dateShape) {
	if d < 1 || d > 31 {
		return Date{}, badDate
	}
	first := Date{today.Year, today.Month, 1}
	var candidates []Date
	for _, offset := range []int{-1, 0, 1} {
		month := DateOf(first.utc().AddDate(0, offset, 0))
		candidates = append(candidates, Date{month.Year, month.Month, d})
	}
	return leaning(today, lean, 62, candidates...)
}

// leaning picks among candidates (in order) by lean: for leanPast the
// latest no more than 3 days ahead, for leanFuture the earliest from today
// on, either only within reach days of today; otherwise, or when none
// fits, the nearest.
func leaning(today Date, lean dateLean, reach int, candidates ...Date) (Date, dateShape) {
	var best Date
	found := false
	for _, c := range candidates {
		if !c.valid() {
			continue
		}
		dist := c.DaysSince(today)
		switch {
		case lean == leanPast && dist <= 3 && -dist <= reach && (!found || c.Compare(best) > 0):
			best, found = c, true
		case lean == leanFuture && dist >= 0 && dist <= reach && (!found || c.Compare(best) < 0):
			best, found = c, true
		}
	}
	if found {
		return best, goodDate
	}
	return nearest(today, candidates...)
}

// nearest returns the real day among candidates nearest to today (the
// earliest on a tie), or badDate when none is a real day.
func nearest(today Date, candidates ...Date) (Date, dateShape) {
	best, bestDist := Date{}, -1
	for _, c := range candidates {
		if !c.valid() {
			continue
		}
		dist := c.DaysSince(today)
		if dist < 0 {
			dist = -dist
		}
		if bestDist < 0 || dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if bestDist < 0 {
		return Date{}, badDate
	}
	return best, goodDate
}

// lexDate splits the start of s into date tokens. It stops at the first
// rune that cannot be part of a date and returns the rest.
func lexDate(s string) (toks []dateToken, rest string, ok bool) {
	i := 0
	for i < len(s) && len(toks) < 8 {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r >= '0' && r <= '9':
			j := i
			n := 0
			for j < len(s) && s[j] >= '0' && s[j] <= '9' && j-i < 9 {
				n = n*10 + int(s[j]-'0')
				j++
			}
			if j < len(s) && s[j] >= '0' && s[j] <= '9' {
				return nil, "", false
			}
			toks = append(toks, dateToken{num: n, digits: j - i})
			i = j
			// English ordinals: 5th, 1st, 2nd, 3rd
			for _, suf := range []string{"st", "nd", "rd", "th"} {
				if strings.HasPrefix(s[i:], suf) {
					i += len(suf)
					break
				}
			}
		case isChineseDigit(r):
			j := i
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if !isChineseDigit(r2) {
					break
				}
				j += n2
			}
			n, ok := chineseNumber(s[i:j])
			if !ok {
				return nil, "", false
			}
			if j-i >= 4*3 && n > 1000 { // 二〇二〇: digit by digit
				toks = append(toks, dateToken{num: n, digits: 4})
			} else {
				toks = append(toks, dateToken{num: n})
			}
			i = j
		case r == '-' || r == '/' || r == '.' || r == ',' || r == '年' || r == '月' || r == '日' || r == '号':
			toks = append(toks, dateToken{sep: string(r)})
			i += size
		case r == ' ':
			i += size
		case r >= 'a' && r <= 'z':
			j := i
			for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
				j++
			}
			m, known := monthNames[s[i:j]]
			if !known {
				return toks, s[i:], true
			}
			toks = append(toks, dateToken{month: m})
			i = j
			if i < len(s) && s[i] == '.' {
				i++
			}
		default:
			return toks, s[i:], true
		}
	}
	return toks, s[i:], true
}

// timeOfDay accepts what may follow a date: nothing, or a time of day such
// as 下午, 上午10点, 14:30, 3pm.
func timeOfDay(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return true
	}
	if len(s) > 40 {
		return false
	}
	for _, w := range []string{"上午", "下午", "中午", "晚上", "早上", "早晨", "凌晨", "傍晚", "夜里", "晚", "早", "左右", "许", "am", "pm", "点", "时", "分", "半", "钟"} {
		s = strings.ReplaceAll(s, w, "")
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r == ':' || r == ' ' || isChineseDigit(r)) {
			return false
		}
	}
	return true
}
