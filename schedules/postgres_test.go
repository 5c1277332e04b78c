package schedules

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gridbot/report"
	"gridbot/store"
)

// postgresSchema creates an empty schema for one test and returns a store
// URL that uses it; it skips the test when GRIDBOT_TEST_POSTGRES_URL is
// not set.
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("GRIDBOT_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("GRIDBOT_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("gridbot_sched_%d", rand.Uint64()%1e12)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// weekOfFires fires every job of the week at its time, in a sweep every
// five minutes as the scheduler would, plus a second fire of each job —
// the work of one replica.
func weekOfFires(ctx context.Context, f *fixture, from report.Date) error {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	for day := range 7 {
		d := from.AddDays(day)
		for _, job := range []struct {
			chat int64
			job  Job
			at   time.Duration
		}{{village, FollowUp, 9 * time.Hour}, {village, Reminder, 17 * time.Hour}, {village, Summary, 20 * time.Hour}, {command, Rollup, 21 * time.Hour}} {
			at := d.Start(loc).Add(job.at)
			if err := f.sched.Fire(ctx, job.chat, job.job, at); err != nil {
				return err
			}
			if err := f.sched.Sweep(ctx, at.Add(5*time.Minute)); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestPostgresTwoSchedulersPostOnce runs two schedulers, each with its own
// connection pool, against one PostgreSQL database, firing every job of a
// week at the same moments: each chat gets one post per job and day.
func TestPostgresTwoSchedulersPostOnce(t *testing.T) {
	dsn := postgresSchema(t)
	ctx := context.Background()
	var fixtures []*fixture
	for range 2 {
		st, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fixtures = append(fixtures, newFixture(t, st, "Asia/Shanghai"))
	}
	fixtures[0].bind(nil)
	from := report.Date{Year: 2020, Month: 2, Day: 3}
	var wg sync.WaitGroup
	errs := make(chan error, len(fixtures))
	for _, f := range fixtures {
		wg.Go(func() { errs <- weekOfFires(ctx, f, from) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkWeek(t, fixtures[0], from)
}

// checkWeek checks one post per chat, job and day: summaries, roll-ups and
// reminders (the roster is empty: the reminder says nobody has joined).
func checkWeek(t *testing.T, f *fixture, from report.Date) {
	t.Helper()
	msgs, err := f.st.Due(context.Background(), from.AddDays(30).Start(time.UTC), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, m := range msgs {
		job, _, _ := strings.Cut(strings.TrimPrefix(m.Key, "job:"), ":")
		count[job]++
	}
	if count["summary"] != 7 || count["rollup"] != 7 || count["reminder"] != 7 || count["followup"] != 0 {
		t.Errorf("posts in a week: %v; want 7 summaries, 7 roll-ups, 7 reminders and nothing else", count)
	}
	for d := from; d.Compare(from.AddDays(6)) <= 0; d = d.AddDays(1) {
		for _, key := range []string{claimKey(Summary, village, d), claimKey(Rollup, command, d), claimKey(Reminder, village, d), claimKey(FollowUp, village, d)} {
			if ok, err := f.st.Claimed(context.Background(), key); err != nil || !ok {
				t.Errorf("%s not claimed: %v", key, err)
			}
		}
	}
}

// TestHelperReplica is not a test: it is a replica in a child process for
// TestPostgresTwoProcessesPostOnce, selected by GRIDBOT_TEST_REPLICA.
func TestHelperReplica(t *testing.T) {
	dsn := os.Getenv("GRIDBOT_TEST_REPLICA")
	if dsn == "" {
		t.Skip("helper process for TestPostgresTwoProcessesPostOnce")
	}
	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := weekOfFires(context.Background(), newFixture(t, st, "Asia/Shanghai"), report.Date{Year: 2020, Month: 2, Day: 3}); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresTwoProcessesPostOnce runs two replicas as separate
// processes sharing nothing but the database.
func TestPostgresTwoProcessesPostOnce(t *testing.T) {
	dsn := postgresSchema(t)
	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := newFixture(t, st, "Asia/Shanghai")
	f.bind(nil)
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperReplica$")
		cmd.Env = append(os.Environ(), "GRIDBOT_TEST_REPLICA="+dsn)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("replica: %v", err)
		}
	}
	checkWeek(t, f, report.Date{Year: 2020, Month: 2, Day: 3})
}
