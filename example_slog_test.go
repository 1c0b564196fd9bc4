package treeoflife_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/treeoflife/treeoflife"
)

// printEntries prints the level, message and metadata of every entry.
func printEntries(logger *treeoflife.ImmutableLogger) {
	ctx := context.Background()
	if err := logger.Sync(ctx); err != nil {
		log.Fatal(err)
	}
	entries, err := logger.Read(ctx, treeoflife.Filter{})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		md, _ := json.Marshal(e.Metadata)
		fmt.Println(e.Level, e.Message, string(md))
	}
}

func ExampleNewSlogHandler() {
	dir, _ := os.MkdirTemp("", "treeoflife-example")
	defer os.RemoveAll(dir)
	logger, err := treeoflife.Open(dir, treeoflife.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer logger.Close()

	h := treeoflife.NewSlogHandler(logger, &treeoflife.SlogOptions{
		OnError: func(err error) { fmt.Println("not logged:", err) },
	})
	sl := slog.New(h).With("service", "billing")
	ctx := context.Background()

	sl.Info("invoice sent", "invoice", "inv_1", slog.Group("customer", "id", "cus_7", "plan", "pro"))
	sl.Log(ctx, treeoflife.SlogAudit, "refund approved", "by", "ann", "amount", 4200)
	sl.WithGroup("req").Warn("slow upstream", "ms", 950)
	sl.Debug("below the handler's level: not stored")

	printEntries(logger)
	fmt.Println("failures:", h.Failures())
	// Output:
	// INFO invoice sent {"customer":{"id":"cus_7","plan":"pro"},"invoice":"inv_1","service":"billing"}
	// AUDIT refund approved {"amount":4200,"by":"ann","service":"billing"}
	// WARN slow upstream {"req":{"ms":950},"service":"billing"}
	// failures: 0
}

func ExampleImmutableLogger_With() {
	dir, _ := os.MkdirTemp("", "treeoflife-example")
	defer os.RemoveAll(dir)
	logger, err := treeoflife.Open(dir, treeoflife.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer logger.Close()

	// The scoped fields are encoded once, here, and go into every record;
	// a field given to a call replaces the scoped one of the same key.
	req := logger.With(treeoflife.Fields{"request_id": "r-42", "user": "ann"})
	req.Audit("report exported", treeoflife.Fields{"report": "q3"})
	req.Security("permission denied", treeoflife.Fields{"user": "ann (impersonated by bob)"})

	printEntries(logger)
	// Output:
	// AUDIT report exported {"report":"q3","request_id":"r-42","user":"ann"}
	// SECURITY permission denied {"request_id":"r-42","user":"ann (impersonated by bob)"}
}

// An HTTP handler logs with the request's context, but without its
// cancellation: a client that disconnects must not cancel the audit record.
func ExampleImmutableLogger_AuditContext() {
	dir, _ := os.MkdirTemp("", "treeoflife-example")
	defer os.RemoveAll(dir)
	logger, err := treeoflife.Open(dir, treeoflife.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer logger.Close()

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithoutCancel(r.Context())
		rec, err := logger.AuditContext(ctx, "document downloaded", treeoflife.Fields{"path": r.URL.Path})
		if err != nil {
			http.Error(w, "not logged", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "logged as record %d", rec.Seq)
	})
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, httptest.NewRequest("GET", "/docs/1", nil))
	fmt.Println(w.Body.String())
	// Output:
	// logged as record 0
}
