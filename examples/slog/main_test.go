package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	want := `refund stored at seq 5
0 INFO     service started            map[service:checkout version:1.4.2]
1 AUDIT    user login                 map[client:map[agent:curl/8 ip:203.0.113.9] service:checkout userId:u-17]
2 REVENUE  payment captured           map[order:map[amount:4999 currency:EUR id:ord-981] service:checkout]
3 SECURITY password reset requested   map[service:checkout userId:u-17]
4 WARN     slow upstream              map[ms:812 service:checkout]
5 AUDIT    refund approved            map[by:u-3 orderId:ord-981]
verified 6 records, 0 slog failures
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
