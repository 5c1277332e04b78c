// Package schedules posts gridbot's scheduled messages: the reminder to
// grid workers who have not sent the daily report (17:00), the village's
// daily summary (20:00), the morning follow-ups (09:00) and the command
// group's roll-up of every village (21:00), each at the time and in the
// time zone the chat set.
//
// Every post is exactly once per chat, job and local day: the job claims
// job:<name>:<chat>:<day> in the store in the same durable step that queues
// the message, so a double fire, a restart or a second replica on the same
// PostgreSQL cannot post twice. robfig/cron fires the jobs; because it
// skips a job whose time falls in a daylight-saving gap (and repeats one in
// an overlap), a sweep every five minutes runs any job whose time today has
// passed unclaimed — which is also how a job missed while the bot was down
// runs once when it is back, marked late (补发). Jobs of earlier days are
// never replayed.
package schedules

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"gridbot/handlers"
	"gridbot/report"
	"gridbot/store"
	"gridbot/tally"
)

// Job names a scheduled job.
type Job string

// The jobs.
const (
	Reminder Job = "reminder"
	Summary  Job = "summary"
	FollowUp Job = "followup"
	Rollup   Job = "rollup"
)

// sweepSpec is when the sweep runs.
const sweepSpec = "*/5 * * * *"

// lateAfter is how long after its time a job counts as late.
const lateAfter = 10 * time.Minute

// Store is what the scheduler reads and writes. *store.Store implements it.
type Store interface {
	tally.Source
	Commit(ctx context.Context, c store.Changes) (store.Result, error)
	Settings(ctx context.Context, chat int64) (map[string]string, error)
	Claimed(ctx context.Context, key string) (bool, error)
	Binding(ctx context.Context, chat int64) (store.Binding, bool, error)
	Roster(ctx context.Context, chat int64) ([]store.Member, error)
	History(ctx context.Context, chat, messageID int64) ([]store.HistoryEvent, error)
}

// Settings reads a chat's effective settings. *handlers.Handler
// implements it (Effective).
type Settings interface {
	Effective(map[string]string) handlers.ChatSettings
	ObservationDays(ctx context.Context) tally.ObservationDays
}

// Scheduler runs the jobs.
type Scheduler struct {
	store    Store
	settings Settings
	now      func() time.Time
	log      *slog.Logger
	queued   func() // wakes the sender
	cron     *cron.Cron

	mu      sync.Mutex
	entries map[entryKey]entry
	specs   map[string]cron.Schedule

	// reconciling serialises Reconcile: a plan read before a /set must
	// not be applied after one read since.
	reconciling sync.Mutex
}

type entryKey struct {
	chat int64
	job  Job
}

type entry struct {
	spec string
	id   cron.EntryID
}

// New returns a Scheduler. loc is the zone of the sweep; each job runs in
// its chat's zone.
func New(st Store, settings Settings, now func() time.Time, loc *time.Location, log *slog.Logger, queued func()) *Scheduler {
	log = log.With("component", "schedules")
	if queued == nil {
		queued = func() {}
	}
	logger := cronLogger{log}
	s := &Scheduler{
		store: st, settings: settings, now: now, log: log, queued: queued, entries: map[entryKey]entry{}, specs: map[string]cron.Schedule{},
		cron: cron.New(cron.WithLocation(loc), cron.WithLogger(logger),
			cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger))),
	}
	return s
}

// cronLogger routes robfig/cron's logging into slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

// Start schedules every bound chat's jobs, catches up on the jobs missed
// earlier today, and starts the cron.
func (s *Scheduler) Start(ctx context.Context) error {
	// the sweep first: if the store cannot be read now, the next sweep
	// schedules the jobs and catches up
	if _, err := s.cron.AddFunc(sweepSpec, func() { s.sweep(context.WithoutCancel(ctx)) }); err != nil {
		return fmt.Errorf("schedules: sweep: %w", err)
	}
	s.cron.Start()
	s.sweep(ctx)
	return nil
}

// stopWait bounds how long Stop waits for running jobs, so the process
// exits within its 10 s: a job cut short has not taken its claim and runs
// again at the next start.
const stopWait = 2 * time.Second

// Stop stops the cron and waits (a little) for running jobs.
func (s *Scheduler) Stop() {
	t := time.NewTimer(stopWait)
	defer t.Stop()
	select {
	case <-s.cron.Stop().Done():
	case <-t.C:
		s.log.Warn("stopped without waiting for a job still running")
	}
}

