package treeoflife

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/treeoflife/treeoflife/backup/file"
)

// newTestSigner returns a new signing key pair as a signer and its verifiers.
func newTestSigner(t testing.TB, name string) (note.Signer, note.Verifiers, string) {
	t.Helper()
	skey, vkey, err := GenerateSigningKey(name)
	require.NoError(t, err)
	s, err := note.NewSigner(skey)
	require.NoError(t, err)
	vs, err := NewVerifiers(vkey)
	require.NoError(t, err)
	return s, vs, vkey
}

// signedLog writes n records to a new log in dir with signer, small
// segments so that several are sealed, and closes it.
func signedLog(t *testing.T, dir string, signer note.Signer, n int) {
	t.Helper()
	l := openT(t, dir, Options{SegmentSize: 8 << 10, Signer: signer, CheckpointInterval: -1})
	logN(t, l, n)
	require.NoError(t, l.Close())
}

func logN(t *testing.T, l *ImmutableLogger, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		_, err := l.Revenue("payment received", Fields{"amount": 1000 + i, "pad": strings.Repeat(".", 80)})
		require.NoError(t, err)
	}
}

func requireTamper(t *testing.T, err error, where, reason string) *TamperError {
	t.Helper()
	var te *TamperError
	require.ErrorAs(t, err, &te)
	require.ErrorIs(t, err, ErrTampered)
	require.Contains(t, te.Reason, reason, "%v", err)
	if where != "" {
		require.Equal(t, where, te.Segment, "%v", err)
	}
	return te
}

// TestLocalChecksWithoutSigner: what a log catches with no key and no
// anchor, on real files.
func TestLocalChecksWithoutSigner(t *testing.T) {
	ctx := context.Background()
	t.Run("CHECKPOINT deleted", func(t *testing.T) {
		dir := tamperLog(t)
		require.NoError(t, os.Remove(filepath.Join(dir, checkpointFile)))
		_, err := VerifyDir(ctx, dir)
		requireTamper(t, err, checkpointFile, "CHECKPOINT is missing")
		_, err = Open(dir, Options{})
		requireTamper(t, err, checkpointFile, "CHECKPOINT is missing")
	})
	t.Run("root line changed", func(t *testing.T) {
		dir := tamperLog(t)
		editFile(t, filepath.Join(dir, checkpointFile), func(b []byte) []byte {
			lines := strings.SplitN(string(b), "\n", 4)
			lines[2] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
			return []byte(strings.Join(lines, "\n"))
		})
		_, err := VerifyDir(ctx, dir)
		requireTamper(t, err, "", "Merkle root differs")
	})
	for _, edit := range []struct{ name, old, new string }{
		{"HEADER createdAt edited", `"createdAt": "20`, `"createdAt": "19`},
		{"HEADER tenant added", `"hash": "sha256",`, `"hash": "sha256", "tenant": "globex",`},
	} {
		t.Run(edit.name, func(t *testing.T) {
			dir := tamperLog(t)
			editFile(t, filepath.Join(dir, headerFile), func(b []byte) []byte {
				out := bytes.Replace(b, []byte(edit.old), []byte(edit.new), 1)
				require.NotEqual(t, b, out)
				if strings.Contains(edit.new, "tenant") {
					out = bytes.Replace(out, []byte(`"version": 1`), []byte(`"version": 2`), 1)
				}
				return out
			})
			_, err := VerifyDir(ctx, dir)
			requireTamper(t, err, headerFile, "HEADER differs")
			_, err = Open(dir, Options{})
			requireTamper(t, err, headerFile, "HEADER differs")
		})
	}
}

