// Package verifyintests shows how a service's own tests check its audit
// log: each test gets a logger in t.TempDir, and a cleanup that verifies
// the log from disk (logger.Verify) before closing it, so that every test
// also proves that what the code under test wrote is intact.
//
// The service is checkout.go; the pattern is in checkout_test.go.
//
//	go test ./examples/verifyintests
package verifyintests

import (
	"errors"
	"fmt"

	"github.com/treeoflife/treeoflife"
)

// Checkout charges customers and records every charge and refund.
type Checkout struct {
	Audit *treeoflife.ImmutableLogger
}

// ErrInvalidAmount is returned for a charge or refund that is not positive.
var ErrInvalidAmount = errors.New("checkout: amount must be positive")

// Charge records a payment of amount cents by customer.
func (c *Checkout) Charge(customer string, amount int) (uint64, error) {
	if amount <= 0 {
		return 0, ErrInvalidAmount
	}
	rec, err := c.Audit.Revenue("Payment received", treeoflife.Fields{"customer": customer, "amount": amount, "currency": "USD"})
	if err != nil {
		return 0, fmt.Errorf("checkout: record payment: %w", err)
	}
	return rec.Seq, nil
}

// Refund records a refund of amount cents of the charge at seq.
func (c *Checkout) Refund(customer string, chargeSeq uint64, amount int) error {
	if amount <= 0 {
		return ErrInvalidAmount
	}
	_, err := c.Audit.Revenue("Refund issued", treeoflife.Fields{"customer": customer, "amount": -amount, "currency": "USD", "charge": chargeSeq})
	if err != nil {
		return fmt.Errorf("checkout: record refund: %w", err)
	}
	return nil
}
