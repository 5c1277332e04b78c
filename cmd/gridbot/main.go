// Command gridbot is the grid-reporting Telegram bot and its tools.
//
//	gridbot serve                  run the bot
//	gridbot parse [--batch]        parse a message (or JSON lines) to JSON
//	gridbot summary [--json]       a day's numbers per village
//	gridbot replay FILE|-          the bot against a fake Telegram in virtual time
//	gridbot db verify              check the embedded store's journal
//	gridbot db repair              set a damaged journal aside, keep every good record
//
// main only calls run, which tests call too.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the bot's zones must not depend on the host's
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gridbot:", err)
		os.Exit(1)
	}
}

const usage = `usage: gridbot <command> [flags]

commands:
  serve    run the bot (TELEGRAM_BOT_TOKEN, GRIDBOT_DB, GRIDBOT_OPERATORS, …)
  parse    read a message on stdin, print the parsed report as JSON
           (--batch: JSON lines in, JSON lines out)
  summary  print a day's numbers per village from the store (--json)
  replay   run the bot on a transcript of messages (JSON lines) against a
           fake Telegram in virtual time; print every call it makes
  db verify  check the embedded store's journal, record by record
  db repair  keep a damaged journal aside and rewrite it with every record
             that checks; says exactly what was lost

Run "gridbot <command> --help" for a command's flags.
`

// run is the whole program: args without the program name, the
// environment through getenv, and the three standard streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "parse":
		return runParse(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "summary":
		return runSummary(ctx, args[1:], getenv, stdout, stderr)
	case "replay":
		return runReplay(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "db":
		return runDB(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
