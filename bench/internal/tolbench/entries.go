package tolbench

import (
	"math/rand/v2"

	tol "github.com/treeoflife/treeoflife"
)

// An Entry is one log entry, written by every row. The treeoflife rows pass
// Fields, a map built here so that building it is not timed; the peers pass
// the typed values through their own field constructors (slog.Int64,
// zap.String, zerolog's Event.Str), which is how each is meant to be called.
// Both carry the same five fields.
type Entry struct {
	Msg        string
	Amount     int64
	Currency   string
	CustomerID string
	OrderID    string
	Captured   bool
	Fields     tol.Fields
}

var (
	messages   = [...]string{"payment received", "refund issued", "invoice paid", "subscription renewed"}
	currencies = [...]string{"USD", "EUR", "GBP", "JPY", "CHF"}
)

const idAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ" // Crockford base32, as in ULIDs

// Generate returns n entries from a fixed seed, so every row and every run
// writes the same data. Encoded as JSON by a plain logger (time, level, msg
// and the five fields) each is about 200 bytes.
func Generate(n int) []Entry {
	r := rand.New(rand.NewPCG(1, 2))
	es := make([]Entry, n)
	for i := range es {
		es[i] = newEntry(r)
	}
	return es
}

func newEntry(r *rand.Rand) Entry {
	e := Entry{
		Msg:        messages[r.IntN(len(messages))],
		Amount:     100 + r.Int64N(1_000_000),
		Currency:   currencies[r.IntN(len(currencies))],
		CustomerID: "cus_" + randID(r, 14),
		OrderID:    "ord_" + randID(r, 26),
		Captured:   r.IntN(10) != 0,
	}
	e.Fields = tol.Fields{
		"amount":      e.Amount,
		"currency":    e.Currency,
		"customer_id": e.CustomerID,
		"order_id":    e.OrderID,
		"captured":    e.Captured,
	}
	return e
}

func randID(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[r.IntN(len(idAlphabet))]
	}
	return string(b)
}
