package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gridbot/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The project's transcripts are replayed with operator 7.
const replayOperator = "7"

// replayRun runs `gridbot replay` through run() and returns its output.
func replayRun(t *testing.T, env map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"replay"}, args...), func(k string) string { return env[k] }, strings.NewReader(stdin), &stdout, &stderr)
	if err != nil {
		return stdout.String(), fmt.Errorf("%w\nstderr:\n%s", err, stderr.String())
	}
	return stdout.String(), nil
}

// replayed caches each transcript's replay: the golden test and the
// invariants read the same output.
var replayed sync.Map // path → *replayResult

type replayResult struct {
	once sync.Once
	out  string
	err  error
}

func replayFile(t *testing.T, path string) string {
	t.Helper()
	v, _ := replayed.LoadOrStore(path, &replayResult{})
	r := v.(*replayResult)
	r.once.Do(func() { r.out, r.err = replayRun(t, nil, "", "--operators", replayOperator, path) })
	if r.err != nil {
		t.Fatalf("replay %s: %v", path, r.err)
	}
	return r.out
}

// firstDifference describes where two transcripts part.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return "no difference"
}

// TestReplayGolden replays every transcript under testdata/replay twice:
// the output is the same byte for byte, and the same as the golden file
// (go test -run TestReplayGolden -update rewrites them).
func TestReplayGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "replay", "*.jsonl"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no transcripts under testdata/replay: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			got := replayFile(t, in)
			again, err := replayRun(t, nil, "", "--operators", replayOperator, in)
			if err != nil {
				t.Fatal(err)
			}
			if again != got {
				t.Fatalf("two replays of the same input differ at %s", firstDifference(again, got))
			}
			golden := strings.TrimSuffix(in, ".jsonl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s at %s\n(run with -update if the change is intended, and read the diff)", in, golden, firstDifference(got, string(want)))
			}
		})
	}
}

// call is one line of a transcript.
type call struct {
	At        time.Time `json:"at"`
	Method    string    `json:"method"`
	ChatID    int64     `json:"chat_id"`
	UserID    int64     `json:"user_id"`
	MessageID int       `json:"message_id"`
	ReplyTo   int       `json:"reply_to"`
	Emoji     *string   `json:"emoji"`
	Text      string    `json:"text"`
	Buttons   []struct {
		Text, Data string
	} `json:"buttons"`
}

func parseTranscript(t *testing.T, out string) []call {
	t.Helper()
	var calls []call
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var c call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("transcript line %d: %v: %s", i+1, err, line)
		}
		calls = append(calls, c)
	}
	return calls
}

var (
	shanghai = func() *time.Location {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			panic(err)
		}
		return loc
	}()
	mentionRE = regexp.MustCompile(`tg://user\?id=(\d+)`)
	postRE    = regexp.MustCompile(`<b>([^<]+)</b> (每日汇总|今日统计) (\d{4}-\d{2}-\d{2})`)
	phoneRE   = regexp.MustCompile(`(^|\D)1[3-9]\d{9}($|\D)`)
	idRE      = regexp.MustCompile(`(^|\d)\d{17}[\dXx]`)
)

// weekModel is what the input of a transcript says about the rosters and
// the daily reports, independently of the bot: who is on each village's
// roster, who left, who filed today's daily report.
type weekModel struct {
	village  map[int64]string                       // chat → village
	roster   map[string]map[int64]bool              // village → user → on the roster (false: left)
	reported map[string]map[string]map[int64]int    // village → day → user → daily reports
	dailies  map[int64]map[int]struct{ user int64 } // chat → message id → a daily report's sender
}

func isDaily(text string) bool {
	for _, p := range []string{"#日报", "零报告", "#每日报告", "/daily"} {
		if strings.HasPrefix(text, p) {
			return true
		}
	}
	return false
}

