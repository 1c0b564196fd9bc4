package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// MaxCheckpointBytes caps the size of a checkpoint note text that
// ParseCheckpoint accepts.
const MaxCheckpointBytes = 8 << 10

// ErrMalformedCheckpoint is returned (wrapped) by ParseCheckpoint for a text
// that is not a well-formed checkpoint body.
var ErrMalformedCheckpoint = errors.New("witness: malformed checkpoint")

// ParseCheckpoint parses the text (the note body, without signatures) of a
// c2sp.org/tlog-checkpoint: an origin line, the tree size in decimal without
// leading zeroes, the root hash in standard base64 (32 bytes, canonical
// padding), then any number of non-empty extension lines, each line ended by a
// single LF. Extension lines are not interpreted. Texts over
// MaxCheckpointBytes are refused, as are sizes over 2^63-1 (the largest tree
// golang.org/x/mod/sumdb/tlog can address).
func ParseCheckpoint(text []byte) (origin string, size uint64, root tlog.Hash, err error) {
	bad := func(why string) (string, uint64, tlog.Hash, error) {
		return "", 0, tlog.Hash{}, fmt.Errorf("%w: %s", ErrMalformedCheckpoint, why)
	}
	if len(text) > MaxCheckpointBytes {
		return bad("too long")
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return bad("no final newline")
	}
	lines := bytes.Split(text[:len(text)-1], []byte("\n"))
	if len(lines) < 3 {
		return bad("fewer than three lines")
	}
	for _, l := range lines {
		if len(l) == 0 {
			return bad("empty line")
		}
		if bytes.IndexByte(l, '\r') >= 0 {
			return bad("carriage return")
		}
	}
	size, ok := parseDecimal(lines[1])
	if !ok {
		return bad("tree size is not a canonical decimal")
	}
	h, err := base64.StdEncoding.Strict().DecodeString(string(lines[2]))
	if err != nil || len(h) != tlog.HashSize {
		return bad("root hash is not 32 bytes of base64")
	}
	copy(root[:], h)
	return string(lines[0]), size, root, nil
}

// parseDecimal parses a canonical ASCII decimal (no sign, no leading zero
// unless it is "0") of at most 2^63-1: tlog addresses trees with int64.
func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(b), 10, 63)
	return n, err == nil
}
