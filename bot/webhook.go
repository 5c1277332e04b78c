package bot

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/go-telegram/bot/models"
)

// WebhookHandler serves Telegram's webhook calls. It checks the secret
// token in constant time (go-telegram/bot's own handler answers 200 to a
// wrong one), makes the update durable, and only then answers 200:
// Telegram retries anything else.
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
		var u models.Update
		if err := json.Unmarshal(body, &u); err != nil {
			// a malformed update will not get better by retrying
			log.Warn("undecodable webhook update", "bytes", len(body))
			w.WriteHeader(http.StatusOK)
			return
		}
		if err := d.One(r.Context(), &u); err != nil {
			log.Error("webhook update not processed; Telegram will retry", "update", u.ID, "err", err)
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
