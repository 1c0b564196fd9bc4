package treeoflife

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/treeoflife/treeoflife/internal/fileutil"
)

// A Checkpoint is a log's state at one size, in the C2SP tlog-checkpoint
// layout (FORMAT.md, "Checkpoint"): the origin line naming the log, the size,
// the RFC 6962 Merkle root, and extension lines giving the hash chain value,
// the time it was made, the tenant, the hash of HEADER and a digest of the
// sealed segments' indexes. Signed (a C2SP signed note) and published off the
// host — to the backup and to witnesses — it pins the log's history: a log
// that is shorter at that size, or differs there, was cut, rolled back or
// rewritten.
type Checkpoint struct {
	Origin string // "treeoflife/<log ID hex>"
	Size   uint64 // records 0 … Size-1
	Root   Hash   // RFC 6962 root of those records (EmptyRoot for Size 0)
	Chain  Hash   // chain value after record Size-1 (the genesis value for Size 0)

	// The extension lines of checkpoint version 2. A legacy checkpoint
	// (written before them) has only Chain: Time is zero and Legacy true.
	Time    time.Time // when the checkpoint was made (UTC, nanoseconds)
	Tenant  string    // the log's tenant, "" for none
	Header  Hash      // SHA-256 of the log's HEADER file at that time
	Indexes IndexDigest
	Legacy  bool
}

// IndexDigest commits a checkpoint to the indexes of the log's first
// Segments sealed segments (FORMAT.md, "Indexes"), so that an index forged on
// disk is found rather than trusted. Segments 0 means no commitment.
type IndexDigest struct {
	Segments int
	Digest   Hash
}

// EmptyRoot is the Merkle root of the empty tree in a checkpoint: SHA-256 of
// the empty string (RFC 6962, section 2.1). Head.Root of an empty log is 32
// zero bytes instead, as tlog.TreeHash(0) returns; checkpoints translate.
var EmptyRoot = Hash(sha256.Sum256(nil))

// maxCheckpointSize bounds a checkpoint's text, and maxSignedCheckpoint a
// signed one with its signatures (the log's and witnesses' cosignatures).
const (
	maxCheckpointSize   = 2 << 10
	maxSignedCheckpoint = 16 << 10
)

// Head returns the head the checkpoint records.
func (c *Checkpoint) Head() Head {
	h := Head{Size: c.Size, Chain: c.Chain, Root: c.Root}
	if c.Size == 0 {
		h.Root = Hash{}
	}
	return h
}

// LogID returns the log ID named by the origin line, in hex.
func (c *Checkpoint) LogID() string { return strings.TrimPrefix(c.Origin, "treeoflife/") }

// Marshal returns the checkpoint text (the body of a signed checkpoint):
// LF-terminated lines, the last one too.
func (c *Checkpoint) Marshal() []byte {
	var b []byte
	b = append(b, c.Origin...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, c.Size, 10)
	b = append(b, '\n')
	root := c.Root
	if c.Size == 0 && !c.Legacy {
		root = EmptyRoot
	}
	b = base64.StdEncoding.AppendEncode(b, root[:])
	b = append(b, "\nchain "...)
	b = append(b, c.Chain.String()...)
	b = append(b, '\n')
	if c.Legacy {
		return b
	}
	b = append(b, "time "...)
	b = c.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '\n')
	if c.Tenant != "" {
		b = append(b, "tenant "...)
		b = append(b, c.Tenant...)
		b = append(b, '\n')
	}
	b = append(b, "header "...)
	b = append(b, c.Header.String()...)
	b = append(b, '\n')
	if c.Indexes.Segments > 0 {
		b = append(b, "indexes "...)
		b = strconv.AppendInt(b, int64(c.Indexes.Segments), 10)
		b = append(b, ' ')
		b = append(b, c.Indexes.Digest.String()...)
		b = append(b, '\n')
	}
	return b
}

// ErrBadCheckpoint is returned (wrapped, with the reason) for a checkpoint or
// signed checkpoint that does not parse.
var ErrBadCheckpoint = errors.New("treeoflife: malformed checkpoint")

