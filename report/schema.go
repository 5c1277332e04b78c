// Package report is gridbot's domain: the kinds of grid report, their
// fields, how a message typed by a grid worker becomes a checked Report, and
// the texts the bot answers with, in Chinese and English.
//
// It is pure: no I/O, no clock of its own (the caller passes Context.Now),
// no Telegram. The schema below is the single table everything else reads:
// adding a field, a label or a trigger is one line.
package report

import "strings"

// Kind names a kind of report. The empty Kind means the message is not a
// report at all (ordinary chat).
type Kind string

// The kinds of report. Their string values are the contract shared with
// exports, the store and `gridbot parse`.
const (
	None      Kind = ""
	Arrival   Kind = "arrival"
	Fever     Kind = "fever"
	Gathering Kind = "gathering"
	Tenant    Kind = "tenant"
	Daily     Kind = "daily"
	Followup  Kind = "followup"
)

// Kinds lists every kind in the order they are presented to users.
func Kinds() []Kind { return []Kind{Arrival, Fever, Gathering, Tenant, Daily, Followup} }

// ValueType says how a field's value is checked and normalised.
type ValueType int

// Value types. Their canonical text forms are documented on each.
const (
	Text           ValueType = iota // trimmed text
	Int                             // decimal integer, e.g. "35"
	Phone                           // "13812345678" or "0372-5123456"
	IDNumber                        // 18 characters, check digit verified, "X" upper case
	Temperature                     // degrees Celsius with one decimal, e.g. "38.5"
	DateValue                       // "2020-02-05"
	Gender                          // "male" or "female"
	GatheringType                   // "wedding", "funeral" or "other"
	FollowupResult                  // "recovered", "still_fever", "hospital" or "released"
)

// Field describes one canonical field.
type Field struct {
	Name     string
	Type     ValueType
	Min, Max int    // bounds of an Int
	Zh, En   string // the label used when the bot writes the field
	// Labels are the extra aliases users type, Chinese and English,
	// matched case-insensitively. Zh, En and Name are labels too.
	Labels string
	// Assigned fields are filled in by the bot, not typed by users:
	// templates and hints leave them out.
	Assigned bool
}

// fields is the table of every field. Labels are space-separated.
var fields = []Field{
	{Name: "name", Type: Text, Zh: "姓名", En: "name", Labels: "名字 租户 人员 租客 tenant"},
	{Name: "gender", Type: Gender, Zh: "性别", En: "gender", Labels: "sex"},
	{Name: "age", Type: Int, Min: 0, Max: 120, Zh: "年龄", En: "age", Labels: "岁数"},
	{Name: "phone", Type: Phone, Zh: "电话", En: "phone", Labels: "手机 手机号 手机号码 电话号码 联系电话 联系方式 tel mobile"},
	{Name: "id_number", Type: IDNumber, Zh: "身份证", En: "id", Labels: "身份证号 身份证号码 证件号 证件号码 idcard"},
	{Name: "origin", Type: Text, Zh: "来自", En: "from", Labels: "从 来源地 出发地 返回地 来源 origin"},
	{Name: "arrived_on", Type: DateValue, Zh: "返回日期", En: "arrived", Labels: "返乡日期 到达日期 到家 到家日期 抵达 抵达日期 返回时间 返乡时间 到达时间"},
	{Name: "address", Type: Text, Zh: "住址", En: "address", Labels: "地址 地点 现住址 居住地 住所 家庭住址 居住地址 addr"},
	{Name: "transport", Type: Text, Zh: "交通方式", En: "transport", Labels: "交通 车次 航班 交通工具"},
	{Name: "companions", Type: Int, Min: 0, Max: 1000, Zh: "同行人数", En: "companions", Labels: "同行"},
	{Name: "temperature", Type: Temperature, Zh: "体温", En: "temperature", Labels: "温度 temp"},
	{Name: "symptoms", Type: Text, Zh: "症状", En: "symptoms", Labels: "表现"},
	{Name: "action", Type: Text, Zh: "处置", En: "action", Labels: "措施 处理 处置情况 处理情况"},
	{Name: "type", Type: GatheringType, Zh: "类型", En: "type", Labels: "事由 事项"},
	{Name: "host", Type: Text, Zh: "事主", En: "host", Labels: "主家 户主 办事人"},
	{Name: "date", Type: DateValue, Zh: "办事日期", En: "date", Labels: "时间"},
	{Name: "guests", Type: Int, Min: 1, Max: 100000, Zh: "人数", En: "guests", Labels: "规模 预计人数 参加人数 来客 宾客 客人 来客人数 宾客人数 客人数 到场人数"},
	{Name: "tables", Type: Int, Min: 1, Max: 10000, Zh: "桌数", En: "tables"},
	{Name: "landlord", Type: Text, Zh: "房东", En: "landlord", Labels: "房主"},
	{Name: "moved_in", Type: DateValue, Zh: "入住日期", En: "moved_in", Labels: "入住 租住日期 入住时间"},
	{Name: "households", Type: Int, Min: 0, Max: 1000000, Zh: "排查户数", En: "households", Labels: "排查 走访户数 走访 排查户 入户排查 入户走访 入户 摸排 摸排户数 排查了 走访了 共排查 共走访"},
	{Name: "arrivals", Type: Int, Min: 0, Max: 1000000, Zh: "返乡人数", En: "arrivals", Labels: "新增返乡 返乡 返乡人员"},
	{Name: "fevers", Type: Int, Min: 0, Max: 1000000, Zh: "发热人数", En: "fevers", Labels: "发热 发烧 发热人员"},
	{Name: "gatherings", Type: Int, Min: 0, Max: 1000000, Zh: "婚丧", En: "gatherings", Labels: "婚丧嫁娶 红白事 婚丧事"},
	{Name: "pass", Type: Text, Zh: "出入证编号", En: "pass", Labels: "出入证 出入证号 通行证编号", Assigned: true},
	{Name: "result", Type: FollowupResult, Zh: "结果", En: "result", Labels: "回访结果 复查结果 转归 outcome"},
	{Name: "note", Type: Text, Zh: "备注", En: "note", Labels: "说明 其他 notes remark"},
}

