package treeoflife

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// The crash tests run the logger in a child process (this test binary,
// re-executed to run only TestCrashChild) and kill it with SIGKILL at a random
// moment. The child prints a line for every record the logger acknowledged;
// the parent then reopens the log and checks that every acknowledged record
// survived, unchanged, and that the log verifies and continues.
//
// The child's environment:
const (
	crashEnvDir        = "TOL_CRASH_CHILD_DIR"        // the log directory; set only in the child
	crashEnvDurability = "TOL_CRASH_CHILD_DURABILITY" // "sync" or "buffered"
	crashEnvCompress   = "TOL_CRASH_CHILD_COMPRESS"   // "1" to gzip sealed segments
	crashEnvSeed       = "TOL_CRASH_CHILD_SEED"       // seeds the child's entry contents
	crashEnvSignKey    = "TOL_CRASH_CHILD_SIGN_KEY"   // a signing key: checkpoints every millisecond
	// TOL_CRASH_SEED, set by a developer, reproduces a failed run.
	crashEnvParentSeed = "TOL_CRASH_SEED"
	// TOL_CRASH_ROUNDS, set by a developer, runs that many kills per test
	// instead of the few the suite runs (RELIABILITY.md records a long run).
	crashEnvRounds = "TOL_CRASH_ROUNDS"
)

// crashSegmentSize is small so that kills land around rotations too.
const crashSegmentSize = 16 << 10

// TestCrashChild is the child process of the crash tests; run directly, it
// does nothing. It logs from several goroutines until it is killed, and prints
// "ack <seq> <id> <hash>" for each acknowledged record.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		return // not the child
	}
	crashChild(dir)
}

func crashChild(dir string) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, "error "+format+"\n", args...)
		os.Exit(3)
	}
	// The child must not outlive a parent that died without killing it: the
	// parent holds our stdin open until it kills us.
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(4)
	}()
	opts := Options{SegmentSize: crashSegmentSize, Compress: os.Getenv(crashEnvCompress) == "1"}
	buffered := os.Getenv(crashEnvDurability) == "buffered"
	if buffered {
		opts.Durability = DurabilityBuffered
	}
	seed, err := strconv.ParseUint(os.Getenv(crashEnvSeed), 10, 64)
	if err != nil {
		fail("bad seed: %v", err)
	}
	if skey := os.Getenv(crashEnvSignKey); skey != "" {
		if opts.Signer, err = note.NewSigner(skey); err != nil {
			fail("signing key: %v", err)
		}
		opts.CheckpointInterval = time.Millisecond // kills land in checkpoint writes
	}
	l, err := Open(dir, opts)
	if err != nil {
		fail("open: %v", err)
	}
	var outMu sync.Mutex
	ack := func(recs ...Record) {
		var b []byte
		for _, r := range recs {
			b = fmt.Appendf(b, "ack %d %s %s\n", r.Seq, r.ID, r.Hash)
		}
		outMu.Lock()
		defer outMu.Unlock()
		if _, err := os.Stdout.Write(b); err != nil {
			os.Exit(5)
		}
	}
	ctx := context.Background()
	const workers = 4
	for w := 0; w < workers; w++ {
		go func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var batch []Record
			for i := 0; ; i++ {
				rec, err := l.Log(ctx, levels[rng.IntN(len(levels))], fmt.Sprintf("worker %d entry %d", w, i), crashFields(rng, w, i))
				if err != nil {
					fail("log: %v", err)
				}
				if !buffered {
					ack(rec)
					continue
				}
				// Buffered: a record is acknowledged only once a Sync that
				// began after it was accepted has succeeded.
				batch = append(batch, rec)
				if len(batch) >= 1+rng.IntN(8) {
					if err := l.Sync(ctx); err != nil {
						fail("sync: %v", err)
					}
					ack(batch...)
					batch = batch[:0]
				}
			}
		}()
	}
	select {} // until killed
}

// crashFields returns varied metadata: nested values, numbers, unicode and
// characters JSON must escape, of varied length.
func crashFields(rng *rand.Rand, w, i int) Fields {
	f := Fields{"worker": w, "i": i}
	switch rng.IntN(5) {
	case 0:
		f["user"] = map[string]any{"id": rng.Int64(), "name": "Zoë <admin> & \"root\"", "roles": []string{"a", "b"}}
	case 1:
		f["amount"] = rng.Float64() * 1e6
		f["currency"] = "EUR"
	case 2:
		f["note"] = strings.Repeat("∑\n\t", rng.IntN(200))
	case 3:
		f["blob"] = make([]byte, rng.IntN(2000))
	}
	return f
}

// crashAck is a record the child reported as acknowledged.
type crashAck struct {
	id, hash string
}

