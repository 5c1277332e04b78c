package embedded

import (
	"context"
	"fmt"
	"sort"

	"gridbot/store/driver"
)

// Binding returns a chat's current binding (ok false if it has none or was
// unbound). Chat is reported as the chat's current id.
func (e *Engine) Binding(ctx context.Context, chat int64) (driver.Binding, bool, error) {
	var (
		b     driver.Binding
		found bool
	)
	err := e.read(ctx, func(st *state) error {
		home := st.alias.resolve(chat)
		var best int64
		err := st.selectFamily(tblBindings, home, func(body string) error {
			seq, row, err := decodeBinding(body)
			if err == nil && seq > best {
				best, b = seq, row
			}
			return err
		})
		if err != nil {
			return err
		}
		found = best > 0 && b.Role != driver.RoleNone
		b.Chat = st.alias.currentOf(home)
		return nil
	})
	if err != nil {
		return driver.Binding{}, false, fmt.Errorf("embedded: binding: %w", err)
	}
	if !found {
		return driver.Binding{}, false, nil
	}
	return b, true, nil
}

// Bindings lists every currently bound chat, ordered by (current) chat id.
// The bindings table is small: it is read whole.
func (e *Engine) Bindings(ctx context.Context) ([]driver.Binding, error) {
	var out []driver.Binding
	err := e.read(ctx, func(st *state) error {
		type folded struct {
			seq int64
			b   driver.Binding
		}
		newest := map[int64]folded{} // by home
		err := st.db.selectText(query{table: tblBindings, cols: []string{colBody}}, func(body string) error {
			seq, b, err := decodeBinding(body)
			if home := st.alias.resolve(b.Chat); err == nil && seq > newest[home].seq {
				newest[home] = folded{seq, b}
			}
			return err
		})
		if err != nil {
			return err
		}
		for home, f := range newest {
			if f.b.Role != driver.RoleNone {
				f.b.Chat = st.alias.currentOf(home)
				out = append(out, f.b)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: bindings: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Chat < out[j].Chat })
	return out, nil
}

// CurrentChat follows migrations forward: the id to send to now.
func (e *Engine) CurrentChat(ctx context.Context, chat int64) (int64, error) {
	var cur int64
	err := e.read(ctx, func(st *state) error {
		cur = st.alias.currentOf(st.alias.resolve(chat))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("embedded: current chat: %w", err)
	}
	return cur, nil
}

// Roster lists a chat's members, newest fact per user, including those who
// left, ordered by user id. Chat is reported as the chat's current id.
func (e *Engine) Roster(ctx context.Context, chat int64) ([]driver.Member, error) {
	out := []driver.Member{}
	err := e.read(ctx, func(st *state) error {
		home := st.alias.resolve(chat)
		type folded struct {
			seq int64
			m   driver.Member
		}
		newest := map[int64]folded{}
		err := st.selectFamily(tblMembers, home, func(body string) error {
			seq, m, err := decodeMember(body)
			if err == nil && seq > newest[m.UserID].seq {
				newest[m.UserID] = folded{seq, m}
			}
			return err
		})
		if err != nil {
			return err
		}
		cur := st.alias.currentOf(home)
		for _, f := range newest {
			f.m.Chat = cur
			out = append(out, f.m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: roster: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out, nil
}

// Settings returns a chat's settings, newest per key; a key whose newest
// value is "" is absent.
func (e *Engine) Settings(ctx context.Context, chat int64) (map[string]string, error) {
	out := map[string]string{}
	err := e.read(ctx, func(st *state) error {
		home := st.alias.resolve(chat)
		newest := map[string]settingRow{}
		err := st.selectFamily(tblSettings, home, func(body string) error {
			row, err := decodeSetting(body)
			if err == nil && row.seq > newest[row.Key].seq {
				newest[row.Key] = row
			}
			return err
		})
		for k, row := range newest {
			if row.Value != "" {
				out[k] = row.Value
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: settings: %w", err)
	}
	return out, nil
}

// selectFamily calls fn with the body of every row of table (bindings,
// members or settings) stored under an id of the chat whose home is home.
// A fact is stored under the home its chat had when it was written, which
// is the chat's own id when it was written before the migration that made
// that id an alias, so every id of the family is read; callers fold by
// Seq across all of them.
func (st *state) selectFamily(table string, home int64, fn func(body string) error) error {
	for _, id := range st.alias.ids(home) {
		if err := st.db.selectText(query{table: table, cols: []string{colBody}, eq: eqCond(colChat, textVal(chatKey(id)))}, fn); err != nil {
			return err
		}
	}
	return nil
}

// Claimed reports whether a claim key is taken.
func (e *Engine) Claimed(ctx context.Context, key string) (bool, error) {
	var taken bool
	err := e.read(ctx, func(st *state) error {
		var err error
		taken, err = st.claimTaken(key)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("embedded: claimed: %w", err)
	}
	return taken, nil
}
