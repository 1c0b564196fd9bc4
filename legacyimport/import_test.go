package legacyimport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/treeoflife/treeoflife"
)

// fixtures holds logs written by the original system's own code, copied
// unchanged (see its README).
const fixtures = "../testdata/legacy"

var ctx = context.Background()

// entriesOf reads every entry of the log at dir, verifying it first.
func entriesOf(t *testing.T, dir string) []treeoflife.Entry {
	t.Helper()
	_, err := treeoflife.VerifyDir(ctx, dir)
	require.NoError(t, err, "the imported log verifies")
	r, err := treeoflife.OpenReader(dir)
	require.NoError(t, err)
	defer r.Close()
	var out []treeoflife.Entry
	for e, err := range r.Entries(ctx, treeoflife.Filter{}) {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// legacyLines returns the lines of a legacy log file.
func legacyLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestImportTenants(t *testing.T) {
	to := t.TempDir()
	s, err := Import(ctx, filepath.Join(fixtures, "js-plain"), to, Options{})
	require.NoError(t, err)
	require.Equal(t, 160, s.Records)
	require.Equal(t, 160, s.Imported)
	require.Zero(t, s.Skipped)
	require.Zero(t, s.Broken)
	require.Len(t, s.Logs, 2)
	require.Equal(t, "customer-abc", s.Logs[0].Tenant)
	require.Equal(t, 40, s.Logs[0].Records)
	require.Equal(t, "blockchain.json", s.Logs[1].Checked)
	levels := 0
	for _, n := range s.Levels {
		levels += n
	}
	require.Equal(t, 160, levels)
	require.Len(t, s.Levels, 8)

	// The tenant folders are tenants of a Tenants root at to.
	ts, err := treeoflife.OpenTenants(to, treeoflife.Options{})
	require.NoError(t, err)
	ids, err := ts.List()
	require.NoError(t, err)
	require.Equal(t, []string{"customer-abc", "default"}, ids)
	dir, err := ts.Dir("default")
	require.NoError(t, err)
	require.NoError(t, ts.Close())

	lines := legacyLines(t, filepath.Join(fixtures, "js-plain/default/immutable.log"))
	got := entriesOf(t, dir)
	require.Len(t, got, len(lines))
	prev := "0"
	for i, e := range got {
		var orig struct {
			ID        string         `json:"id"`
			Timestamp string         `json:"timestamp"`
			Level     string         `json:"level"`
			Message   string         `json:"message"`
			Metadata  map[string]any `json:"metadata"`
			Hostname  string         `json:"hostname"`
			PID       int            `json:"pid"`
			TenantID  string         `json:"tenantId"`
		}
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &orig))
		require.Equal(t, orig.ID, e.ID, "the original id is kept")
		ts, err := time.Parse(time.RFC3339Nano, orig.Timestamp)
		require.NoError(t, err)
		require.True(t, ts.Equal(e.Time), "the original timestamp is kept: %s vs %s", ts, e.Time)
		require.Equal(t, orig.Level, e.Level.String())
		require.Equal(t, orig.Message, e.Message)
		require.Equal(t, orig.Metadata, e.Metadata)
		require.Equal(t, orig.Hostname, e.Hostname)
		require.Equal(t, orig.PID, e.PID)
		require.Equal(t, orig.TenantID, e.Tenant)
		// The legacy chain stays provable: the exact line, its hash and the
		// link to the one before.
		require.NotNil(t, e.Legacy)
		require.Equal(t, uint64(i), e.Legacy.Index)
		require.Equal(t, lines[i], e.Legacy.Data)
		sum := sha256.Sum256([]byte(e.Legacy.Data))
		require.Equal(t, hex.EncodeToString(sum[:]), e.Legacy.Hash)
		require.Equal(t, prev, e.Legacy.PrevHash)
		require.False(t, e.Legacy.Broken)
		prev = e.Legacy.Hash
	}

	// Idempotent: a second run imports nothing and finds the prefix equal.
	s2, err := Import(ctx, filepath.Join(fixtures, "js-plain"), to, Options{})
	require.NoError(t, err)
	require.Zero(t, s2.Imported)
	require.Equal(t, 160, s2.Skipped)
	require.Equal(t, s.Levels, s2.Levels)
	require.Equal(t, s.First, s2.First)
	require.Equal(t, s.Last, s2.Last)
	require.Len(t, entriesOf(t, dir), len(lines))
}

