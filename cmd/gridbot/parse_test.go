package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

func runCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, noEnv, strings.NewReader(stdin), &out, &errOut)
	if err != nil {
		t.Logf("stderr: %s", errOut.String())
	}
	return out.String(), err
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  map[string]any // a subset of the JSON result
	}{
		{
			name:  "arrival",
			stdin: "#返乡 姓名:张三 电话:13812345678 来自:湖北武汉 返回日期:2020-02-05 住址:郝家店村3组12号",
			args:  []string{"--now", "2020-02-07T10:00:00+08:00"},
			want: map[string]any{"kind": "arrival", "ok": true, "fields": map[string]any{
				"name": "张三", "phone": "13812345678", "origin": "湖北武汉", "arrived_on": "2020-02-05", "address": "郝家店村3组12号"}},
		},
		{
			name:  "numbers are JSON numbers",
			stdin: "#发热 姓名:刘洋 体温:38.5 住址:郝家店村3组 年龄:30",
			args:  []string{"--now", "2020-02-07T10:00:00+08:00"},
			want:  map[string]any{"kind": "fever", "ok": true, "fields": map[string]any{"name": "刘洋", "temperature": 38.5, "address": "郝家店村3组", "age": 30.0}},
		},
		{
			name:  "sender becomes the landlord",
			stdin: "#租户 罗娟 15837201234 2月3日 钢花路12号院3单元",
			args:  []string{"--now", "2020-02-07T10:00:00+08:00", "--sender", "老周"},
			want: map[string]any{"kind": "tenant", "ok": true, "fields": map[string]any{
				"name": "罗娟", "phone": "15837201234", "moved_in": "2020-02-03", "address": "钢花路12号院3单元", "landlord": "老周"}},
		},
		{
			name:  "ordinary chat",
			stdin: "大家辛苦了",
			want:  map[string]any{"kind": nil, "ok": false, "fields": map[string]any{}, "problems": []any{}},
		},
		{
			name:  "the zone decides what today is",
			stdin: "#返乡 张三 13812345678 武汉 今天 郝家店村",
			args:  []string{"--now", "2020-02-07T20:00:00Z", "--tz", "Asia/Shanghai"},
			want:  map[string]any{"fields": map[string]any{"name": "张三", "phone": "13812345678", "origin": "武汉", "arrived_on": "2020-02-08", "address": "郝家店村"}},
		},
		{
			name:  "several people print reports beside kind and ok",
			stdin: "返乡人员登记\n1.张三 13812345678\n2.李四 1391234567\n2月5日从武汉回来，住郝家店村3组",
			args:  []string{"--now", "2020-02-07T10:00:00+08:00"},
			want: map[string]any{"kind": "arrival", "ok": false, "fields": nil, "reports": []any{
				map[string]any{"kind": "arrival", "ok": true, "fields": map[string]any{
					"name": "张三", "phone": "13812345678", "origin": "武汉", "arrived_on": "2020-02-05", "address": "郝家店村3组"},
					"problems": []any{}, "warnings": []any{}},
				map[string]any{"kind": "arrival", "ok": false, "fields": map[string]any{
					"name": "李四", "origin": "武汉", "arrived_on": "2020-02-05", "address": "郝家店村3组"},
					"problems": []any{map[string]any{"field": "phone", "code": "invalid_phone",
						"message": "电话“139***4567”不是有效号码：手机号是1开头的11位数字，座机要带区号，例如 电话：13812345678 或 0372-5123456"}},
					"warnings": []any{}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCmd(t, tt.stdin, append([]string{"parse"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			for k, want := range tt.want {
				if g, w := fmt.Sprint(got[k]), fmt.Sprint(want); g != w {
					t.Errorf("%s: got %s, want %s", k, g, w)
				}
			}
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, args := range [][]string{
		{"parse", "--now", "yesterday"},
		{"parse", "--tz", "Mars/Olympus"},
		{"parse", "--nope"},
		{"frobnicate"},
		{},
	} {
		if _, err := runCmd(t, "", args...); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

// TestParseBatch feeds 100,000 lines, some of them broken, and checks that
// every input gets its own output line, in order.
func TestParseBatch(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 2_000
	}
	var in strings.Builder
	for i := range n {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&in, `{"text": "#发热 姓名:病人%d 体温:38.%d 住址:相台村", "now": "2020-02-07T10:00:00+08:00"}`+"\n", i, i%10)
		case 1:
			fmt.Fprintf(&in, `{"text": "大家好 %d"}`+"\n", i)
		case 2:
			in.WriteString(`{"text": "#租户 罗娟 15837201234 今天 钢花路12号院", "sender": "老周", "now": "2020-02-07T10:00:00+08:00"}` + "\n")
		case 3:
			in.WriteString("not json\n")
		case 4:
			in.WriteString(`{"text": "零报告", "now": "bad time"}` + "\n")
		}
	}
	out, err := runCmd(t, in.String(), "parse", "--batch")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	i := 0
	for ; sc.Scan(); i++ {
		var got map[string]any
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		switch i % 5 {
		case 0:
			if got["kind"] != "fever" || got["fields"].(map[string]any)["name"] != fmt.Sprintf("病人%d", i) {
				t.Fatalf("line %d out of order or wrong: %v", i+1, got)
			}
		case 1:
			if got["kind"] != nil {
				t.Fatalf("line %d: chat parsed as %v", i+1, got["kind"])
			}
		case 2:
			if got["ok"] != true || got["fields"].(map[string]any)["landlord"] != "老周" {
				t.Fatalf("line %d: %v", i+1, got)
			}
		case 3, 4:
			if got["error"] == nil {
				t.Fatalf("line %d: bad input without an error: %v", i+1, got)
			}
		}
	}
	if i != n {
		t.Fatalf("%d output lines for %d inputs", i, n)
	}
}
