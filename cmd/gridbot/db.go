package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"gridbot/store"
	"gridbot/store/embedded"
	"gridbot/store/embedded/journal"
)

const dbUsage = `usage: gridbot db verify [--db DIR]   check the embedded store's journal; changes nothing
       gridbot db repair [--db DIR]   keep the damaged journal aside and rewrite it with every record that checks`

// runDB implements `gridbot db verify` and `gridbot db repair`.
func runDB(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "repair") {
		fmt.Fprintln(stderr, dbUsage)
		return errors.New("db: unknown or missing subcommand")
	}
	sub := args[0]
	fs := flag.NewFlagSet("db "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.register(fs, getenv)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if storeKind(cfg.DB) != "embedded" {
		return fmt.Errorf("db %s: works on the embedded store's journal; PostgreSQL checks its own data", sub)
	}
	path := filepath.Join(strings.TrimPrefix(cfg.DB, "file:"), embedded.JournalFile)
	if sub == "repair" {
		return repairDB(ctx, cfg, path, time.Now().UTC(), stdout)
	}
	return verifyDB(ctx, cfg, path, stdout)
}

// verifyDB reads the journal at path without changing it and says what
// it found; it returns an error if the store would not open.
func verifyDB(ctx context.Context, cfg config, path string, stdout io.Writer) error {
	rep, err := journal.Verify(path)
	if err != nil {
		return fmt.Errorf("db verify: %w%s", err, repairHint(err))
	}
	fmt.Fprintf(stdout, "%s: %d records, %d bytes\n", path, rep.Records, rep.ValidSize)
	if rep.Corruption != nil {
		fmt.Fprintf(stdout, "DAMAGED: %v\n", rep.Corruption)
		fmt.Fprintf(stdout, "the store will not open; %d of the file's %d bytes follow the last record that checks. Nothing was changed.\n",
			rep.FileSize-rep.ValidSize, rep.FileSize)
		return fmt.Errorf("db verify: damaged: %w%s", rep.Corruption, repairHint(rep.Corruption))
	}
	if rep.TornTail {
		fmt.Fprintf(stdout, "torn tail after byte %d (%d bytes: %s): an unfinished write, never acknowledged; the next start cuts it off\n",
			rep.ValidSize, rep.FileSize-rep.ValidSize, rep.TornReason)
	}
	// every record must also decode and apply
	st, err := store.Open(ctx, cfg.DB, store.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("db verify: replay: %w", err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("db verify: %w", err)
	}
	fmt.Fprintln(stdout, "ok: every record decodes and replays")
	return nil
}

func repairHint(err error) string {
	var ce *journal.CorruptError
	if errors.As(err, &ce) {
		return ` (see "When the store will not open" in the README: gridbot db repair)`
	}
	return ""
}

// repairDB rewrites a damaged journal with every record that checks,
// keeping the damaged file beside it, and says exactly what was lost.
func repairDB(ctx context.Context, cfg config, path string, now time.Time, stdout io.Writer) error {
	aside := path + ".damaged-" + now.Format("20060102T150405Z")
	rep, err := journal.Repair(path, journal.RepairOptions{Aside: aside})
	if err != nil {
		return fmt.Errorf("db repair: %w", err)
	}
	if !rep.Changed {
		fmt.Fprintf(stdout, "%s: %d records, %d bytes; nothing to repair, nothing changed\n", path, rep.Records, rep.Size)
		return nil
	}
	fmt.Fprintf(stdout, "%s: repaired\n", path)
	fmt.Fprintf(stdout, "the damaged file is kept as %s\n", aside)
	if rep.Header != "" {
		fmt.Fprintf(stdout, "header: %s\n", rep.Header)
	}
	for _, off := range rep.Fixed {
		fmt.Fprintf(stdout, "kept: the record at offset %d, whose length field had one bit flipped (its checksum matches once corrected)\n", off)
	}
	for _, l := range rep.Lost {
		if l.Torn {
			fmt.Fprintf(stdout, "dropped: bytes %d–%d (%d bytes): an unfinished last write (%s), never acknowledged; nothing reported is lost with it\n",
				l.Offset, l.Offset+l.Size, l.Size, l.Reason)
			continue
		}
		what := "what it held cannot be told"
		if l.Payload != nil {
			what = "it held: " + embedded.DescribeRecord(l.Payload)
		}
		fmt.Fprintf(stdout, "LOST: bytes %d–%d (%d bytes): %s; %s\n", l.Offset, l.Offset+l.Size, l.Size, l.Reason, what)
	}
	fmt.Fprintf(stdout, "kept %d records (%d bytes)\n", rep.Records, rep.Size)
	if lost := countLost(rep.Lost); lost > 0 {
		fmt.Fprintf(stdout, "check: %d damaged region(s) were dropped. Reports, roster changes or settings they held must be sent again;\n"+
			"a lost send attempt means a message may be sent twice, a lost claim that a scheduled post may be posted twice.\n"+
			"Compare /today and gridbot summary with what the villages sent around that time.\n", lost)
	}
	st, err := store.Open(ctx, cfg.DB, store.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("db repair: the repaired journal does not replay (the damaged file is kept as %s): %w", aside, err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("db repair: %w", err)
	}
	fmt.Fprintln(stdout, "ok: every kept record decodes and replays; the store opens")
	return nil
}

func countLost(lost []journal.Lost) int {
	n := 0
	for _, l := range lost {
		if !l.Torn {
			n++
		}
	}
	return n
}