// modelAt folds the events up to and including at.
func modelAt(events []*replayEvent, at time.Time) *weekModel {
	m := &weekModel{village: map[int64]string{}, roster: map[string]map[int64]bool{}, reported: map[string]map[string]map[int64]int{}, dailies: map[int64]map[int]struct{ user int64 }{}}
	day := func(t time.Time) string { return t.In(shanghai).Format(time.DateOnly) }
	count := func(v string, d string, user int64, n int) {
		if m.reported[v] == nil {
			m.reported[v] = map[string]map[int64]int{}
		}
		if m.reported[v][d] == nil {
			m.reported[v][d] = map[int64]int{}
		}
		m.reported[v][d][user] += n
	}
	for _, e := range events {
		if e.at.After(at) {
			break
		}
		switch {
		case e.Migrate != nil:
			m.village[e.Migrate.To] = m.village[e.Migrate.From]
		case e.Press != nil:
			v := m.village[e.Press.Chat.ID]
			if on, ok := m.roster[v][e.Press.From.ID]; ok && on && m.reported[v][day(e.at)][e.Press.From.ID] == 0 {
				count(v, day(e.at), e.Press.From.ID, 1) // the one-tap daily report
			}
		case e.Text != nil:
			text, chat, user := strings.TrimSpace(*e.Text), e.Chat.ID, e.From.ID
			if name, ok := strings.CutPrefix(text, "/bind village "); ok && strconv.FormatInt(user, 10) == replayOperator {
				m.village[chat] = name
				m.roster[name] = map[int64]bool{}
				continue
			}
			v, bound := m.village[chat]
			if !bound {
				continue
			}
			switch {
			case text == "/join":
				m.roster[v][user] = true
			case text == "/leave":
				if m.roster[v][user] {
					m.roster[v][user] = false
				}
			case isDaily(text) && !e.Edit:
				if _, ok := m.roster[v][user]; !ok {
					m.roster[v][user] = true // a daily report puts its sender on the roster
				}
				count(v, day(e.at), user, 1)
				if e.MessageID != 0 {
					if m.dailies[chat] == nil {
						m.dailies[chat] = map[int]struct{ user int64 }{}
					}
					m.dailies[chat][e.MessageID] = struct{ user int64 }{user}
				}
			case e.ReplyTo != 0 && (text == "撤销" || text == "/undo"):
				if d, ok := m.dailies[chat][e.ReplyTo]; ok && d.user == user {
					count(v, day(e.at), user, -1)
				}
			}
		}
	}
	return m
}

// missing lists, sorted, the roster members of a village without a daily
// report on day.
func (m *weekModel) missing(village, day string) []int64 {
	var out []int64
	for user, on := range m.roster[village] {
		if on && m.reported[village][day][user] == 0 {
			out = append(out, user)
		}
	}
	slices.Sort(out)
	return out
}

func readEvents(t *testing.T, path string) []*replayEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := newEventReader(f, shanghai)
	var events []*replayEvent
	for {
		e, err := r.peek()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			return events
		}
		r.next()
		events = append(events, e)
	}
}

