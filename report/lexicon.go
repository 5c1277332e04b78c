package report

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The words by which unlabelled text is recognised. They decide only where
// text without a label goes; anything they miss is kept in note.

// addressMarkers make text an address: 郝家店村3组, 钢花路社区5号楼.
var addressMarkers = []string{"村", "组", "号", "社区", "小区", "楼", "单元", "路", "街", "院", "巷", "弄", "栋", "室", "屯", "镇", "乡", "胡同", "大道", "公寓", "家属院", "宿舍"}

// englishAddressWords make Latin text an address: Haojiadian Village Group 2.
var englishAddressWords = []string{"village", "group", "road", "rd", "street", "st", "community", "building", "bldg", "unit", "room", "apt", "lane", "avenue", "ave", "no."}

// places are origins recognised without a label: provinces and the cities
// people most often return from. A place ending in 省 市 县 州 区 旗 盟 is
// recognised by that suffix.
var places = []string{
	"北京", "天津", "上海", "重庆", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
	"福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "四川", "贵州", "云南", "西藏",
	"陕西", "甘肃", "青海", "宁夏", "新疆", "香港", "澳门", "台湾",
	"武汉", "孝感", "黄冈", "荆州", "宜昌", "襄阳", "十堰", "随州", "咸宁", "鄂州", "黄石", "荆门", "恩施", "仙桃", "天门", "潜江",
	"郑州", "安阳", "信阳", "周口", "南阳", "洛阳", "新乡", "驻马店", "商丘", "开封", "许昌", "平顶山", "焦作", "鹤壁", "濮阳", "漯河", "三门峡", "济源",
	"广州", "深圳", "杭州", "南京", "苏州", "成都", "西安", "长沙", "合肥", "南昌", "济南", "青岛", "石家庄", "太原", "沈阳", "大连", "长春",
	"哈尔滨", "福州", "厦门", "昆明", "贵阳", "南宁", "兰州", "温州", "宁波", "东莞", "佛山", "无锡", "邯郸", "邢台", "聊城",
	"wuhan", "beijing", "shanghai", "guangzhou", "shenzhen", "xiaogan", "huanggang", "xinyang", "zhoukou", "zhengzhou", "anyang",
	"hubei", "henan", "hangzhou", "nanjing", "chengdu", "xian", "changsha", "chongqing", "tianjin",
}

// placeSuffixes make text an origin when nothing else claims it.
var placeSuffixes = []string{"省", "市", "县", "州", "区", "旗", "盟"}

// transportWords name how someone travelled.
var transportWords = []string{
	"自驾", "开车", "驾车", "火车", "高铁", "动车", "飞机", "航班", "大巴", "客车", "汽车", "私家车", "出租车",
	"步行", "摩托", "电动车", "长途车", "包车", "顺风车", "公交", "轮船",
	"car", "train", "flight", "bus", "drove", "plane", "taxi",
}

// symptomWords name symptoms of a fever case.
var symptomWords = []string{
	"咳嗽", "干咳", "乏力", "头痛", "头疼", "腹泻", "咽痛", "嗓子疼", "喉咙痛", "流涕", "流鼻涕", "鼻塞", "气促",
	"胸闷", "呼吸困难", "酸痛", "恶心", "呕吐", "无症状", "畏寒", "寒战", "发冷", "无力",
	"cough", "fatigue", "headache", "diarrhea", "sore throat", "chills",
}

// actionWords name what was done about a fever case.
var actionWords = []string{
	"送医", "就医", "就诊", "门诊", "隔离", "观察", "转运", "住院", "送往", "已送", "卫生院", "医院", "留观",
	"服药", "吃药", "退烧", "120", "已上报", "已报告", "诊所",
	"hospital", "clinic", "isolat", "quarantin", "observ",
}

// zeroWords in a daily report mean nothing happened: all counts are zero.
var zeroWords = map[string]bool{
	"无异常": true, "正常": true, "一切正常": true, "无": true, "没有": true, "无情况": true, "无新增": true,
	"零报告": true, "均无": true, "都没有": true, "无特殊情况": true, "平安": true,
	"没有发现异常": true, "未发现异常": true, "没发现异常": true, "无异常情况": true, "没有异常": true, "均正常": true,
	"情况正常": true, "无任何异常": true, "暂无异常": true, "未见异常": true, "没有异常情况": true, "一切平安": true,
	"0": true, "零": true, "无情况报告": true, "今日无异常": true, "全部正常": true,
	"nothing": true, "none": true, "normal": true, "all clear": true, "nil": true,
}

// zeroCounts maps "无返乡" style phrases in a daily report to the count they
// set to zero.
var zeroCounts = map[string]string{
	"返乡": "arrivals", "返乡人员": "arrivals", "新增返乡": "arrivals", "外来人员": "arrivals",
	"发热": "fevers", "发烧": "fevers", "发热人员": "fevers", "发热病人": "fevers",
	"婚丧": "gatherings", "婚丧嫁娶": "gatherings", "红白事": "gatherings", "聚集": "gatherings", "聚集活动": "gatherings",
}