// ParseCheckpoint parses a checkpoint text (not a signed note: see
// OpenCheckpoint). It is strict: the lines must be exactly what Marshal
// writes for the values they hold, so a checkpoint has one encoding.
func ParseCheckpoint(text []byte) (*Checkpoint, error) {
	bad := func(why string) (*Checkpoint, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadCheckpoint, why)
	}
	if len(text) > maxCheckpointSize {
		return bad(fmt.Sprintf("%d bytes, more than %d", len(text), maxCheckpointSize))
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return bad("it does not end in a newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 4 {
		return bad("fewer than 4 lines")
	}
	c := &Checkpoint{Origin: lines[0]}
	id, ok := strings.CutPrefix(c.Origin, "treeoflife/")
	if b, err := hex.DecodeString(id); !ok || err != nil || len(b) != 16 || hex.EncodeToString(b) != id {
		return bad(fmt.Sprintf("origin %q is not treeoflife/<32 lower-case hex digits>", c.Origin))
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != lines[1] {
		return bad("size is not a canonical decimal number")
	}
	c.Size = n
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return bad("root is not 32 bytes of standard base64")
	}
	copy(c.Root[:], root)
	v, ok := strings.CutPrefix(lines[3], "chain ")
	if !ok || c.Chain.UnmarshalText([]byte(v)) != nil {
		return bad("line 4 is not \"chain <64 hex digits>\"")
	}
	rest := lines[4:]
	if len(rest) == 0 {
		c.Legacy = true
		if c.Size == 0 && c.Root != (Hash{}) && c.Root != EmptyRoot {
			return bad("the empty tree's root is wrong")
		}
	} else {
		if c.Size == 0 && c.Root != EmptyRoot {
			return bad("the empty tree's root must be SHA-256 of the empty string")
		}
		next := func(key string) (string, bool) {
			if len(rest) > 0 {
				if v, ok := strings.CutPrefix(rest[0], key+" "); ok {
					rest = rest[1:]
					return v, true
				}
			}
			return "", false
		}
		v, ok := next("time")
		if !ok {
			return bad("no time line")
		}
		if c.Time, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return bad("time is not RFC 3339")
		}
		if v, ok := next("tenant"); ok {
			if err := ValidateTenantID(v); err != nil {
				return bad(err.Error())
			}
			c.Tenant = v
		}
		v, ok = next("header")
		if !ok || c.Header.UnmarshalText([]byte(v)) != nil {
			return bad("no \"header <64 hex digits>\" line")
		}
		if v, ok := next("indexes"); ok {
			k, d, _ := strings.Cut(v, " ")
			segs, err := strconv.Atoi(k)
			if err != nil || segs <= 0 || strconv.Itoa(segs) != k || c.Indexes.Digest.UnmarshalText([]byte(d)) != nil {
				return bad("malformed indexes line")
			}
			c.Indexes.Segments = segs
		}
		if len(rest) > 0 {
			return bad(fmt.Sprintf("unknown line %q", rest[0]))
		}
	}
	if !bytes.Equal(c.Marshal(), text) {
		return bad("not in canonical form")
	}
	return c, nil
}

// OpenCheckpoint checks a signed checkpoint (a C2SP signed note) against the
// trusted keys and parses its text. It fails unless at least one signature
// by a key in known verifies; signatures by other keys (a witness the caller
// does not know) are ignored and listed in the note's UnverifiedSigs. The
// errors are those of note.Open (errors.As *note.UnverifiedNoteError: no
// known key signed it) or ErrBadCheckpoint.
func OpenCheckpoint(signed []byte, known note.Verifiers) (*Checkpoint, *note.Note, error) {
	if len(signed) > maxSignedCheckpoint {
		return nil, nil, fmt.Errorf("%w: signed checkpoint of %d bytes, more than %d", ErrBadCheckpoint, len(signed), maxSignedCheckpoint)
	}
	n, err := note.Open(signed, known)
	if err != nil {
		return nil, nil, err
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return nil, nil, err
	}
	return c, n, nil
}

// splitCheckpoint separates a CHECKPOINT file into its text and its
// signature lines (nil when unsigned), without checking the signatures.
func splitCheckpoint(b []byte) (text, sigs []byte, err error) {
	if len(b) > maxSignedCheckpoint {
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrBadCheckpoint, len(b))
	}
	i := bytes.Index(b, []byte("\n\n"))
	if i < 0 {
		return b, nil, nil
	}
	text, sigs = b[:i+1], b[i+2:]
	for _, line := range strings.SplitAfter(string(sigs), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "\u2014 ") || !strings.HasSuffix(line, "\n") || strings.Count(line, " ") != 2 {
			return nil, nil, fmt.Errorf("%w: malformed signature line %q", ErrBadCheckpoint, strings.TrimSpace(line))
		}
	}
	if len(sigs) == 0 {
		return nil, nil, fmt.Errorf("%w: a blank line but no signature", ErrBadCheckpoint)
	}
	return text, sigs, nil
}

