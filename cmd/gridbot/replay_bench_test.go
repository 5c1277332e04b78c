package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"gridbot/handlers"
	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

// The simulated day of the benchmarks: 300 villages of 40 grid workers in
// one subdistrict, and its command group.
const (
	dayVillages = 300
	dayWorkers  = 40
	dayOthers   = 5_000 // arrivals, fevers, gatherings, tenants
	dayOnTime   = 36    // workers per village who report before the 17:00 reminder
	dayOperator = 7
)

var dayDate = time.Date(2020, 2, 10, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))

func dayChat(v int) int64      { return -1001000100000 - int64(v) }
func dayWorker(v, w int) int64 { return 100_000 + int64(v)*100 + int64(w) }
func dayWorkerName(w int) string {
	return []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄"}[w%8] + fmt.Sprintf("网格%02d", w)
}
func dayVillageName(v int) string { return fmt.Sprintf("第%03d村", v) }

const dayCommand = -1001000100999

// seedDay writes the subdistrict as it stands the evening before: every
// village and the command group bound, every grid worker on the roster.
func seedDay(tb testing.TB, db string) {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	before := dayDate.Add(-24 * time.Hour)
	var c store.Changes
	c.Bindings = append(c.Bindings, store.Binding{Chat: dayCommand, Role: store.RoleCommand, Name: "城关街道指挥部", By: dayOperator, At: before})
	for v := range dayVillages {
		c.Bindings = append(c.Bindings, store.Binding{Chat: dayChat(v), Role: store.RoleVillage, Name: dayVillageName(v), By: dayOperator, At: before})
	}
	if _, err := st.Commit(ctx, c); err != nil {
		tb.Fatal(err)
	}
	for v := range dayVillages {
		var c store.Changes
		for w := range dayWorkers {
			c.Members = append(c.Members, store.Member{Chat: dayChat(v), UserID: dayWorker(v, w), Name: dayWorkerName(w), At: before})
		}
		if _, err := st.Commit(ctx, c); err != nil {
			tb.Fatal(err)
		}
	}
}

