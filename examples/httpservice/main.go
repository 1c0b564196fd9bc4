// Command httpservice is an HTTP service that writes an audit record for
// every request it serves, with fields taken from the request (request ID,
// user, method, path, client address), and shuts down gracefully: on
// SIGINT or SIGTERM it stops accepting requests, lets those in flight
// finish (and their records be stored), and only then closes the logger.
//
//	go run ./examples/httpservice -addr 127.0.0.1:8080 -dir ./logs
//	curl -H 'X-User-Id: u42' -d '{"amount": 1999, "currency": "EUR"}' http://127.0.0.1:8080/orders
//	curl -H 'X-User-Id: u42' http://127.0.0.1:8080/orders/ord_1
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/treeoflife/treeoflife"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen `address`")
	dir := flag.String("dir", "logs", "log `directory`")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *dir, *addr); err != nil {
		log.Fatal(err)
	}
}

// run serves on addr until ctx ends, then shuts down: the server first,
// so that no handler logs to a closed logger, then the logger.
func run(ctx context.Context, w io.Writer, dir, addr string) error {
	logger, err := treeoflife.Open(dir, treeoflife.Options{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Close()
		return err
	}
	srv := &http.Server{Handler: newService(logger).handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(w, "listening on %s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err = <-served: // the listener failed
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutdownCtx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	// Close flushes and fsyncs every accepted record and writes a
	// checkpoint.
	if cerr := logger.Close(); err == nil {
		err = cerr
	}
	fmt.Fprintln(w, "shut down")
	return err
}

type service struct {
	audit *treeoflife.ImmutableLogger
}

func newService(audit *treeoflife.ImmutableLogger) *service { return &service{audit: audit} }

func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", s.createOrder)
	mux.HandleFunc("GET /orders/{id}", s.getOrder)
	return withRequestFields(mux)
}

// fieldsKey is the context key of the fields every record of a request
// carries.
type fieldsKey struct{}

// withRequestFields gives each request an ID (X-Request-Id, or a new one)
// and puts the request's fields into its context.
func withRequestFields(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			var b [8]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		f := treeoflife.Fields{
			"requestId": id,
			"method":    r.Method,
			"path":      r.URL.Path,
			"remote":    r.RemoteAddr,
			"userId":    r.Header.Get("X-User-Id"),
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), fieldsKey{}, f)))
	})
}

// fields returns the request's fields with extra added, in a new map.
func fields(r *http.Request, extra treeoflife.Fields) treeoflife.Fields {
	base, _ := r.Context().Value(fieldsKey{}).(treeoflife.Fields)
	f := make(treeoflife.Fields, len(base)+len(extra))
	for k, v := range base {
		f[k] = v
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func (s *service) createOrder(w http.ResponseWriter, r *http.Request) {
	var order struct {
		Amount   int    `json:"amount"`
		Currency string `json:"currency"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&order); err != nil || order.Amount <= 0 || order.Currency == "" {
		s.audit.Warn("Order rejected", fields(r, treeoflife.Fields{"reason": "invalid body"}))
		http.Error(w, "want {\"amount\": >0, \"currency\": \"...\"}", http.StatusBadRequest)
		return
	}
	// The logging call returns once the record is fsynced: answer only
	// after it, so that every order the client saw accepted is in the log.
	// The level methods use context.Background, so a client that hangs up
	// cannot cut the write short.
	rec, err := s.audit.Revenue("Order created", fields(r, treeoflife.Fields{"amount": order.Amount, "currency": order.Currency}))
	if err != nil {
		http.Error(w, "audit log unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"id": fmt.Sprintf("ord_%d", rec.Seq), "auditSeq": rec.Seq})
}

func (s *service) getOrder(w http.ResponseWriter, r *http.Request) {
	if _, err := s.audit.Audit("Order viewed", fields(r, treeoflife.Fields{"orderId": r.PathValue("id")})); err != nil {
		http.Error(w, "audit log unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": r.PathValue("id")})
}
