package report

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// examples are the sample values templates and messages show, per field.
var examples = map[string][2]string{ // zh, en
	"name":        {"张三", "Zhang San"},
	"gender":      {"男", "male"},
	"age":         {"35", "35"},
	"phone":       {"13812345678", "13812345678"},
	"id_number":   {"11010519491231002X", "11010519491231002X"},
	"origin":      {"湖北武汉", "Wuhan"},
	"arrived_on":  {"2月5日", "2020-02-05"},
	"address":     {"郝家店村3组12号", "Haojiadian Village Group 3 No. 12"},
	"transport":   {"自驾", "car"},
	"companions":  {"2", "2"},
	"temperature": {"38.5", "38.5"},
	"symptoms":    {"咳嗽、乏力", "cough"},
	"action":      {"居家观察", "home observation"},
	"type":        {"婚礼", "wedding"},
	"host":        {"马超", "Ma Chao"},
	"date":        {"2月15日", "2020-02-15"},
	"guests":      {"30", "30"},
	"tables":      {"3", "3"},
	"landlord":    {"何明", "He Ming"},
	"moved_in":    {"2月3日", "2020-02-03"},
	"households":  {"120", "120"},
	"arrivals":    {"0", "0"},
	"fevers":      {"0", "0"},
	"gatherings":  {"0", "0"},
	"result":      {"已退烧", "recovered"},
	"note":        {"无", "none"},
}

// nouns name fields in messages where the label does not read as a noun.
var nouns = map[string][2]string{
	"origin": {"来源地", "origin"},
}

// Pick returns the Chinese or the English of a text, by the language.
func (l Lang) Pick(zh, en string) string {
	if l == En {
		return en
	}
	return zh
}

// Label returns the label the bot writes for a field in a language.
func Label(field string, lang Lang) string {
	f, ok := tables.fieldByName[field]
	if !ok {
		return field
	}
	if lang == En {
		return f.En
	}
	return f.Zh
}

// KindName returns what the bot calls a kind: 返乡登记, arrival.
func KindName(k Kind, lang Lang) string {
	spec, ok := tables.kindByKind[k]
	if !ok {
		return string(k)
	}
	if lang == En {
		return spec.En
	}
	return spec.Zh
}

// kindExamples override a field's sample value in one kind's template:
// a follow-up's reading is a normal one.
var kindExamples = map[Kind]map[string][2]string{
	Followup: {"temperature": {"36.8", "36.8"}},
}

// kindExample is the sample value of a field in a kind's template.
func kindExample(k Kind, field string, lang Lang) string {
	if e, ok := kindExamples[k][field]; ok {
		return lang.Pick(e[0], e[1])
	}
	return example(field, lang)
}

func example(field string, lang Lang) string {
	e := examples[field]
	if lang == En {
		return e[1]
	}
	return e[0]
}

