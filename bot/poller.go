package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-telegram/bot/models"
)

// allowedUpdates are the update types the bot asks Telegram for.
var allowedUpdates = []string{models.AllowedUpdateMessage, models.AllowedUpdateEditedMessage, models.AllowedUpdateCallbackQuery, models.AllowedUpdateMyChatMember}

// Poller long-polls getUpdates itself: it asks for the next offset, which
// tells Telegram the earlier updates were received, only after every one
// of them was processed durably.
type Poller struct {
	base    string // {server}/bot{token}
	client  *http.Client
	timeout time.Duration // the long poll's length
	process func(ctx context.Context, updates []models.Update) error
	log     *slog.Logger
	metrics *Metrics
}

// NewPoller returns a poller. client must allow requests longer than
// timeout.
func NewPoller(serverURL, token string, client *http.Client, timeout time.Duration, process func(context.Context, []models.Update) error, log *slog.Logger, m *Metrics) *Poller {
	return &Poller{base: serverURL + "/bot" + token, client: client, timeout: timeout, process: process, log: log.With("component", "poller"), metrics: m}
}

// redact drops the request URL from a transport error: it holds the bot
// token, which must never reach a log.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("getUpdates: %s: %w", ue.Op, ue.Err)
	}
	return err
}

// apiError is a Bot API error answer.
type apiError struct {
	Code        int
	Description string
	RetryAfter  int
}

func (e *apiError) Error() string { return fmt.Sprintf("telegram: %d %s", e.Code, e.Description) }

// ErrTokenRefused is returned by Run when Telegram answers 401
// Unauthorized: the bot token was revoked or is wrong, and no retry can
// mend that.
var ErrTokenRefused = errors.New("Telegram refused the bot token (401 Unauthorized)")

// received is what one getUpdates call answered: the updates that could be
// decoded, the ids of those that could not, and the highest id of all.
type received struct {
	updates     []models.Update
	undecodable []skipped
	last        int64 // 0 for none
	count       int   // updates in the answer, decodable or not
}

// skipped is an update that cannot be decoded: its id and why.
type skipped struct {
	id  int64
	err error
}