// TestReplayWeek checks the week of three villages and the command group
// against what its input says, beyond the golden file: the scheduled
// posts come once, the reminders name exactly who is missing, no number
// is shown unmasked, and the restart, the edits, the withdrawals, the
// setting and the migration show in the evening's numbers.
func TestReplayWeek(t *testing.T) {
	const path = "testdata/replay/week.jsonl"
	events := readEvents(t, path)
	calls := parseTranscript(t, replayFile(t, path))
	final := modelAt(events, events[len(events)-1].at)
	day := func(c call) string { return c.At.In(shanghai).Format(time.DateOnly) }
	villages := []string{"北蒙社区", "相台村", "郝家店村"}
	week := []string{"2020-02-07", "2020-02-08", "2020-02-09", "2020-02-10", "2020-02-11", "2020-02-12", "2020-02-13"}

	type key struct{ village, day string }
	summaries, reminders, followUps := map[key][]call{}, map[key][]call{}, map[key][]call{}
	rollups := map[string][]call{}
	for _, c := range calls {
		// no phone or ID number in clear, anywhere
		if phoneRE.MatchString(c.Text) || idRE.MatchString(c.Text) {
			t.Errorf("%s %s shows a number unmasked:\n%s", c.At, c.Method, c.Text)
		}
		v := final.village[c.ChatID]
		switch {
		case (c.Method == "editMessageText" || c.Method == "sendMessage") && strings.Contains(c.Text, "<b>日报提醒</b>"):
			// a reminder, or one edited after a press: exactly who is missing now
			m := modelAt(events, c.At)
			var got []int64
			for _, id := range mentionRE.FindAllStringSubmatch(c.Text, -1) {
				n, _ := strconv.ParseInt(id[1], 10, 64)
				got = append(got, n)
			}
			slices.Sort(got)
			if want := m.missing(v, day(c)); !slices.Equal(got, want) {
				t.Errorf("%s %s in %s names %v; missing are %v:\n%s", c.At, c.Method, v, got, want, c.Text)
			}
			for _, id := range got {
				if !m.roster[v][id] {
					t.Errorf("%s the reminder in %s names %d, who is not on the roster (left)", c.At, v, id)
				}
			}
			if c.Method == "sendMessage" {
				reminders[key{v, day(c)}] = append(reminders[key{v, day(c)}], c)
			}
		case c.Method == "sendMessage" && strings.Contains(c.Text, "</b> 每日汇总"):
			p := postRE.FindStringSubmatch(c.Text)
			if p == nil || p[1] != v || p[3] != day(c) {
				t.Errorf("%s a summary in %s (%d) is not that village's of the day: %q", c.At, v, c.ChatID, c.Text)
				continue
			}
			summaries[key{v, day(c)}] = append(summaries[key{v, day(c)}], c)
		case c.Method == "sendMessage" && strings.Contains(c.Text, "<b>今日提示</b>"):
			followUps[key{v, day(c)}] = append(followUps[key{v, day(c)}], c)
		case c.Method == "sendMessage" && strings.Contains(c.Text, "<b>各村汇总</b>"):
			rollups[day(c)] = append(rollups[day(c)], c)
		}
	}

	for _, d := range week {
		if n := len(rollups[d]); n != 1 {
			t.Errorf("%s: %d roll-ups in the command group, want 1", d, n)
		}
		at17 := time.Date(2020, 2, 7, 17, 0, 0, 0, shanghai).AddDate(0, 0, slices.Index(week, d))
		m := modelAt(events, at17)
		for _, v := range villages {
			k := key{v, d}
			if n := len(summaries[k]); n != 1 {
				t.Errorf("%s %s: %d summaries, want exactly 1", d, v, n)
			}
			if n := len(followUps[k]); n > 1 {
				t.Errorf("%s %s: %d follow-ups, want at most 1", d, v, n)
			}
			want := 0
			if len(m.missing(v, d)) > 0 {
				want = 1
			}
			if n := len(reminders[k]); n != want {
				t.Errorf("%s %s: %d reminders; missing at 17:00: %v", d, v, n, m.missing(v, d))
			}
		}
	}

	one := func(k key, what string, list map[key][]call) call {
		t.Helper()
		if len(list[k]) != 1 {
			t.Fatalf("no single %s for %v", what, k)
		}
		return list[k][0]
	}
	wantIn := func(c call, subs ...string) {
		t.Helper()
		for _, s := range subs {
			if !strings.Contains(c.Text, s) {
				t.Errorf("%s %s lacks %q:\n%s", c.At, c.Method, s, c.Text)
			}
		}
	}
	wantNot := func(c call, subs ...string) {
		t.Helper()
		for _, s := range subs {
			if strings.Contains(c.Text, s) {
				t.Errorf("%s %s shows %q:\n%s", c.At, c.Method, s, c.Text)
			}
		}
	}
	at := func(c call, hhmm string) {
		t.Helper()
		if got := c.At.In(shanghai).Format("15:04"); got != hhmm {
			t.Errorf("%s came at %s, want %s", strings.SplitN(c.Text, "\n", 2)[0], got, hhmm)
		}
	}

	// the restart on the 10th: down 19:30–20:30, the 20:00 summaries come
	// at 20:30 marked late, with the report sent while it was down;
	// 北蒙社区's 20:30 one is on time
	for _, v := range []string{"郝家店村", "相台村"} {
		s := one(key{v, "2020-02-10"}, "summary", summaries)
		at(s, "20:30")
		if !strings.HasPrefix(s.Text, "（补发）") {
			t.Errorf("the summary caught up after the restart is not marked late:\n%s", s.Text)
		}
	}
	wantIn(one(key{"郝家店村", "2020-02-10"}, "summary", summaries), "陶十一", "返乡 1")
	bm := one(key{"北蒙社区", "2020-02-10"}, "summary", summaries)
	at(bm, "20:30")
	wantNot(bm, "补发")
	wantIn(bm, "日报 3/3")
	for k, list := range summaries {
		if k.day != "2020-02-10" && strings.Contains(list[0].Text, "补发") {
			t.Errorf("%v: a summary marked late without a restart", k)
		}
	}
	// /set summary 20:30 on the 8th, from that day on
	at(one(key{"北蒙社区", "2020-02-07"}, "summary", summaries), "20:00")
	for _, d := range week[1:] {
		at(one(key{"北蒙社区", d}, "summary", summaries), "20:30")
		at(one(key{"郝家店村", d}, "summary", summaries), map[bool]string{true: "20:30", false: "20:00"}[d == "2020-02-10"])
	}
	// withdrawals and edits in the evening's numbers
	wantIn(one(key{"郝家店村", "2020-02-07"}, "summary", summaries), "返乡 2｜", "日报 3/3")
	wantIn(one(key{"相台村", "2020-02-07"}, "summary", summaries), "返乡 0｜", "刘洋 38.5℃")
	h8 := one(key{"郝家店村", "2020-02-08"}, "summary", summaries)
	wantIn(h8, "钱七 37.9℃", "未报：孙网格")
	wantNot(h8, "38.9")
	wantIn(one(key{"北蒙社区", "2020-02-08"}, "summary", summaries), "发热 0｜", "返乡 3｜")
	wantNot(one(key{"北蒙社区", "2020-02-08"}, "summary", summaries), "孔八")
	// the observation of 张三 (arrived 28 Jan) ends on the 10th
	wantIn(one(key{"郝家店村", "2020-02-09"}, "summary", summaries), "明天解除：张三")
	wantIn(one(key{"郝家店村", "2020-02-10"}, "follow-up", followUps), "今天解除居家观察：张三")
	wantIn(one(key{"郝家店村", "2020-02-09"}, "follow-up", followUps), "丧事 马超")
	// the migration on the 9th: the evening goes to the supergroup, the
	// reports of the group before it still count, nothing is posted twice
	xt := one(key{"相台村", "2020-02-09"}, "summary", summaries)
	if xt.ChatID != -1001000000102 {
		t.Errorf("相台村's summary after the migration went to %d", xt.ChatID)
	}
	wantIn(xt, "日报 2/3", "何十")
	wantIn(rollups["2020-02-09"][0], "相台村：日报 2/3 返乡1") // partial: never ✅
	wantNot(rollups["2020-02-09"][0], "相台村：日报✅")
	for _, c := range calls {
		if c.ChatID == -4002 && c.At.After(time.Date(2020, 2, 9, 18, 0, 0, 0, shanghai)) {
			t.Errorf("%s %s to the group after it became a supergroup", c.At, c.Method)
		}
	}
	// three reports at once: one receipt
	merged := 0
	for _, c := range calls {
		if c.Method == "sendMessage" && c.ReplyTo != 0 && strings.Contains(c.Text, "朱九") && strings.Contains(c.Text, "朱妻") && strings.Contains(c.Text, "朱子") {
			merged++
		}
	}
	if merged != 1 {
		t.Errorf("%d messages carry the three receipts of 15:00 on the 8th, want one", merged)
	}
	// presses by someone not missing change nothing
	answers := map[int64][]string{}
	for _, c := range calls {
		if c.Method == "answerCallbackQuery" {
			answers[c.UserID] = append(answers[c.UserID], c.Text)
		}
	}
	if a := answers[1002]; len(a) != 1 || !strings.Contains(a[0], "已经报过") {
		t.Errorf("the press of someone who reported was answered %q", a)
	}
	if a := answers[1001]; len(a) != 1 || !strings.Contains(a[0], "不在日报名单") {
		t.Errorf("the press of someone not on the roster was answered %q", a)
	}
}

