package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"gridbot/report"
)

// runParse implements `gridbot parse`.
func runParse(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nowFlag := fs.String("now", "", "the message's time, RFC 3339 (default: now)")
	tz := fs.String("tz", envOr(getenv, "GRIDBOT_TZ", "Asia/Shanghai"), "the chat's time zone (GRIDBOT_TZ)")
	sender := fs.String("sender", "", "the sender's display name (a tenant's default landlord)")
	botName := fs.String("bot", envOr(getenv, "GRIDBOT_USERNAME", ""), "the bot's username: /cmd@other is ignored")
	batch := fs.Bool("batch", false, `read JSON lines {"text","now","sender"}, write one result line each`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("parse: --tz: %w", err)
	}
	now := time.Now()
	if *nowFlag != "" {
		if now, err = time.Parse(time.RFC3339, *nowFlag); err != nil {
			return fmt.Errorf("parse: --now: %w", err)
		}
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	if *batch {
		return parseBatch(ctx, stdin, out, loc, *botName)
	}
	text, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
	if err != nil {
		return fmt.Errorf("parse: read stdin: %w", err)
	}
	r := report.ParseAll(string(text), report.Context{Now: now, Location: loc, Sender: *sender, BotUsername: *botName})
	return writeJSONLine(out, r)
}

// batchLine is one input of `gridbot parse --batch`.
type batchLine struct {
	Text   string `json:"text"`
	Now    string `json:"now"`
	Sender string `json:"sender"`
}

// parseBatch parses JSON lines in order. A line that is not valid input
// gets an {"error": …} line in its place, so outputs stay aligned.
func parseBatch(ctx context.Context, stdin io.Reader, out *bufio.Writer, loc *time.Location, botName string) error {
	in := bufio.NewReaderSize(stdin, 256<<10)
	for n := 1; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := in.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("parse: read line %d: %w", n, err)
		}
		var b batchLine
		if jerr := json.Unmarshal(line, &b); jerr != nil {
			if werr := writeJSONLine(out, map[string]string{"error": fmt.Sprintf("line %d: %v", n, jerr)}); werr != nil {
				return werr
			}
			continue
		}
		now := time.Now()
		if b.Now != "" {
			t, terr := time.Parse(time.RFC3339, b.Now)
			if terr != nil {
				if werr := writeJSONLine(out, map[string]string{"error": fmt.Sprintf("line %d: now: %v", n, terr)}); werr != nil {
					return werr
				}
				continue
			}
			now = t
		}
		r := report.ParseAll(b.Text, report.Context{Now: now, Location: loc, Sender: b.Sender, BotUsername: botName})
		if err := writeJSONLine(out, r); err != nil {
			return err
		}
	}
}

func writeJSONLine(w *bufio.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("parse: encode: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("parse: write: %w", err)
	}
	return nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