// looseLabels are labels as people write them when they are not the
// form's: questions copied from a notice (从哪里返回：) and same-sound
// typos of an input method (姓命, 电活, 往址). They are read as the field
// named, with a warning naming it. Questions need a ":" or a value on the
// next word; they never run into their value.
var looseLabels = []struct {
	field    string
	question bool
	labels   string
}{
	{"origin", true, "从哪里返回 从哪里回来 从哪来 从哪里来 从哪儿来 从哪回来 从哪返回 哪里返回 哪里回来 从何处返回 从何地返回 来自哪里 哪里来的 从哪来的 从哪里来的 从哪里返乡 从哪返乡"},
	{"arrived_on", true, "哪天回来的 哪天回来 哪天到的 哪天到家 什么时候回来 什么时候回来的 什么时候到的 什么时间回来 几号回来 几号回来的 几号到的 何时返回 何时到达 何时返乡 哪天返回 哪天返乡"},
	{"address", true, "住哪 住哪里 住哪儿 住在哪 住在哪里 家住哪 家住哪里 现住哪里 现住哪 住址在哪 住哪个村"},
	{"guests", true, "几个人 多少人 来多少人 来几个人 有多少人 参加人数多少 请了多少人 多少客人"},
	{"tables", true, "几桌 多少桌 摆几桌 摆多少桌"},
	{"name", true, "叫什么 叫什么名字 什么名字 姓名是"},
	{"phone", true, "电话多少 手机多少 电话号码多少 联系电话多少 手机号多少 电话是多少 手机号是多少"},
	{"age", true, "几岁 多大 多少岁 年龄多大 多大年纪"},
	{"temperature", true, "体温多少 多少度 烧多少度 体温是多少 量体温"},
	{"moved_in", true, "哪天入住 什么时候入住 几号入住 哪天搬来 何时入住 什么时候搬来的"},
	{"date", true, "哪天办 什么时候办 几号办 哪天办事 什么时候办事"},
	{"host", true, "谁家 事主是谁 谁家办事"},
	{"transport", true, "怎么回来的 怎么回来 坐什么回来的 怎么来的"},
	{"companions", true, "几人同行 同行几人 同行几个人 同行人员几人 几个人同行"},
	{"name", false, "姓命 性名 姓明 姓铭 名子 性命"},
	{"phone", false, "电活 电化 点话 店话 电发 电语 手几 收机 联系电活 电话号吗 手机号吗 手机号马 电舍"},
	{"address", false, "往址 住扯 住止 主址 住趾 地扯 住只 注址 驻址 祝址 往扯 地止 住祉"},
	{"id_number", false, "身分证 身份正 生份证 省份证 身分证号 身份证吗 身份证号吗 身份怔"},
	{"age", false, "年令 年玲 年临"},
	{"gender", false, "姓别 性另 性列"},
	{"origin", false, "来字 来之 来至"},
	{"temperature", false, "体问 体稳 休温 提温 体瘟 体文"},
	{"arrived_on", false, "返回曰期 到达曰期 返乡曰期 返回日其 返回时问"},
}

