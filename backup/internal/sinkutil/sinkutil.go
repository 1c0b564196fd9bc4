// Package sinkutil holds the small pieces that every backup sink shares.
package sinkutil

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"strings"

	"github.com/treeoflife/treeoflife/backup"
)

// SHA256MetadataKey is the metadata key under which sinks whose store cannot
// report a SHA-256 of its own keep the hex SHA-256 of the body.
const SHA256MetadataKey = backup.ReservedMetadataPrefix + "sha256"

// CheckPut validates the arguments of a Put.
func CheckPut(key string, md map[string]string) error {
	if err := backup.ValidateKey(key); err != nil {
		return err
	}
	return backup.ValidateMetadata(md)
}

// CheckSum returns an error wrapping backup.ErrChecksum if sum is not the
// SHA-256 of body.
func CheckSum(body []byte, sum [sha256.Size]byte) error {
	if got := sha256.Sum256(body); got != sum {
		return fmt.Errorf("%w: body has SHA-256 %x, caller gave %x", backup.ErrChecksum, got, sum)
	}
	return nil
}

// UserMetadata returns a copy of md without reserved keys, or nil if nothing
// is left. Keys are lower-cased (S3 returns them lower-cased anyway).
func UserMetadata(md map[string]string) map[string]string {
	var out map[string]string
	for k, v := range md {
		k = strings.ToLower(k)
		if strings.HasPrefix(k, backup.ReservedMetadataPrefix) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(md))
		}
		out[k] = v
	}
	return out
}

// StoredMetadata returns a copy of md with the hex sum added under
// SHA256MetadataKey.
func StoredMetadata(md map[string]string, sum [sha256.Size]byte) map[string]string {
	out := make(map[string]string, len(md)+1)
	maps.Copy(out, md)
	out[SHA256MetadataKey] = hex.EncodeToString(sum[:])
	return out
}

// SumFromMetadata returns the SHA-256 kept under SHA256MetadataKey, or nil.
func SumFromMetadata(md map[string]string) []byte {
	for k, v := range md {
		if strings.EqualFold(k, SHA256MetadataKey) {
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return nil
			}
			return b
		}
	}
	return nil
}

// VerifyingReader returns a reader of rc that hashes what it reads and, at
// the end, returns an error wrapping backup.ErrChecksum instead of io.EOF if
// the body's SHA-256 is not want, or its length is not size. With a nil want
// it returns rc unchanged.
func VerifyingReader(rc io.ReadCloser, want []byte, size int64, name string) io.ReadCloser {
	if want == nil {
		return rc
	}
	return &verifyingReader{rc: rc, h: sha256.New(), want: want, size: size, name: name}
}

type verifyingReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want []byte
	size int64
	n    int64
	name string
	err  error // sticky result once the end was reached
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		v.err = v.check()
		if v.err == nil {
			v.err = io.EOF
		}
		return n, v.err
	case err != nil && v.n == v.size:
		// An SDK that validates its own checksum fails at the end of the
		// body rather than return io.EOF. If the body is wrong, say so in
		// the sinks' terms.
		if cerr := v.check(); cerr != nil {
			v.err = fmt.Errorf("%w (%w)", cerr, err)
			return n, v.err
		}
	}
	return n, err
}

// check compares what was read with the expected size and SHA-256.
func (v *verifyingReader) check() error {
	switch got := v.h.Sum(nil); {
	case v.n != v.size:
		return fmt.Errorf("%s: %w: read %d bytes, object has %d", v.name, backup.ErrChecksum, v.n, v.size)
	case !bytes.Equal(got, v.want):
		return fmt.Errorf("%s: %w: body has SHA-256 %x, stored %x", v.name, backup.ErrChecksum, got, v.want)
	}
	return nil
}

func (v *verifyingReader) Close() error { return v.rc.Close() }
