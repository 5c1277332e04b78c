package embedded

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"gridbot/store/driver"
)

// migration is a chat migration as recorded: From became To, and both
// belong to the chat whose first id is home.
type migration struct {
	from, to, home int64
	at             time.Time
}

// aliases maps the ids of migrated chats. A chat's home is its first id;
// bindings, members, settings and outbox messages are stored under it.
// Reports are stored under the id their message was sent in, and a query
// for a chat covers all its ids. The graph is a star: every alias points
// straight at a home and a home is never an alias, so resolving is one
// lookup and no cycle can form.
type aliases struct {
	home    map[int64]int64   // alias → home, for every id that is not a home
	current map[int64]int64   // home → newest id, for migrated homes
	family  map[int64][]int64 // home → its aliases, in migration order
}

func newAliases() aliases {
	return aliases{home: map[int64]int64{}, current: map[int64]int64{}, family: map[int64][]int64{}}
}

func (a aliases) clone() aliases {
	fam := make(map[int64][]int64, len(a.family))
	for h, ids := range a.family {
		fam[h] = slices.Clone(ids)
	}
	return aliases{home: maps.Clone(a.home), current: maps.Clone(a.current), family: fam}
}

// resolve returns the home of a chat id.
func (a aliases) resolve(id int64) int64 {
	if h, ok := a.home[id]; ok {
		return h
	}
	return id
}

// ids returns every id of the chat known by id: its home first, then its
// aliases.
func (a aliases) ids(id int64) []int64 {
	h := a.resolve(id)
	return append([]int64{h}, a.family[h]...)
}

// currentOf returns the newest id of a home.
func (a aliases) currentOf(home int64) int64 {
	if c, ok := a.current[home]; ok {
		return c
	}
	return home
}

// known reports whether id already takes part in a migration, as an alias
// or as a migrated home.
func (a aliases) known(id int64) bool {
	_, alias := a.home[id]
	_, home := a.current[id]
	return alias || home
}

// add records a migration. It trusts m (planned by plan or read from the
// journal) except that it never makes a home an alias of itself.
func (a aliases) add(m migration) {
	if m.to == m.home {
		return
	}
	if _, ok := a.home[m.to]; !ok {
		a.family[m.home] = append(a.family[m.home], m.to)
	}
	a.home[m.to] = m.home
	a.current[m.home] = m.to
}

// remove takes back a migration that add recorded but that was never
// written (its commit was refused). m.to was new when m was planned, so
// removing it restores the aliases as they were, whatever was added since.
func (a aliases) remove(m migration) {
	if m.to == m.home || a.home[m.to] != m.home {
		return
	}
	delete(a.home, m.to)
	fam := slices.DeleteFunc(a.family[m.home], func(id int64) bool { return id == m.to })
	if len(fam) == 0 {
		delete(a.family, m.home)
		delete(a.current, m.home)
		return
	}
	a.family[m.home] = fam
	a.current[m.home] = fam[len(fam)-1]
}

// planMigration decides what a migration from → to means given the
// aliases so far: ok false for a repeat (to already is the same chat), an
// error if to already belongs to another chat.
func planMigration(resolve func(int64) int64, known func(int64) bool, from, to int64, at time.Time) (m migration, ok bool, err error) {
	hf, ht := resolve(from), resolve(to)
	if hf == ht {
		return migration{}, false, nil
	}
	if known(to) {
		return migration{}, false, fmt.Errorf("migration from %d to %d: chat %d already is another chat's id: %w", from, to, to, driver.ErrInvalid)
	}
	return migration{from: from, to: to, home: hf, at: at}, true, nil
}
