package treeoflife

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// rewriteHeader replaces the HEADER of an existing log with h as its next
// revision.
func rewriteHeader(dir string, h *logHeader) error {
	h.Revision++
	return writeHeader(dir, h)
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

// formatCheckpoint renders a Head in the C2SP tlog-checkpoint layout: origin,
// size, base64 Merkle root, then an extension line with the chain value. A
// later signed checkpoint is this text inside a signed note.
func formatCheckpoint(logID [16]byte, h Head) []byte {
	var b []byte
	b = append(b, checkpointOrigin(logID)...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, h.Size, 10)
	b = append(b, '\n')
	b = base64.StdEncoding.AppendEncode(b, h.Root[:])
	b = append(b, "\nchain "...)
	b = append(b, h.Chain.String()...)
	return append(b, '\n')
}

var errBadCheckpoint = errors.New("malformed checkpoint")

func parseCheckpoint(logID [16]byte, b []byte) (Head, error) {
	var h Head
	if len(b) > 4096 {
		return h, errBadCheckpoint
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 4 || lines[0] != checkpointOrigin(logID) || !strings.HasPrefix(lines[3], "chain ") {
		return h, errBadCheckpoint
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != lines[1] {
		return h, errBadCheckpoint
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return h, errBadCheckpoint
	}
	h.Size = n
	copy(h.Root[:], root)
	if err := h.Chain.UnmarshalText([]byte(lines[3][len("chain "):])); err != nil {
		return h, errBadCheckpoint
	}
	if !bytes.Equal(formatCheckpoint(logID, h), b) {
		return h, errBadCheckpoint // not canonical
	}
	return h, nil
}

// readCheckpoint returns the local checkpoint, or nil if there is none.
func readCheckpoint(dir string, logID [16]byte) (*Head, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	h, err := parseCheckpoint(logID, b)
	if err != nil {
		return nil, &TamperError{Seq: 0, Offset: -1, Reason: "CHECKPOINT file is malformed or belongs to another log"}
	}
	return &h, nil
}

func writeCheckpoint(dir string, logID [16]byte, h Head) error {
	return fileutil.WriteFileAtomic(filepath.Join(dir, checkpointFile), formatCheckpoint(logID, h), 0o644)
}
