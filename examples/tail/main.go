// Command tail follows a log with Tail while another goroutine writes to
// it: each record is printed as soon as the writer has stored it.
//
//	go run ./examples/tail
//
// The log goes to a new temporary directory, removed on exit.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/treeoflife/treeoflife"
)

func main() {
	dir, err := os.MkdirTemp("", "treeoflife-tail")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(os.Stdout, dir); err != nil {
		log.Fatal(err)
	}
}

// run logs a startup record, then follows the log from its current end
// while a second goroutine logs five payments, and stops after the fifth.
func run(w io.Writer, dir string) error {
	logger, err := treeoflife.Open(dir, treeoflife.Options{})
	if err != nil {
		return err
	}
	defer logger.Close()
	if _, err := logger.System("Payment service started", nil); err != nil {
		return err
	}

	const payments = 5
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Follow only what is logged from now on: FromSeq is the next seq.
	// (Limit: N would first replay the newest N existing records.)
	from := logger.Head().Size

	writerErr := make(chan error, 1)
	go func() {
		for i := range payments {
			_, err := logger.Revenue("Payment received", treeoflife.Fields{"amount": 1000 * (i + 1), "currency": "EUR"})
			if err != nil {
				writerErr <- err
				return
			}
		}
		writerErr <- nil
	}()

	seen := 0
	for e, err := range logger.Tail(ctx, treeoflife.Filter{FromSeq: from, Levels: []treeoflife.Level{treeoflife.LevelRevenue}}) {
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "tail: seq=%d %s %s amount=%v\n", e.Seq, e.Level, e.Message, e.Metadata["amount"])
		if seen++; seen == payments {
			cancel() // ends the loop; a Tail also ends when the logger is closed
		}
	}
	if err := <-writerErr; err != nil {
		return err
	}
	fmt.Fprintf(w, "followed %d records\n", seen)
	return nil
}