// GenerateSigningKey returns a new Ed25519 key pair for signing checkpoints,
// in the signed-note text forms: skey ("PRIVATE+KEY+name+…", secret: keep
// it in a secret store, pass it with SigningKeyFromEnv or LoadSigningKey,
// never log it) and vkey (public: give it to verifiers and witnesses).
// name identifies the key in every signature; a new name or a new key
// after rotation lets verifiers accept both while old checkpoints remain.
func GenerateSigningKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// SigningKeyFromEnv returns the signer whose private key (as
// GenerateSigningKey writes it) is in the environment variable name.
func SigningKeyFromEnv(name string) (note.Signer, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return nil, fmt.Errorf("%w: environment variable %s is empty", ErrInvalidOptions, name)
	}
	s, err := note.NewSigner(v)
	if err != nil {
		// The error of note.NewSigner does not include the key.
		return nil, fmt.Errorf("%w: %s does not hold a signing key: %v", ErrInvalidOptions, name, err)
	}
	return s, nil
}

// LoadSigningKey returns the signer whose private key is in the file at path.
func LoadSigningKey(path string) (note.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("treeoflife: signing key: %w", err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not hold a signing key: %v", ErrInvalidOptions, path, err)
	}
	return s, nil
}

// NewVerifiers returns the verifiers of the given public keys (vkeys), for
// VerifyOptions.Verifiers: a log's current and earlier signing keys, after
// rotation, and the witnesses' keys.
func NewVerifiers(vkeys ...string) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, k := range vkeys {
		v, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("%w: verifier key %q: %v", ErrInvalidOptions, k, err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), nil
}

// headerDigest is the hash a checkpoint records of HEADER's bytes.
func headerDigest(b []byte) Hash { return sha256.Sum256(b) }

// localCheckpoint is the CHECKPOINT file as read from disk: its text parsed,
// and the whole file (signatures included) for verification.
type localCheckpoint struct {
	*Checkpoint
	raw    []byte
	signed bool
}

// readCheckpoint returns the local checkpoint, or nil if there is none. A
// checkpoint of another log, or one that does not parse, is tampering.
func readCheckpoint(dir string, logID [16]byte) (*localCheckpoint, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	bad := func(why string) error {
		return &TamperError{Segment: checkpointFile, Seq: 0, Offset: -1, Reason: "CHECKPOINT " + why}
	}
	text, sigs, err := splitCheckpoint(b)
	if err != nil {
		return nil, bad("is malformed: " + err.Error())
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return nil, bad("is malformed: " + err.Error())
	}
	if c.Origin != checkpointOrigin(logID) {
		return nil, bad(fmt.Sprintf("belongs to another log (%s)", c.Origin))
	}
	return &localCheckpoint{Checkpoint: c, raw: b, signed: sigs != nil}, nil
}

// newCheckpoint describes the head h of the log as a checkpoint.
func (l *ImmutableLogger) newCheckpoint(h Head, idx IndexDigest) *Checkpoint {
	c := &Checkpoint{
		Origin:  checkpointOrigin(l.logID),
		Size:    h.Size,
		Root:    h.Root,
		Chain:   h.Chain,
		Time:    time.Now().UTC(),
		Tenant:  l.opts.Tenant,
		Indexes: idx,
	}
	if h.Size == 0 {
		c.Root = EmptyRoot
	}
	l.hdrMu.Lock()
	c.Header = l.headerHash
	l.hdrMu.Unlock()
	return c
}

// signCheckpoint returns the bytes of CHECKPOINT for c: its text alone, or a
// signed note when the logger has a signer (with the cosignatures given).
func (l *ImmutableLogger) signCheckpoint(c *Checkpoint, cosigs []note.Signature) ([]byte, error) {
	text := c.Marshal()
	if l.opts.Signer == nil {
		return text, nil
	}
	return note.Sign(&note.Note{Text: string(text), Sigs: cosigs}, l.opts.Signer)
}

// storeCheckpoint replaces CHECKPOINT with b (a checkpoint of c.Size
// records) unless a checkpoint of more records is already there: temporary
// file, fsync, rename, fsync of the directory, so a crash leaves the old or
// the new one. It is serialised by cpMu.
func (l *ImmutableLogger) storeCheckpoint(c *Checkpoint, b []byte) error {
	_, err := l.storeNewer(c, b)
	return err
}