// TestSignedCheckpoints: the logger signs its checkpoints, and a verifier
// with its public key trusts them; key rotation keeps old ones trusted.
func TestSignedCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s1, v1, vkey1 := newTestSigner(t, "treeoflife-test-1")
	signedLog(t, dir, s1, 40)

	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	require.NoError(t, err)
	c, n, err := OpenCheckpoint(b, v1)
	require.NoError(t, err)
	require.Equal(t, uint64(40), c.Size)
	require.Equal(t, "treeoflife-test-1", n.Sigs[0].Name)
	head, err := VerifyDir(ctx, dir)
	require.NoError(t, err)
	require.Equal(t, head.Head, c.Head())

	rep, err := VerifyDirWith(ctx, dir, VerifyOptions{Verifiers: v1, RequireSigned: true})
	require.NoError(t, err)
	require.Equal(t, uint64(40), rep.Anchored)
	require.Zero(t, rep.Unanchored)

	// Rotation: the log continues under a new key; verifiers that know
	// both keys trust every checkpoint.
	s2, _, vkey2 := newTestSigner(t, "treeoflife-test-2")
	l := openT(t, dir, Options{SegmentSize: 8 << 10, Signer: s2, CheckpointInterval: -1})
	logN(t, l, 5)
	cp, err := l.Checkpoint(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	both, err := NewVerifiers(vkey1, vkey2)
	require.NoError(t, err)
	c2, _, err := OpenCheckpoint(cp, both)
	require.NoError(t, err)
	require.Equal(t, uint64(45), c2.Size)
	_, _, err = OpenCheckpoint(cp, v1)
	var unverified *note.UnverifiedNoteError
	require.ErrorAs(t, err, &unverified, "the old key alone does not trust the new checkpoint")
	_, err = VerifyDirWith(ctx, dir, VerifyOptions{Verifiers: both, RequireSigned: true, Anchors: []Anchor{AnchorFile(saveFile(t, b))}})
	require.NoError(t, err)
	_, err = VerifyDirWith(ctx, dir, VerifyOptions{Verifiers: v1, RequireSigned: true})
	require.ErrorIs(t, err, ErrUnanchored)
}

func saveFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "checkpoint")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// TestAnchoredAttacks: the attacks a writer of the log directory can make
// that only a signed checkpoint kept off the host catches.
func TestAnchoredAttacks(t *testing.T) {
	ctx := context.Background()
	signer, vs, _ := newTestSigner(t, "treeoflife-anchor")

	// build writes a signed log of 60 records and returns its directory and
	// the auditor's copy of its newest signed checkpoint.
	build := func(t *testing.T) (string, string) {
		dir := t.TempDir()
		signedLog(t, dir, signer, 60)
		b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
		require.NoError(t, err)
		return dir, saveFile(t, b)
	}
	opts := func(anchor string) VerifyOptions {
		return VerifyOptions{Verifiers: vs, Anchors: []Anchor{AnchorFile(anchor)}}
	}

	t.Run("tail cut and CHECKPOINT rewritten", func(t *testing.T) {
		dir, anchor := build(t)
		segs, err := listSegments(dir)
		require.NoError(t, err)
		last := segs[len(segs)-1]
		_, frames := segmentFramesOf(t, dir, last)
		require.NoError(t, os.Chmod(filepath.Join(dir, last.Name), 0o644))
		require.NoError(t, os.Truncate(filepath.Join(dir, last.Name), frames[len(frames)-3]))
		// The attacker writes a consistent unsigned checkpoint.
		h, err := VerifyDir(ctx, dir)
		var te *TamperError
		require.ErrorAs(t, err, &te)
		forgeHeadCheckpoint(t, dir, h.Head)
		_, err = VerifyDir(ctx, dir)
		require.NoError(t, err, "locally consistent again")
		_, err = VerifyDirWith(ctx, dir, opts(anchor))
		requireTamper(t, err, "", "cut off the tail, or the log rolled back")
		_, err = VerifyDirWith(ctx, dir, VerifyOptions{Verifiers: vs, RequireSigned: true})
		require.ErrorIs(t, err, ErrUnanchored, "an unsigned CHECKPOINT is not trusted")
	})
	t.Run("CHECKPOINT deleted", func(t *testing.T) {
		dir, anchor := build(t)
		require.NoError(t, os.Remove(filepath.Join(dir, checkpointFile)))
		_, err := VerifyDirWith(ctx, dir, opts(anchor))
		requireTamper(t, err, checkpointFile, "missing")
	})
	t.Run("rolled back to an older copy", func(t *testing.T) {
		dir := t.TempDir()
		signedLog(t, dir, signer, 30)
		old := t.TempDir()
		copyDir(t, dir, old)
		l := openT(t, dir, Options{SegmentSize: 8 << 10, Signer: signer, CheckpointInterval: -1})
		logN(t, l, 30)
		cp, err := l.Checkpoint(ctx)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		_, err = VerifyDirWith(ctx, old, opts(saveFile(t, cp)))
		requireTamper(t, err, "", "rolled back")
		// The copy is intact in itself: only the anchor tells.
		_, err = VerifyDirWith(ctx, old, VerifyOptions{Verifiers: vs, RequireSigned: true})
		require.NoError(t, err)
	})
	t.Run("history rewritten with a recomputed chain", func(t *testing.T) {
		dir, anchor := build(t)
		segs, err := listSegments(dir)
		require.NoError(t, err)
		last := segs[len(segs)-1]
		editFile(t, filepath.Join(dir, last.Name), func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte(`"amount":10`))
			b[i+len(`"amount":`)] = '9'
			return b
		})
		rechain(t, dir, last, readSegmentHeaderFile(t, dir, last).PrevChain)
		h, err := VerifyDir(ctx, dir)
		requireTamper(t, err, last.Name, "differs from the checkpoint")
		forgeHeadCheckpoint(t, dir, h.Head)
		_, err = VerifyDir(ctx, dir)
		require.NoError(t, err, "locally consistent again")
		_, err = VerifyDirWith(ctx, dir, opts(anchor))
		requireTamper(t, err, last.Name, "differs from file")
	})
	t.Run("forged records appended", func(t *testing.T) {
		dir, anchor := build(t)
		// The attacker runs the library without the key.
		l := openT(t, dir, Options{SegmentSize: 8 << 10})
		logN(t, l, 3)
		require.NoError(t, l.Close())
		rep, err := VerifyDirWith(ctx, dir, opts(anchor))
		require.NoError(t, err)
		require.Equal(t, uint64(60), rep.Anchored)
		require.Equal(t, uint64(3), rep.Unanchored, "reported as an unanchored tail")
		o := opts(anchor)
		o.RequireSigned = true
		_, err = VerifyDirWith(ctx, dir, o)
		require.ErrorIs(t, err, ErrUnanchored)
		require.Contains(t, err.Error(), "records 60 to 62")
	})
	t.Run("checkpoint signed by another key", func(t *testing.T) {
		dir, _ := build(t)
		other, _, _ := newTestSigner(t, "treeoflife-anchor") // same name, another key
		b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
		require.NoError(t, err)
		text, _, err := splitCheckpoint(b)
		require.NoError(t, err)
		forged, err := note.Sign(&note.Note{Text: string(text)}, other)
		require.NoError(t, err)
		editFile(t, filepath.Join(dir, checkpointFile), func([]byte) []byte { return forged })
		_, err = VerifyDirWith(ctx, dir, VerifyOptions{Verifiers: vs, RequireSigned: true})
		require.ErrorIs(t, err, ErrUnanchored)
	})
	t.Run("signature damaged", func(t *testing.T) {
		dir, _ := build(t)
		editFile(t, filepath.Join(dir, checkpointFile), func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte(" "))
			b[i+30] ^= 1 // in the signature, past the key hash
			return b
		})
		_, err := VerifyDirWith(ctx, dir, VerifyOptions{Verifiers: vs})
		var te *TamperError
		require.ErrorAs(t, err, &te)
		require.Equal(t, checkpointFile, te.Segment)
	})
	t.Run("anchor of another log", func(t *testing.T) {
		dir, _ := build(t)
		_, anchor := build(t)
		_, err := VerifyDirWith(ctx, dir, opts(anchor))
		requireTamper(t, err, "file "+anchor, "another log")
	})
}

// forgeHeadCheckpoint writes the unsigned checkpoint of head h for the log in
// dir, as an attacker without the signing key can.
func forgeHeadCheckpoint(t *testing.T, dir string, h Head) {
	t.Helper()
	_, id, raw, err := readHeaderRaw(dir)
	require.NoError(t, err)
	c := &Checkpoint{Origin: checkpointOrigin(id), Size: h.Size, Root: h.Root, Chain: h.Chain, Header: headerDigest(raw)}
	require.NoError(t, os.WriteFile(filepath.Join(dir, checkpointFile), c.Marshal(), 0o644))
}

