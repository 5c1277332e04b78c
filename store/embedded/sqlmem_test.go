package embedded

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eatonphil/gosql"
)

// The tests in this file prove that sqlDB contains gosql's quirks.

var testTable = tableDef{
	name: "t",
	cols: []column{{"k", colKey}, {"a", colText}, {"n", colInt}, {"b", colText}},
	indexes: []indexDef{
		{col: "k", unique: true}, {col: "a"}, {col: "n"},
	},
}

func newTestDB(t *testing.T) *sqlDB {
	t.Helper()
	d, err := newSQLDB(testTable)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// row is a row of testTable.
type row struct {
	k, a string
	n    int64
	b    string
}

func insertRow(t *testing.T, d *sqlDB, r row) {
	t.Helper()
	if err := d.insert("t", textVal(r.k), textVal(r.a), intVal(r.n), textVal(r.b)); err != nil {
		t.Fatalf("insert %+v: %v", r, err)
	}
}

func selectAll(t *testing.T, d *sqlDB, q query) []row {
	t.Helper()
	q.table, q.cols = "t", []string{"k", "a", "n", "b"}
	rows, err := d.selectRows(q)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	out := make([]row, len(rows))
	for i, r := range rows {
		out[i] = row{r[0].text, r[1].text, r[2].num, r[3].text}
	}
	slices.SortFunc(out, func(x, y row) int { return strings.Compare(x.k, y.k) })
	return out
}

func TestSQLEmptyTextIsAValue(t *testing.T) {
	d := newTestDB(t)
	insertRow(t, d, row{"1", "", 0, ""})
	insertRow(t, d, row{"2", "x", 0, "y"})
	tests := []struct {
		name string
		q    query
		want []string
	}{
		{"indexed equality with empty text", query{eq: eqCond("a", textVal(""))}, []string{"1"}},
		{"filter with empty text", query{filters: []filter{fEq("b", textVal(""))}}, []string{"1"}},
		{"filter on non-empty", query{filters: []filter{fEq("b", textVal("y"))}}, []string{"2"}},
		{"whole table", query{}, []string{"1", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys []string
			for _, r := range selectAll(t, d, tt.q) {
				keys = append(keys, r.k)
				if r.k == "1" && (r.a != "" || r.b != "") {
					t.Errorf("empty texts came back as %q, %q", r.a, r.b)
				}
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("rows %v, want %v", keys, tt.want)
			}
		})
	}
}

// sqlHostile are texts that break naive SQL storage.
var sqlHostile = []string{
	"", "it's", "''", `"`, `\`, "'; DROP TABLE t; --", "\x00", "a\x00b", "\xff\xfe", "😷", "NULL", "null",
	"=", "#", "#=", "==x", " ", "\n", strings.Repeat("长", 3000), "1", "-1", "0x10", "%s%d", "\u202e",
}

func TestSQLHostileTextInEveryColumn(t *testing.T) {
	d := newTestDB(t)
	for i, s := range sqlHostile {
		insertRow(t, d, row{fmt.Sprintf("k%d:%s", i, s), s, int64(i), s + s})
	}
	for i, s := range sqlHostile {
		k := fmt.Sprintf("k%d:%s", i, s)
		want := []row{{k, s, int64(i), s + s}}
		if got := selectAll(t, d, query{eq: eqCond("k", textVal(k))}); !slices.Equal(got, want) {
			t.Errorf("by key %q: %+v", k, got)
		}
		if got := selectAll(t, d, query{eq: eqCond("a", textVal(s)), filters: []filter{fEq("b", textVal(s+s))}}); !slices.Equal(got, want) {
			t.Errorf("by indexed text %q: %+v", s, got)
		}
		if got := selectAll(t, d, query{filters: []filter{fEq("k", textVal(k)), fEq("a", textVal(s))}}); !slices.Equal(got, want) {
			t.Errorf("by filters %q: %+v", s, got)
		}
	}
	if err := d.insert("t", textVal(""), textVal("x"), intVal(1), textVal("")); err == nil {
		t.Error("an empty key was stored (gosql would keep it as NULL)")
	}
}

func TestSQLIntBounds(t *testing.T) {
	d := newTestDB(t)
	tests := []struct {
		n  int64
		ok bool
	}{
		{math.MaxInt32, true}, {math.MinInt32, true}, {0, true}, {-1, true},
		{math.MaxInt32 + 1, false}, {math.MinInt32 - 1, false}, {math.MaxInt64, false}, {1 << 32, false},
	}
	for _, tt := range tests {
		k := fmt.Sprint(tt.n)
		err := d.insert("t", textVal(k), textVal("x"), intVal(tt.n), textVal(""))
		if (err == nil) != tt.ok {
			t.Errorf("insert %d: %v, want ok=%v", tt.n, err, tt.ok)
			continue
		}
		got := selectAll(t, d, query{eq: eqCond("k", textVal(k))})
		switch {
		case tt.ok && (len(got) != 1 || got[0].n != tt.n):
			t.Errorf("%d came back as %+v", tt.n, got)
		case !tt.ok && len(got) != 0:
			t.Errorf("%d was stored (wrapped?) as %+v", tt.n, got)
		}
	}
	if got := selectAll(t, d, query{}); len(got) != 4 {
		t.Errorf("%d rows, want the 4 in range", len(got))
	}
}

// TestSQLOneIndexPerQuery checks the wrapper against brute force on a
// table with two indexed columns queried together, which gosql gets wrong
// when both conditions can use an index.
func TestSQLOneIndexPerQuery(t *testing.T) {
	d := newTestDB(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var all []row
	for i := range 300 {
		r := row{fmt.Sprintf("%03d", i), fmt.Sprintf("a%d", rng.IntN(7)), int64(rng.IntN(9) - 2), fmt.Sprintf("b%d", rng.IntN(3))}
		insertRow(t, d, r)
		all = append(all, r)
	}
	expect := func(keep func(row) bool) []row {
		var out []row
		for _, r := range all {
			if keep(r) {
				out = append(out, r)
			}
		}
		return out
	}
	for a := range 7 {
		for n := -2; n < 7; n++ {
			av := fmt.Sprintf("a%d", a)
			want := expect(func(r row) bool { return r.a == av && r.n == int64(n) })
			if got := selectAll(t, d, query{eq: eqCond("a", textVal(av)), filters: []filter{fEq("n", intVal(int64(n)))}}); !slices.Equal(got, want) {
				t.Fatalf("a=%s, n=%d: %d rows, want %d", av, n, len(got), len(want))
			}
			if got := selectAll(t, d, query{eq: eqCond("n", intVal(int64(n))), filters: []filter{fEq("a", textVal(av))}}); !slices.Equal(got, want) {
				t.Fatalf("n=%d, a=%s: %d rows, want %d", n, av, len(got), len(want))
			}
			want = expect(func(r row) bool {
				return r.a == av && r.n >= 0 && r.n <= int64(n) && (r.b == "b0" || (r.b == "b2" && r.n != 1))
			})
			q := query{eq: eqCond("a", textVal(av)), filters: []filter{fGe("n", 0), fLe("n", int64(n)),
				fOr(fEq("b", textVal("b0")), fAnd(fEq("b", textVal("b2")), fOr(fLe("n", 0), fGe("n", 2))))}}
			if got := selectAll(t, d, q); !slices.Equal(got, want) {
				t.Fatalf("a=%s, 0<=n<=%d, b in (b0, b2): %d rows, want %d", av, n, len(got), len(want))
			}
		}
	}

	// The quirk itself: the same conditions both written as indexable make
	// gosql return wrong rows or panic (here recovered into an error).
	wrong := 0
	for a := range 7 {
		av := fmt.Sprintf("a%d", a)
		want := len(expect(func(r row) bool { return r.a == av && r.n == 3 }))
		where := binary(binary(identExp("a"), symbol(gosql.EqSymbol), textLit(textPrefix+av)), keyword(gosql.AndKeyword),
			binary(identExp("n"), symbol(gosql.EqSymbol), intLit(3)))
		res, err := d.rawSelect(&where)
		if err != nil || len(res.Rows) != want {
			wrong++
		}
	}
	if wrong == 0 {
		t.Error("gosql answered AND of two indexed conditions correctly: has the pinned version changed?")
	}
}

// rawSelect runs SELECT k FROM t WHERE where straight through gosql, with
// only the panic guard.
func (d *sqlDB) rawSelect(where *gosql.Expression) (*gosql.Results, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	k := identExp("k")
	from := ident("t")
	return d.runSelect(&gosql.SelectStatement{Item: &[]*gosql.SelectItem{{Exp: &k}}, From: &from, Where: where})
}

func TestSQLPanicBecomesError(t *testing.T) {
	d := newTestDB(t)
	insertRow(t, d, row{"1", "x", 1, "y"})
	// A NULL cell, which the wrapper never stores, smuggled in raw.
	vals := []*gosql.Expression{ptr(textLit("2")), ptr(textLit("")), ptr(intLit(2)), ptr(textLit(""))}
	if err := d.mb.Insert(&gosql.InsertStatement{Table: ident("t"), Values: &vals}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		where gosql.Expression
	}{
		{"WHERE meets a NULL cell", binary(identExp("b"), symbol(gosql.EqSymbol), textLit("=y"))},
		{"<> on an indexed column", binary(identExp("a"), symbol(gosql.NeqSymbol), textLit("=x"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.rawSelect(&tt.where)
			if !errors.Is(err, errGosqlPanic) {
				t.Fatalf("err = %v, want a recovered panic", err)
			}
		})
	}
	_, err := d.selectRows(query{table: "t", cols: []string{"k"}, filters: []filter{fEq("b", textVal("y"))}})
	if !errors.Is(err, errGosqlPanic) {
		t.Fatalf("wrapper over a NULL cell: err = %v, want a recovered panic", err)
	}
	// The database is still usable.
	if got := selectAll(t, d, query{eq: eqCond("k", textVal("1"))}); len(got) != 1 || got[0].b != "y" {
		t.Fatalf("after the panics: %+v", got)
	}
}

func ptr[T any](v T) *T { return &v }

// TestSQLUniqueCheckedBeforeInsert: a duplicate is refused before gosql
// sees it, so it leaves no stale index entry behind.
func TestSQLUniqueCheckedBeforeInsert(t *testing.T) {
	d := newTestDB(t)
	insertRow(t, d, row{"k", "a", 1, "first"})
	if err := d.insert("t", textVal("k"), textVal("a"), intVal(1), textVal("second")); !errors.Is(err, gosql.ErrViolatesUniqueConstraint) {
		t.Fatalf("duplicate key: %v", err)
	}
	insertRow(t, d, row{"j", "a", 1, "third"})
	got := selectAll(t, d, query{eq: eqCond("a", textVal("a"))})
	want := []row{{"j", "a", 1, "third"}, {"k", "a", 1, "first"}}
	if !slices.Equal(got, want) {
		t.Fatalf("after a refused duplicate: %+v, want %+v", got, want)
	}
	if got := selectAll(t, d, query{eq: eqCond("n", intVal(1))}); !slices.Equal(got, want) {
		t.Fatalf("by the other index: %+v, want %+v", got, want)
	}
}

func TestSQLRejectsBadQueries(t *testing.T) {
	d := newTestDB(t)
	tests := []struct {
		name string
		q    query
	}{
		{"equality on an unindexed column", query{table: "t", cols: []string{"k"}, eq: eqCond("b", textVal("x"))}},
		{"unknown table", query{table: "nope", cols: []string{"k"}}},
		{"unknown column", query{table: "t", cols: []string{"zz"}}},
		{"range on text", query{table: "t", cols: []string{"k"}, filters: []filter{{op: opGe, col: "a", v: textVal("x")}}}},
		{"int filter out of range", query{table: "t", cols: []string{"k"}, filters: []filter{fGe("n", math.MaxInt64)}}},
		{"text value for an int", query{table: "t", cols: []string{"k"}, eq: eqCond("n", textVal("1"))}},
		{"empty OR", query{table: "t", cols: []string{"k"}, filters: []filter{fOr()}}},
	}
	for _, tt := range tests {
		if _, err := d.selectRows(tt.q); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if err := d.insert("t", textVal("x")); err == nil {
		t.Error("insert with too few values: no error")
	}
}

// TestSQLConcurrent runs writers and readers together (run with -race).
func TestSQLConcurrent(t *testing.T) {
	d := newTestDB(t)
	const writers, each = 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := d.insert("t", textVal(fmt.Sprintf("%d-%d", w, i)), textVal(fmt.Sprint(w)), intVal(int64(i)), textVal("")); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for i := range each {
				rows, err := d.selectRows(query{table: "t", cols: []string{"k", "n"}, eq: eqCond("a", textVal(fmt.Sprint(w)))})
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range rows {
					if !strings.HasPrefix(r[0].text, fmt.Sprint(w, "-")) {
						t.Errorf("reader %d (pass %d) got row %q", w, i, r[0].text)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for w := range writers {
		if got := selectAll(t, d, query{eq: eqCond("a", textVal(fmt.Sprint(w)))}); len(got) != each {
			t.Errorf("writer %d: %d rows, want %d", w, len(got), each)
		}
	}
}