// Planned is one chat's job as scheduled.
type Planned struct {
	Chat     int64
	Job      Job
	Spec     string // CRON_TZ=… m h * * *
	Schedule cron.Schedule
	BoundAt  time.Time // when the chat was bound (its newest binding)

	stored    map[string]string // the chat's settings as Plan read them
	effective handlers.ChatSettings
}

// Plan lists every job that should be scheduled now, ordered by chat and
// job: what Reconcile gives the cron, and what gridbot replay steps
// through.
func (s *Scheduler) Plan(ctx context.Context) ([]Planned, error) {
	bindings, err := s.store.Bindings(ctx)
	if err != nil {
		return nil, fmt.Errorf("schedules: bindings: %w", err)
	}
	var plan []Planned
	for _, b := range bindings {
		if b.Role != store.RoleVillage && b.Role != store.RoleCommand {
			continue
		}
		stored, err := s.store.Settings(ctx, b.Chat)
		if err != nil {
			return nil, fmt.Errorf("schedules: settings: %w", err)
		}
		e := s.settings.Effective(stored)
		if !e.Active {
			continue
		}
		for _, job := range jobsOf(b.Role) {
			clock := clockOf(e, job)
			if clock.Off {
				continue
			}
			spec := fmt.Sprintf("CRON_TZ=%s %d %d * * *", e.Location, clock.Minute, clock.Hour)
			sched, err := s.parse(spec)
			if err != nil {
				return nil, err
			}
			plan = append(plan, Planned{Chat: b.Chat, Job: job, Spec: spec, Schedule: sched, BoundAt: b.At, stored: stored, effective: e})
		}
	}
	sort.Slice(plan, func(i, j int) bool {
		if plan[i].Chat != plan[j].Chat {
			return plan[i].Chat < plan[j].Chat
		}
		return plan[i].Job < plan[j].Job
	})
	return plan, nil
}

// parse parses a job's spec, once per spec.
func (s *Scheduler) parse(spec string) (cron.Schedule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sched, ok := s.specs[spec]; ok {
		return sched, nil
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("schedules: %s: %w", spec, err)
	}
	s.specs[spec] = sched
	return sched, nil
}

func jobsOf(role store.Role) []Job {
	if role == store.RoleCommand {
		return []Job{Rollup}
	}
	return []Job{FollowUp, Reminder, Summary}
}

func clockOf(e handlers.ChatSettings, job Job) handlers.Clock {
	switch job {
	case Reminder:
		return e.Reminder
	case Summary:
		return e.Summary
	case FollowUp:
		return e.FollowUp
	}
	return e.Rollup
}

