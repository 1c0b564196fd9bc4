// Command queries reads a log back: Read with a Filter (levels, time range,
// text, newest first), ParseQuery and Query with MongoDB-style documents,
// and Entries for reads too large to hold in memory.
//
//	go run ./examples/queries
//
// The log goes to a new temporary directory, removed on exit. Its entries
// are stamped by a fixed clock (Options.Clock), one minute apart, so that the time-bounded
// reads below always select the same entries.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"sync/atomic"
	"time"

	"github.com/treeoflife/treeoflife"
)

func main() {
	dir, err := os.MkdirTemp("", "treeoflife-queries")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(os.Stdout, dir); err != nil {
		log.Fatal(err)
	}
}

// start is the time of the first entry; each later one is a minute later.
var start = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

func run(w io.Writer, dir string) error {
	// The clock shows the time set before each call (the library reads it
	// from its own goroutines too, hence the atomic).
	var now atomic.Int64
	now.Store(start.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	logger, err := treeoflife.Open(dir, treeoflife.Options{Clock: clock})
	if err != nil {
		return err
	}
	defer logger.Close()

	events := []struct {
		level  treeoflife.Level
		msg    string
		fields treeoflife.Fields
	}{
		{treeoflife.LevelAudit, "User login", treeoflife.Fields{"userId": "u1", "country": "DE"}},
		{treeoflife.LevelRevenue, "Payment received", treeoflife.Fields{"amount": 1200, "currency": "EUR", "customer": "cus_42"}},
		{treeoflife.LevelRevenue, "Payment received", treeoflife.Fields{"amount": 300, "currency": "USD", "customer": "cus_7"}},
		{treeoflife.LevelSecurity, "Password changed", treeoflife.Fields{"userId": "u1"}},
		{treeoflife.LevelRevenue, "Refund issued", treeoflife.Fields{"amount": -300, "currency": "USD", "customer": "cus_7"}},
		{treeoflife.LevelRevenue, "Payment received", treeoflife.Fields{"amount": 5000, "currency": "EUR", "customer": "cus_42", "plan": "enterprise"}},
		{treeoflife.LevelAudit, "User login", treeoflife.Fields{"userId": "u2", "country": "FR"}},
	}
	ctx := context.Background()
	for i, e := range events {
		now.Store(start.Add(time.Duration(i) * time.Minute).UnixNano())
		if _, err := logger.Log(ctx, e.level, e.msg, e.fields); err != nil {
			return err
		}
	}

	print := func(title string, es []treeoflife.Entry) {
		fmt.Fprintf(w, "%s: %d\n", title, len(es))
		for _, e := range es {
			fmt.Fprintf(w, "  seq=%d %s %-8s %-16s %v\n", e.Seq, e.Time.Format("15:04"), e.Level, e.Message, e.Metadata)
		}
	}

	// Read: the newest matching entries (here the newest two REVENUE ones),
	// newest first.
	es, err := logger.Read(ctx, treeoflife.Filter{Levels: []treeoflife.Level{treeoflife.LevelRevenue}, Limit: 2, Reverse: true})
	if err != nil {
		return err
	}
	print("Read REVENUE, newest 2", es)

	// A time window: Since is inclusive, Until exclusive.
	es, err = logger.Read(ctx, treeoflife.Filter{Since: start.Add(2 * time.Minute), Until: start.Add(4 * time.Minute)})
	if err != nil {
		return err
	}
	print("Read 09:02 to 09:04", es)

	// Search: text in the message, level, or metadata keys and values.
	es, err = logger.Search(ctx, "cus_42", treeoflife.Filter{})
	if err != nil {
		return err
	}
	print(`Search "cus_42"`, es)

	// Query documents use MongoDB's operators; metadata fields are
	// addressed as "metadata.<key>".
	for _, doc := range []string{
		`{"level": "REVENUE", "metadata.amount": {"$gte": 1000}}`,
		`{"$or": [{"level": "SECURITY"}, {"metadata.country": {"$in": ["FR"]}}]}`,
		`{"message": {"$regex": "^Refund"}, "metadata.currency": "USD"}`,
		`{"metadata.plan": {"$exists": true}}`,
	} {
		q, err := treeoflife.ParseQuery(doc)
		if err != nil {
			return err
		}
		es, err := logger.Query(ctx, q, treeoflife.Filter{})
		if err != nil {
			return err
		}
		print("Query "+doc, es)
	}

	// A malformed query is an error, not an empty result.
	if _, err := treeoflife.ParseQuery(`{"metadata.amount": {"$between": [1, 2]}}`); err != nil {
		fmt.Fprintln(w, "refused:", err)
	}

	// Entries streams every match in constant memory: the way to read more
	// than a page, here to add up the revenue by currency.
	q, err := treeoflife.ParseQuery(`{"level": "REVENUE"}`)
	if err != nil {
		return err
	}
	totals := map[string]float64{}
	for e, err := range logger.Entries(ctx, treeoflife.Filter{Query: q}) {
		if err != nil {
			return err
		}
		amount, _ := e.Metadata["amount"].(float64)
		currency, _ := e.Metadata["currency"].(string)
		totals[currency] += amount
	}
	fmt.Fprintf(w, "revenue: EUR %.0f, USD %.0f\n", totals["EUR"], totals["USD"])
	return nil
}
