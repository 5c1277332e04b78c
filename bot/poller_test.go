package bot

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"gridbot/bot/telegramtest"
)

const pollFor = 50 * time.Second // gridbot serve's long poll

// polling is a Poller running against the fake, in a bubble, with a
// process function that records what it made durable.
type polling struct {
	t       *testing.T
	tg      *telegramtest.Server
	metrics *Metrics
	cancel  context.CancelFunc
	done    chan error

	mu      sync.Mutex
	durable []int64 // update ids, in the order processed
	batches int
	process func(ctx context.Context, updates []models.Update) error // before recording; nil: nothing
}

func startPolling(t *testing.T, process func(ctx context.Context, updates []models.Update) error) *polling {
	t.Helper()
	p := &polling{t: t, tg: telegramtest.New(telegramtest.WithReporter(t)), metrics: NewMetrics(), process: process, done: make(chan error, 1)}
	t.Cleanup(p.tg.Close)
	client := &http.Client{Transport: p.tg.Client().Transport, Timeout: pollFor + 15*time.Second}
	poller := NewPoller("http://telegram.invalid", "123:TEST", client, pollFor, p.batch, discard(), p.metrics)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- poller.Run(ctx) }()
	t.Cleanup(func() {
		if p.cancel != nil {
			p.stop()
		}
	})
	return p
}

func (p *polling) batch(ctx context.Context, updates []models.Update) error {
	p.mu.Lock()
	p.batches++
	p.mu.Unlock()
	if p.process != nil {
		if err := p.process(ctx, updates); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range updates {
		p.durable = append(p.durable, u.ID)
	}
	return nil
}

// maxDurable is the highest update id processed so far.
func (p *polling) maxDurable() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.durable) == 0 {
		return 0
	}
	return slices.Max(p.durable)
}

func (p *polling) processed() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.durable)
}

func (p *polling) batchCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.batches
}

func (p *polling) stop() error {
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		return err
	case <-time.After(time.Minute):
		p.t.Fatal("Run did not return within a minute of being stopped")
		return nil
	}
}

// until waits for cond, checked on every change at the fake, and checks
// meanwhile that nothing was confirmed before it was processed.
func (p *polling) until(what string, cond func() bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, err := p.tg.WaitFor(ctx, func([]telegramtest.Call) bool {
		if c, d := p.tg.Confirmed(), p.maxDurable(); c > d {
			p.t.Errorf("Telegram was told update %d was received, but only %d were processed", c, d)
		}
		return cond()
	})
	if err != nil {
		p.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (p *polling) send(text string) int64 {
	p.tg.SendMessage(village, wang, text)
	return p.tg.LastUpdateID()
}

// TestPollerConfirmsOnlyWhatWasProcessed: while the handler of an update
// has not finished, Telegram is not told it was received, however long
// it takes; once it has, it is.
func TestPollerConfirmsOnlyWhatWasProcessed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var blockOn atomic.Int64
		p := startPolling(t, func(ctx context.Context, updates []models.Update) error {
			for _, u := range updates {
				if u.ID == blockOn.Load() {
					<-release
				}
			}
			return nil
		})
		first := p.send("一")
		p.until("the first update", func() bool { return p.tg.Confirmed() >= first })

		// the first of the three blocks: whichever batches the poller
		// happens to get them in, none may be confirmed
		blockOn.Store(first + 1)
		p.send("二")
		p.send("三")
		last := p.send("四")
		synctest.Wait() // the poller is in the handler
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if c := p.tg.Confirmed(); c >= first+1 {
			t.Fatalf("update %d confirmed while update %d was being processed", c, first+1)
		}
		if n := p.tg.Pending(); n != 3 {
			t.Errorf("%d updates pending at Telegram, want 3", n)
		}
		close(release)
		p.until("everything confirmed", func() bool { return p.tg.Confirmed() >= last })
		if d := p.processed(); !slices.Equal(d, []int64{first, first + 1, first + 2, last}) {
			t.Errorf("processed %v", d)
		}
		// every getUpdates asked from where the last processed batch ended
		var offsets []int64
		for _, c := range p.tg.CallsTo("getUpdates") {
			offsets = append(offsets, c.Int64("offset"))
		}
		if !slices.IsSorted(offsets) || offsets[0] != 0 || !slices.Contains(offsets, last+1) {
			t.Errorf("getUpdates offsets %v", offsets)
		}
	})
}