// TestBackupAnchor: signed checkpoints reach the backup after the batches
// they cover, and the backup then serves as an anchor.
func TestBackupAnchor(t *testing.T) {
	ctx := context.Background()
	signer, vs, _ := newTestSigner(t, "treeoflife-backup")
	sinkDir := t.TempDir()
	sink, err := file.New(ctx, file.Config{Dir: sinkDir})
	require.NoError(t, err)
	dir := t.TempDir()
	old := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 8 << 10, Signer: signer, CheckpointInterval: -1, Backup: sink, BackupBatchSize: 10})
	logN(t, l, 25)
	require.NoError(t, l.Close())
	copyDir(t, dir, old)
	l = openT(t, dir, Options{SegmentSize: 8 << 10, Signer: signer, CheckpointInterval: -1, Backup: sink, BackupBatchSize: 10})
	logN(t, l, 25)
	require.NoError(t, l.Close())

	anchor := BackupAnchor{Sink: sink}
	b, err := anchor.Latest(ctx, checkpointOrigin(l.logID))
	require.NoError(t, err)
	c, _, err := OpenCheckpoint(b, vs)
	require.NoError(t, err, "the backup's newest checkpoint is the logger's signed one")
	require.Equal(t, uint64(50), c.Size)

	rep, err := VerifyDirWith(ctx, dir, VerifyOptions{Verifiers: vs, Anchors: []Anchor{anchor}, RequireSigned: true})
	require.NoError(t, err)
	require.Equal(t, uint64(50), rep.Anchored)
	_, err = VerifyDirWith(ctx, old, VerifyOptions{Verifiers: vs, Anchors: []Anchor{anchor}})
	requireTamper(t, err, "", "rolled back")

	// The backup still verifies as a whole, signed checkpoints included.
	h, err := VerifyBackup(ctx, sink, RestoreOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(50), h.Head.Size)
	brep, err := VerifyBackupWith(ctx, sink, RestoreOptions{}, VerifyOptions{Verifiers: vs, RequireSigned: true})
	require.NoError(t, err)
	require.Equal(t, uint64(50), brep.Anchored)
	require.True(t, brep.Checkpoints[0].Trusted)

	// Someone with the bucket's write access removes the newest batches
	// and every checkpoint covering them: the backup alone looks complete,
	// the auditor's saved checkpoint does not agree.
	saved := saveFile(t, b)
	root := l.LogID() + "/_/"
	var removed int
	for info, err := range sink.List(ctx, root) {
		require.NoError(t, err)
		if f, _, ok := parseBatchKey(root, info.Key); ok && f >= 35 {
			require.NoError(t, os.Remove(filepath.Join(sinkDir, filepath.FromSlash(info.Key))))
			removed++
		}
		if n, ok := strings.CutPrefix(info.Key, root+"checkpoints/"); ok {
			if size, err := strconv.ParseUint(n, 10, 64); err == nil && size > 35 {
				require.NoError(t, os.Remove(filepath.Join(sinkDir, filepath.FromSlash(info.Key))))
			}
		}
	}
	require.Equal(t, 2, removed, "batches 35-44 and 45-49")
	h, err = VerifyBackup(ctx, sink, RestoreOptions{})
	require.NoError(t, err, "the backup alone cannot tell")
	require.Equal(t, uint64(35), h.Head.Size)
	_, err = VerifyBackupWith(ctx, sink, RestoreOptions{}, VerifyOptions{Verifiers: vs, Anchors: []Anchor{AnchorFile(saved)}})
	requireTamper(t, err, "", "batches removed from the end")
	if errors.Is(err, ErrUnanchored) {
		t.Fatal("reported as tampering, not as an unanchored tail")
	}
}

// TestBackupStopsOnRollback: a logger opened on a rolled-back copy of its
// directory does not fork the backup: shipping stops with
// ErrBackupDiverged, and no batch is added.
func TestBackupStopsOnRollback(t *testing.T) {
	ctx := context.Background()
	sink, err := file.New(ctx, file.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	dir, old := t.TempDir(), t.TempDir()
	o := Options{Backup: sink, BackupBatchSize: 10}
	l := openT(t, dir, o)
	logN(t, l, 20)
	require.NoError(t, l.Close())
	copyDir(t, dir, old)
	l = openT(t, dir, o)
	logN(t, l, 20)
	require.NoError(t, l.Close())
	objects := func() int {
		n := 0
		for _, err := range sink.List(ctx, "") {
			require.NoError(t, err)
			n++
		}
		return n
	}
	before := objects()

	l = openT(t, old, o)
	logN(t, l, 5) // diverges from the backup at record 20
	err = l.SyncBackup(ctx)
	require.ErrorIs(t, err, ErrBackupDiverged)
	require.ErrorIs(t, l.BackupStatus().LastError, ErrBackupDiverged)
	require.Error(t, l.Close())
	require.Equal(t, before, objects(), "nothing shipped from the rolled-back copy")
	h, err := VerifyBackup(ctx, sink, RestoreOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(40), h.Head.Size)
}
