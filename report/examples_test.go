package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// parseCase is one line of a JSON-lines table of examples: the shared
// specification (../shared/examples/parse.jsonl) and our own
// (testdata/cases.jsonl) use the same shape.
type parseCase struct {
	Text     string         `json:"text"`
	Now      string         `json:"now"`
	Sender   string         `json:"sender"`
	Kind     *string        `json:"kind"`
	OK       *bool          `json:"ok"`
	Fields   map[string]any `json:"fields"`
	Problems []string       `json:"problems"`
	Warnings []string       `json:"warnings"`
	Why      string         `json:"why"`
	// Reports, for a message holding several people, expects one report
	// per person (each checked like a one-person case).
	Reports []parseCase `json:"reports"`
}

func readCases(t *testing.T, path string) []parseCase {
	t.Helper()
	cases, err := readCasesFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is not here (it lives in the project's shared folder): %v", path, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

func readCasesFile(path string) ([]parseCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cases []parseCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 || sc.Bytes()[0] == '/' {
			continue
		}
		var c parseCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		cases = append(cases, c)
	}
	return cases, sc.Err()
}

func runCases(t *testing.T, cases []parseCase) {
	for _, c := range cases {
		t.Run(c.Text, func(t *testing.T) {
			now := time.Date(2020, 2, 7, 10, 0, 0, 0, shanghai(t))
			if c.Now != "" {
				var err error
				if now, err = time.Parse(time.RFC3339, c.Now); err != nil {
					t.Fatal(err)
				}
			}
			ctx := Context{Now: now, Location: shanghai(t), Sender: c.Sender, BotUsername: "gridbot"}
			res := ParseAll(c.Text, ctx)
			out, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			var got parsed
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if (got.Kind == nil) != (c.Kind == nil) || got.Kind != nil && *got.Kind != *c.Kind {
				t.Fatalf("kind: got %s, want %v (%s)", out, deref(c.Kind), c.Why)
			}
			if c.OK != nil && got.OK != *c.OK {
				t.Errorf("ok: got %v, want %v (%s)\n%s", got.OK, *c.OK, c.Why, out)
			}
			if len(c.Reports) > 0 || len(got.Reports) > 0 {
				if len(got.Reports) != len(c.Reports) {
					t.Fatalf("reports: got %d, want %d (%s)\n%s", len(got.Reports), len(c.Reports), c.Why, out)
				}
				for i := range c.Reports {
					checkParsed(t, c.Reports[i], got.Reports[i], c.Why)
				}
				return
			}
			checkParsed(t, c, got, c.Why)
			if single := Parse(c.Text, ctx); res.Kind != None && !reflect.DeepEqual(single, res.Reports[0]) {
				t.Errorf("Parse and ParseAll differ on a one-person message:\n%+v\n%+v", single, res.Reports[0])
			}
		})
	}
}

// parsed is the JSON `gridbot parse` prints, read back.
type parsed struct {
	Kind     *string        `json:"kind"`
	OK       bool           `json:"ok"`
	Fields   map[string]any `json:"fields"`
	Problems []Notice       `json:"problems"`
	Warnings []Notice       `json:"warnings"`
	Reports  []parsed       `json:"reports"`
}

func checkParsed(t *testing.T, c parseCase, got parsed, why string) {
	t.Helper()
	if c.OK != nil && got.OK != *c.OK {
		t.Errorf("ok: got %v, want %v (%s)\n%+v", got.OK, *c.OK, why, got)
	}
	if c.Fields != nil && !reflect.DeepEqual(got.Fields, c.Fields) {
		t.Errorf("fields:\n got %v\nwant %v\n(%s)", got.Fields, c.Fields, why)
	}
	for _, field := range c.Problems {
		if !hasNotice(got.Problems, field) {
			t.Errorf("problems: want one for %q, got %+v (%s)", field, got.Problems, why)
		}
	}
	if c.Problems != nil && len(got.Problems) != len(c.Problems) {
		t.Errorf("problems: want exactly %v, got %+v (%s)", c.Problems, got.Problems, why)
	}
	for _, code := range c.Warnings {
		found := false
		for _, w := range got.Warnings {
			found = found || w.Code == code
		}
		if !found {
			t.Errorf("warnings: want %q, got %+v (%s)", code, got.Warnings, why)
		}
	}
	for _, p := range got.Problems {
		if p.Message == "" || p.Code == "" {
			t.Errorf("problem without code or message: %+v", p)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

func shanghai(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestSharedExamples runs the specification by example.
func TestSharedExamples(t *testing.T) {
	runCases(t, readCases(t, filepath.Join("..", "..", "shared", "examples", "parse.jsonl")))
}

// TestCases runs the project's own, larger table.
func TestCases(t *testing.T) {
	runCases(t, readCases(t, filepath.Join("testdata", "cases.jsonl")))
}