// message renders a problem or warning. args are code-specific: the value
// as typed (already quoted), then a detail.
func message(lang Lang, code, field string, args ...string) string {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	label := Label(field, lang)
	ex := label + "：" + example(field, lang)
	if lang == En {
		ex = label + ": " + example(field, lang)
	}
	if n, ok := nouns[field]; ok { // 缺少来源地, not 缺少来自
		label = n[0]
		if lang == En {
			label = n[1]
		}
	}
	zh := lang != En
	switch code {
	case CodeMissing:
		if zh {
			return "缺少" + label + "，例如 " + ex
		}
		return label + " is missing, e.g. " + ex
	case CodeInvalidPhone:
		if zh {
			return label + arg(0) + "不是有效号码：手机号是1开头的11位数字，座机要带区号，例如 " + ex + " 或 0372-5123456"
		}
		return label + " " + arg(0) + " is not a valid number: a mobile has 11 digits starting with 1, a landline needs its area code, e.g. " + ex + " or 0372-5123456"
	case CodeInvalidIDNumber:
		var why string
		switch idProblem(arg(1)) {
		case idLength:
			why = pick(zh, "应为18位（前17位是数字，最后一位是数字或X）", "must have 18 characters: 17 digits and a digit or X")
		case idRegion:
			why = pick(zh, "前两位不是有效的地区代码", "does not start with a valid region code")
		case idBirthDate:
			why = pick(zh, "中的出生日期（第7到14位）不是有效日期", "holds no valid birth date in characters 7 to 14")
		default:
			why = pick(zh, "校验位（最后一位）不对，请逐位核对", "has a wrong check digit (the last character): please check every digit")
		}
		if zh {
			return label + arg(0) + why + "，例如 " + ex
		}
		return label + " " + arg(0) + " " + why + ", e.g. " + ex
	case CodeInvalidTemperature:
		if zh {
			return label + arg(0) + "不在35.0–42.5℃之间，请检查小数点，例如 " + ex
		}
		return label + " " + arg(0) + " is not between 35.0 and 42.5 °C: check the decimal point, e.g. " + ex
	case CodeInvalidDate:
		if zh {
			return label + arg(0) + "不是有效日期，例如 " + ex + " 或 2020-02-05、昨天"
		}
		return label + " " + arg(0) + " is not a valid date, e.g. " + ex + " or yesterday"
	case CodeInvalidGender:
		if zh {
			return label + arg(0) + "只能填 男 或 女"
		}
		return label + " " + arg(0) + " must be male or female"
	case CodeInvalidNumber:
		if zh {
			return label + arg(0) + "应为" + arg(1) + "之间的整数，例如 " + ex
		}
		return label + " " + arg(0) + " must be a whole number in " + arg(1) + ", e.g. " + ex
	case CodeInvalidResult:
		if zh {
			return label + arg(0) + "只能填 已退烧、仍发热、已送医 或 解除观察"
		}
		return label + " " + arg(0) + " must be recovered, still fever, hospital or released"
	case WarnBelowThreshold:
		if zh {
			return "体温" + arg(0) + "℃低于发热标准37.3℃，已记录，请核实"
		}
		return "temperature " + arg(0) + " °C is below the fever threshold of 37.3 °C; recorded, please check"
	case WarnFutureDate:
		if zh {
			return label + arg(0) + "在今天之后，已记录，请核实"
		}
		return label + " " + arg(0) + " is after today; recorded, please check"
	case WarnPastDate:
		if zh {
			return label + arg(0) + "已经过去，已记录；如果日期写错了，请改正"
		}
		return label + " " + arg(0) + " has passed; recorded; correct it if the date is wrong"
	case WarnAboveThreshold:
		if zh {
			return "规模超过50人或5桌，按规定须提前报备审批，请联系村委"
		}
		return "more than 50 guests or 5 tables: this gathering must be approved in advance; contact the village committee"
	case WarnAgeMismatch:
		if zh {
			return "年龄" + arg(0) + "与身份证上的出生日期（" + arg(1) + "岁）不符，请核实"
		}
		return "age " + arg(0) + " does not match the birth date in the ID number (" + arg(1) + "); please check"
	case WarnUnknownField:
		if zh {
			return "“" + field + "”不是这类报告的栏目，已放入备注"
		}
		return "“" + field + "” is not a field of this report; kept in the note"
	case WarnDuplicateField:
		if zh {
			return label + "填了不止一次，后面的已放入备注"
		}
		return label + " was given more than once; the later one is kept in the note"
	case CodeMaskedNumber: // also WarnMaskedNumber, by the field being optional
		if zh {
			return label + arg(0) + "带星号，是机器人隐藏过的号码，请填写完整号码"
		}
		return label + " " + arg(0) + " has stars: the bot hid part of it; please type the full number"
	case CodeTemplateSample:
		if zh {
			return arg(0) + "是模板里的示例，请把示例换成真实的姓名、电话等再发送"
		}
		return arg(0) + " is the template's sample: replace the sample values with the real ones and send again"
	case WarnLabelReadAs:
		if zh {
			return "“" + arg(0) + "”已按“" + label + "”登记，请核对"
		}
		return "read “" + arg(0) + "” as “" + label + "”; please check"
	case WarnNoCounts:
		if zh {
			return "没有填写数字，已按零报告（无异常）记录"
		}
		return "no numbers given: recorded as a zero report"
	}
	return code
}

func pick(zh bool, a, b string) string {
	if zh {
		return a
	}
	return b
}

// quote shows a user's value in a message, shortened to 24 characters,
// with anything like a phone or ID number masked: messages are posted to
// groups.
func quote(s string) string {
	s = MaskText(s)
	if utf8.RuneCountInString(s) > 24 {
		r := []rune(s)
		s = string(r[:24]) + "…"
	}
	return "“" + s + "”"
}

func itoa(n int) string { return strconv.Itoa(n) }

// atoi reads a canonical integer field; 0 when absent or malformed.
func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return n
}
