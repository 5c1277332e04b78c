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
			r := Parse(c.Text, Context{Now: now, Location: shanghai(t), Sender: c.Sender, BotUsername: "gridbot"})
			out, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Kind     *string        `json:"kind"`
				OK       bool           `json:"ok"`
				Fields   map[string]any `json:"fields"`
				Problems []Notice       `json:"problems"`
				Warnings []Notice       `json:"warnings"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if (got.Kind == nil) != (c.Kind == nil) || got.Kind != nil && *got.Kind != *c.Kind {
				t.Fatalf("kind: got %s, want %v (%s)\n%s", out, deref(c.Kind), c.Why, out)
			}
			if c.OK != nil && got.OK != *c.OK {
				t.Errorf("ok: got %v, want %v (%s)\n%s", got.OK, *c.OK, c.Why, out)
			}
			if c.Fields != nil && !reflect.DeepEqual(got.Fields, c.Fields) {
				t.Errorf("fields:\n got %v\nwant %v\n(%s)", got.Fields, c.Fields, c.Why)
			}
			for _, field := range c.Problems {
				if !hasNotice(got.Problems, field) {
					t.Errorf("problems: want one for %q, got %+v (%s)", field, got.Problems, c.Why)
				}
			}
			for _, code := range c.Warnings {
				found := false
				for _, w := range got.Warnings {
					found = found || w.Code == code
				}
				if !found {
					t.Errorf("warnings: want %q, got %+v (%s)", code, got.Warnings, c.Why)
				}
			}
			for _, p := range got.Problems {
				if p.Message == "" || p.Code == "" {
					t.Errorf("problem without code or message: %+v", p)
				}
			}
		})
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