// storeNewer is storeCheckpoint that reports whether c was stored: not when
// CHECKPOINT already holds one of more records (a seal can write one of
// records that the durable head the caller read did not count yet).
func (l *ImmutableLogger) storeNewer(c *Checkpoint, b []byte) (bool, error) {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	if c.Size < l.cpSize {
		return false, nil
	}
	if err := fileutil.WriteFileAtomic(filepath.Join(l.dir, checkpointFile), b, 0o644); err != nil {
		return false, err
	}
	l.cpLast, l.cpSize, l.cpSigned = c, c.Size, b
	if l.backups != nil && l.opts.Signer != nil {
		l.backups.publishCheckpoint(c.Size, b)
	}
	return true, nil
}

// writeCheckpoint records head h (durable on disk) in CHECKPOINT, signed when
// a signer is set. The writer calls it at every seal; Close at the end.
func (l *ImmutableLogger) writeCheckpoint(h Head) error {
	c := l.newCheckpoint(h, l.sealedIndexDigest(h.Size))
	b, err := l.signCheckpoint(c, nil)
	if err != nil {
		return fmt.Errorf("sign checkpoint: %w", err)
	}
	return l.storeCheckpoint(c, b)
}

// Checkpoint writes and returns a checkpoint of every record accepted before
// the call: it waits for them to be durable, signs the checkpoint (with
// Options.Signer), stores it as CHECKPOINT, asks Options.Witnesses to cosign
// it and puts it into the backup (without waiting for the upload). The
// result is the CHECKPOINT file's bytes: a signed note when a signer is set,
// the checkpoint text otherwise. An error from the witnesses (fewer than
// WitnessQuorum cosigned) is returned together with the stored checkpoint.
func (l *ImmutableLogger) Checkpoint(ctx context.Context) ([]byte, error) {
	if !l.live() {
		return nil, ErrClosed
	}
	if err := l.Sync(ctx); err != nil {
		return nil, err
	}
	return l.checkpointNow(ctx, true, nil)
}

// checkpointNow writes a checkpoint of the durable records (or of head,
// when given: Close, once everything is durable), has it cosigned and
// publishes it. Unless force, it does nothing when no record became durable
// since the last checkpoint.
func (l *ImmutableLogger) checkpointNow(ctx context.Context, force bool, head *Head) ([]byte, error) {
	l.cpRun.Lock()
	defer l.cpRun.Unlock()
	l.mu.Lock()
	d := l.durable
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	h := Head{Size: d.size, Chain: d.chain, Root: d.front.root()}
	if head != nil {
		h = *head
	}
	l.cpMu.Lock()
	last, lastBytes := l.cpSize, l.cpSigned
	l.cpMu.Unlock()
	if !force && h.Size <= last && lastBytes != nil {
		return lastBytes, nil
	}
	c := l.newCheckpoint(h, l.sealedIndexDigest(h.Size))
	b, err := l.signCheckpoint(c, nil)
	if err != nil {
		return nil, fmt.Errorf("treeoflife: sign checkpoint: %w", err)
	}
	stored, err := l.storeNewer(c, b)
	if err != nil {
		return nil, fmt.Errorf("treeoflife: write checkpoint: %w", err)
	}
	if !stored {
		// A seal stored a newer checkpoint meanwhile; the next round
		// witnesses it.
		l.cpMu.Lock()
		defer l.cpMu.Unlock()
		return l.cpSigned, nil
	}
	var werr error
	if len(l.opts.Witnesses) > 0 && l.opts.Signer != nil {
		var cosigned []byte
		cosigned, werr = l.witness(ctx, c, b)
		if cosigned != nil {
			b = cosigned
			if err := l.storeCheckpoint(c, b); err != nil {
				return nil, fmt.Errorf("treeoflife: write checkpoint: %w", err)
			}
		}
	}
	l.cpTime.Store(time.Now().UnixNano())
	return b, werr
}

// A Witness cosigns checkpoints after checking that the log only grew since
// the last one it cosigned (C2SP tlog-witness); package witness has a client
// (witness.NewClient) and a server.
//
// Cosign submits a signed checkpoint and returns the witness's cosignatures
// of it. prove returns the RFC 6962 consistency proof from a tree of oldSize
// records of this log to the checkpoint's size; the witness asks for the
// size it last cosigned. Cosign must be safe for concurrent use; a refusal
// (a rollback or a fork) is an error.
type Witness interface {
	Cosign(ctx context.Context, signedCheckpoint []byte, prove func(ctx context.Context, oldSize, newSize uint64) (tlog.TreeProof, error)) ([]note.Signature, error)
}

