package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gridbot/report"
	"gridbot/store"
	"gridbot/store/embedded"
	"gridbot/store/embedded/journal"
)

// dbWithReports makes an embedded store holding n arrival reports in one
// village and returns its directory, the journal's path and the offset of
// each record.
func dbWithReports(t *testing.T, n int) (dir, path string, offsets []int64) {
	t.Helper()
	dir = t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	day := report.Date{Year: 2020, Month: 2, Day: 7}
	at := time.Date(2020, 2, 7, 10, 0, 0, 0, time.UTC)
	for i := range n {
		r := store.Revision{
			Chat: -100, MessageID: int64(i + 1), Kind: report.Arrival, Lang: report.Zh,
			Fields: map[string]string{"name": "张三", "phone": "13812345678", "origin": "武汉", "arrived_on": day.String(), "address": "郝家店村3组"},
			Text:   "#返乡 张三 13812345678", SenderID: 7, Sender: "王网格", SentAt: at, Day: day, At: at,
		}
		if _, err := st.Commit(ctx, store.Changes{Revision: &r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, embedded.JournalFile)
	if _, err := journal.ReadAll(path, func(off int64, _ []byte) error { offsets = append(offsets, off); return nil }); err != nil {
		t.Fatal(err)
	}
	return dir, path, offsets
}

func runDBT(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := func(k string) string { return map[string]string{"GRIDBOT_DB": dir}[k] }
	err := run(context.Background(), append([]string{"db"}, args...), env, strings.NewReader(""), &out, &errOut)
	return out.String() + errOut.String(), err
}

func reportCount(t *testing.T, dir string) int {
	t.Helper()
	st, err := store.Open(context.Background(), dir, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open after repair: %v", err)
	}
	defer st.Close()
	rs, err := st.Reports(context.Background(), store.ReportQuery{Chat: -100})
	if err != nil {
		t.Fatal(err)
	}
	return len(rs)
}

// TestDBVerifyAndRepair damages a store's journal the ways a disk or an
// operator can, and checks that db verify reports it, that the store does
// not open, and that db repair sets the damaged file aside, keeps every
// record that checks and says what was lost, without personal data.
func TestDBVerifyAndRepair(t *testing.T) {
	const n = 30
	tests := []struct {
		name       string
		damage     func(b []byte, offsets []int64)
		verifySays string // in db verify's output
		repairSays []string
		kept       int
	}{
		{"a bit of the salt", func(b []byte, _ []int64) { b[20] ^= 0x08 }, "damaged header",
			[]string{"header: salt restored"}, n},
		{"a middle record", func(b []byte, o []int64) { b[o[10]+40] ^= 0x01 }, "corrupt frame at offset",
			[]string{"LOST: bytes", "it held: 1 × report (or a correction of one)", "must be sent again"}, n - 1},
		{"the last record", func(b []byte, o []int64) { b[o[n-1]+30] ^= 0x40 }, "fails its check",
			[]string{"LOST: bytes", "report"}, n - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, path, offsets := dbWithReports(t, n)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(b, offsets)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}

			out, err := runDBT(t, dir, "verify")
			t.Logf("db verify: %v\n%s", err, out)
			if err == nil || !strings.Contains(out, "DAMAGED") || !strings.Contains(out, tt.verifySays) || !strings.Contains(err.Error(), "db repair") {
				t.Errorf("db verify = %v:\n%s", err, out)
			}
			if _, err := store.Open(context.Background(), dir, store.Options{}); !errors.As(err, new(*journal.CorruptError)) {
				t.Errorf("store.Open = %v, want a *journal.CorruptError", err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, b) {
				t.Fatal("verify or open changed the damaged journal")
			}

			out, err = runDBT(t, dir, "repair")
			t.Logf("db repair:\n%s", out)
			if err != nil {
				t.Fatalf("db repair: %v\n%s", err, out)
			}
			for _, want := range append(tt.repairSays, "the damaged file is kept as", fmt.Sprintf("kept %d records", tt.kept), "ok: every kept record") {
				if !strings.Contains(out, want) {
					t.Errorf("db repair output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "张三") || strings.Contains(out, "1381234") || strings.Contains(out, "王网格") {
				t.Errorf("db repair output shows personal data:\n%s", out)
			}
			asides, _ := filepath.Glob(path + ".damaged-*")
			if len(asides) != 1 {
				t.Fatalf("damaged files kept: %q", asides)
			}
			if got, _ := os.ReadFile(asides[0]); !bytes.Equal(got, b) {
				t.Error("the damaged file was not kept byte for byte")
			}
			if got := reportCount(t, dir); got != tt.kept {
				t.Errorf("%d reports after repair, want %d", got, tt.kept)
			}
			if out, err := runDBT(t, dir, "verify"); err != nil || !strings.Contains(out, "ok: every record decodes") {
				t.Errorf("db verify after repair = %v:\n%s", err, out)
			}
			if out, err := runDBT(t, dir, "repair"); err != nil || !strings.Contains(out, "nothing to repair") {
				t.Errorf("second db repair = %v:\n%s", err, out)
			}
		})
	}

	t.Run("an emptied journal", func(t *testing.T) {
		dir, path, _ := dbWithReports(t, 3)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		if out, err := runDBT(t, dir, "verify"); !errors.Is(err, journal.ErrLost) {
			t.Errorf("db verify = %v:\n%s", err, out)
		}
		if _, err := store.Open(context.Background(), dir, store.Options{}); !errors.Is(err, journal.ErrLost) {
			t.Errorf("store.Open = %v, want journal.ErrLost", err)
		}
		if out, err := runDBT(t, dir, "repair"); err == nil {
			t.Errorf("db repair of an emptied journal succeeded:\n%s", out)
		}
	})
}