// getUpdates asks for updates from offset on. The answer is decoded update
// by update: one that cannot be decoded must not hide the others.
func (p *Poller) getUpdates(ctx context.Context, offset int64, timeout time.Duration) (received, error) {
	body, _ := json.Marshal(map[string]any{"offset": offset, "timeout": int(timeout / time.Second), "allowed_updates": allowedUpdates})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/getUpdates", bytes.NewReader(body))
	if err != nil {
		return received{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return received{}, redact(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return received{}, err
	}
	var answer struct {
		OK          bool              `json:"ok"`
		Result      []json.RawMessage `json:"result"`
		ErrorCode   int               `json:"error_code"`
		Description string            `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return received{}, fmt.Errorf("getUpdates: HTTP %d, undecodable answer: %w", resp.StatusCode, err)
	}
	if !answer.OK {
		return received{}, &apiError{Code: answer.ErrorCode, Description: answer.Description, RetryAfter: answer.Parameters.RetryAfter}
	}
	return p.decode(answer.Result), nil
}

// decode decodes a getUpdates answer update by update.
func (p *Poller) decode(raws []json.RawMessage) received {
	r := received{count: len(raws)}
	for _, raw := range raws {
		u, id, partial, err := decodeUpdate(raw)
		r.last = max(r.last, id)
		switch {
		case err != nil && id == 0:
			p.log.Error("an update without an update_id; skipped", "bytes", len(raw))
		case err != nil:
			r.undecodable = append(r.undecodable, skipped{id, err})
		default:
			if partial {
				p.metrics.partial.Inc()
				p.log.Warn("update read in part: the library could not decode all of it", "update", id)
			}
			r.updates = append(r.updates, u)
		}
	}
	return r
}

// skip counts the undecodable updates of r, which are confirmed with it.
func (p *Poller) skip(r received) {
	for _, u := range r.undecodable {
		p.metrics.dropped.WithLabelValues(reasonUndecodable).Inc()
		p.log.Error("update given up on: it cannot be decoded", "update", u.id, "err", u.err)
	}
}

// Run polls until ctx ends. An update batch being processed when it ends
// is finished (with a grace period) and confirmed before Run returns. It
// returns an error wrapping ErrTokenRefused when Telegram refuses the
// token, and nil otherwise.
func (p *Poller) Run(ctx context.Context) error {
	work, cancel := afterGrace(ctx, 5*time.Second)
	defer cancel()
	var offset int64
	failures := 0
	for ctx.Err() == nil {
		batch, err := p.getUpdates(ctx, offset, p.timeout)
		if err == nil && batch.count > 0 && batch.last == 0 {
			err = errors.New("getUpdates: no update in the answer has a usable update_id")
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			p.metrics.pollErrors.Inc()
			wait := pollBackoff(failures, err)
			var ae *apiError
			switch {
			case errors.As(err, &ae) && ae.Code == http.StatusUnauthorized:
				return fmt.Errorf("getUpdates: %w", ErrTokenRefused)
			case errors.As(err, &ae) && ae.Code == http.StatusConflict:
				p.log.Warn("another instance is polling this bot (or a webhook is set)", "retry_in", wait)
			default:
				p.log.Warn("getUpdates failed", "err", scrub(err), "retry_in", wait)
			}
			sleep(ctx, wait)
			continue
		}
		failures = 0
		if batch.count == 0 {
			continue
		}
		if len(batch.updates) > 0 {
			if err := p.process(work, batch.updates); err != nil {
				// not confirmed: the same updates come again
				p.log.Error("updates not processed; will retry", "first", batch.updates[0].ID, "count", len(batch.updates), "err", err)
				failures++
				sleep(ctx, pollBackoff(failures, err))
				continue
			}
		}
		p.skip(batch)
		offset = batch.last + 1
	}
	if offset != 0 {
		// confirm the last batch now, so a restart does not see it again
		confirm, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if _, err := p.getUpdates(confirm, offset, 0); err != nil {
			p.log.Info("could not confirm the last updates before stopping; they will be seen again (harmlessly)", "err", scrub(err))
		}
	}
	return nil
}

// PollOnce asks for what is pending without waiting, processes it and
// confirms it; n is how many updates Telegram gave (undecodable ones,
// confirmed and counted, included), so 0 means nothing was pending.
// gridbot replay and the start of serve drive the bot with it. offset is
// the next offset to ask for; it returns the new one.
func (p *Poller) PollOnce(ctx context.Context, offset int64) (next int64, n int, err error) {
	batch, err := p.getUpdates(ctx, offset, 0)
	if err != nil {
		return offset, 0, err
	}
	if batch.last == 0 {
		return offset, 0, nil
	}
	if len(batch.updates) > 0 {
		if err := p.process(ctx, batch.updates); err != nil {
			return offset, 0, err
		}
	}
	p.skip(batch)
	next = batch.last + 1
	if _, err := p.getUpdates(ctx, next, 0); err != nil {
		return next, batch.count, err
	}
	return next, batch.count, nil
}

// pollBackoff waits 1 s, 2 s, 4 s … up to 30 s, or Telegram's retry_after.
func pollBackoff(failures int, err error) time.Duration {
	var ae *apiError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return time.Duration(ae.RetryAfter) * time.Second
	}
	return min(time.Second<<min(failures-1, 5), 30*time.Second)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Dispatcher processes a batch of updates: chats in parallel, each chat's
// updates one after another in order.
type Dispatcher struct {
	proc    *Processor
	workers int
	log     *slog.Logger

	// chatLocks serialise a chat's updates across concurrent webhook calls.
	chatLocks sync.Map // int64 → *sync.Mutex
}

// NewDispatcher returns a Dispatcher; workers 1 processes everything in
// order (gridbot replay).
func NewDispatcher(proc *Processor, workers int, log *slog.Logger) *Dispatcher {
	return &Dispatcher{proc: proc, workers: max(workers, 1), log: log}
}

// Batch processes updates and returns the first error: then some were not
// made durable and none may be confirmed.
func (d *Dispatcher) Batch(ctx context.Context, updates []models.Update) error {
	var order []int64
	byChat := map[int64][]*models.Update{}
	for i := range updates {
		chat := chatOf(&updates[i])
		if _, ok := byChat[chat]; !ok {
			order = append(order, chat)
		}
		byChat[chat] = append(byChat[chat], &updates[i])
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		slots    = make(chan struct{}, d.workers)
	)
	for _, chat := range order {
		slots <- struct{}{}
		wg.Add(1)
		run := func() {
			defer func() { <-slots; wg.Done() }()
			for _, u := range byChat[chat] {
				if err := d.One(ctx, u); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return // later updates of this chat wait: order is kept
				}
			}
		}
		if d.workers == 1 {
			run()
		} else {
			go run()
		}
	}
	wg.Wait()
	return firstErr
}

// One processes one update, after any other update of its chat.
func (d *Dispatcher) One(ctx context.Context, u *models.Update) error {
	l, _ := d.chatLocks.LoadOrStore(chatOf(u), &sync.Mutex{})
	mu := l.(*sync.Mutex)
	mu.Lock()
	defer mu.Unlock()
	return d.proc.Process(ctx, u)
}
