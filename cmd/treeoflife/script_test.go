package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/backup/file"
)

// The scripts in testdata/script run the treeoflife binary (this test
// binary, run as treeoflife) over every command, exit status and a tampered
// log. Outputs that do not change from run to run are compared with golden
// files, testdata/<command>/<case>/stdout, by the golden command;
// TREEOFLIFE_UPDATE_GOLDEN=1 rewrites them.

func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{"treeoflife": mainStatus}))
}

func TestScripts(t *testing.T) {
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(testdata, "script"),
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"goldenlog":   cmdGoldenLog,
			"mklog":       cmdMklog,
			"flipbyte":    cmdFlipByte,
			"tol":         cmdTol,
			"parquetrows": cmdParquetRows,
			"legacy":      cmdLegacy,
			"golden":      func(ts *testscript.TestScript, neg bool, args []string) { cmdGolden(ts, neg, args, testdata) },
		},
	})
}

// tol STATUS ARGS... runs treeoflife ARGS and checks its exit status.
func cmdTol(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: tol STATUS ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec("treeoflife", args[1:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("treeoflife: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("treeoflife %s: exit status %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

// parquetrows FILE JSONL checks that the Parquet export FILE holds the
// entries of the jsonl export JSONL, field by field.
func cmdParquetRows(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: parquetrows FILE JSONL")
	}
	rows, err := parquet.ReadFile[parquetRow](ts.MkAbs(args[0]))
	ts.Check(err)
	lines := strings.Split(strings.TrimSpace(ts.ReadFile(args[1])), "\n")
	if len(rows) != len(lines) {
		ts.Fatalf("%d rows, want %d", len(rows), len(lines))
	}
	for i, line := range lines {
		var e treeoflife.Entry
		ts.Check(json.Unmarshal([]byte(line), &e))
		md, err := json.Marshal(e.Metadata)
		ts.Check(err)
		want := parquetRow{Seq: int64(e.Seq), ID: e.ID, Timestamp: e.Time, Level: e.Level.String(), Message: e.Message,
			Metadata: string(md), Hostname: e.Hostname, PID: int64(e.PID), Chain: e.Hash.String(), PrevHash: e.PrevHash.String()}
		got := rows[i]
		if !got.Timestamp.Equal(want.Timestamp) || got.Tenant != nil {
			ts.Fatalf("row %d: timestamp %v tenant %v, want %v and none", i, got.Timestamp, got.Tenant, want.Timestamp)
		}
		got.Timestamp = want.Timestamp
		if got != want {
			ts.Fatalf("row %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

// goldenlog DIR copies the repository's golden log (40 entries, fixed
// times, hosts and ids) to DIR.
func cmdGoldenLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: goldenlog DIR")
	}
	from := filepath.Join("..", "..", "testdata", "golden")
	to := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(to, 0o755))
	des, err := os.ReadDir(from)
	ts.Check(err)
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(from, de.Name()))
		ts.Check(err)
		ts.Check(os.WriteFile(filepath.Join(to, de.Name()), b, 0o644))
	}
}

// mklog [-backup BDIR] [-key-hex KEY] DIR N appends N revenue entries to the log in DIR
// (created if need be), shipping them to the directory backup BDIR.
func cmdMklog(ts *testscript.TestScript, neg bool, args []string) {
	var bdir string
	var opts treeoflife.Options
	for len(args) > 2 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-backup":
			bdir = ts.MkAbs(args[1])
		case "-key-hex": // encrypt with this key
			key, err := hex.DecodeString(args[1])
			ts.Check(err)
			opts.EncryptionKey = key
		default:
			ts.Fatalf("mklog: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mklog [-backup BDIR] [-key-hex KEY] DIR N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	ctx := context.Background()
	if bdir != "" {
		sink, err := file.New(ctx, file.Config{Dir: bdir})
		ts.Check(err)
		opts.Backup, opts.BackupBatchSize = sink, 10
	}
	l, err := treeoflife.Open(ts.MkAbs(args[0]), opts)
	ts.Check(err)
	for i := 0; i < n; i++ {
		_, err := l.Revenue("payment "+strconv.Itoa(i), treeoflife.Fields{"customer": "cus_" + strconv.Itoa(i%5), "amount": 100 * i})
		ts.Check(err)
	}
	ts.Check(l.Close())
}

// flipbyte FILE changes one byte in the middle of FILE.
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: flipbyte FILE")
	}
	path := ts.MkAbs(args[0])
	ts.Check(os.Chmod(path, 0o644))
	b, err := os.ReadFile(path)
	ts.Check(err)
	b[len(b)/2] ^= 0x20
	ts.Check(os.WriteFile(path, b, 0o644))
}

// golden COMMAND/CASE [FILE] compares the stdout of the last exec (or
// FILE) with testdata/COMMAND/CASE/stdout, or writes it there when
// TREEOFLIFE_UPDATE_GOLDEN=1.
func cmdGolden(ts *testscript.TestScript, neg bool, args []string, testdata string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: golden COMMAND/CASE [FILE]")
	}
	got := ts.ReadFile("stdout")
	if len(args) == 2 {
		got = ts.ReadFile(args[1])
	}
	path := filepath.Join(testdata, filepath.FromSlash(args[0]), "stdout")
	if os.Getenv("TREEOFLIFE_UPDATE_GOLDEN") == "1" {
		ts.Check(os.MkdirAll(filepath.Dir(path), 0o755))
		ts.Check(os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	ts.Check(err)
	if got != string(want) {
		ts.Fatalf("stdout differs from %s (TREEOFLIFE_UPDATE_GOLDEN=1 rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
