package treeoflife

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// Files in a log directory besides the segments (FORMAT.md, "Directory").
const (
	headerFile     = "HEADER"
	checkpointFile = "CHECKPOINT"
	lockFile       = "LOCK"
	repairDir      = "repair"

	formatName    = "treeoflife"
	formatVersion = 1
	// formatVersionExt is a HEADER with a tenant or encryption parameters.
	// A log with neither is still written as version 1, so that readers of
	// version 1 keep reading it.
	formatVersionExt = 2
)

// logHeader is the HEADER file: what a reader must know before it opens a
// segment. It never holds a key.
type logHeader struct {
	Format    string    `json:"format"`
	Version   int       `json:"version"`
	LogID     string    `json:"logId"`
	Hash      string    `json:"hash"`
	CreatedAt time.Time `json:"createdAt"`
	// Version 2 (formatVersionExt) adds:
	Tenant     string            `json:"tenant,omitempty"`     // Options.Tenant the log was created for
	Encryption *headerEncryption `json:"encryption,omitempty"` // see crypto.go
	// Revision counts rewrites: 0 at creation, one more each time data
	// keys are added or erased. Backups keep every revision.
	Revision uint64 `json:"revision,omitempty"`
}

func (h *logHeader) id() ([16]byte, error) {
	var id [16]byte
	b, err := hex.DecodeString(h.LogID)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("%w: HEADER has a malformed logId %q", ErrNotLog, h.LogID)
	}
	copy(id[:], b)
	return id, nil
}

// readHeader reads and checks dir/HEADER. A missing file is reported as
// os.ErrNotExist.
func readHeader(dir string) (logHeader, [16]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, headerFile))
	if err != nil {
		return logHeader{}, [16]byte{}, err
	}
	return parseHeader(b, filepath.Join(dir, headerFile))
}

// parseHeader checks the contents of a HEADER; name says where it came
// from, for errors.
func parseHeader(b []byte, name string) (logHeader, [16]byte, error) {
	var h logHeader
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, [16]byte{}, fmt.Errorf("%w: %s: %v", ErrNotLog, name, err)
	}
	if h.Format != formatName {
		return h, [16]byte{}, fmt.Errorf("%w: %s: format %q", ErrNotLog, name, h.Format)
	}
	if h.Version != formatVersion && h.Version != formatVersionExt {
		return h, [16]byte{}, fmt.Errorf("%w: %s: version %d (this library reads versions %d and %d)", ErrUnsupportedVersion, name, h.Version, formatVersion, formatVersionExt)
	}
	if h.Version == formatVersion && (h.Tenant != "" || h.Encryption != nil || h.Revision != 0) {
		return h, [16]byte{}, fmt.Errorf("%w: %s: version 1 HEADER with version 2 keys", ErrNotLog, name)
	}
	if h.Tenant != "" {
		if err := ValidateTenantID(h.Tenant); err != nil {
			return h, [16]byte{}, fmt.Errorf("%w: %s: %v", ErrNotLog, name, err)
		}
	}
	if h.Encryption != nil {
		if err := h.Encryption.check(); err != nil {
			return h, [16]byte{}, fmt.Errorf("%w: %s: encryption: %v", ErrNotLog, name, err)
		}
	}
	if h.Hash != "sha256" {
		return h, [16]byte{}, fmt.Errorf("%w: %s: hash %q", ErrUnsupportedVersion, name, h.Hash)
	}
	id, err := h.id()
	return h, id, err
}

// createHeader writes a new HEADER with a random log ID; init, when set,
// first fills in what depends on the ID (tenant, encryption parameters).
func createHeader(dir string, now time.Time, init func(h *logHeader, id [16]byte) error) (logHeader, [16]byte, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return logHeader{}, id, err
	}
	h := logHeader{Format: formatName, Version: formatVersion, LogID: hex.EncodeToString(id[:]), Hash: "sha256", CreatedAt: now.UTC()}
	if init != nil {
		if err := init(&h, id); err != nil {
			return h, id, err
		}
	}
	return h, id, writeHeader(dir, &h)
}

// writeHeader replaces dir/HEADER atomically (temporary file, fsync, rename,
// fsync of the directory): at creation, and when data keys are added or
// erased. It writes version 2 only when a version 2 key is present.
func writeHeader(dir string, h *logHeader) error {
	return fileutil.WriteFileAtomic(filepath.Join(dir, headerFile), encodeHeader(h), 0o444)
}

// headerNextFile is a HEADER revision written but not yet in place.
const headerNextFile = "HEADER.new"

// rewriteHeader replaces the HEADER of an existing log with h as its next
// revision, in an order that keeps CHECKPOINT, which records HEADER's hash,
// naming the HEADER on disk across a crash (FORMAT.md, "HEADER"):
//
//  1. the new revision is written durably as HEADER.new;
//  2. commit records its hash: a new checkpoint of the same records;
//  3. HEADER.new is renamed over HEADER and the directory fsynced.
//
// Open finishes a rename that a crash interrupted when CHECKPOINT names
// HEADER.new, and removes HEADER.new otherwise (see finishHeader).
func rewriteHeader(dir string, h *logHeader, commit func(Hash) error) error {
	h.Revision++
	b := encodeHeader(h)
	next := filepath.Join(dir, headerNextFile)
	if err := fileutil.WriteFileAtomic(next, b, 0o444); err != nil {
		return err
	}
	if commit != nil {
		if err := commit(headerDigest(b)); err != nil {
			os.Remove(next)
			return fmt.Errorf("record the new HEADER in CHECKPOINT: %w", err)
		}
	}
	if err := os.Rename(next, filepath.Join(dir, headerFile)); err != nil {
		return err
	}
	return fileutil.SyncDir(dir)
}

// finishHeader completes or undoes a HEADER replacement that a crash
// interrupted: HEADER.new is the new revision when CHECKPOINT already
// records its hash, and is discarded otherwise.
func finishHeader(dir string) error {
	next := filepath.Join(dir, headerNextFile)
	b, err := os.ReadFile(next)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cb, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err == nil {
		if text, _, err := splitCheckpoint(cb); err == nil {
			if c, err := ParseCheckpoint(text); err == nil && !c.Legacy && c.Header == headerDigest(b) {
				if err := os.Rename(next, filepath.Join(dir, headerFile)); err != nil {
					return err
				}
				return fileutil.SyncDir(dir)
			}
		}
	}
	return os.Remove(next)
}

// readHeaderRaw is readHeader that also returns the file's bytes.
func readHeaderRaw(dir string) (logHeader, [16]byte, []byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, headerFile))
	if err != nil {
		return logHeader{}, [16]byte{}, nil, err
	}
	h, id, err := parseHeader(b, filepath.Join(dir, headerFile))
	return h, id, b, err
}

func encodeHeader(h *logHeader) []byte {
	h.Version = formatVersion
	if h.Tenant != "" || h.Encryption != nil || h.Revision != 0 {
		h.Version = formatVersionExt
	}
	b, _ := json.MarshalIndent(h, "", "  ") // cannot fail: no maps, no floats
	return append(b, '\n')
}

// checkpointOrigin is the first line of a checkpoint: it names the log.
func checkpointOrigin(logID [16]byte) string { return "treeoflife/" + hex.EncodeToString(logID[:]) }
