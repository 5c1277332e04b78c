package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"gridbot/handlers"
	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

// runSummary implements `gridbot summary`: a day's numbers per village,
// the same numbers /today shows, read from the store — read-only, so it
// works while the bot runs and on a store left behind by a killed bot.
func runSummary(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("summary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.register(fs, getenv)
	dayFlag := fs.String("day", "", "the day, YYYY-MM-DD (default: today in --tz)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.finish(); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	day := report.DateOf(time.Now().In(cfg.Location))
	if *dayFlag != "" {
		d, err := report.ParseDate(*dayFlag)
		if err != nil {
			return fmt.Errorf("summary: --day: %w", err)
		}
		day = d
	}
	st, err := store.Open(ctx, cfg.DB, store.Options{ReadOnly: true, Logger: newLogger(stderr, getenv)})
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	defer st.Close()
	h := handlers.New(handlers.Config{Location: cfg.Location}, st, nil, time.Now, nil)
	all, err := tally.AllVillages(ctx, st, day, h.ObservationDays(ctx))
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(summaryJSON(all))
	}
	w := tabwriter.NewWriter(stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintf(w, "%s\tarrivals\tfevers\tgatherings\ttenants\tdaily\tmissing\tobserved\tfollowups\n", day)
	for _, v := range all.Villages {
		c := v.Counts
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", v.Name, c.Arrivals, c.Fevers, c.Gatherings, c.Tenants, c.DailyReports, len(v.Missing), c.UnderObservation, c.FollowUps)
	}
	t := all.Totals
	fmt.Fprintf(w, "total\t%d\t%d\t%d\t%d\t%d\t\t%d\t%d\n", t.Arrivals, t.Fevers, t.Gatherings, t.Tenants, t.DailyReports, t.UnderObservation, t.FollowUps)
	return w.Flush()
}

// villageJSON is one village in `gridbot summary --json`.
type villageJSON struct {
	Village      string   `json:"village"`
	ChatID       string   `json:"chat_id"`
	MissingDaily []string `json:"missing_daily"`
	tally.Counts
}

func summaryJSON(d tally.Day) any {
	villages := []villageJSON{}
	for _, v := range d.Villages {
		missing := []string{}
		for _, m := range v.Missing {
			missing = append(missing, m.Name)
		}
		villages = append(villages, villageJSON{Village: v.Name, ChatID: strconv.FormatInt(v.Chat, 10), MissingDaily: missing, Counts: v.Counts})
	}
	return struct {
		Day      string        `json:"day"`
		Villages []villageJSON `json:"villages"`
		Totals   tally.Counts  `json:"totals"`
	}{d.Day.String(), villages, d.Totals}
}
