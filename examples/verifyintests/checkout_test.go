package verifyintests

import (
	"context"
	"testing"

	"github.com/treeoflife/treeoflife"
)

// newAuditLog opens a log in a test directory. When the test ends, it
// verifies the log from disk (every frame, the hash chain, the Merkle root
// and the checkpoint) and then closes it; a tampered or damaged log fails
// the test.
func newAuditLog(t *testing.T) *treeoflife.ImmutableLogger {
	t.Helper()
	logger, err := treeoflife.Open(t.TempDir(), treeoflife.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := logger.Verify(context.Background()); err != nil {
			t.Errorf("audit log does not verify: %v", err)
		}
		if err := logger.Close(); err != nil {
			t.Errorf("close audit log: %v", err)
		}
	})
	return logger
}

func TestChargeAndRefund(t *testing.T) {
	audit := newAuditLog(t)
	c := &Checkout{Audit: audit}
	seq, err := c.Charge("cus_42", 2500)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Refund("cus_42", seq, 500); err != nil {
		t.Fatal(err)
	}

	// What the service recorded, read back from disk.
	es, err := audit.Read(context.Background(), treeoflife.Filter{Levels: []treeoflife.Level{treeoflife.LevelRevenue}})
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, e := range es {
		total += e.Metadata["amount"].(float64)
	}
	if len(es) != 2 || total != 2000 {
		t.Errorf("%d revenue records totalling %v, want 2 totalling 2000", len(es), total)
	}
}

func TestInvalidChargeWritesNothing(t *testing.T) {
	audit := newAuditLog(t)
	c := &Checkout{Audit: audit}
	if _, err := c.Charge("cus_42", 0); err != ErrInvalidAmount {
		t.Fatalf("Charge(0): %v", err)
	}
	if n := audit.Head().Size; n != 0 {
		t.Errorf("%d records written for a refused charge", n)
	}
}
