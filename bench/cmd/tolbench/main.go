// Command tolbench benchmarks treeoflife against log/slog, zap and zerolog
// writing the same entries, measures its reading, backup shipping and
// restore (against a MinIO server it starts from -minio), and checks
// treeoflife's performance targets.
//
// Usage:
//
//	go run ./cmd/tolbench [flags]
//
// It prints a table, or with -json one JSON object per row per line. See
// bench/README.md for what each row measures.
//
// With -soak DURATION it runs no rows: it logs at a fixed rate for that long
// with backup to a MinIO it kills and restarts now and then, samples the
// process, and checks that nothing grows and every record arrives (README,
// "Soak").
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/treeoflife/treeoflife/bench/internal/tolbench"
)

func main() {
	// The RowRSS child: this same program, run by the parent with a first
	// argument that no user types.
	if tolbench.IsChild(os.Args) {
		os.Exit(tolbench.ChildMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run())
}

func run() int {
	var cfg tolbench.Config
	var (
		jsonOut bool
		check   bool
		only    string
		soak    tolbench.SoakConfig
	)
	flag.IntVar(&cfg.N, "n", tolbench.DefaultN, "entries written by each row")
	flag.IntVar(&cfg.NSync, "n-sync", 0, fmt.Sprintf("entries written by the %s row (default n); it fsyncs per group commit, so it is the slow row", tolbench.RowSync))
	flag.IntVar(&cfg.NShip, "n-ship", 0, fmt.Sprintf("entries written by the %s row (default n; it logs with Sync, like %s) and the %s row", tolbench.RowShipS3, tolbench.RowSync, tolbench.RowShipS3Paced))
	flag.IntVar(&cfg.ShipRate, "ship-rate", tolbench.DefaultShipRate, fmt.Sprintf("entries/s the %s row logs at (the target needs >= 100000)", tolbench.RowShipS3Paced))
	flag.IntVar(&cfg.Distinct, "distinct", tolbench.DefaultDistinct, "how many different entries to generate before the rows run; the rows cycle through them (set to n for all different, at ~575 bytes of heap each)")
	flag.IntVar(&cfg.WritersBuffered, "writers-buffered", tolbench.DefaultWritersBuffered, "writer goroutines for treeoflife Buffered (and the RSS child)")
	flag.IntVar(&cfg.WritersSync, "writers-sync", tolbench.DefaultWritersSync, "writer goroutines for treeoflife Sync")
	flag.IntVar(&cfg.WritersPeers, "writers-peers", tolbench.DefaultWritersPeers, "writer goroutines for slog, zap and zerolog")
	flag.IntVar(&cfg.BufferSize, "buffer", tolbench.DefaultBufferSize, "write buffer size in bytes for the peers' files")
	flag.Int64Var(&cfg.SegmentSize, "segment-size", 0, "treeoflife Options.SegmentSize in bytes (0: the library's default)")
	flag.IntVar(&cfg.ProveN, "prove-n", tolbench.DefaultProveN, fmt.Sprintf("records in the log the %s row proves records of (the targets are set at 10000000)", tolbench.RowProve))
	flag.IntVar(&cfg.RSSN, "rss-n", 0, fmt.Sprintf("if positive, also run the %s row: write this many entries with Buffered in a child process and report its peak RSS (the target is <= 64 MiB at 10000000)", tolbench.RowRSS))
	flag.StringVar(&cfg.Dir, "dir", os.TempDir(), "directory in which a temporary directory for the logs is made")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the logs (their directory is printed on stderr)")
	flag.StringVar(&cfg.MinIOBin, "minio", os.Getenv("TOL_MINIO_BIN"), "minio server binary for the S3 rows ("+strings.Join(tolbench.S3Rows, ", ")+"), which start it on a free loopback port; default $TOL_MINIO_BIN; without one they are skipped (`make bench` builds the pinned MinIO)")
	flag.StringVar(&only, "rows", "", "comma-separated rows to run (default all): "+strings.Join(tolbench.AllRows, ","))
	flag.BoolVar(&jsonOut, "json", false, "print one JSON object per row per line instead of a table")
	flag.BoolVar(&check, "check", false, "exit with status 1 if a performance target is missed")
	flag.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the -profile-row row's timed section to this file")
	flag.StringVar(&cfg.MemProfile, "memprofile", "", "write an allocation profile (all allocations since the program started) after the -profile-row row to this file")
	flag.StringVar(&cfg.ProfileRow, "profile-row", tolbench.RowBuffered, "the row -cpuprofile and -memprofile profile")
	flag.DurationVar(&soak.Duration, "soak", 0, "instead of the rows, run the soak for this long (e.g. 30m): one logger at -soak-rate with backup to MinIO, killed every -soak-kill-every, and a Reader following it; see bench/README.md, \"Soak\"")
	flag.IntVar(&soak.Rate, "soak-rate", tolbench.DefaultSoakRate, "entries/s the soak logs at, in all")
	flag.IntVar(&soak.Writers, "soak-writers", tolbench.DefaultSoakWriters, "writer goroutines of the soak")
	flag.DurationVar(&soak.KillEvery, "soak-kill-every", 5*time.Minute, "SIGKILL and restart MinIO this often during the soak (0: never)")
	flag.DurationVar(&soak.SampleEvery, "soak-sample", tolbench.DefaultSoakSample, "how often the soak samples RSS, open files, goroutines, heap and lags")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: tolbench [flags]\n\nWrites the same entries through treeoflife, log/slog, zap and zerolog and reports\nentries/s, latency, bytes per entry and memory for each. See bench/README.md.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		return 2
	}
	if only != "" {
		cfg.Rows = strings.Split(only, ",")
	}
	cfg.Log = os.Stderr

	if soak.Duration > 0 {
		soak.SegmentSize, soak.MinIOBin, soak.Dir, soak.Keep, soak.Log = cfg.SegmentSize, cfg.MinIOBin, cfg.Dir, cfg.Keep, os.Stderr
		return runSoak(soak, jsonOut)
	}

	// A signal cancels ctx, so that Run returns through its defers and stops
	// the MinIO server it started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rows, err := tolbench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tolbench:", err)
		return 1
	}
	if jsonOut {
		if err := tolbench.WriteJSON(os.Stdout, rows); err != nil {
			fmt.Fprintln(os.Stderr, "tolbench:", err)
			return 1
		}
	} else {
		fmt.Printf("tolbench: %s, GOMAXPROCS=%d, %d CPUs; whole run %.1f s. load: the 1-minute load average after each row\n\n",
			runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), time.Since(start).Seconds())
		if err := tolbench.WriteTable(os.Stdout, rows); err != nil {
			fmt.Fprintln(os.Stderr, "tolbench:", err)
			return 1
		}
		fmt.Println()
		if err := tolbench.WriteTargets(os.Stdout, tolbench.Targets(rows)); err != nil {
			fmt.Fprintln(os.Stderr, "tolbench:", err)
			return 1
		}
	}
	if check {
		for _, t := range tolbench.Targets(rows) {
			if !t.Pass {
				return 1
			}
		}
	}
	return 0
}

// runSoak runs the soak, printing each sample as it is taken (a table, or
// one JSON line each) and then the summary. It exits with 1 when the soak
// could not finish or a check failed.
func runSoak(cfg tolbench.SoakConfig, jsonOut bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	enc := json.NewEncoder(os.Stdout)
	if jsonOut {
		cfg.OnSample = func(s tolbench.SoakSample) { enc.Encode(s) }
	} else {
		fmt.Printf("tolbench -soak %v: %s, GOMAXPROCS=%d, %d CPUs; %d entries/s from %d writers; MinIO killed every %v; a sample every %v\n\n",
			cfg.Duration, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), cfg.Rate, cfg.Writers, cfg.KillEvery, cfg.SampleEvery)
		tolbench.WriteSoakHeader(os.Stdout)
		cfg.OnSample = func(s tolbench.SoakSample) { tolbench.WriteSoakSample(os.Stdout, s) }
	}
	res, err := tolbench.RunSoak(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tolbench: soak:", err)
		return 1
	}
	if jsonOut {
		err = enc.Encode(res)
	} else {
		fmt.Println()
		err = tolbench.WriteSoakSummary(os.Stdout, res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tolbench:", err)
		return 1
	}
	if !res.Pass() {
		return 1
	}
	return 0
}