func TestImportFormats(t *testing.T) {
	cases := []struct {
		dir, pass, tenant string
		records           int
	}{
		{"js-gcm", "legacy-passphrase-1", "default", 80},
		{"js-cbc", "legacy-passphrase-0", "default", 20},
		{"js-rotated", "", "default", 150},
		{"py-plain", "", "", 150},
		{"py-rotated", "", "", 120},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			to := t.TempDir()
			s, err := Import(ctx, filepath.Join(fixtures, tc.dir), to, Options{Passphrase: tc.pass})
			require.NoError(t, err)
			require.Equal(t, tc.records, s.Imported)
			dir := to
			if tc.tenant != "" {
				dir = filepath.Join(to, "tenants", tc.tenant)
			}
			got := entriesOf(t, dir)
			require.Len(t, got, tc.records)
			for i, e := range got {
				require.Equal(t, uint64(i), e.Legacy.Index)
				require.Equal(t, tc.tenant, e.Tenant)
				if i > 0 {
					require.Equal(t, got[i-1].Legacy.Hash, e.Legacy.PrevHash)
					require.False(t, e.Time.Before(got[i-1].Time))
				}
			}
			require.Equal(t, got[0].Time, s.First)
			require.Equal(t, got[len(got)-1].Time, s.Last)
		})
	}
}

func TestImportEncryptedDestination(t *testing.T) {
	to := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	_, err := Import(ctx, filepath.Join(fixtures, "py-plain"), to, Options{Log: treeoflife.Options{EncryptionKey: key}})
	require.NoError(t, err)
	_, err = treeoflife.VerifyDir(ctx, to)
	require.NoError(t, err)
	l, err := treeoflife.Open(to, treeoflife.Options{EncryptionKey: key})
	require.NoError(t, err)
	defer l.Close()
	es, err := l.Read(ctx, treeoflife.Filter{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, uint64(149), es[0].Legacy.Index)
	require.Equal(t, "py event 149", es[0].Message)
}

func TestImportTampered(t *testing.T) {
	from := filepath.Join(fixtures, "js-plain-tampered")
	to := t.TempDir()
	_, err := Import(ctx, from, to, Options{})
	var be *BrokenError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Broken, 1)
	require.Equal(t, "default", be.Broken[0].Tenant)
	require.Equal(t, uint64(7), be.Broken[0].Index)
	require.Contains(t, be.Error(), "record 7")
	require.Contains(t, be.Error(), "immutable.log:8")
	ents, err := os.ReadDir(to)
	require.NoError(t, err)
	require.Empty(t, ents, "nothing is written")

	s, err := Import(ctx, from, to, Options{AllowBroken: true})
	require.NoError(t, err)
	require.Equal(t, 1, s.Broken)
	require.Equal(t, 160, s.Imported)
	got := entriesOf(t, filepath.Join(to, "tenants", "default"))
	for i, e := range got {
		require.Equal(t, i == 7, e.Legacy.Broken, "record %d", i)
	}
	require.Equal(t, 999999.0, got[7].Metadata["amount"], "the record is imported as it is")
}

func TestImportWrongPassphrase(t *testing.T) {
	for _, pass := range []string{"wrong", ""} {
		to := t.TempDir()
		_, err := Import(ctx, filepath.Join(fixtures, "js-gcm"), to, Options{Passphrase: pass})
		require.ErrorIs(t, err, ErrPassphrase)
		require.Contains(t, err.Error(), filepath.Join("js-gcm", "default", "immutable.log")+":1:")
		ents, err := os.ReadDir(to)
		require.NoError(t, err)
		require.Empty(t, ents, "nothing is written")
	}
	_, err := Import(ctx, filepath.Join(fixtures, "js-cbc"), t.TempDir(), Options{Passphrase: "legacy-passphrase-1"})
	require.ErrorIs(t, err, ErrPassphrase)
	require.Contains(t, err.Error(), "immutable.log:1:")
}

func TestImportNotLegacy(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"empty":        {},
		"other files":  {"notes.txt": "hello\n"},
		"text log":     {"immutable.log": "2026-11-29 INFO started\n"},
		"json non-log": {"immutable.log": `{"hello":"world"}` + "\n"},
		"bad chain":    {"immutable.log": `{"hello":"world"}` + "\n", "blockchain.json": "{}"},
	} {
		t.Run(name, func(t *testing.T) {
			from := t.TempDir()
			for n, c := range files {
				require.NoError(t, os.WriteFile(filepath.Join(from, n), []byte(c), 0o600))
			}
			to := filepath.Join(t.TempDir(), "new")
			_, err := Import(ctx, from, to, Options{})
			require.ErrorIs(t, err, ErrNotLegacy)
			_, err = os.Stat(to)
			require.ErrorIs(t, err, os.ErrNotExist, "nothing is written")
		})
	}
	// A file, not a directory.
	_, err := Import(ctx, filepath.Join(fixtures, "README.md"), t.TempDir(), Options{})
	require.ErrorIs(t, err, ErrNotLegacy)
}

// copyFixture copies a fixture log to a new directory.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join(fixtures, name))))
	return dir
}