// zeroCount recognises 无返乡, 无发热人员, 没有发热 and returns the count
// field they set to zero.
func zeroCount(s string) string {
	for _, p := range zeroPrefixes {
		if rest, ok := strings.CutPrefix(s, p); ok {
			rest = strings.TrimSuffix(rest, "的") // 没有发烧的
			return zeroCounts[rest]
		}
	}
	return ""
}

// zeroPrefixes say that nothing of a kind was found.
var zeroPrefixes = []string{"没有发现", "没发现", "暂未发现", "未发现", "没有新增", "无新增", "暂无", "没有", "无"}

// isZeroPhrase recognises 未发现异常情况, 没有发现任何异常: all counts zero.
func isZeroPhrase(s string) bool {
	if zeroWords[s] {
		return true
	}
	for _, p := range zeroPrefixes {
		if rest, ok := strings.CutPrefix(s, p); ok {
			switch rest {
			case "异常", "异常情况", "任何异常", "特殊情况", "任何情况", "情况":
				return true
			}
		}
	}
	return false
}

// isAddress reports whether unlabelled text is an address.
func isAddress(s string) bool {
	if hasHan(s) {
		return containsAny(s, addressMarkers)
	}
	lower := strings.ToLower(s)
	for _, w := range strings.Fields(lower) {
		for _, a := range englishAddressWords {
			if w == a {
				return true
			}
		}
	}
	return false
}

// isOriginPhrase recognises 从武汉返回, 来自武汉, 武汉返乡, 武汉回来.
func isOriginPhrase(s string) bool {
	if strings.HasPrefix(s, "来自") && len(s) > len("来自") {
		return true
	}
	for _, v := range []string{"返回", "返乡", "回来", "归来", "回乡"} {
		if strings.HasSuffix(s, v) && len(s) > len(v) {
			return true
		}
	}
	return strings.HasPrefix(s, "从") && len(s) > len("从") && isPlace(normalizeOrigin(s))
}

// isPlace reports whether text names a place people come from.
func isPlace(s string) bool {
	lower := strings.ToLower(s)
	for _, p := range places {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	if !hasHan(s) || utf8.RuneCountInString(s) > 12 {
		return false
	}
	for _, suf := range placeSuffixes {
		if strings.HasSuffix(s, suf) && !strings.HasSuffix(s, "社区") && !strings.HasSuffix(s, "小区") {
			return true
		}
	}
	return false
}

// notNames are short words of reports that have the shape of a name.
var notNames = map[string]bool{
	"简办": true, "从简": true, "简办简办": true, "取消": true, "已取消": true, "延期": true, "推迟": true, "劝导": true, "已劝导": true,
	"劝阻": true, "已劝阻": true, "登记": true, "已登记": true, "报备": true, "已报备": true, "正常": true, "隔离": true, "居家": true,
	"无": true, "暂无": true, "备注": true, "其他": true, "其它": true, "收到": true, "好的": true, "明白": true,
	"降温": true, "升温": true, "下雨": true, "下雪": true, "刮风": true, "天冷": true, "保暖": true, "注意": true,
	"开会": true, "辛苦": true, "大家": true, "谢谢": true, "通知": true,
}

// notInNames are characters of questions and chat that no name holds.
const notInNames = "吗呢吧啊呀么哪谁几怎什了的是在有没不要好"

// isName reports whether unlabelled text looks like a person's name: two
// to four Han characters (a middle dot allowed for longer names), or one
// to four capitalised Latin words.
func isName(s string) bool {
	if notNames[s] {
		return false
	}
	n := utf8.RuneCountInString(s)
	if hasHan(s) {
		if n < 2 || n > 8 {
			return false
		}
		for _, r := range s {
			if !unicode.Is(unicode.Han, r) && r != '·' || strings.ContainsRune(notInNames, r) {
				return false
			}
		}
		return n <= 4 || strings.ContainsRune(s, '·')
	}
	words := strings.Fields(s)
	if len(words) == 0 || len(words) > 4 {
		return false
	}
	for _, w := range words {
		r, _ := utf8.DecodeRuneInString(w)
		if !unicode.IsUpper(r) {
			return false
		}
		for _, c := range w {
			if !unicode.IsLetter(c) && c != '-' && c != '\'' {
				return false
			}
		}
	}
	return true
}

// hasHan reports whether s contains a Chinese character.
func hasHan(s string) bool {
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.Is(unicode.Han, r) {
			return true
		}
		i += size
	}
	return false
}

// isTrainOrFlight recognises G1234, D123次, CZ3456.
func isTrainOrFlight(s string) bool {
	s = strings.TrimSuffix(strings.ToUpper(s), "次")
	letters := 0
	for letters < len(s) && s[letters] >= 'A' && s[letters] <= 'Z' {
		letters++
	}
	digits := len(s) - letters
	if letters < 1 || letters > 2 || digits < 1 || digits > 4 {
		return false
	}
	for i := letters; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return letters == 2 && digits >= 3 || letters == 1 && strings.ContainsRune("GDCZTKYL", rune(s[0]))
}