// genericDate labels fill whichever date field the kind has.
const genericDateLabels = "日期 date 日子"

// KindSpec describes one kind of report.
type KindSpec struct {
	Kind     Kind
	Zh, En   string // what the bot calls it: "返乡登记", "arrival"
	Triggers string // space-separated, matched at the start of a message
	Required []string
	Optional []string
	// DateField is the field a generic or unlabelled date fills.
	DateField string
	// NameField is the field an unlabelled person's name fills.
	NameField string
	// Implied holds field values a trigger implies (丧事 → type funeral).
	Implied map[string]map[string]string
	// Template lists the fields a fill-in template shows when they are
	// not simply the required ones.
	Template []string
}

// kinds is the table of every kind.
var kinds = []KindSpec{
	{
		Kind: Arrival, Zh: "返乡登记", En: "arrival",
		Triggers:  "返乡 返安 返回 外地返回 来访 到访 外来 arrival",
		Required:  []string{"name", "phone", "origin", "arrived_on", "address"},
		Optional:  []string{"gender", "age", "id_number", "transport", "companions", "note"},
		DateField: "arrived_on", NameField: "name",
	},
	{
		Kind: Fever, Zh: "发热报告", En: "fever",
		Triggers:  "发热 发烧 体温异常 高烧 fever",
		Required:  []string{"name", "temperature", "address"},
		Optional:  []string{"phone", "gender", "age", "symptoms", "action", "note"},
		NameField: "name",
	},
	{
		Kind: Gathering, Zh: "婚丧报备", En: "gathering",
		Triggers:  "婚丧 婚丧嫁娶 红白事 喜事 丧事 白事 婚事 婚礼 葬礼 gathering wedding funeral",
		Required:  []string{"type", "host", "date", "address", "guests"},
		Optional:  []string{"phone", "tables", "note"},
		DateField: "date", NameField: "host",
		Implied: map[string]map[string]string{
			"喜事": {"type": "wedding"}, "婚事": {"type": "wedding"}, "婚礼": {"type": "wedding"}, "wedding": {"type": "wedding"},
			"丧事": {"type": "funeral"}, "白事": {"type": "funeral"}, "葬礼": {"type": "funeral"}, "funeral": {"type": "funeral"},
		},
	},
	{
		Kind: Tenant, Zh: "租户登记", En: "tenant",
		Triggers:  "租户 租房 流动人口 出租 租客 tenant",
		Required:  []string{"name", "phone", "address", "moved_in"},
		Optional:  []string{"landlord", "id_number", "origin", "gender", "age", "pass", "note"},
		DateField: "moved_in", NameField: "name",
	},
	{
		Kind: Daily, Zh: "日报", En: "daily",
		Triggers: "日报 零报告 每日报告 每日上报 daily",
		Optional: []string{"households", "arrivals", "fevers", "gatherings", "note"},
		Implied: map[string]map[string]string{
			"零报告": {"arrivals": "0", "fevers": "0", "gatherings": "0"},
		},
	},
	{
		Kind: Followup, Zh: "回访", En: "followup",
		Triggers:  "回访 复查 复测 解除观察 随访 followup",
		Required:  []string{"name"},
		Optional:  []string{"temperature", "result", "phone", "address", "note"},
		NameField: "name",
		Template:  []string{"name", "temperature", "result"},
		Implied: map[string]map[string]string{
			"解除观察": {"result": "released"},
		},
	},
}