// Reconcile makes the cron's entries match the bindings and settings: it
// is called at start, after /set, and by every sweep (so a setting changed
// through another replica applies too).
func (s *Scheduler) Reconcile(ctx context.Context) error {
	s.reconciling.Lock()
	defer s.reconciling.Unlock()
	plan, err := s.Plan(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[entryKey]Planned{}
	for _, p := range plan {
		want[entryKey{p.Chat, p.Job}] = p
	}
	for k, e := range s.entries {
		if p, ok := want[k]; !ok || p.Spec != e.spec {
			s.cron.Remove(e.id)
			delete(s.entries, k)
		}
	}
	for k, p := range want {
		if _, ok := s.entries[k]; ok {
			continue
		}
		chat, job := k.chat, k.job
		id := s.cron.Schedule(p.Schedule, cron.FuncJob(func() {
			if err := s.Fire(context.WithoutCancel(ctx), chat, job, s.now()); err != nil {
				s.log.Error("job failed", "job", job, "chat", chat, "err", err)
			}
		}))
		s.entries[k] = entry{spec: p.Spec, id: id}
	}
	return nil
}

// sweep runs every job whose time today has passed unclaimed.
func (s *Scheduler) sweep(ctx context.Context) {
	if err := s.Reconcile(ctx); err != nil {
		s.log.Error("rescheduling failed", "err", err)
	}
	if err := s.Sweep(ctx, s.now()); err != nil {
		s.log.Error("sweep failed", "err", err)
	}
}

// Sweep runs, once, each job whose time on the local day of now has
// passed and that nobody has run yet. A job more than a few minutes past
// its time is marked late. A job whose time came before its chat was
// bound was never missed: it does not run (a village bound at 21:30 gets
// no late summary of a day it was not part of).
func (s *Scheduler) Sweep(ctx context.Context, now time.Time) error {
	plan, err := s.Plan(ctx)
	if err != nil {
		return err
	}
	for _, p := range plan {
		stored, e := p.stored, p.effective
		local := now.In(e.Location)
		day := report.DateOf(local)
		clock := clockOf(e, p.Job)
		at := time.Date(local.Year(), local.Month(), local.Day(), clock.Hour, clock.Minute, 0, 0, e.Location)
		if now.Before(at) || p.BoundAt.After(at) && !p.BoundAt.After(now) {
			continue // not due yet, or bound since: never missed
		}
		if since := e.Since[string(p.Job)]; since.After(at) && !since.After(now) {
			continue // the time was moved to one already past today: from tomorrow
		}
		if err := s.run(ctx, p.Chat, p.Job, day, now, now.Sub(at) > lateAfter, stored); err != nil {
			s.log.Error("job failed", "job", p.Job, "chat", p.Chat, "err", err)
		}
	}
	return nil
}

// Fire runs a job that the cron fired at now, for the chat's local day.
func (s *Scheduler) Fire(ctx context.Context, chat int64, job Job, now time.Time) error {
	stored, err := s.store.Settings(ctx, chat)
	if err != nil {
		return fmt.Errorf("schedules: settings: %w", err)
	}
	day := report.DateOf(now.In(s.settings.Effective(stored).Location))
	return s.run(ctx, chat, job, day, now, false, stored)
}

// claimKey makes a job's post unique per chat and local day. chat is the
// chat's claimChat.
func claimKey(job Job, chat int64, day report.Date) string {
	return fmt.Sprintf("job:%s:%d:%s", job, chat, day)
}

// settingClaimChat remembers the chat id a chat's claims are keyed by: the
// id it had when a job first ran there. Settings follow a group that
// becomes a supergroup; claim keys, plain strings, do not. Without it a
// job that ran before the migration would run again, late, under the new
// id at the next sweep.
const settingClaimChat = "claim_chat"

// claimChat returns the id chat's claims are keyed by, given its stored
// settings.
func claimChat(chat int64, stored map[string]string) int64 {
	if id, err := strconv.ParseInt(stored[settingClaimChat], 10, 64); err == nil && id != 0 {
		return id
	}
	return chat
}

// run composes a job's post and queues it under the job's claim, in one
// durable step. A job with nothing to say still takes its claim. stored
// are the chat's settings, as the caller read them.
func (s *Scheduler) run(ctx context.Context, chat int64, job Job, day report.Date, now time.Time, late bool, stored map[string]string) error {
	key := claimKey(job, claimChat(chat, stored), day)
	if claimed, err := s.store.Claimed(ctx, key); err != nil || claimed {
		return err
	}
	b, ok, err := s.binding(ctx, chat)
	if err != nil || !ok {
		return err
	}
	e := s.settings.Effective(stored)
	var actions []handlers.Action
	switch job {
	case Reminder:
		actions, err = s.reminder(ctx, b, e, day, late, key)
	case Summary:
		actions, err = s.summary(ctx, b, e, day, late, key)
	case FollowUp:
		actions, err = s.followUp(ctx, b, e, day, late, key)
	case Rollup:
		actions, err = s.rollup(ctx, b, e, day, late, key)
	}
	if err != nil {
		return fmt.Errorf("schedules: %s for %d: %w", job, chat, err)
	}
	changes := store.Changes{Claims: []string{key}}
	if stored[settingClaimChat] == "" { // the chat's first job: from now on its claims keep this id
		changes.Settings = []store.Setting{{Chat: chat, Key: settingClaimChat, Value: strconv.FormatInt(chat, 10), At: now}}
	}
	for _, a := range actions {
		m, err := a.OutboxMessage(now)
		if err != nil {
			return err
		}
		changes.Outbox = append(changes.Outbox, m)
	}
	res, err := s.store.Commit(ctx, changes)
	if err != nil {
		return fmt.Errorf("schedules: %s for %d: %w", job, chat, err)
	}
	if res.Claimed {
		s.log.Info("job ran", "job", job, "chat", chat, "day", day.String(), "late", late, "posts", len(actions))
		if len(actions) > 0 {
			s.queued()
		}
	}
	return nil
}

// binding returns a chat's binding, under its current id.
func (s *Scheduler) binding(ctx context.Context, chat int64) (store.Binding, bool, error) {
	b, ok, err := s.store.Binding(ctx, chat)
	if err != nil {
		return store.Binding{}, false, fmt.Errorf("schedules: binding: %w", err)
	}
	return b, ok, nil
}
