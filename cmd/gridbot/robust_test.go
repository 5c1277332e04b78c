package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"gridbot/bot/telegramtest"
)

// TestHTTPAddr: an address without a host listens on loopback only; a
// host given explicitly is kept.
func TestHTTPAddr(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{":0", "127.0.0.1:0"},
		{":8080", "127.0.0.1:8080"},
		{"8080", "127.0.0.1:8080"},
		{" 9090 ", "127.0.0.1:9090"},
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"0.0.0.0:8080", "0.0.0.0:8080"},
		{"[::]:8080", "[::]:8080"},
		{"[::1]:0", "[::1]:0"},
		{"localhost:8080", "localhost:8080"},
		{"10.0.0.5:443", "10.0.0.5:443"},
		{"", ""},
		{"8080:", ""},
		{"host", ""},
		{":http", ""},
		{":70000", ""},
	} {
		got, err := httpAddr(tt.in)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("httpAddr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// httpAddrOf reads the HTTP address serve printed.
func httpAddrOf(b *botUnderTest) string {
	return strings.TrimSpace(strings.TrimPrefix(strings.SplitN(b.stdout.String(), "\n", 2)[0], "gridbot: http on "))
}

// TestServeListensOnLoopback: GRIDBOT_HTTP=:0 used to listen on every
// interface; without a host it is loopback only.
func TestServeListensOnLoopback(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), map[string]string{"GRIDBOT_HTTP": ":0"})
	host, _, err := net.SplitHostPort(httpAddrOf(b))
	if err != nil || host != "127.0.0.1" {
		t.Errorf("GRIDBOT_HTTP=:0 listens on %q (%v), want 127.0.0.1", httpAddrOf(b), err)
	}
}

// TestServeCutsSlowClients: the HTTP server had no read or idle timeouts,
// so slow or idle connections were held for as long as the client liked
// (300 held 65 s+). Against the real server on loopback: clients that
// send their headers a line at a time, connect and say nothing, send a
// body a byte at a time, or keep a connection alive doing nothing are cut
// off within the server's limits, while /healthz keeps answering.
func TestServeCutsSlowClients(t *testing.T) {
	t.Parallel()
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	addr := httpAddrOf(b)
	const slack = 3 * time.Second
	attacks := []struct {
		name  string
		n     int
		limit time.Duration
		start string // sent at once
		drip  string // then sent every 500 ms
	}{
		{"headers a line at a time", 100, httpReadHeaderTimeout, "GET /healthz HTTP/1.1\r\nHost: gridbot\r\n", "X-Slow: 1\r\n"},
		{"silent", 100, httpReadHeaderTimeout, "", ""},
		{"body a byte at a time", 50, httpReadTimeout, "POST /healthz HTTP/1.1\r\nHost: gridbot\r\nContent-Length: 100000\r\n\r\n", "x"},
		{"idle after a request", 50, httpIdleTimeout, "GET /healthz HTTP/1.1\r\nHost: gridbot\r\n\r\n", ""},
	}
	type result struct {
		attack int
		held   time.Duration
		err    error
	}
	results := make(chan result)
	stop := make(chan struct{})
	defer close(stop)
	total := 0
	for i, a := range attacks {
		for range a.n {
			total++
			go func() {
				start := time.Now()
				conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					results <- result{i, 0, err}
					return
				}
				defer conn.Close()
				// the test's own bound: no connection is watched longer
				conn.SetDeadline(start.Add(a.limit + 4*slack))
				closed := make(chan error, 1)
				go func() {
					_, err := io.Copy(io.Discard, conn) // until the server closes it
					closed <- err
				}()
				io.WriteString(conn, a.start)
				tick := time.NewTicker(500 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case err := <-closed:
						results <- result{i, time.Since(start), err}
						return
					case <-tick.C:
						if a.drip != "" {
							io.WriteString(conn, a.drip)
						}
					case <-stop:
						return
					}
				}
			}()
		}
	}
	// the server still answers meanwhile
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz under attack: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	worst := make([]time.Duration, len(attacks))
	for range total {
		r := <-results
		a := attacks[r.attack]
		var ne net.Error
		switch {
		case r.err != nil && errors.As(r.err, &ne) && ne.Timeout():
			t.Fatalf("%s: a connection was still open after %v (limit %v)", a.name, r.held, a.limit)
		case r.held > a.limit+slack:
			t.Errorf("%s: a connection was held %v, limit %v", a.name, r.held, a.limit)
		}
		worst[r.attack] = max(worst[r.attack], r.held)
	}
	for i, a := range attacks {
		t.Logf("%d connections %s: cut after %v at most (limit %v)", a.n, a.name, worst[i].Round(100*time.Millisecond), a.limit)
	}
}

// TestServeHeaderLimit: headers above the limit are refused.
func TestServeHeaderLimit(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddrOf(b)+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2*httpMaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d for %d bytes of headers, want 431", resp.StatusCode, 2*httpMaxHeaderBytes)
	}
}

// TestServeStopsWhenTheTokenIsRevoked: a 401 from getUpdates mid-run used
// to be retried forever; serve now stops with an error saying what
// happened and what to do.
func TestServeStopsWhenTheTokenIsRevoked(t *testing.T) {
	tg, url := newFakeTelegram(t)
	b := startBot(t, tg, url, t.TempDir(), nil)
	b.bindVillage()
	b.processed()
	tg.Fail("getUpdates", telegramtest.Unauthorized())
	tg.SendMessage(village, wang, "零报告") // ends the long poll under way
	select {
	case err := <-b.done:
		b.cancel()
		b.cancel = nil
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "BotFather") || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("run = %v, want the token refused and what to do", err)
		}
		if strings.Contains(err.Error(), "123:TEST") || strings.Contains(b.stderr.String(), "123:TEST") {
			t.Errorf("the token is shown")
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve still runs 20 s after Telegram refused the token\nstderr:\n%s", b.stderr.String())
	}
}

// TestServePrivacyMode: with privacy mode on (getMe:
// can_read_all_group_messages false) the bot logs a warning once at start
// and /bind says how to turn it off; with it off, neither.
func TestServePrivacyMode(t *testing.T) {
	for _, privacy := range []bool{true, false} {
		t.Run(fmt.Sprint("privacy ", privacy), func(t *testing.T) {
			tg, url := newFakeTelegram(t)
			tg.PrivacyMode = privacy
			b := startBot(t, tg, url, t.TempDir(), nil)
			b.bindVillage()
			bound := b.waitSent(village.ID, "已绑定")
			warned := strings.Count(b.stderr.String(), "privacy mode is on")
			told := strings.Contains(bound.Text, "/setprivacy") && strings.Contains(bound.Text, "Disable") && strings.Contains(bound.Text, "重新拉进来")
			if privacy && (warned != 1 || !told) {
				t.Errorf("privacy mode on: warned %d times, /bind answer:\n%s", warned, bound.Text)
			}
			if !privacy && (warned != 0 || strings.Contains(bound.Text, "隐私")) {
				t.Errorf("privacy mode off: warned %d times, /bind answer:\n%s", warned, bound.Text)
			}
		})
	}
}
