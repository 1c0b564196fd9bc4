package tolbench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	tol "github.com/treeoflife/treeoflife"
	"github.com/treeoflife/treeoflife/legacyimport"
)

// RowLegacyImport imports N plain legacy lines (see legacyLog).
const RowLegacyImport = "legacy-import"

var legacyLevels = []string{"INFO", "WARN", "ERROR", "CRITICAL", "AUDIT", "SECURITY", "REVENUE", "SYSTEM"}

// legacyLine appends the i-th line of a generated legacy log, in the format
// of the fixture js-plain/default (the JavaScript ImmutableLogger's
// JSON.stringify of an entry).
func legacyLine(dst []byte, i int, t time.Time) []byte {
	var id [16]byte
	sum := sha256.Sum256(strconv.AppendInt(nil, int64(i), 10))
	copy(id[:], sum[:])
	dst = append(dst, `{"id":"`...)
	dst = hex.AppendEncode(dst, id[:])
	dst = append(dst, `","timestamp":"`...)
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, `","level":"`...)
	dst = append(dst, legacyLevels[i%len(legacyLevels)]...)
	dst = append(dst, `","message":"plain event `...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `","metadata":{"i":`...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `,"amount":`...)
	dst = strconv.AppendInt(dst, int64(i*37%100000), 10)
	dst = append(dst, `,"currency":"`...)
	dst = append(dst, [...]string{"EUR", "USD"}[i%2]...)
	dst = append(dst, `","customer":"cus_`...)
	dst = strconv.AppendInt(dst, int64(i%97), 10)
	dst = append(dst, `","nested":{"ok":`...)
	dst = strconv.AppendBool(dst, i%2 == 0)
	dst = append(dst, `,"tags":["a","`...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `"]}},"source":"at ImmutableLogger.log (/srv/tree-of-life-system/core/immutable-logger.js:65:28)","hostname":"vm","pid":21346,"tenantId":"default"}`...)
	return dst
}

// legacyLog writes a legacy log of n lines under dir/default, as the
// JavaScript logger lays out a tenant: immutable.log and a matching
// blockchain.json (JSON.stringify(blocks, null, 2)).
func legacyLog(dir string, n int) error {
	tdir := filepath.Join(dir, "default")
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		return err
	}
	lf, err := os.Create(filepath.Join(tdir, "immutable.log"))
	if err != nil {
		return err
	}
	defer lf.Close()
	cf, err := os.Create(filepath.Join(tdir, "blockchain.json"))
	if err != nil {
		return err
	}
	defer cf.Close()
	lw, cw := bufio.NewWriterSize(lf, 1<<20), bufio.NewWriterSize(cf, 1<<20)
	t0 := time.Date(2026, 11, 29, 18, 16, 54, 573e6, time.UTC)
	prev := "0"
	var line, block []byte
	cw.WriteString("[")
	for i := range n {
		t := t0.Add(time.Duration(i) * time.Millisecond)
		line = legacyLine(line[:0], i, t)
		lw.Write(line)
		lw.WriteByte('\n')
		sum := sha256.Sum256(line)
		hash := hex.EncodeToString(sum[:])
		data, err := json.Marshal(string(line))
		if err != nil {
			return err
		}
		if i > 0 {
			cw.WriteString(",")
		}
		block = append(block[:0], "\n  {\n    \"index\": "...)
		block = strconv.AppendInt(block, int64(i), 10)
		block = append(block, ",\n    \"timestamp\": \""...)
		block = t.AppendFormat(block, "2006-01-02T15:04:05.000Z")
		block = append(block, "\",\n    \"data\": "...)
		block = append(block, data...)
		block = append(block, ",\n    \"hash\": \""...)
		block = append(block, hash...)
		block = append(block, "\",\n    \"previousHash\": \""...)
		block = append(block, prev...)
		block = append(block, "\"\n  }"...)
		cw.Write(block)
		prev = hash
	}
	cw.WriteString("\n]")
	if err := lw.Flush(); err != nil {
		return err
	}
	if err := cw.Flush(); err != nil {
		return err
	}
	if err := lf.Close(); err != nil {
		return err
	}
	return cf.Close()
}

// legacyImport times legacyimport.Import of N generated lines into a new
// tenants root. Generating them is not timed.
func (r *runner) legacyImport(ctx context.Context) (Row, error) {
	row := Row{Name: RowLegacyImport, Writers: 1, Entries: r.cfg.N}
	from := filepath.Join(r.dir, "legacy-old")
	to := filepath.Join(r.dir, "legacy-new")
	t0 := time.Now()
	if err := legacyLog(from, r.cfg.N); err != nil {
		return row, fmt.Errorf("generating the legacy log: %w", err)
	}
	gen := time.Since(t0)
	m, err := r.startMeter(RowLegacyImport)
	if err != nil {
		return row, err
	}
	t0 = time.Now()
	s, ierr := legacyimport.Import(ctx, from, to, legacyimport.Options{Log: tol.Options{SegmentSize: r.cfg.SegmentSize}})
	elapsed := time.Since(t0)
	if err := m.stop(&row); err != nil {
		return row, err
	}
	if ierr != nil {
		return row, fmt.Errorf("importing: %w", ierr)
	}
	if s.Imported != r.cfg.N || s.Broken != 0 {
		return row, fmt.Errorf("imported %d records (%d broken), want %d", s.Imported, s.Broken, r.cfg.N)
	}
	finish(&row, elapsed, 0)
	row.Note = fmt.Sprintf("generating the legacy log (immutable.log and blockchain.json) took %.1f s (not timed)", gen.Seconds())
	err = diskUsage(&row, filepath.Join(to, "tenants", "default"))
	if rerr := os.RemoveAll(from); err == nil {
		err = rerr
	}
	if rerr := os.RemoveAll(to); err == nil {
		err = rerr
	}
	return row, err
}
