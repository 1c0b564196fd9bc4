// Package legacy reads the logs of the system treeoflife replaces: the
// JavaScript and Python ImmutableLogger (see the fixtures' README for the
// formats). It finds the logs under a directory, reads their lines in order
// across rotated archives, checks them against the original hash chain
// (blockchain.json), decrypts encrypted lines and parses entries.
package legacy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrNotLegacy is wrapped by the errors for a directory or a line that is
// not part of a legacy log.
var ErrNotLegacy = errors.New("not a legacy log")

// File names the original loggers write.
const (
	currentName = "immutable.log"
	chainName   = "blockchain.json"
	hashesName  = "log-hashes.json"
)

// A Source is one legacy log: a directory holding immutable.log and/or its
// rotated archives, and usually blockchain.json.
type Source struct {
	Dir    string   // the log's directory
	Tenant string   // the tenant folder's name, "" for a log without tenant folders
	Files  []string // the archives, oldest first, then immutable.log (paths)
	Chain  string   // path of blockchain.json, "" when there is none
	Hashes string   // path of log-hashes.json, "" when there is none
}

// Discover finds the legacy logs at from: from itself when it holds a log
// (returned with Tenant ""), else each subdirectory that holds one, as a
// tenant named after the folder. A directory with neither is refused with
// an error wrapping ErrNotLegacy.
func Discover(from string) ([]Source, error) {
	fi, err := os.Stat(from)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory (give the directory holding immutable.log, or the tenant folders)", ErrNotLegacy, from)
	}
	src, ok, err := openSource(from, "")
	if err != nil {
		return nil, err
	}
	if ok {
		return []Source{src}, nil
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		return nil, err
	}
	var out []Source
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		src, ok, err := openSource(filepath.Join(from, e.Name()), e.Name())
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, src)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s holds no immutable.log or immutable-*.log.gz, nor tenant folders holding one", ErrNotLegacy, from)
	}
	return out, nil
}

// openSource lists the log files of dir; ok is false when it has none.
func openSource(dir, tenant string) (Source, bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return Source{}, false, err
	}
	type archive struct {
		name string
		t    time.Time
	}
	var archives []archive
	src := Source{Dir: dir, Tenant: tenant}
	current := false
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		switch {
		case name == currentName:
			current = true
		case name == chainName:
			src.Chain = filepath.Join(dir, name)
		case name == hashesName:
			src.Hashes = filepath.Join(dir, name)
		case strings.HasPrefix(name, "immutable-") && (strings.HasSuffix(name, ".log.gz") || strings.HasSuffix(name, ".log")):
			t, err := archiveTime(name)
			if err != nil {
				return Source{}, false, fmt.Errorf("%w: %s: %v", ErrNotLegacy, filepath.Join(dir, name), err)
			}
			archives = append(archives, archive{name, t})
		}
	}
	if !current && len(archives) == 0 {
		return Source{}, false, nil
	}
	sort.SliceStable(archives, func(i, j int) bool {
		if !archives[i].t.Equal(archives[j].t) {
			return archives[i].t.Before(archives[j].t)
		}
		return archives[i].name < archives[j].name
	})
	for _, a := range archives {
		src.Files = append(src.Files, filepath.Join(dir, a.name))
	}
	if current {
		src.Files = append(src.Files, filepath.Join(dir, currentName))
	}
	return src, true, nil
}

// archiveTime reads the rotation time from an archive's name:
// immutable-2026-11-29T18-16-57.655Z.log.gz (JavaScript: toISOString with
// ':' replaced) or immutable-2026-11-29T18-16-58.227037.log.gz (Python:
// isoformat, whose fraction is absent when zero). Names sort wrongly as
// strings in the second case, so archives are ordered by this time.
func archiveTime(name string) (time.Time, error) {
	s := strings.TrimPrefix(name, "immutable-")
	s = strings.TrimSuffix(strings.TrimSuffix(s, ".gz"), ".log")
	for _, layout := range []string{"2006-01-02T15-04-05Z07:00", "2006-01-02T15-04-05", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("rotated archive name without a time the original loggers write (immutable-<time>.log.gz)")
}
