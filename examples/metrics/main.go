// Command metrics serves a logger's Prometheus metrics and health checks
// while it logs a record every second:
//
//	go run ./examples/metrics -addr 127.0.0.1:9464 -dir logs
//	curl http://127.0.0.1:9464/metrics
//	curl http://127.0.0.1:9464/readyz
//
// The address may also come from METRICS_ADDR. The logger verifies itself
// in the background every minute and prints any alert.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/metrics"
)

func main() {
	addr := flag.String("addr", envOr("METRICS_ADDR", "127.0.0.1:9464"), "address to serve /metrics, /livez and /readyz on")
	dir := flag.String("dir", "logs", "log directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, *dir, *addr, time.Second, func(a net.Addr) {
		fmt.Printf("serving http://%s/metrics\n", a)
	})
	if err != nil {
		log.Fatal(err)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// run opens the log in dir, serves its metrics and health on addr, and logs
// a record every tick until ctx ends; ready is called with the address
// once the server listens.
func run(ctx context.Context, dir, addr string, tick time.Duration, ready func(net.Addr)) error {
	logger, err := treeoflife.Open(dir, treeoflife.Options{
		VerifyInterval: time.Minute,
		OnAlert:        func(a treeoflife.Alert) { log.Printf("ALERT %v", a) },
	})
	if err != nil {
		return err
	}
	defer logger.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(logger), collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/livez", treeoflife.HealthHandler(logger))
	mux.Handle("/readyz", treeoflife.HealthHandler(logger))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ready(ln.Addr())

	t := time.NewTicker(tick)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-t.C:
			if _, err := logger.Audit("heartbeat", treeoflife.Fields{"n": n}); err != nil {
				log.Print(err)
			}
		}
	}
}
