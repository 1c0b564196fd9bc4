package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// stateMagic is the first line of every state file. A change of format gets a
// new version; a witness refuses a file whose version it does not know.
const stateMagic = "treeoflife-witness-state/v1\n"

// maxStateBytes caps a state file: the magic, a checkpoint of at most
// MaxCheckpointBytes and its signature lines fit well below it.
const maxStateBytes = 64 << 10

// stateSuffix ends the name of every state file.
const stateSuffix = ".state"

// ErrDamagedState is returned (wrapped, with the file name) when a state file
// exists but cannot be parsed or does not belong to the origin it is named
// for. The witness then refuses the origin: it never treats a damaged file as
// "no state", which would let it cosign a rolled-back or forked tree.
var ErrDamagedState = errors.New("witness: damaged state file")

// state is what a witness records for one origin: the latest checkpoint it
// cosigned.
type state struct {
	size uint64
	root tlog.Hash
	// note is the cosigned checkpoint as served by GET /checkpoint/: its text,
	// the log signatures that verified and the witness's cosignature.
	note []byte
}

// stateFile returns the name of the state file of origin: the hex SHA-256 of
// the origin, so that any origin yields a safe, fixed-length file name.
func stateFile(dir, origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return filepath.Join(dir, hex.EncodeToString(sum[:])+stateSuffix)
}

// encodeState returns the content of a state file.
func encodeState(st *state) []byte {
	b := make([]byte, 0, len(stateMagic)+len(st.note))
	b = append(b, stateMagic...)
	return append(b, st.note...)
}

// loadState reads the state of origin from dir. It returns nil, nil when the
// witness has never cosigned a checkpoint for origin.
func loadState(dir, origin string, signer note.Signer) (*state, error) {
	path := stateFile(dir, origin)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateBytes+1))
	if err != nil {
		return nil, fmt.Errorf("witness: read %s: %w", path, err)
	}
	st, err := decodeState(b, origin, signer)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDamagedState, path, err)
	}
	return st, nil
}

// decodeState parses a state file strictly: the magic line, then a signed
// checkpoint note for origin that carries a signature by signer's name and key
// hash.
func decodeState(b []byte, origin string, signer note.Signer) (*state, error) {
	if len(b) > maxStateBytes {
		return nil, errors.New("too large")
	}
	msg, ok := bytes.CutPrefix(b, []byte(stateMagic))
	if !ok {
		return nil, errors.New("no state header")
	}
	// No verifier is known here: Open only parses, and reports a well-formed
	// note as unverified. The log signatures were verified before the file was
	// written; the file is the witness's own record.
	_, err := note.Open(msg, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return nil, fmt.Errorf("malformed note: %v", err)
	}
	n := unverified.Note
	o, size, root, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return nil, err
	}
	if o != origin {
		return nil, fmt.Errorf("holds origin %q", o)
	}
	found := false
	for _, s := range n.UnverifiedSigs {
		found = found || s.Name == signer.Name() && s.Hash == signer.KeyHash()
	}
	if !found {
		return nil, errors.New("no cosignature by this witness")
	}
	return &state{size: size, root: root, note: msg}, nil
}

// storeState replaces the state file of origin durably (temporary file, fsync,
// rename, fsync of the directory): after a crash the file holds either the old
// or the new state, and once storeState returns nil the new one survives.
func storeState(dir, origin string, st *state) error {
	return fileutil.WriteFileAtomic(stateFile(dir, origin), encodeState(st), 0o600)
}
