package embedded

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/eatonphil/gosql"
)

// This file is the only place that touches gosql. sqlDB wraps its memory
// backend so that none of gosql's measured quirks can reach the engine:
//
//   - Statements are built as ASTs with literal tokens; no text ever goes
//     through gosql's lexer (which mangles quotes, prints rejected
//     statements to stdout and cannot lex negative numbers) or its
//     database/sql driver.
//   - gosql stores "" as NULL and panics when a WHERE meets a NULL cell, so
//     no cell is ever empty: a text value that may be "" (colText) is
//     stored with a one-byte prefix (textPrefix); keys and bodies (colKey)
//     are never empty and are refused if they are. Text cells hold
//     arbitrary bytes (NUL, invalid UTF-8) unchanged.
//   - INT is 32-bit and wraps silently: ints outside int32 are refused.
//   - A query may use at most one index: it has one indexed equality (eq)
//     and any number of filters, which are written so that gosql cannot use
//     an index for them ('#' || col = '#v', col + 0 = n). Two indexed
//     conditions in one query make gosql return wrong rows or panic.
//   - A failed insert leaves stale entries in the indexes it reached, so
//     unique keys are checked before Insert, and unique indexes come first.
//   - gosql is not safe for concurrent use: an RWMutex guards it, and
//     every call recovers a panic into an error.

// textPrefix is stored in front of every text value, so that no cell is
// ever empty (which gosql would treat as NULL).
const textPrefix = "="

// filterPrefix is concatenated in front of a text column in a filter so
// that the condition is not recognised as indexable.
const filterPrefix = "#"

// errGosqlPanic marks an error turned from a panic inside gosql.
var errGosqlPanic = errors.New("gosql panicked")

// colType is the type of a column: text or a 32-bit int.
type colType uint8

const (
	colText colType = iota // any text, "" included; stored with textPrefix
	colKey                 // text that is never empty (keys, bodies); stored as is
	colInt                 // a 32-bit int
)

func (t colType) String() string {
	if t == colInt {
		return "int"
	}
	return "text"
}

// column describes one column of a table.
type column struct {
	name string
	typ  colType
}

// indexDef describes an index on one column.
type indexDef struct {
	col    string
	unique bool
}

// tableDef describes a table: its columns and indexes. Unique indexes must
// come first, so that a duplicate fails before any other index is touched.
type tableDef struct {
	name    string
	cols    []column
	indexes []indexDef
}

// value is a cell value: text or int.
type value struct {
	text  string
	num   int64
	isInt bool
}

// textVal returns a text value; any bytes, "" included.
func textVal(s string) value { return value{text: s} }

// intVal returns an int value; it must fit in int32 to be stored.
func intVal(n int64) value { return value{num: n, isInt: true} }

// sqlTable is a created table.
type sqlTable struct {
	def     tableDef
	name    gosql.Token
	colIdx  map[string]int
	indexed map[string]bool
	unique  []string // columns with a unique index
}

// sqlDB is a gosql memory backend made safe to use. Its methods are safe
// for concurrent use.
type sqlDB struct {
	mu     sync.RWMutex
	mb     *gosql.MemoryBackend
	tables map[string]*sqlTable

	// Scratch space for insert, which holds mu exclusively: gosql copies
	// the literals into its cells and keeps none of them.
	exps []*gosql.Expression
	lits []gosql.Expression
	toks []gosql.Token
}

// newSQLDB returns an empty database with the given tables and their
// indexes created (indexes before any data is loaded).
func newSQLDB(defs ...tableDef) (*sqlDB, error) {
	d := &sqlDB{mb: gosql.NewMemoryBackend(), tables: map[string]*sqlTable{}}
	for _, def := range defs {
		if err := d.createTable(def); err != nil {
			return nil, fmt.Errorf("create table %s: %w", def.name, err)
		}
	}
	return d, nil
}

func ident(name string) gosql.Token {
	return gosql.Token{Kind: gosql.IdentifierKind, Value: name}
}

func identExp(name string) gosql.Expression {
	t := ident(name)
	return gosql.Expression{Kind: gosql.LiteralKind, Literal: &t}
}

func textLit(s string) gosql.Expression {
	return gosql.Expression{Kind: gosql.LiteralKind, Literal: &gosql.Token{Kind: gosql.StringKind, Value: s}}
}

func intLit(n int64) gosql.Expression {
	return gosql.Expression{Kind: gosql.LiteralKind, Literal: &gosql.Token{Kind: gosql.NumericKind, Value: strconv.FormatInt(n, 10)}}
}

