package treeoflife_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/treeoflife/treeoflife"
)

func Example() {
	dir, _ := os.MkdirTemp("", "treeoflife-example")
	defer os.RemoveAll(dir)

	logger, err := treeoflife.Open(filepath.Join(dir, "logs"), treeoflife.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer logger.Close()

	logger.Info("System started", treeoflife.Fields{"version": "1.0.0"})
	logger.Audit("User login", treeoflife.Fields{"userId": "user123"})
	rec, err := logger.Revenue("Sale completed", treeoflife.Fields{"amount": 1000, "currency": "USD"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("revenue record:", rec.Seq)

	if _, err := logger.Verify(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("records:", logger.Head().Size, "verified")
	// Output:
	// revenue record: 2
	// records: 3 verified
}

func ExampleVerifyDir() {
	dir, _ := os.MkdirTemp("", "treeoflife-example")
	defer os.RemoveAll(dir)

	logger, _ := treeoflife.Open(dir, treeoflife.Options{})
	logger.Revenue("Payment received", treeoflife.Fields{"amount": 9900, "currency": "USD"})
	logger.Close()

	// Someone edits a record on disk.
	seg := filepath.Join(dir, "00000000000000000000.seg")
	b, _ := os.ReadFile(seg)
	b[len(b)-30] ^= 1
	os.Chmod(seg, 0o644)
	os.WriteFile(seg, b, 0o644)

	// An auditor verifies the directory: no key, no writer needed.
	_, err := treeoflife.VerifyDir(context.Background(), dir)
	var te *treeoflife.TamperError
	if errors.As(err, &te) {
		fmt.Printf("tampered: segment %s, seq %d: %s\n", te.Segment, te.Seq, te.Reason)
	}
	// Output:
	// tampered: segment 00000000000000000000.seg, seq 0: damaged frame: frame checksum mismatch
}

func ExampleOptions_buffered() {
	dir, _ := os.MkdirTemp("", "treeoflife-example")
	defer os.RemoveAll(dir)

	// Buffered: calls return once the record is chained and queued; the
	// writer fsyncs every FlushInterval. Sync forces it at a point of your
	// choosing, and Close always does.
	logger, _ := treeoflife.Open(dir, treeoflife.Options{Durability: treeoflife.DurabilityBuffered})
	for i := 0; i < 1000; i++ {
		logger.Info("request served", treeoflife.Fields{"status": 200, "n": i})
	}
	if err := logger.Sync(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(logger.Head().Size, "records durable")
	logger.Close()
	// Output:
	// 1000 records durable
}