// ErrWitness is returned (wrapped, with each witness's error) when fewer than
// Options.WitnessQuorum witnesses cosigned a checkpoint.
var ErrWitness = errors.New("treeoflife: witness quorum not reached")

// witness asks every witness to cosign c (signed as b) at once and returns
// the checkpoint with the cosignatures received, and an error when fewer
// than the quorum cosigned.
func (l *ImmutableLogger) witness(ctx context.Context, c *Checkpoint, b []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.WitnessTimeout)
	defer cancel()
	type result struct {
		sigs []note.Signature
		err  error
	}
	results := make(chan result, len(l.opts.Witnesses))
	prove := func(ctx context.Context, oldSize, newSize uint64) (tlog.TreeProof, error) {
		if newSize != c.Size {
			return nil, fmt.Errorf("treeoflife: witness asked for a proof to size %d, the checkpoint has %d", newSize, c.Size)
		}
		if oldSize == 0 || oldSize == newSize {
			return nil, nil // RFC 6962: the empty proof
		}
		return l.ProveConsistency(ctx, oldSize, newSize)
	}
	for _, w := range l.opts.Witnesses {
		go func() {
			sigs, err := w.Cosign(ctx, b, prove)
			results <- result{sigs, err}
		}()
	}
	var cosigs []note.Signature
	var errs []error
	got := 0
	for range l.opts.Witnesses {
		r := <-results
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		got++
		cosigs = append(cosigs, r.sigs...)
	}
	var err error
	if got < l.opts.WitnessQuorum {
		err = fmt.Errorf("%w: %d of %d witnesses cosigned the checkpoint of size %d, %d needed: %w",
			ErrWitness, got, len(l.opts.Witnesses), c.Size, l.opts.WitnessQuorum, errors.Join(errs...))
		l.log.Warn("witnesses did not cosign the checkpoint", "size", c.Size, "err", err)
	}
	if len(cosigs) == 0 {
		return nil, err
	}
	// The log's signature first, then the cosignatures.
	n := &note.Note{Text: string(c.Marshal()), Sigs: cosigs}
	signed, serr := note.Sign(n, l.opts.Signer)
	if serr != nil {
		return nil, serr
	}
	signed = logSigFirst(signed)
	return signed, err
}

// logSigFirst reorders the signature lines of a note so that the log's own
// signature (the last one note.Sign appended) comes first: readers that look
// at the first signature, as some checkpoint tools do, find the log's.
func logSigFirst(signed []byte) []byte {
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		return signed
	}
	lines := strings.SplitAfter(string(signed[i+2:]), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) < 2 {
		return signed
	}
	out := append([]byte(nil), signed[:i+2]...)
	out = append(out, lines[len(lines)-1]...)
	for _, s := range lines[:len(lines)-1] {
		out = append(out, s...)
	}
	return out
}

// checkpointer writes a checkpoint every CheckpointInterval while records
// arrive; it ends when quit is closed.
func (l *ImmutableLogger) checkpointer() {
	defer close(l.cpDone)
	t := time.NewTicker(l.opts.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-l.quit:
				cancel()
			case <-ctx.Done():
			}
		}()
		if _, err := l.checkpointNow(ctx, false, nil); err != nil && !errors.Is(err, ErrWitness) && !errors.Is(err, context.Canceled) {
			l.log.Error("checkpoint failed", "err", err)
		}
		cancel()
	}
}

// recommitHeader rewrites the CHECKPOINT of the closed log in dir (whose
// lock the caller holds) to record a new HEADER's hash: the same records,
// a new time, signed by signer when it is set. Erasure uses it.
func recommitHeader(dir string, logID [16]byte, hash Hash, signer note.Signer, now time.Time) error {
	cp, err := readCheckpoint(dir, logID)
	if err != nil {
		return err
	}
	if cp == nil {
		return &TamperError{Segment: checkpointFile, Seq: 0, Offset: -1, Reason: "CHECKPOINT is missing"}
	}
	c := *cp.Checkpoint
	c.Legacy, c.Header, c.Time = false, hash, now.UTC()
	if c.Size == 0 {
		c.Root = EmptyRoot
	}
	b := c.Marshal()
	if signer != nil {
		if b, err = note.Sign(&note.Note{Text: string(b)}, signer); err != nil {
			return err
		}
	}
	return fileutil.WriteFileAtomic(filepath.Join(dir, checkpointFile), b, 0o644)
}
