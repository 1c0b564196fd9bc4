package tolbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	tol "github.com/treeoflife/treeoflife"
)

// ChildFlag, as the first argument, makes a program that embeds the
// benchmark run the RowRSS child instead: see ChildMain.
const ChildFlag = "-tolbench-rss-child"

// IsChild reports whether args (os.Args) ask for the RowRSS child.
func IsChild(args []string) bool { return len(args) > 1 && args[1] == ChildFlag }

// rssPool is how many distinct entries the child cycles through: enough to
// vary the data, few enough (about 1 MiB) to leave the RSS to the logger.
const rssPool = 4096

// ChildMain runs the RowRSS child: it writes -n entries with Buffered from
// -writers goroutines to a new log in -dir, then prints its Row as one JSON
// line on stdout. args are os.Args[1:], starting with ChildFlag. It returns
// the process's exit code.
func ChildMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(ChildFlag, flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 0, "entries")
	writers := fs.Int("writers", DefaultWritersBuffered, "writer goroutines")
	dir := fs.String("dir", "", "log directory (must not exist or be empty)")
	segSize := fs.Int64("segment-size", 0, "treeoflife SegmentSize")
	if len(args) == 0 || args[0] != ChildFlag {
		fmt.Fprintln(stderr, "tolbench child: first argument must be", ChildFlag)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *n <= 0 || *dir == "" {
		fmt.Fprintln(stderr, "tolbench child: -n and -dir are required")
		return 2
	}
	row, err := rssChild(context.Background(), *n, *writers, *dir, *segSize)
	if err != nil {
		fmt.Fprintln(stderr, "tolbench child:", err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(row); err != nil {
		fmt.Fprintln(stderr, "tolbench child:", err)
		return 1
	}
	return 0
}

func rssChild(ctx context.Context, n, writers int, dir string, segSize int64) (Row, error) {
	r := rand.New(rand.NewPCG(3, 4))
	pool := make([]Entry, rssPool)
	for i := range pool {
		pool[i] = newEntry(r)
	}
	row := Row{Name: RowRSS, Writers: writers, Entries: n}
	lg, err := tol.Open(dir, tol.Options{Durability: tol.DurabilityBuffered, SegmentSize: segSize})
	if err != nil {
		return row, err
	}
	// Unlike the rows in the main process, the child does not reset its
	// peak RSS: the whole process, Open included, is what is measured.
	m := &meter{name: RowRSS, stopHeap: make(chan struct{}), heapDone: make(chan struct{})}
	runtime.ReadMemStats(&m.ms0)
	go m.sampleHeap()
	elapsed, werr := drive(ctx, n, writers, nil, func(i int) error {
		e := &pool[i%rssPool]
		_, err := lg.Log(ctx, tol.LevelRevenue, e.Msg, e.Fields)
		return err
	})
	size := lg.Head().Size
	t0 := time.Now()
	cerr := lg.Close()
	closing := time.Since(t0)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if werr != nil {
		return row, werr
	}
	if cerr != nil {
		return row, fmt.Errorf("closing the logger: %w", cerr)
	}
	if size != uint64(n) {
		return row, fmt.Errorf("Head().Size is %d after writing %d entries", size, n)
	}
	finish(&row, elapsed, closing)
	return row, diskUsage(&row, dir)
}

// rss runs the RowRSS child and returns its row.
func (r *runner) rss(ctx context.Context) (Row, error) {
	dir := filepath.Join(r.dir, RowRSS)
	args := []string{ChildFlag,
		"-n", strconv.Itoa(r.cfg.RSSN),
		"-writers", strconv.Itoa(r.cfg.WritersBuffered),
		"-dir", dir,
		"-segment-size", strconv.FormatInt(r.cfg.SegmentSize, 10),
	}
	settle()
	cmd := exec.CommandContext(ctx, r.cfg.Exe, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// The child's log is not needed afterwards, and at 10M entries it is
	// several GiB.
	if !r.cfg.Keep {
		defer os.RemoveAll(dir)
	}
	if err != nil {
		return Row{Name: RowRSS}, fmt.Errorf("child %s %v: %w: %s", r.cfg.Exe, args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var row Row
	if err := json.Unmarshal(stdout.Bytes(), &row); err != nil {
		return row, fmt.Errorf("child output %q: %w", stdout.Bytes(), err)
	}
	if row.Name != RowRSS {
		return row, errors.New("child printed no row")
	}
	// The kernel's account of the child agrees with VmHWM; prefer it when the
	// child could not read /proc.
	if row.PeakRSSMiB == 0 {
		row.PeakRSSMiB = float64(childMaxRSS(cmd.ProcessState)) / (1 << 20)
	}
	row.Note = "separate process; peak RSS is the target"
	return row, nil
}
