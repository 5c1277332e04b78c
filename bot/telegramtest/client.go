package telegramtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// Client returns an HTTP client that calls the Server in memory, without
// sockets, so it works inside testing/synctest. Requests honour their
// context: a cancelled long poll returns at once with the context's error.
// The URL's host is ignored, so go-telegram/bot needs no WithServerURL.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: transport{s}}
}

// transport is an http.RoundTripper that runs the Server's handler.
type transport struct{ s *Server }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	// The handler reads the body in its own goroutine while the client
	// may still write it (go-telegram/bot streams it through an io.Pipe).
	sreq := req.Clone(ctx)
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "192.0.2.1:1234"
	sreq.Host = req.URL.Host
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	} else if sreq.Body != http.NoBody && sreq.ContentLength == 0 {
		sreq.ContentLength = -1 // unknown: sent chunked
		sreq.TransferEncoding = []string{"chunked"}
	}
	rec := &recorder{header: http.Header{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.s.ServeHTTP(rec, sreq)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	if req.Body != nil {
		req.Body.Close() // a RoundTripper must; it also unblocks the handler's reads
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return rec.response(req), nil
}

// recorder is the http.ResponseWriter of in-memory requests.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

func (r *recorder) response(req *http.Request) *http.Response {
	r.WriteHeader(http.StatusOK)
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", r.status, http.StatusText(r.status)),
		StatusCode:    r.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.header,
		Body:          io.NopCloser(bytes.NewReader(r.body.Bytes())),
		ContentLength: int64(r.body.Len()),
		Request:       req,
	}
}
