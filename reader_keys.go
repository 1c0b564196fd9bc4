package treeoflife

import (
	"encoding/binary"
	"fmt"
)

// ReaderOptions configure OpenReaderWith.
type ReaderOptions struct {
	// EncryptionKey, Passphrase or Keys, at most one of them, is the master
	// key of an encrypted log, as for Open: with it the Reader decrypts
	// entries (Read, Search, Query, Entries, Tail), and Stats counts every
	// record's level and time. Without one, an encrypted log's entries
	// cannot be read (ErrKeyRequired); Stats, Verify and proofs need none.
	// A key given for a log that is not encrypted is an error
	// (ErrInvalidOptions), as it is for Open.
	EncryptionKey []byte
	Passphrase    string
	Keys          KeyProvider
}

// Encrypted reports whether the log is encrypted.
func (r *Reader) Encrypted() bool { return r != nil && r.encrypted }

func (o ReaderOptions) options(tenant string) Options {
	return Options{EncryptionKey: o.EncryptionKey, Passphrase: o.Passphrase, Keys: o.Keys, Tenant: tenant}
}

// loadKeys unwraps the data keys HEADER lists with the keys opts gives;
// nil without keys.
func (r *Reader) loadKeys(opts ReaderOptions, h logHeader) (*logKeys, error) {
	lo := opts.options(h.Tenant)
	if err := lo.checkKeys(); err != nil {
		return nil, err
	}
	if !lo.encrypted() {
		return nil, nil
	}
	if h.Encryption == nil {
		return nil, fmt.Errorf("%w: %s is not encrypted; give no key to read it", ErrInvalidOptions, r.dir)
	}
	// loadKeys belongs to the logger; a logger that is never opened lends
	// it the directory, the log's ID and the keys, and nothing is written.
	l := &ImmutableLogger{dir: r.dir, logID: r.logID, opts: lo}
	if err := l.loadKeys(&h); err != nil {
		return nil, err
	}
	return l.keys, nil
}

// reloadKeys reads HEADER again, for the data keys a writer added since
// (RotateDataKey, RotateKey, or the rotation every dataKeyMaxRecords).
// Concurrent scans may call it at once: each stores a complete set.
func (r *Reader) reloadKeys() (*logKeys, error) {
	h, _, err := readHeader(r.dir)
	if err != nil {
		return nil, err
	}
	k, err := r.loadKeys(r.keyOpts, h)
	if err != nil {
		return nil, err
	}
	r.keys.Store(k)
	return k, nil
}

// opener turns stored payloads into entries: nil for a log that is not
// encrypted, the data keys for one whose key was given, and a refusal
// otherwise.
func (r *Reader) opener() payloadOpener {
	if !r.encrypted {
		return nil
	}
	k := r.keys.Load()
	if k == nil {
		return func(seq uint64, _, _ []byte) ([]byte, error) {
			return nil, fmt.Errorf("%w: record %d: the log is encrypted; open the Reader with its key (OpenReaderWith)", ErrKeyRequired, seq)
		}
	}
	return func(seq uint64, p, dst []byte) ([]byte, error) {
		k := r.keys.Load() // newer than the opener's after a reload
		out, err := k.open(seq, p, dst)
		if err != nil && len(p) >= envelopeOverhead && int(binary.BigEndian.Uint32(p[1:envelopeHeaderSize])) > len(*k.data.Load()) {
			// Sealed under a data key added after the Reader read HEADER.
			// k2 is not stored in k: parallel scans share this
			// function (a data race otherwise); r.keys holds it for the
			// next opener.
			if k2, rerr := r.reloadKeys(); rerr == nil {
				return k2.open(seq, p, dst)
			}
		}
		return out, err
	}
}

// buildIndex indexes a segment whose index file is missing or damaged. On
// an encrypted log, levels and times come from the decrypted entries when
// the Reader has the key; without it the index is incomplete.
func (r *Reader) buildIndex(sf segmentFile) (*segmentIndex, bool, error) {
	if !r.encrypted {
		x, err := buildIndex(r.dir, sf, -1)
		return x, true, err
	}
	if r.keys.Load() == nil {
		x, err := buildIndex(r.dir, sf, -1)
		return x, false, err
	}
	return buildIndexWith(r.dir, sf, -1, r.opener())
}

// levelTime is the level and time of the record at seq with this payload,
// for the index; 0 and 0 when they cannot be read (an encrypted log and no
// key, or a record that does not open).
func (r *Reader) levelTime(seq uint64, payload []byte, scratch *[]byte) (Level, int64) {
	if r.encrypted {
		k := r.keys.Load()
		if k == nil {
			return 0, 0
		}
		pt, err := k.open(seq, payload, (*scratch)[:0])
		if err != nil {
			return 0, 0
		}
		*scratch = pt
		return entryLevelTime(pt)
	}
	level, t, ok := fastLevelTime(payload)
	if !ok {
		level, t = entryLevelTime(payload)
	}
	return level, t
}