// runCrashChild starts a child logging into dir, kills it with SIGKILL after
// it has acknowledged killAfter records, and returns every record it
// acknowledged (acks printed between the kill and the child's death count
// too: they were acknowledged).
func runCrashChild(t *testing.T, dir string, durability string, compress bool, seed uint64, killAfter int, acked map[uint64]crashAck) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		crashEnvDir+"="+dir,
		crashEnvDurability+"="+durability,
		crashEnvSeed+"="+strconv.FormatUint(seed, 10),
	)
	if compress {
		cmd.Env = append(cmd.Env, crashEnvCompress+"=1")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	// A child that stops making progress (a deadlock) must fail the test,
	// not hang it: the watchdog kills it, and the test sees too few acks.
	// The bound is generous; it is not a timing assertion.
	watchdog := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer watchdog.Stop()

	n := 0
	var childErr string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error ") {
			childErr = line
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "ack" {
			continue // the test framework's own output
		}
		seq, err := strconv.ParseUint(f[1], 10, 64)
		require.NoError(t, err, line)
		_, dup := acked[seq]
		require.False(t, dup, "seq %d acknowledged twice", seq)
		acked[seq] = crashAck{id: f[2], hash: f[3]}
		n++
		if n == killAfter && !killed {
			// The random moment: the child is mid-flight in Log, Sync,
			// a rotation or a compression.
			require.NoError(t, cmd.Process.Kill())
			killed = true
		}
	}
	require.NoError(t, sc.Err())
	err = cmd.Wait()
	require.Empty(t, childErr, "the child failed")
	require.True(t, killed, "the child exited, or hung and met the watchdog, before it was killed: %v", err)
	require.Error(t, err, "the child must have died of SIGKILL")
	return n
}

// TestCrashSync kills a DurabilitySync logger at random moments, repeatedly
// on the same log, and checks after each kill that every acknowledged record
// is on disk unchanged and that the log verifies and continues.
func TestCrashSync(t *testing.T) {
	t.Parallel()
	testCrash(t, "sync", 16)
}

// TestCrashBuffered does the same for DurabilityBuffered, where a record is
// acknowledged once a Sync covering it has returned.
func TestCrashBuffered(t *testing.T) {
	t.Parallel()
	testCrash(t, "buffered", 10)
}

// TestCrashSigned kills a logger that writes a signed checkpoint every
// millisecond: a kill during a checkpoint write leaves a log that opens,
// and verifies with every record covered by a checkpoint signed by its key
// once it is closed.
func TestCrashSigned(t *testing.T) {
	skey, vkey, err := GenerateSigningKey("crash-test")
	require.NoError(t, err)
	t.Setenv(crashEnvSignKey, skey)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	vs, err := NewVerifiers(vkey)
	require.NoError(t, err)
	crashSigner, crashVerifiers = signer, vs
	t.Cleanup(func() { crashSigner, crashVerifiers = nil, nil })
	testCrash(t, "buffered", 8)
}

// crashSigner and crashVerifiers are set by TestCrashSigned, which does
// not run in parallel with the other crash tests.
var (
	crashSigner    note.Signer
	crashVerifiers note.Verifiers
)

func testCrash(t *testing.T, durability string, iterations int) {
	if s := os.Getenv(crashEnvRounds); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, crashEnvRounds)
		iterations = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashEnvParentSeed); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, crashEnvParentSeed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	ctx := context.Background()
	dir := t.TempDir()
	acked := make(map[uint64]crashAck)
	for it := 0; it < iterations; it++ {
		compress := it%3 == 1
		killAfter := 1 + rng.IntN(100)
		n := runCrashChild(t, dir, durability, compress, rng.Uint64(), killAfter, acked)
		t.Logf("iteration %d: compress=%v, killed after %d acks, %d acked", it, compress, killAfter, n)

		l, err := Open(dir, Options{SegmentSize: crashSegmentSize, Compress: compress, Signer: crashSigner, CheckpointInterval: -1})
		require.NoError(t, err, "iteration %d: Open after the kill", it)
		l.compressor.wait() // so the segments do not change under readDiskRecords
		tmps, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
		require.NoError(t, err)
		require.Empty(t, tmps, "Open removes what a crash left half-written")
		recs := readDiskRecords(t, dir)
		for i, r := range recs {
			require.Equal(t, uint64(i), r.Seq, "iteration %d", it)
		}
		for seq, a := range acked {
			require.Less(t, seq, uint64(len(recs)), "iteration %d: acknowledged record %d is lost", it, seq)
			r := recs[seq]
			require.Equal(t, a.id, r.ID, "iteration %d: record %d", it, seq)
			require.Equal(t, a.hash, r.Chain.String(), "iteration %d: record %d", it, seq)
		}
		head := l.Head()
		require.Equal(t, uint64(len(recs)), head.Size)
		if len(recs) > 0 {
			require.Equal(t, recs[len(recs)-1].Chain, head.Chain)
		}
		require.NoError(t, verifyErr(l.Verify(ctx)), "iteration %d", it)

		rec, err := l.Log(ctx, LevelSystem, "parent after crash", Fields{"iteration": it})
		require.NoError(t, err)
		require.Equal(t, uint64(len(recs)), rec.Seq, "the log continues at the first free seq")
		acked[rec.Seq] = crashAck{id: rec.ID, hash: rec.Hash.String()}
		require.NoError(t, l.Close())

		vh, err := VerifyDir(ctx, dir)
		require.NoError(t, err, "iteration %d", it)
		require.Equal(t, uint64(len(recs)+1), vh.Head.Size)
		if crashVerifiers != nil {
			rep, err := VerifyDirWith(ctx, dir, VerifyOptions{Verifiers: crashVerifiers, RequireSigned: true})
			require.NoError(t, err, "iteration %d", it)
			require.Equal(t, vh.Head.Size, rep.Anchored)
		}
	}
	segs, err := listSegments(dir)
	require.NoError(t, err)
	assert.Greater(t, len(segs), 3, "the kills should have spanned several rotations")
	t.Logf("%d records in %d segments; %d torn tails repaired", len(acked), len(segs), len(repairFiles(t, dir)))
}
