package bot

import (
	"context"
	"crypto/subtle"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// WebhookDeadline bounds the handling of one webhook call. The HTTP
// server's write timeout must be longer, for the 503 to reach Telegram.
const WebhookDeadline = 25 * time.Second

// WebhookHandler serves Telegram's webhook calls. It checks the secret
// token in constant time (go-telegram/bot's own handler answers 200 to a
// wrong one), makes the update durable, and only then answers 200:
// Telegram retries anything else. An update that cannot be decoded is
// counted and answered 200, so that Telegram does not retry it forever.
// An update not made durable within WebhookDeadline (the store hangs) is
// answered 503.
func WebhookHandler(secret string, d *Dispatcher, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		got := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
		if secret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		u, id, partial, err := decodeUpdate(body)
		if err != nil {
			// an update that cannot be decoded will not get better by
			// retrying: it is counted and confirmed; its content is not logged
			d.proc.metrics.dropped.WithLabelValues(reasonUndecodable).Inc()
			log.Error("update given up on: it cannot be decoded", "update", id, "bytes", len(body), "err", err)
			w.WriteHeader(http.StatusOK)
			return
		}
		if partial {
			d.proc.metrics.partial.Inc()
			log.Warn("update read in part: the library could not decode all of it", "update", id)
		}
		ctx, cancel := context.WithTimeout(r.Context(), WebhookDeadline)
		defer cancel()
		if err := d.One(ctx, &u); err != nil {
			log.Error("webhook update not processed; Telegram will retry", "update", u.ID, "err", err)
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
