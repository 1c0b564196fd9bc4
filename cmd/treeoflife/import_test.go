package main

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
)

// legacyFixtures holds logs written by the original system's own code
// (see its README), used as they are.
const legacyFixtures = "../../testdata/legacy"

// cmdLegacy NAME DIR copies the legacy fixture NAME (a directory of
// testdata/legacy) to DIR in the script's work directory.
func cmdLegacy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: legacy NAME DIR")
	}
	src, err := filepath.Abs(filepath.Join(legacyFixtures, args[0]))
	ts.Check(err)
	ts.Check(os.CopyFS(ts.MkAbs(args[1]), os.DirFS(src)))
}