// literalToken checks v against the column's type and returns the token
// gosql stores for it.
func literalToken(c column, v value) (gosql.Token, error) {
	switch {
	case c.typ == colInt && v.isInt:
		if v.num < math.MinInt32 || v.num > math.MaxInt32 {
			return gosql.Token{}, fmt.Errorf("column %s: %d does not fit in a 32-bit int", c.name, v.num)
		}
		return gosql.Token{Kind: gosql.NumericKind, Value: strconv.FormatInt(v.num, 10)}, nil
	case c.typ == colText && !v.isInt:
		return gosql.Token{Kind: gosql.StringKind, Value: textPrefix + v.text}, nil
	case c.typ == colKey && !v.isInt:
		if v.text == "" {
			return gosql.Token{}, fmt.Errorf("column %s: empty key", c.name)
		}
		return gosql.Token{Kind: gosql.StringKind, Value: v.text}, nil
	}
	return gosql.Token{}, fmt.Errorf("column %s is %s: wrong type of value", c.name, c.typ)
}

func binary(a gosql.Expression, op gosql.Token, b gosql.Expression) gosql.Expression {
	return gosql.Expression{Kind: gosql.BinaryKind, Binary: &gosql.BinaryExpression{A: a, B: b, Op: op}}
}

func symbol(s gosql.Symbol) gosql.Token {
	return gosql.Token{Kind: gosql.SymbolKind, Value: string(s)}
}

func keyword(k gosql.Keyword) gosql.Token {
	return gosql.Token{Kind: gosql.KeywordKind, Value: string(k)}
}

// guard turns a panic inside gosql into an error.
func guard(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %v", errGosqlPanic, r)
	}
}

func (d *sqlDB) createTable(def tableDef) (err error) {
	defer guard(&err)
	t := &sqlTable{def: def, name: ident(def.name), colIdx: map[string]int{}, indexed: map[string]bool{}}
	cols := make([]*gosql.ColumnDefinition, 0, len(def.cols))
	for i, c := range def.cols {
		if _, dup := t.colIdx[c.name]; dup || c.name == "" {
			return fmt.Errorf("column %q: bad or repeated name", c.name)
		}
		t.colIdx[c.name] = i
		cols = append(cols, &gosql.ColumnDefinition{Name: ident(c.name), Datatype: gosql.Token{Kind: gosql.KeywordKind, Value: c.typ.String()}})
	}
	if err := d.mb.CreateTable(&gosql.CreateTableStatement{Name: t.name, Cols: &cols}); err != nil {
		return err
	}
	seenPlain := false
	for _, ix := range def.indexes {
		if _, ok := t.colIdx[ix.col]; !ok {
			return fmt.Errorf("index on unknown column %q", ix.col)
		}
		if ix.unique && seenPlain {
			return fmt.Errorf("unique index on %q after a plain index", ix.col)
		}
		seenPlain = seenPlain || !ix.unique
		err := d.mb.CreateIndex(&gosql.CreateIndexStatement{
			Name:   ident(def.name + "_" + ix.col),
			Unique: ix.unique,
			Table:  t.name,
			Exp:    identExp(ix.col),
		})
		if err != nil {
			return err
		}
		t.indexed[ix.col] = true
		if ix.unique {
			t.unique = append(t.unique, ix.col)
		}
	}
	d.tables[def.name] = t
	return nil
}

func (d *sqlDB) table(name string) (*sqlTable, error) {
	t, ok := d.tables[name]
	if !ok {
		return nil, fmt.Errorf("no table %q", name)
	}
	return t, nil
}

// literal checks v against the column's type and returns its literal.
func literal(c column, v value) (gosql.Expression, error) {
	tok, err := literalToken(c, v)
	if err != nil {
		return gosql.Expression{}, err
	}
	return gosql.Expression{Kind: gosql.LiteralKind, Literal: &tok}, nil
}

// insert adds one row. vals are in column order. A row whose unique key
// exists is refused before gosql sees it.
func (d *sqlDB) insert(table string, vals ...value) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.insertLocked(table, vals)
}

