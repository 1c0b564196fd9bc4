package treeoflife_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync/atomic"
	"time"

	"github.com/treeoflife/treeoflife"
)

// openWithClock opens a log in a new temporary directory whose entries are
// stamped by a clock that reads clock (Unix nanoseconds), so that examples
// print stable times.
func openWithClock(clock *atomic.Int64) (*treeoflife.ImmutableLogger, func()) {
	dir, err := os.MkdirTemp("", "treeoflife-example")
	if err != nil {
		log.Fatal(err)
	}
	logger, err := treeoflife.Open(dir, treeoflife.Options{Clock: func() time.Time { return time.Unix(0, clock.Load()).UTC() }})
	if err != nil {
		log.Fatal(err)
	}
	return logger, func() { logger.Close(); os.RemoveAll(dir) }
}

func ExampleImmutableLogger_Read() {
	var clock atomic.Int64
	logger, done := openWithClock(&clock)
	defer done()
	start := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	for i, amount := range []int{1200, 300, 5000, 80} {
		clock.Store(start.Add(time.Duration(i) * time.Hour).UnixNano())
		logger.Revenue("Payment received", treeoflife.Fields{"amount": amount})
	}
	logger.Audit("User login", treeoflife.Fields{"userId": "u1"})

	// The newest two REVENUE entries since 10:00, newest first.
	es, err := logger.Read(context.Background(), treeoflife.Filter{
		Levels:  []treeoflife.Level{treeoflife.LevelRevenue},
		Since:   start.Add(time.Hour),
		Limit:   2,
		Reverse: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range es {
		fmt.Println(e.Seq, e.Time.Format("15:04"), e.Level, e.Message, e.Metadata["amount"])
	}
	// Output:
	// 3 12:00 REVENUE Payment received 80
	// 2 11:00 REVENUE Payment received 5000
}

func ExampleImmutableLogger_Query() {
	var clock atomic.Int64
	logger, done := openWithClock(&clock)
	defer done()
	logger.Revenue("Payment received", treeoflife.Fields{"amount": 1200, "currency": "EUR"})
	logger.Revenue("Payment received", treeoflife.Fields{"amount": 300, "currency": "USD"})
	logger.Revenue("Refund issued", treeoflife.Fields{"amount": -300, "currency": "USD"})
	logger.Security("Password changed", treeoflife.Fields{"userId": "u1"})

	q, err := treeoflife.ParseQuery(`{"$or": [{"metadata.amount": {"$gte": 1000}}, {"level": "SECURITY"}]}`)
	if err != nil {
		log.Fatal(err)
	}
	es, err := logger.Query(context.Background(), q, treeoflife.Filter{})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range es {
		fmt.Println(e.Seq, e.Level, e.Message)
	}

	_, err = treeoflife.ParseQuery(`{"metadata.amount": {"$between": [1, 2]}}`)
	fmt.Println(err)
	// Output:
	// 0 REVENUE Payment received
	// 3 SECURITY Password changed
	// treeoflife: invalid query: metadata.amount.$between: unknown operator "$between"
}

func ExampleImmutableLogger_Entries() {
	var clock atomic.Int64
	logger, done := openWithClock(&clock)
	defer done()
	for i := range 1000 {
		logger.Revenue("Payment received", treeoflife.Fields{"amount": i})
	}

	// Entries streams every match in constant memory, however many there
	// are: for exports and totals, where Read's pages would not do.
	var n int
	var total float64
	for e, err := range logger.Entries(context.Background(), treeoflife.Filter{FromSeq: 500}) {
		if err != nil {
			log.Fatal(err)
		}
		n++
		total += e.Metadata["amount"].(float64)
	}
	fmt.Println(n, "entries, total", total)
	// Output:
	// 500 entries, total 374750
}

func ExampleLevels() {
	for _, lv := range treeoflife.Levels() {
		fmt.Print(lv, " ")
	}
	fmt.Println()
	// Output:
	// INFO WARN ERROR CRITICAL AUDIT SECURITY REVENUE SYSTEM
}