func TestImportResume(t *testing.T) {
	// A partial import: the legacy log as it was when it held 50 records
	// (its first 50 lines and blocks), then the whole log.
	full := filepath.Join(fixtures, "py-plain")
	part := copyFixture(t, "py-plain")
	lines := legacyLines(t, filepath.Join(full, "immutable.log"))
	require.NoError(t, os.WriteFile(filepath.Join(part, "immutable.log"), []byte(strings.Join(lines[:50], "\n")+"\n"), 0o600))
	var blocks []json.RawMessage
	b, err := os.ReadFile(filepath.Join(full, "blockchain.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &blocks))
	b, err = json.Marshal(blocks[:50])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(part, "blockchain.json"), b, 0o600))
	require.NoError(t, os.Remove(filepath.Join(part, "log-hashes.json")))

	to := t.TempDir()
	s, err := Import(ctx, part, to, Options{})
	require.NoError(t, err)
	require.Equal(t, 50, s.Imported)

	s, err = Import(ctx, full, to, Options{})
	require.NoError(t, err)
	require.Equal(t, 50, s.Skipped)
	require.Equal(t, 100, s.Imported)
	require.Equal(t, 150, s.Records)
	got := entriesOf(t, to)
	require.Len(t, got, 150)
	for i, e := range got {
		require.Equal(t, lines[i], e.Legacy.Data)
	}

	// A destination holding another log's records is not resumed into.
	_, err = Import(ctx, filepath.Join(fixtures, "py-rotated"), to, Options{})
	require.ErrorIs(t, err, ErrMismatch)
	// Nor one that holds more than the legacy log.
	_, err = Import(ctx, part, to, Options{})
	require.ErrorIs(t, err, ErrMismatch)
	require.Len(t, entriesOf(t, to), 150, "nothing more was written")
}

func TestImportMidwayFailure(t *testing.T) {
	// A log without a chain file whose 6th line is in its format but does
	// not decrypt: the first five are imported, and the error says so; a
	// fixed file resumes.
	from := copyFixture(t, "js-cbc")
	path := filepath.Join(from, "default", "immutable.log")
	lines := legacyLines(t, path)
	bad := append(append(append([]string{}, lines[:5]...), strings.Repeat("00", 32)), lines[5:]...)
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(bad, "\n")+"\n"), 0o600))
	to := t.TempDir()
	_, err := Import(ctx, from, to, Options{Passphrase: "legacy-passphrase-0"})
	require.ErrorIs(t, err, ErrPassphrase)
	require.Contains(t, err.Error(), "immutable.log:6")
	require.Contains(t, err.Error(), "5 records were imported before it, legacy index 0 to 4")

	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	s, err := Import(ctx, from, to, Options{Passphrase: "legacy-passphrase-0"})
	require.NoError(t, err)
	require.Equal(t, 5, s.Skipped)
	require.Equal(t, 15, s.Imported)
	require.Len(t, entriesOf(t, filepath.Join(to, "tenants", "default")), 20)

	// A line in another format is found by the first pass: nothing written.
	bad[5] = "{not json"
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(bad, "\n")+"\n"), 0o600))
	to = filepath.Join(t.TempDir(), "new")
	_, err = Import(ctx, from, to, Options{Passphrase: "legacy-passphrase-0"})
	require.ErrorIs(t, err, ErrNotLegacy)
	require.Contains(t, err.Error(), "immutable.log:6")
	_, err = os.Stat(to)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing is written")
}

func TestImportTenantFromLines(t *testing.T) {
	// A single log whose lines carry a tenantId becomes that tenant, as
	// the JavaScript logger lays it out (dir/<tenantId>).
	to := t.TempDir()
	s, err := Import(ctx, filepath.Join(fixtures, "js-plain", "customer-abc"), to, Options{})
	require.NoError(t, err)
	require.Equal(t, "customer-abc", s.Logs[0].Tenant)
	got := entriesOf(t, filepath.Join(to, "tenants", "customer-abc"))
	require.Len(t, got, 40)
	require.Equal(t, "customer-abc", got[0].Tenant)
}

func TestImportMissingRecords(t *testing.T) {
	// The chain holds 150 blocks, the file only the first 100 lines.
	from := copyFixture(t, "py-plain")
	path := filepath.Join(from, "immutable.log")
	lines := legacyLines(t, path)
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines[:100], "\n")+"\n"), 0o600))
	to := filepath.Join(t.TempDir(), "new")
	_, err := Import(ctx, from, to, Options{})
	var be *BrokenError
	require.ErrorAs(t, err, &be)
	require.Equal(t, map[string]uint64{"": 50}, be.Missing)
	require.Contains(t, err.Error(), "50 record(s) of the chain are missing from the log files")
	_, err = os.Stat(to)
	require.ErrorIs(t, err, os.ErrNotExist, "nothing is written")

	s, err := Import(ctx, from, to, Options{AllowBroken: true})
	require.NoError(t, err)
	require.Equal(t, 100, s.Imported)
	require.Equal(t, uint64(50), s.Missing)
}