// TestReplayExamples replays the examples the README shows.
func TestReplayExamples(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.jsonl"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			out, err := replayRun(t, nil, "", "--operators", replayOperator, in)
			if err != nil {
				t.Fatal(err)
			}
			calls := parseTranscript(t, out)
			var kinds []string
			for _, c := range calls {
				for _, k := range []string{"已记录", "需要修改", "已撤销", "<b>日报提醒</b>", "</b> 每日汇总", "<b>今日提示</b>"} {
					if strings.Contains(c.Text, k) && !slices.Contains(kinds, k) {
						kinds = append(kinds, k)
					}
				}
			}
			if len(kinds) != 6 {
				t.Errorf("the example shows only %v of receipts, problems, withdrawals, reminders, summaries and follow-ups", kinds)
			}
			// the same through stdin
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			again, err := replayRun(t, map[string]string{"GRIDBOT_OPERATORS": replayOperator}, string(data), "-")
			if err != nil {
				t.Fatal(err)
			}
			if again != out {
				t.Errorf("replaying from stdin, operators from the environment, differs at %s", firstDifference(again, out))
			}
		})
	}
}

// TestReplayStore keeps a --db given, and removes the temporary one.
func TestReplayStore(t *testing.T) {
	const in = `{"at": "2020-02-07 09:00", "chat": {"id": -100101, "title": "郝家店村群"}, "from": {"id": 7, "name": "运营"}, "text": "/bind village 郝家店村"}`
	db := t.TempDir()
	if _, err := replayRun(t, nil, in, "--db", db, "--operators", "7", "-"); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	b, ok, err := st.Binding(context.Background(), -100101)
	st.Close()
	if err != nil || !ok || b.Name != "郝家店村" {
		t.Errorf("the binding is not in the store given: %+v %v %v", b, ok, err)
	}

	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the temporary store goes
	if _, err := replayRun(t, nil, in, "--operators", "7", "-"); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the temporary store was left behind: %v", left)
	}
}

