package main

import (
	"strings"
	"testing"
)

// The entries are stamped by a fixed clock, so the whole output is stable.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

const want = `Read REVENUE, newest 2: 2
  seq=5 09:05 REVENUE  Payment received map[amount:5000 currency:EUR customer:cus_42 plan:enterprise]
  seq=4 09:04 REVENUE  Refund issued    map[amount:-300 currency:USD customer:cus_7]
Read 09:02 to 09:04: 2
  seq=2 09:02 REVENUE  Payment received map[amount:300 currency:USD customer:cus_7]
  seq=3 09:03 SECURITY Password changed map[userId:u1]
Search "cus_42": 2
  seq=1 09:01 REVENUE  Payment received map[amount:1200 currency:EUR customer:cus_42]
  seq=5 09:05 REVENUE  Payment received map[amount:5000 currency:EUR customer:cus_42 plan:enterprise]
Query {"level": "REVENUE", "metadata.amount": {"$gte": 1000}}: 2
  seq=1 09:01 REVENUE  Payment received map[amount:1200 currency:EUR customer:cus_42]
  seq=5 09:05 REVENUE  Payment received map[amount:5000 currency:EUR customer:cus_42 plan:enterprise]
Query {"$or": [{"level": "SECURITY"}, {"metadata.country": {"$in": ["FR"]}}]}: 2
  seq=3 09:03 SECURITY Password changed map[userId:u1]
  seq=6 09:06 AUDIT    User login       map[country:FR userId:u2]
Query {"message": {"$regex": "^Refund"}, "metadata.currency": "USD"}: 1
  seq=4 09:04 REVENUE  Refund issued    map[amount:-300 currency:USD customer:cus_7]
Query {"metadata.plan": {"$exists": true}}: 1
  seq=5 09:05 REVENUE  Payment received map[amount:5000 currency:EUR customer:cus_42 plan:enterprise]
refused: treeoflife: invalid query: metadata.amount.$between: unknown operator "$between"
revenue: EUR 6200, USD 0
`
