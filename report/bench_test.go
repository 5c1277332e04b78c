package report

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// benchMessages is a realistic mix for a village group: about half the
// messages are ordinary chat, the rest reports of every kind, valid and not.
func benchMessages(b *testing.B) []string {
	var msgs []string
	for _, path := range []string{filepath.Join("..", "..", "shared", "examples", "parse.jsonl"), filepath.Join("testdata", "cases.jsonl")} {
		for _, c := range readCasesQuiet(path) {
			if len(c.Text) < 1024 {
				msgs = append(msgs, c.Text)
			}
		}
	}
	chat := []string{
		"大家辛苦了，今天降温注意保暖", "收到👍", "好的", "发热门诊几点开门？", "@王书记 明天几点开会",
		"各位网格员请于今天17点前报送日报", "收到，马上报", "👌", "谢谢", "村口卡点今晚谁值班",
		"请大家转发给村民：不聚集、不串门、戴口罩", "已通知", "明白", "3组王大爷家的口罩送到了",
	}
	for len(chat) < len(msgs) {
		chat = append(chat, chat...)
	}
	msgs = append(msgs, chat[:len(msgs)]...)
	if len(msgs) < 40 {
		b.Fatalf("only %d benchmark messages", len(msgs))
	}
	return msgs
}

// BenchmarkParse reports messages per second on one core, through
// ParseAll (which the bot uses: it also looks for several people).
// msgs/s is by the wall clock; msgs/cpu-s by the CPU time the process
// used (GC included), which holds on a machine busy with other work.
func BenchmarkParse(b *testing.B) {
	msgs := benchMessages(b)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, cpuOK := processCPU()
	for i := 0; i < b.N; i++ {
		ParseAll(msgs[i%len(msgs)], fuzzContext)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if cpu1, ok := processCPU(); ok && cpuOK && cpu1 > cpu0 {
		b.ReportMetric(float64(b.N)/(cpu1-cpu0).Seconds(), "msgs/cpu-s")
	}
}

// BenchmarkParseHuge shows the time per byte stays flat as messages grow.
func BenchmarkParseHuge(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10, 1 << 20} {
		msg := "#返乡\n姓名:张三\n" + strings.Repeat("住址:郝家店村3组 电话13812345678 2月5日 男 35岁\n", size/80)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for i := 0; i < b.N; i++ {
				Parse(msg, fuzzContext)
			}
		})
	}
}