// TestPollerRetriesAfterErrors: failed getUpdates calls (5xx, a proxy's
// page, a timeout, 429) are retried with backoff; a batch that could not
// be processed is asked for again, not skipped.
func TestPollerRetriesAfterErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fail := true
		p := startPolling(t, func(ctx context.Context, updates []models.Update) error {
			if fail {
				fail = false
				return errors.New("store: journal: fsync: input/output error")
			}
			return nil
		})
		p.tg.Fail("getUpdates", telegramtest.ServerError(http.StatusInternalServerError))
		p.tg.Fail("getUpdates", telegramtest.ProxyError(http.StatusBadGateway))
		p.tg.Fail("getUpdates", telegramtest.TooManyRequests(20))
		p.tg.Fail("getUpdates", telegramtest.Timeout())
		id := p.send("一")
		p.until("the update confirmed", func() bool { return p.tg.Confirmed() >= id })
		if p.batchCount() != 2 || !slices.Equal(p.processed(), []int64{id}) {
			t.Errorf("%d batches, processed %v; want the failed batch again, then done", p.batchCount(), p.processed())
		}
		calls := p.tg.CallsTo("getUpdates")
		if len(calls) < 7 {
			t.Fatalf("%d getUpdates calls", len(calls))
		}
		// 1 s after the 500, 2 s after the proxy, retry_after after the 429,
		// 8 s after the client gave up on the hung call
		for i, want := range []time.Duration{time.Second, 2 * time.Second, 20 * time.Second, pollFor + 15*time.Second + 8*time.Second} {
			if gap := calls[i+1].At.Sub(calls[i].At); gap != want {
				t.Errorf("getUpdates %d came %v after the failure, want %v", i+1, gap, want)
			}
		}
		if calls[4].Int64("offset") != calls[5].Int64("offset") {
			t.Errorf("after a failed batch the poller asked from offset %d, not again from %d", calls[5].Int64("offset"), calls[4].Int64("offset"))
		}
		if got := metric(t, p.metrics, "gridbot_poll_errors_total"); got != 4 {
			t.Errorf("poll errors counted %v, want 4", got)
		}
	})
}

// TestPollerSurvivesConflict: 409 (another instance polling, or a webhook
// set) is retried with backoff, never fatal.
func TestPollerSurvivesConflict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startPolling(t, nil)
		for range 6 {
			p.tg.Fail("getUpdates", telegramtest.Conflict())
		}
		id := p.send("一")
		p.until("the update after the conflicts", func() bool { return p.tg.Confirmed() >= id })

		// someone sets a webhook: getUpdates answers 409 until it is deleted
		api := newAPI(t, p.tg)
		ctx := context.Background()
		if _, err := api.SetWebhook(ctx, &tg.SetWebhookParams{URL: "https://example.invalid/hook"}); err != nil {
			t.Fatal(err)
		}
		id = p.send("二")
		time.Sleep(5 * time.Minute)
		select {
		case err := <-p.done:
			t.Fatalf("Run returned %v after conflicts", err)
		default:
		}
		if _, err := api.DeleteWebhook(ctx, &tg.DeleteWebhookParams{}); err != nil {
			t.Fatal(err)
		}
		p.until("the update", func() bool { return p.tg.Confirmed() >= id })
		if got := metric(t, p.metrics, "gridbot_poll_errors_total"); got < 6+5 {
			t.Errorf("poll errors counted %v, want at least 11", got)
		}
	})
}

// TestPollerConfirmsTheLastBatchOnShutdown: stopped while processing, the
// poller finishes the batch, confirms it and returns.
func TestPollerConfirmsTheLastBatchOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		entered := make(chan struct{})
		p := startPolling(t, func(ctx context.Context, updates []models.Update) error {
			close(entered)
			<-release
			return nil
		})
		id := p.send("一")
		<-entered
		stopped := make(chan error, 1)
		go func() { stopped <- p.stop() }()
		time.Sleep(2 * time.Second) // the handler takes a while yet
		close(release)
		start := time.Now()
		if err := <-stopped; err != nil {
			t.Errorf("Run = %v", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("Run took %v to return after the batch", took)
		}
		if c := p.tg.Confirmed(); c != id {
			t.Errorf("confirmed %d on shutdown, want %d", c, id)
		}
	})
}

// TestPollerGivesUpOnAHungBatchOnShutdown: a batch that does not finish
// within the grace period is not confirmed, and Run returns in time.
func TestPollerGivesUpOnAHungBatchOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered := make(chan struct{})
		p := startPolling(t, func(ctx context.Context, updates []models.Update) error {
			close(entered)
			<-ctx.Done()
			return ctx.Err()
		})
		p.send("一")
		<-entered
		start := time.Now()
		if err := p.stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("Run took %v to return", took)
		}
		if c := p.tg.Confirmed(); c != 0 {
			t.Errorf("confirmed %d, which was never processed", c)
		}
	})
}

// TestPollerErrorsHideTheToken: a transport error names the request URL,
// which holds the bot token; the poller's errors must not.
func TestPollerErrorsHideTheToken(t *testing.T) {
	p := NewPoller("http://127.0.0.1:1", "123456:SECRET-TOKEN", &http.Client{}, time.Second, nil, slog.New(slog.DiscardHandler), NewMetrics())
	_, err := p.getUpdates(context.Background(), 0, 0)
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	if strings.Contains(err.Error(), "SECRET-TOKEN") {
		t.Errorf("the error shows the token: %v", err)
	}
}