// dayInput is the replay input of the day: 12,000 daily reports (most by
// text before 17:00, the rest after the reminder, half of those with its
// button), 5,000 other reports during the day, and time running to 21:00
// for the reminders, summaries and the roll-up.
func dayInput() []byte {
	type event struct {
		at   time.Duration // since midnight
		line string
	}
	var events []event
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	msg := func(at time.Duration, v, w int, text string) {
		events = append(events, event{at, fmt.Sprintf(`{"at": %q, "chat": {"id": %d, "type": "supergroup"}, "from": {"id": %d, "name": %s}, "text": %s}`,
			dayDate.Add(at).Format(time.RFC3339), dayChat(v), dayWorker(v, w), str(dayWorkerName(w)), str(text))})
	}
	for k := range dayOthers {
		v, w := k%dayVillages, k*7%dayWorkers
		at := 8*time.Hour + time.Duration(k)*8*time.Hour/dayOthers
		phone := fmt.Sprintf("13%d%08d", 5+k%5, k*7919%100_000_000)
		var text string
		switch k % 10 {
		case 0, 1, 2, 3, 4:
			text = fmt.Sprintf("#返乡 返乡人%04d %s 从武汉返回 昨天 %s%d组%d号", k, phone, dayVillageName(v), k%9+1, k%40+1)
		case 5, 6:
			text = fmt.Sprintf("#发热 姓名:发热人%04d 体温:38.%d 住址:%s%d组 症状:咳嗽", k, k%10, dayVillageName(v), k%9+1)
		case 7:
			text = fmt.Sprintf("#婚丧 丧事 事主:事主%04d 日期:后天 地点:%s%d组 %d人", k, dayVillageName(v), k%9+1, 10+k%60)
		case 8:
			text = fmt.Sprintf("#租户 租户%04d %s %s%d组%d号 入住今天 房东:房东%d", k, phone, dayVillageName(v), k%9+1, k%40+1, k%50)
		default:
			text = fmt.Sprintf("#发热 姓名:病人%04d 体温:385", k) // a typo and no address: the bot asks for a fix
		}
		msg(at, v, w, text)
	}
	onTime := dayVillages * dayOnTime
	for v := range dayVillages {
		for w := range dayWorkers {
			switch {
			case w < dayOnTime:
				at := 12*time.Hour + time.Duration(w*dayVillages+v)*5*time.Hour/time.Duration(onTime)
				text := "零报告"
				if w%3 == 0 {
					text = fmt.Sprintf("#日报 排查户数:%d 返乡人数:0 发热人数:0 婚丧:0", 20+w)
				}
				msg(at, v, w, text)
			case w%2 == 0: // one tap on the reminder's button
				at := 17*time.Hour + 5*time.Minute + time.Duration((w-dayOnTime)*dayVillages+v)*time.Second
				events = append(events, event{at, fmt.Sprintf(`{"at": %q, "press": {"chat": {"id": %d}, "from": {"id": %d, "name": %s}, "data": "daily"}}`,
					dayDate.Add(at).Format(time.RFC3339), dayChat(v), dayWorker(v, w), str(dayWorkerName(w)))})
			default:
				msg(18*time.Hour+time.Duration((w-dayOnTime)*dayVillages+v)*time.Second, v, w, "零报告")
			}
		}
	}
	events = append(events, event{21 * time.Hour, fmt.Sprintf(`{"at": %q}`, dayDate.Add(21*time.Hour).Format(time.RFC3339))})
	// stable: events of one instant keep their order
	slices.SortStableFunc(events, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	var buf bytes.Buffer
	for _, e := range events {
		buf.WriteString(e.line)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// replayDay replays the day into db and returns the transcript.
func replayDay(tb testing.TB, db string, input []byte, out io.Writer) {
	tb.Helper()
	var stderr bytes.Buffer
	args := []string{"replay", "--db", db, "--operators", fmt.Sprint(dayOperator), "-"}
	if err := run(context.Background(), args, func(string) string { return "" }, bytes.NewReader(input), out, &stderr); err != nil {
		tb.Fatalf("replay: %v\n%s", err, stderr.String())
	}
}

// countCalls counts a transcript's calls by method, and the scheduled
// posts by kind.
func countCalls(transcript []byte) map[string]int {
	n := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(transcript), []byte("\n")) {
		var l struct{ Method, Text string }
		if json.Unmarshal(line, &l) != nil {
			n["undecodable"]++
			continue
		}
		n[l.Method]++
		switch {
		case l.Method != "sendMessage":
		case strings.Contains(l.Text, "<b>日报提醒</b>"):
			n["reminder"]++
		case strings.Contains(l.Text, "</b> 每日汇总"):
			n["summary"]++
		case strings.Contains(l.Text, "<b>各村汇总</b>"):
			n["rollup"]++
		}
	}
	return n
}

// BenchmarkReplayDay300 replays a day of 300 villages × 40 grid workers —
// 12,000 daily reports, 5,000 other reports, 300 reminders, 300
// summaries, the roll-up — through the whole bot on the embedded store
// (written without fsync, as every replay is). Run it once: -benchtime=1x.
func BenchmarkReplayDay300(b *testing.B) {
	input := dayInput()
	lines := bytes.Count(input, []byte("\n"))
	var transcript bytes.Buffer
	for b.Loop() {
		b.StopTimer()
		db := b.TempDir()
		seedDay(b, db)
		transcript.Reset()
		b.StartTimer()
		replayDay(b, db, input, &transcript)
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/day")
	b.ReportMetric(float64(lines), "events/day")
	n := countCalls(transcript.Bytes())
	b.Logf("calls: %v", n)
	if n["reminder"] != dayVillages || n["summary"] != dayVillages || n["rollup"] < 1 {
		b.Errorf("the day posted %d reminders, %d summaries, %d roll-up messages; want %d, %d, at least 1",
			n["reminder"], n["summary"], n["rollup"], dayVillages, dayVillages)
	}
}

// BenchmarkRollup300 computes the command group's roll-up of the day's
// 300 villages from the store the day left: tally.AllVillages and
// tally.RenderRollup.
func BenchmarkRollup300(b *testing.B) {
	db := b.TempDir()
	seedDay(b, db)
	replayDay(b, db, dayInput(), io.Discard)
	ctx := context.Background()
	st, err := store.Open(ctx, db, store.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := handlers.New(handlers.Config{Location: dayDate.Location()}, st, nil, time.Now, nil)
	observation := h.ObservationDays(ctx)
	day := report.DateOf(dayDate)
	var text string
	for b.Loop() {
		all, err := tally.AllVillages(ctx, st, day, observation)
		if err != nil {
			b.Fatal(err)
		}
		text = tally.RenderRollup(all, report.Zh, "各村汇总")
	}
	if !strings.Contains(text, dayVillageName(dayVillages-1)) {
		b.Errorf("the roll-up lacks the last village:\n%.500s", text)
	}
}