// triggerSuffixes may follow a trigger, alone or combined (返乡人员登记).
var triggerSuffixes = []string{"登记", "报告", "报备", "人员", "情况", "信息", "上报", "统计", "病例", "患者", "名单", "表"}

// schema holds the lookup structures built once from the tables above.
type schema struct {
	fieldByName map[string]*Field
	kindByKind  map[Kind]*KindSpec
	// labels maps a lower-cased label to the field names it may mean; the
	// first that belongs to the report's kind wins. "@date" stands for the
	// kind's DateField.
	labels        map[string][]string
	maxLabelRunes int
	// loose marks the labels of looseLabels: true for a question.
	loose          map[string]bool
	triggers       map[string]Kind
	maxTriggerRune int
	// allowed[kind][field] is true when the field belongs to the kind.
	allowed map[Kind]map[string]bool
}

var tables = buildSchema()

func buildSchema() *schema {
	s := &schema{
		fieldByName: map[string]*Field{},
		kindByKind:  map[Kind]*KindSpec{},
		labels:      map[string][]string{},
		triggers:    map[string]Kind{},
		allowed:     map[Kind]map[string]bool{},
		loose:       map[string]bool{},
	}
	addLabel := func(label, field string) {
		label = strings.ToLower(label)
		for _, f := range s.labels[label] {
			if f == field {
				return
			}
		}
		s.labels[label] = append(s.labels[label], field)
		if n := len([]rune(label)); n > s.maxLabelRunes {
			s.maxLabelRunes = n
		}
	}
	for i := range fields {
		f := &fields[i]
		s.fieldByName[f.Name] = f
		addLabel(f.Name, f.Name)
		addLabel(f.Zh, f.Name)
		addLabel(f.En, f.Name)
		for _, l := range strings.Fields(f.Labels) {
			addLabel(l, f.Name)
		}
	}
	for _, l := range strings.Fields(genericDateLabels) {
		addLabel(l, "@date")
	}
	for _, group := range looseLabels {
		for _, l := range strings.Fields(group.labels) {
			addLabel(l, group.field)
			s.loose[l] = group.question
		}
	}
	for i := range kinds {
		k := &kinds[i]
		s.kindByKind[k.Kind] = k
		allowed := map[string]bool{}
		for _, f := range k.Required {
			allowed[f] = true
		}
		for _, f := range k.Optional {
			allowed[f] = true
		}
		s.allowed[k.Kind] = allowed
		for _, t := range strings.Fields(k.Triggers) {
			s.triggers[strings.ToLower(t)] = k.Kind
			if n := len([]rune(t)); n > s.maxTriggerRune {
				s.maxTriggerRune = n
			}
		}
	}
	return s
}

// Spec returns the description of a kind, or false for an unknown kind.
func Spec(k Kind) (KindSpec, bool) {
	spec, ok := tables.kindByKind[k]
	if !ok {
		return KindSpec{}, false
	}
	return *spec, true
}

// FieldSpec returns the description of a canonical field.
func FieldSpec(name string) (Field, bool) {
	f, ok := tables.fieldByName[name]
	if !ok {
		return Field{}, false
	}
	return *f, true
}

// Fields returns the canonical fields of a kind in presentation order:
// required first, then optional.
func (k KindSpec) Fields() []string {
	out := make([]string, 0, len(k.Required)+len(k.Optional))
	out = append(out, k.Required...)
	return append(out, k.Optional...)
}

// resolveLabel picks the field a label means in a kind, or "".
func (s *schema) resolveLabel(kind Kind, label string) string {
	spec := s.kindByKind[kind]
	for _, f := range s.labels[label] {
		if f == "@date" {
			if spec.DateField != "" {
				return spec.DateField
			}
			continue
		}
		if s.allowed[kind][f] {
			return f
		}
	}
	// Aliases that make sense across kinds: a gathering's "name" is its
	// host, a tenant's "房东" label is already its landlord.
	for _, f := range s.labels[label] {
		if f == "name" && spec.NameField != "" && s.allowed[kind][spec.NameField] {
			return spec.NameField
		}
	}
	return ""
}

// isLabel reports whether a lower-cased word is a label of any field.
func (s *schema) isLabel(label string) bool {
	_, ok := s.labels[label]
	return ok
}