// TestReplayRejects names the line and the problem of bad input.
func TestReplayRejects(t *testing.T) {
	const (
		bind  = `{"at": "2020-02-07T09:00:00+08:00", "chat": {"id": -100101}, "from": {"id": 7, "name": "运营"}, "text": "/bind village 郝家店村"}` + "\n"
		other = `{"at": "2020-02-07T09:01:00+08:00", "chat": {"id": -100101}, "from": {"id": 8, "name": "李"}, "message_id": 5, "text": "零报告"}` + "\n"
	)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"back in time", bind + `{"at": "2020-02-07T08:00:00+08:00"}`, "line 2: at 2020-02-07T08:00:00+08:00 goes back in time"},
		{"unknown field", `{"at": "2020-02-07T08:00:00+08:00", "txt": "hi"}`, `line 1: json: unknown field "txt"`},
		{"no at", `{"restart": true}`, `line 1: every event needs "at"`},
		{"bad at", `{"at": "yesterday"}`, `line 1: at "yesterday"`},
		{"not json", "# a comment\n\n{at}", "line 3:"},
		{"two events", `{"at": "2020-02-07 09:00", "restart": true, "down": true}`, "line 1: one event a line"},
		{"message without from", `{"at": "2020-02-07 09:00", "chat": {"id": -1}, "text": "hi"}`, `line 1: a message needs "chat"`},
		{"no button", bind + `{"at": "2020-02-07 09:05", "press": {"chat": {"id": -100101}, "from": {"id": 8}, "data": "daily"}}`, `line 2: press: no message of the bot in chat -100101 has a button "daily"`},
		{"edit of nothing", bind + `{"at": "2020-02-07 09:05", "chat": {"id": -100101}, "from": {"id": 8}, "message_id": 9, "edit": true, "text": "零报告"}`, "line 2: edit: user 8 sent no message 9 in chat -100101"},
		{"edit by another", bind + other + `{"at": "2020-02-07 09:05", "chat": {"id": -100101}, "from": {"id": 9}, "message_id": 5, "edit": true, "text": "x"}`, "line 3: edit: user 9 sent no message 5"},
		{"reply to nothing", bind + `{"at": "2020-02-07 09:05", "chat": {"id": -100101}, "from": {"id": 8}, "reply_to": 77, "text": "撤销"}`, "line 2: reply_to 77: chat -100101 has no such message"},
		{"id taken", bind + other + `{"at": "2020-02-07 09:05", "chat": {"id": -100101}, "from": {"id": 8}, "message_id": 5, "text": "零报告"}`, "line 3: message_id 5 is taken"},
		{"down twice", `{"at": "2020-02-07 09:05", "down": true}` + "\n" + `{"at": "2020-02-07 09:06", "down": true}`, "line 2: down: the process is down already"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := replayRun(t, nil, tc.in, "--operators", "7", "-")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	if _, err := replayRun(t, nil, "", "--operators", "7"); err == nil || !strings.Contains(err.Error(), "one input file") {
		t.Errorf("no file: %v", err)
	}
}
