package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"gridbot/store"
	"gridbot/store/embedded"
	"gridbot/store/embedded/journal"
)

// runDB implements `gridbot db verify`.
func runDB(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: gridbot db verify [--db DIR]")
		return errors.New("db: unknown or missing subcommand")
	}
	fs := flag.NewFlagSet("db verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.register(fs, getenv)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if storeKind(cfg.DB) != "embedded" {
		return errors.New("db verify: checks the embedded store's journal; PostgreSQL checks its own data")
	}
	path := filepath.Join(strings.TrimPrefix(cfg.DB, "file:"), embedded.JournalFile)
	rep, err := journal.Verify(path)
	if err != nil {
		return fmt.Errorf("db verify: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %d records, %d bytes\n", path, rep.Records, rep.ValidSize)
	if rep.TornTail {
		fmt.Fprintf(stdout, "torn tail after byte %d (%s): the next writer cuts it off; nothing acknowledged is lost\n", rep.ValidSize, rep.TornReason)
	}
	if rep.Corruption != nil {
		return fmt.Errorf("db verify: corrupt: %w", rep.Corruption)
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