func (d *sqlDB) insertLocked(table string, vals []value) (err error) {
	defer guard(&err)
	t, err := d.table(table)
	if err != nil {
		return err
	}
	if len(vals) != len(t.def.cols) {
		return fmt.Errorf("insert into %s: %d values for %d columns", table, len(vals), len(t.def.cols))
	}
	n := len(vals)
	if cap(d.exps) < n {
		d.exps, d.lits, d.toks = make([]*gosql.Expression, n), make([]gosql.Expression, n), make([]gosql.Token, n)
	}
	exps, lits, toks := d.exps[:n], d.lits[:n], d.toks[:n]
	for i, v := range vals {
		tok, err := literalToken(t.def.cols[i], v)
		if err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
		toks[i] = tok
		lits[i] = gosql.Expression{Kind: gosql.LiteralKind, Literal: &toks[i]}
		exps[i] = &lits[i]
	}
	for _, col := range t.unique {
		n, err := d.countLocked(t, eqCond(col, vals[t.colIdx[col]]))
		if err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
		if n > 0 {
			return fmt.Errorf("insert into %s: %w", table, gosql.ErrViolatesUniqueConstraint)
		}
	}
	if err := d.mb.Insert(&gosql.InsertStatement{Table: t.name, Values: &exps}); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// cond is the one indexed equality of a query.
type cond struct {
	col string
	v   value
}

func eqCond(col string, v value) *cond { return &cond{col: col, v: v} }

// filterOp is what a filter does.
type filterOp uint8

const (
	opEq filterOp = iota
	opGe
	opLe
	opAnd
	opOr
)

// filter is a condition gosql evaluates row by row without using an index.
type filter struct {
	op   filterOp
	col  string
	v    value
	kids []filter
}

// Filters: col = v, col >= n, col <= n (ints only), OR and AND of
// filters.
func fEq(col string, v value) filter { return filter{op: opEq, col: col, v: v} }
func fGe(col string, n int64) filter { return filter{op: opGe, col: col, v: intVal(n)} }
func fLe(col string, n int64) filter { return filter{op: opLe, col: col, v: intVal(n)} }
func fOr(kids ...filter) filter      { return filter{op: opOr, kids: kids} }
func fAnd(kids ...filter) filter     { return filter{op: opAnd, kids: kids} }

// col returns the named column of t.
func (t *sqlTable) col(name string) (column, error) {
	i, ok := t.colIdx[name]
	if !ok {
		return column{}, fmt.Errorf("table %s has no column %q", t.def.name, name)
	}
	return t.def.cols[i], nil
}

// expr builds the non-indexable expression of f: text columns as
// '#' || col = '#=v', ints as col + 0 op n, always fully nested.
func (t *sqlTable) expr(f filter) (gosql.Expression, error) {
	switch f.op {
	case opAnd, opOr:
		if len(f.kids) == 0 {
			return gosql.Expression{}, errors.New("empty AND/OR")
		}
		op := keyword(gosql.AndKeyword)
		if f.op == opOr {
			op = keyword(gosql.OrKeyword)
		}
		acc, err := t.expr(f.kids[0])
		if err != nil {
			return acc, err
		}
		for _, k := range f.kids[1:] {
			e, err := t.expr(k)
			if err != nil {
				return e, err
			}
			acc = binary(acc, op, e)
		}
		return acc, nil
	}
	c, err := t.col(f.col)
	if err != nil {
		return gosql.Expression{}, err
	}
	lit, err := literal(c, f.v)
	if err != nil {
		return lit, err
	}
	var sym gosql.Symbol
	switch f.op {
	case opEq:
		sym = gosql.EqSymbol
	case opGe:
		sym = gosql.GteSymbol
	case opLe:
		sym = gosql.LteSymbol
	}
	if c.typ != colInt {
		if f.op != opEq {
			return gosql.Expression{}, fmt.Errorf("column %s: text supports only equality", c.name)
		}
		guarded := binary(textLit(filterPrefix), symbol(gosql.ConcatSymbol), identExp(c.name))
		return binary(guarded, symbol(sym), textLit(filterPrefix+lit.Literal.Value)), nil
	}
	guarded := binary(identExp(c.name), symbol(gosql.PlusSymbol), intLit(0))
	return binary(guarded, symbol(sym), lit), nil
}

// query selects rows.
type query struct {
	table   string
	cols    []string // columns returned, in order
	eq      *cond    // the indexed equality; nil scans the whole table
	filters []filter // non-indexed conditions, ANDed
}

// where builds the WHERE of q: the indexed equality, if any, ANDed with
// the filters.
func (t *sqlTable) where(q query) (*gosql.Expression, error) {
	var parts []gosql.Expression
	if q.eq != nil {
		if !t.indexed[q.eq.col] {
			return nil, fmt.Errorf("column %s of %s has no index", q.eq.col, t.def.name)
		}
		c, _ := t.col(q.eq.col)
		lit, err := literal(c, q.eq.v)
		if err != nil {
			return nil, err
		}
		parts = append(parts, binary(identExp(c.name), symbol(gosql.EqSymbol), lit))
	}
	for _, f := range q.filters {
		e, err := t.expr(f)
		if err != nil {
			return nil, err
		}
		parts = append(parts, e)
	}
	if len(parts) == 0 {
		return nil, nil
	}
	acc := parts[0]
	for _, p := range parts[1:] {
		acc = binary(acc, keyword(gosql.AndKeyword), p)
	}
	return &acc, nil
}

// selectRows runs q and returns its rows, text cells without their
// prefix, in gosql's order (index key order when q.eq is set).
func (d *sqlDB) selectRows(q query) ([][]value, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out [][]value
	err := d.selectLocked(q, func(row []value) error {
		out = append(out, append([]value(nil), row...))
		return nil
	})
	return out, err
}

// selectText runs q, which must return one text column, and calls fn with
// each value. fn runs under the read lock and must not call d.
func (d *sqlDB) selectText(q query, fn func(string) error) error {
	if len(q.cols) != 1 {
		return fmt.Errorf("selectText: %d columns", len(q.cols))
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.selectLocked(q, func(row []value) error {
		if row[0].isInt {
			return fmt.Errorf("selectText: column %s is int", q.cols[0])
		}
		return fn(row[0].text)
	})
}

func (d *sqlDB) countLocked(t *sqlTable, c *cond) (int, error) {
	n := 0
	err := d.selectLocked(query{table: t.def.name, cols: []string{c.col}, eq: c}, func([]value) error {
		n++
		return nil
	})
	return n, err
}

func (d *sqlDB) selectLocked(q query, fn func([]value) error) error {
	res, err := d.run(q)
	if err != nil {
		return fmt.Errorf("select from %s: %w", q.table, err)
	}
	t := d.tables[q.table]
	types := make([]colType, len(q.cols))
	for i, name := range q.cols {
		c, _ := t.col(name)
		types[i] = c.typ
	}
	row := make([]value, len(q.cols))
	for _, cells := range res.Rows {
		if len(cells) != len(q.cols) {
			return fmt.Errorf("select from %s: %d cells, want %d", q.table, len(cells), len(q.cols))
		}
		for i, cell := range cells {
			v, err := cellValue(cell, types[i])
			if err != nil {
				return fmt.Errorf("select from %s: column %s: %w", q.table, q.cols[i], err)
			}
			row[i] = v
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return nil
}

// run executes q against gosql, recovering a panic.
func (d *sqlDB) run(q query) (res *gosql.Results, err error) {
	defer guard(&err)
	t, err := d.table(q.table)
	if err != nil {
		return nil, err
	}
	if len(q.cols) == 0 {
		return nil, errors.New("no columns selected")
	}
	items := make([]*gosql.SelectItem, len(q.cols))
	for i, name := range q.cols {
		if _, err := t.col(name); err != nil {
			return nil, err
		}
		e := identExp(name)
		items[i] = &gosql.SelectItem{Exp: &e}
	}
	where, err := t.where(q)
	if err != nil {
		return nil, err
	}
	return d.runSelect(&gosql.SelectStatement{Item: &items, From: &t.name, Where: where})
}

// runSelect hands a statement to gosql, recovering a panic. Callers hold
// d.mu.
func (d *sqlDB) runSelect(stmt *gosql.SelectStatement) (res *gosql.Results, err error) {
	defer guard(&err)
	return d.mb.Select(stmt)
}

// cellValue reads a cell stored by insert.
func cellValue(c gosql.Cell, typ colType) (value, error) {
	if c == nil {
		return value{}, errors.New("NULL cell")
	}
	if typ == colInt {
		n := c.AsInt()
		if n == nil {
			return value{}, errors.New("NULL int cell")
		}
		return intVal(int64(*n)), nil
	}
	s := c.AsText()
	if s == nil {
		return value{}, errors.New("NULL text cell")
	}
	if typ == colKey {
		return textVal(*s), nil
	}
	if len(*s) < len(textPrefix) || (*s)[:len(textPrefix)] != textPrefix {
		return value{}, errors.New("text cell without its prefix")
	}
	return textVal((*s)[len(textPrefix):]), nil
}
