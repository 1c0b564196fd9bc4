package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/treeoflife/treeoflife"
)

func TestService(t *testing.T) {
	ctx := context.Background()
	logger, err := treeoflife.Open(t.TempDir(), treeoflife.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer logger.Close()
	srv := httptest.NewServer(newService(logger).handler())
	defer srv.Close()

	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-User-Id", "u42")
		req.Header.Set("X-Request-Id", "req-"+method)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do("POST", "/orders", `{"amount": 1999, "currency": "EUR"}`); got != http.StatusCreated {
		t.Fatalf("POST /orders: %d", got)
	}
	if got := do("GET", "/orders/ord_0", ""); got != http.StatusOK {
		t.Fatalf("GET /orders/ord_0: %d", got)
	}
	if got := do("POST", "/orders", `{"amount": -1}`); got != http.StatusBadRequest {
		t.Fatalf("bad POST /orders: %d", got)
	}

	es, err := logger.Read(ctx, treeoflife.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Level.String()+" "+e.Message+" user="+e.Metadata["userId"].(string)+
			" request="+e.Metadata["requestId"].(string)+" path="+e.Metadata["path"].(string))
	}
	want := []string{
		"REVENUE Order created user=u42 request=req-POST path=/orders",
		"AUDIT Order viewed user=u42 request=req-GET path=/orders/ord_0",
		"WARN Order rejected user=u42 request=req-POST path=/orders",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if es[0].Metadata["amount"] != float64(1999) {
		t.Errorf("amount %v", es[0].Metadata["amount"])
	}
	if _, err := logger.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// run serves until its context ends, then shuts the server down before it
// closes the logger, which leaves a log that verifies.
func TestRunShutsDown(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out, dir, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "shut down\n") {
		t.Errorf("output: %q", out.String())
	}
	if _, err := treeoflife.VerifyDir(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
}
