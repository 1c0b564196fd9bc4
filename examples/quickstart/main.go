// Command quickstart logs a few business events to ./logs, verifies the log
// from disk, prints its head and statistics, and searches it. Run it twice:
// the second run continues the same hash chain.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/treeoflife/treeoflife"
)

func main() {
	logger, err := treeoflife.Open("logs", treeoflife.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer logger.Close()

	events := []struct {
		level  treeoflife.Level
		msg    string
		fields treeoflife.Fields
	}{
		{treeoflife.LevelSystem, "System started", treeoflife.Fields{"version": "1.0.0"}},
		{treeoflife.LevelAudit, "User login", treeoflife.Fields{"userId": "user123"}},
		{treeoflife.LevelRevenue, "Payment received", treeoflife.Fields{"amount": 9900, "currency": "USD", "customer": "cus_42"}},
		{treeoflife.LevelSecurity, "API key rotated", treeoflife.Fields{"keyId": "k-2026-11"}},
		{treeoflife.LevelRevenue, "Refund issued", treeoflife.Fields{"amount": -1500, "currency": "USD", "customer": "cus_7"}},
	}
	ctx := context.Background()
	for _, e := range events {
		rec, err := logger.Log(ctx, e.level, e.msg, e.fields)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("logged  seq=%-4d %-8s %-18s chain=%s…\n", rec.Seq, rec.Level, e.msg, rec.Hash.String()[:16])
	}

	if _, err := logger.Verify(ctx); err != nil {
		log.Fatalf("verification failed: %v", err)
	}
	head := logger.Head()
	fmt.Printf("\nverified %d records from disk (%s)\n", head.Size, logger.Dir())
	fmt.Printf("  chain head  %s\n  merkle root %s\n", head.Chain, head.Root)

	st, err := logger.Stats(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\nstats: %d entries in %d segment(s), %d bytes on disk, %s to %s\n",
		st.TotalEntries, st.Segments, st.Bytes, st.Oldest.Format(time.RFC3339), st.Newest.Format(time.RFC3339))
	for _, lv := range []treeoflife.Level{treeoflife.LevelSystem, treeoflife.LevelAudit, treeoflife.LevelRevenue, treeoflife.LevelSecurity} {
		fmt.Printf("  %-8s %d\n", lv, st.Levels[lv])
	}

	// The last three revenue entries that mention USD, newest first.
	found, err := logger.Read(ctx, treeoflife.Filter{
		Levels:  []treeoflife.Level{treeoflife.LevelRevenue},
		Search:  "usd",
		Limit:   3,
		Reverse: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\nsearch \"usd\" in REVENUE, newest 3:\n")
	for _, e := range found {
		fmt.Printf("  seq=%-4d %s  %-18s amount=%v customer=%v\n", e.Seq, e.Time.Format(time.RFC3339), e.Message, e.Metadata["amount"], e.Metadata["customer"])
	}
}
