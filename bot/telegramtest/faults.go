package telegramtest

import (
	"fmt"
	"net/http"
	"strings"
)

// Fault is a failure the Server answers instead of handling a call.
// Make one with TooManyRequests, ServerError, ProxyError, Timeout,
// Forbidden, Migrated, BadRequest, Conflict or Unauthorized, and queue it
// with Fail.
type Fault struct {
	code      int // HTTP status and error_code
	desc      string
	retry     int
	migrateTo int64
	html      bool // answer a proxy's HTML page instead of JSON
	hang      bool // never answer
}

// TooManyRequests answers 429 with parameters.retry_after, which
// go-telegram/bot turns into *bot.TooManyRequestsError.
func TooManyRequests(retryAfter int) Fault {
	return Fault{code: http.StatusTooManyRequests, retry: retryAfter,
		desc: fmt.Sprintf("Too Many Requests: retry after %d", retryAfter)}
}

// ServerError answers code (such as 500 or 502) in a JSON envelope.
func ServerError(code int) Fault {
	return Fault{code: code, desc: http.StatusText(code)}
}

// ProxyError answers code with an HTML page, as a proxy in front of
// Telegram does; the body is not JSON.
func ProxyError(code int) Fault {
	return Fault{code: code, html: true}
}

// Timeout never answers: the request blocks until the client gives up
// (its context ends) or the Server is closed.
func Timeout() Fault { return Fault{hang: true} }

// Forbidden answers 403 "Forbidden: bot was kicked from the group chat".
func Forbidden() Fault {
	return Fault{code: http.StatusForbidden, desc: "Forbidden: bot was kicked from the group chat"}
}

// Migrated answers 400 with parameters.migrate_to_chat_id, which
// go-telegram/bot turns into *bot.MigrateError.
func Migrated(newChatID int64) Fault {
	return Fault{code: http.StatusBadRequest, migrateTo: newChatID,
		desc: "Bad Request: group chat was upgraded to a supergroup chat"}
}

// BadRequest answers 400 with the description, prefixed with
// "Bad Request: " unless it already is.
func BadRequest(description string) Fault {
	if !strings.HasPrefix(description, "Bad Request") {
		description = "Bad Request: " + description
	}
	return Fault{code: http.StatusBadRequest, desc: description}
}

// Conflict answers 409, as Telegram does when another getUpdates request
// (another instance of the bot) takes over.
func Conflict() Fault {
	return Fault{code: http.StatusConflict,
		desc: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}
}

// Fail queues f for the next call to method (case-insensitive), or to
// any method if method is "". Faults are used first in, first out; a
// method's own queue is used before the "" queue. Note that "" also
// matches the getUpdates calls of a running poller.
func (s *Server) Fail(method string, f Fault) {
	s.lock()
	defer s.unlock()
	if method != "" && canonical(method) == "" {
		s.unexpectedLocked("Fail for unknown method %q", method)
	}
	key := strings.ToLower(method)
	s.faults[key] = append(s.faults[key], f)
}

// MigrateChat makes every later call naming oldID as chat_id fail with
// the migration error pointing to newID, as after a group became a supergroup.
func (s *Server) MigrateChat(oldID, newID int64) {
	s.lock()
	defer s.unlock()
	s.chatLocked(oldID).migratedTo = newID
}

// Kick makes every later call naming chatID fail with 403, as after the bot
// was removed from the group (or blocked, in a private chat).
func (s *Server) Kick(chatID int64) {
	s.lock()
	defer s.unlock()
	cs := s.chatLocked(chatID)
	switch cs.chat.Type {
	case "private":
		cs.blocked = "Forbidden: bot was blocked by the user"
	default:
		cs.blocked = "Forbidden: bot was kicked from the " + cs.chat.Type + " chat"
	}
}

// takeFaultLocked returns the fault c must get: a queued one, or one from
// the rules for its chat.
func (s *Server) takeFaultLocked(c Call) (Fault, bool) {
	for _, key := range []string{strings.ToLower(c.Method), ""} {
		if q := s.faults[key]; len(q) > 0 {
			s.faults[key] = q[1:]
			return q[0], true
		}
	}
	id := c.Int64("chat_id")
	cs := s.chats[id]
	switch {
	case id == 0 || cs == nil:
	case cs.migratedTo != 0:
		return Migrated(cs.migratedTo), true
	case cs.blocked != "":
		return Fault{code: http.StatusForbidden, desc: cs.blocked}, true
	}
	return Fault{}, false
}

func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, f Fault) {
	switch {
	case f.hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
			writeError(w, http.StatusServiceUnavailable, "Service Unavailable: test server closed", 0, 0)
		}
	case f.html:
		text := fmt.Sprintf("%d %s", f.code, http.StatusText(f.code))
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.code)
		fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", text, text)
	default:
		writeError(w, f.code, f.desc, f.retry, f.migrateTo)
	}
}

// Unauthorized answers 401, as Telegram does once the bot token was
// revoked (or for a wrong one).
func Unauthorized() Fault {
	return Fault{code: http.StatusUnauthorized, desc: "Unauthorized"}
}
