package legacy

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/treeoflife/treeoflife"
)

// ErrPassphrase is wrapped by the error for an encrypted line that the
// passphrase does not decrypt (or for an encrypted line without one).
var ErrPassphrase = errors.New("cannot decrypt")

// A Decoder turns lines into entries: it decrypts encrypted lines (AES-256-GCM
// `iv:tag:ciphertext`, and the older AES-256-CBC lines of createCipher) and
// parses the JSON entry. A Decoder is not safe for concurrent use.
type Decoder struct {
	passphrase []byte
	gcm        cipher.AEAD  // derived on first use
	cbc        cipher.Block // derived on first use
	cbcIV      []byte       // from EVP_BytesToKey
	plain      []byte       // scratch
	ct         []byte       // scratch
	line       jsonLine     // scratch
}

// NewDecoder returns a Decoder for lines encrypted with passphrase (nil or
// empty for a log that is not encrypted).
func NewDecoder(passphrase []byte) *Decoder { return &Decoder{passphrase: passphrase} }

// Format names the format of a line: "json", "aes-256-gcm" or
// "aes-256-cbc"; ok is false for a line in none of them.
func Format(line []byte) (string, bool) {
	switch {
	case len(line) > 0 && line[0] == '{':
		return "json", true
	case isGCMLine(line):
		return "aes-256-gcm", true
	case isCBCLine(line):
		return "aes-256-cbc", true
	}
	return "", false
}

// isGCMLine reports whether line is iv:tag:ciphertext, in hex, with a
// 16-byte IV and tag.
func isGCMLine(line []byte) bool {
	if len(line) < 32+1+32+1+2 || line[32] != ':' || line[65] != ':' {
		return false
	}
	return isHex(line[:32]) && isHex(line[33:65]) && len(line[66:])%2 == 0 && isHex(line[66:])
}

// isCBCLine reports whether line is whole AES blocks in hex.
func isCBCLine(line []byte) bool { return len(line) > 0 && len(line)%32 == 0 && isHex(line) }

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// jsonLine is an entry as both original loggers write it. The JavaScript
// one adds "source" and "tenantId"; the Python one has neither. Metadata is
// the object as written.
type jsonLine struct {
	ID, Timestamp, Level, Message             string
	hasID, hasTimestamp, hasLevel, hasMessage bool
	Metadata                                  []byte
	Hostname                                  string
	PID                                       int
	TenantID                                  *string
}

// An Entry is a parsed legacy entry. Metadata is its JSON object as
// written (nil when absent).
type Entry struct {
	ID       string
	Time     time.Time
	Level    treeoflife.Level
	Message  string
	Metadata []byte
	Hostname string
	PID      int
	Tenant   string // "" when the line has no tenantId
}

// Decode decrypts line if it is encrypted and parses the entry. The error
// for a line that is not a legacy entry wraps ErrNotLegacy; for one the
// passphrase does not decrypt, ErrPassphrase. Entry's slices are valid
// until the next call.
func (d *Decoder) Decode(line []byte) (Entry, error) {
	format, ok := Format(line)
	if !ok {
		return Entry{}, fmt.Errorf("%w: the line is neither a JSON entry nor an encrypted line (iv:tag:ciphertext or CBC hex)", ErrNotLegacy)
	}
	text := line
	if format != "json" {
		var err error
		if text, err = d.decrypt(format, line); err != nil {
			return Entry{}, err
		}
	}
	return d.parse(text)
}

func (d *Decoder) parse(text []byte) (Entry, error) {
	l := &d.line
	if err := parseLine(text, l); err != nil {
		return Entry{}, fmt.Errorf("%w: the line is not a JSON entry: %v", ErrNotLegacy, err)
	}
	if !l.hasID || !l.hasTimestamp || !l.hasLevel || !l.hasMessage {
		return Entry{}, fmt.Errorf("%w: the JSON line lacks id, timestamp, level or message", ErrNotLegacy)
	}
	level, err := treeoflife.ParseLevel(l.Level)
	if err != nil {
		return Entry{}, fmt.Errorf("level %q is not one of the original's eight", l.Level)
	}
	t, err := ParseTime(l.Timestamp)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{ID: l.ID, Time: t, Level: level, Message: l.Message, Hostname: l.Hostname, PID: l.PID}
	if len(l.Metadata) > 0 && !bytes.Equal(l.Metadata, []byte("null")) {
		e.Metadata = l.Metadata
	}
	if l.TenantID != nil {
		e.Tenant = *l.TenantID
	}
	return e, nil
}

// ParseTime parses a legacy timestamp: JavaScript's toISOString
// (2026-11-29T18:16:54.573Z) or Python's isoformat, with or without a zone
// (a time without one is UTC, as the Python logger writes utcnow()).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not ISO 8601", s)
}

// decrypt returns the plaintext of an encrypted line.
func (d *Decoder) decrypt(format string, line []byte) ([]byte, error) {
	if len(d.passphrase) == 0 {
		return nil, fmt.Errorf("%w: the line is encrypted (%s) and no passphrase was given", ErrPassphrase, format)
	}
	if format == "aes-256-gcm" {
		if d.gcm == nil {
			key, err := scrypt.Key(d.passphrase, []byte("salt"), 16384, 8, 1, 32)
			if err != nil {
				return nil, err
			}
			b, err := aes.NewCipher(key)
			if err != nil {
				return nil, err
			}
			if d.gcm, err = cipher.NewGCMWithNonceSize(b, 16); err != nil {
				return nil, err
			}
		}
		var iv [16]byte
		hex.Decode(iv[:], line[:32]) // checked by isGCMLine
		d.ct = hexAppend(d.ct[:0], line[66:])
		d.ct = hexAppend(d.ct, line[33:65]) // Seal's output is ciphertext then tag
		out, err := d.gcm.Open(d.plain[:0], iv[:], d.ct, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: AES-256-GCM authentication failed: wrong passphrase, or the line was altered", ErrPassphrase)
		}
		d.plain = out
		return out, nil
	}
	if d.cbc == nil {
		key, iv := bytesToKey(d.passphrase)
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		d.cbc, d.cbcIV = b, iv
	}
	d.ct = hexAppend(d.ct[:0], line)
	d.plain = append(d.plain[:0], d.ct...)
	cipher.NewCBCDecrypter(d.cbc, d.cbcIV).CryptBlocks(d.plain, d.plain)
	n := len(d.plain)
	pad := int(d.plain[n-1])
	if pad == 0 || pad > aes.BlockSize || pad > n || !bytes.Equal(d.plain[n-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, fmt.Errorf("%w: AES-256-CBC padding is wrong: wrong passphrase, or the line was altered", ErrPassphrase)
	}
	out := d.plain[:n-pad]
	if len(out) == 0 || out[0] != '{' {
		return nil, fmt.Errorf("%w: the AES-256-CBC plaintext is not a JSON entry: wrong passphrase", ErrPassphrase)
	}
	return out, nil
}

func hexAppend(dst, src []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, len(src)/2)...)
	hex.Decode(dst[n:], src) // checked by the caller
	return dst
}

// bytesToKey is OpenSSL's EVP_BytesToKey with MD5, one round and no salt,
// which Node's crypto.createCipher used: D1 = MD5(pass), Di = MD5(Di-1 ||
// pass), concatenated until there are 32 bytes of key and 16 of IV.
func bytesToKey(pass []byte) (key, iv []byte) {
	var out, prev []byte
	for len(out) < 48 {
		h := md5.New()
		h.Write(prev)
		h.Write(pass)
		prev = h.Sum(nil)
		out = append(out, prev...)
	}
	return out[:32], out[32:48]
}
