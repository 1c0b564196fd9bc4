package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/treeoflife/treeoflife"
)

const exportHelp = `usage: treeoflife export --format jsonl|csv|es-bulk|parquet --out FILE [flags] DIR

export writes the log's entries, oldest first, to FILE, which it creates:
it refuses a FILE that exists. "--out -" writes to stdout. Every format
keeps the seq and the chain value (hash) of each entry, so that an
exported row can be traced back to the verified log. The log must not be
encrypted.

formats:
  jsonl    one entry per line, as read prints them (with hash and prevHash)
  csv      a header, then seq,id,timestamp,level,message,hostname,pid,
           tenantId,metadata (as JSON),chain
  es-bulk  Elasticsearch bulk NDJSON: an index action (with the entry's id
           as _id) and the entry, for POST /_bulk
  parquet  Apache Parquet (zstd), for Athena, BigQuery, DuckDB or Spark:
           the columns of csv (timestamp in nanoseconds, UTC; metadata as
           JSON; tenantId null when the log has none), then prevHash

flags:
  --format F      jsonl, csv, es-bulk or parquet (required)
  --out FILE      the file to create (required; - for stdout)
  --index NAME    the Elasticsearch index, for es-bulk (default treeoflife)
  --level LEVELS  only these levels, comma-separated (error,critical)
  --since TIME    only entries at or after TIME
  --until TIME    only entries before TIME
  --limit N       at most N entries, the first (default 0: all)

examples:
  treeoflife export --format jsonl --out audit.jsonl /var/log/audit
  treeoflife export --format csv --out 2026-11.csv --since 2026-11-01 --until 2026-12-01 /var/log/audit
  treeoflife export --format parquet --out audit.parquet /var/log/audit
  treeoflife export --format es-bulk --out - /var/log/audit | curl -s -H 'Content-Type: application/x-ndjson' --data-binary @- localhost:9200/_bulk
`

// csvHeader is the first row of a csv export.
var csvHeader = []string{"seq", "id", "timestamp", "level", "message", "hostname", "pid", "tenantId", "metadata", "chain"}

func export(ctx context.Context, c *cli, args []string) error {
	fs := newFlags("export")
	format := fs.String("format", "", "jsonl, csv, es-bulk or parquet")
	out := fs.String("out", "", "the `FILE` to create")
	index := fs.String("index", "treeoflife", "the Elasticsearch index")
	ff := addFilterFlags(fs, 0)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: export takes one log directory", errUsage)
	}
	var enc func(w *bufio.Writer) entryEncoder
	switch *format {
	case "jsonl":
		enc = newJSONLEncoder
	case "csv":
		enc = newCSVEncoder
	case "es-bulk":
		enc = func(w *bufio.Writer) entryEncoder { return newESBulkEncoder(w, *index) }
	case "parquet":
		enc = newParquetEncoder
	case "":
		return fmt.Errorf("%w: export needs --format (jsonl, csv, es-bulk or parquet)", errUsage)
	default:
		return fmt.Errorf("%w: unknown --format %q (jsonl, csv, es-bulk or parquet)", errUsage, *format)
	}
	if *out == "" {
		return fmt.Errorf("%w: export needs --out FILE (- for stdout)", errUsage)
	}
	f, err := ff.filter(time.Now())
	if err != nil {
		return err
	}
	// The metadata goes out as stored, not decoded into maps and encoded
	// again.
	f.RawMetadata = true
	r, err := openReader(fs.Arg(0))
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := r.Stats(ctx)
	if err != nil {
		return err
	}

	var dst io.Writer = c.stdout
	var file *os.File
	if *out != "-" {
		file, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; export does not overwrite a file", *out)
		}
		if err != nil {
			return err
		}
		dst = file
	}
	bw := bufio.NewWriterSize(dst, 256<<10)
	e := enc(bw)
	p := c.startProgress("exporting", int64(st.Head.Size))
	n, err := exportEntries(ctx, r, f, e, p)
	p.end()
	if err == nil {
		err = bw.Flush()
	}
	if file != nil {
		if err == nil {
			err = file.Sync()
		}
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(*out) // a partial export is no export
			return fmt.Errorf("export to %s: %w", *out, err)
		}
		fmt.Fprintf(c.stdout, "%s: %d entries exported as %s\n", *out, n, *format)
	}
	return err
}

func exportEntries(ctx context.Context, r *treeoflife.Reader, f treeoflife.Filter, enc entryEncoder, p *progress) (int, error) {
	n := 0
	for e, err := range r.Entries(ctx, f) {
		if err != nil {
			return n, err
		}
		if err := enc.encode(&e); err != nil {
			return n, err
		}
		n++
		p.set("exporting", int64(e.Seq+1))
	}
	return n, enc.close()
}

// An entryEncoder writes entries in one export format.
type entryEncoder interface {
	encode(e *treeoflife.Entry) error
	close() error
}

// metadataJSON is e's metadata as JSON: as stored (Filter.RawMetadata), or
// encoded from the map.
func metadataJSON(e *treeoflife.Entry) ([]byte, error) {
	if e.Metadata == nil && e.RawMetadata != nil {
		return e.RawMetadata, nil
	}
	return json.Marshal(e.Metadata)
}

type jsonlEncoder struct{ w *bufio.Writer }

func newJSONLEncoder(w *bufio.Writer) entryEncoder { return jsonlEncoder{w} }

func (j jsonlEncoder) encode(e *treeoflife.Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	j.w.Write(b)
	return j.w.WriteByte('\n')
}

func (j jsonlEncoder) close() error { return nil }

type csvEncoder struct {
	w      *csv.Writer
	header bool
	row    []string
}

func newCSVEncoder(w *bufio.Writer) entryEncoder {
	return &csvEncoder{w: csv.NewWriter(w), row: make([]string, len(csvHeader))}
}

func (c *csvEncoder) encode(e *treeoflife.Entry) error {
	if !c.header {
		c.header = true
		if err := c.w.Write(csvHeader); err != nil {
			return err
		}
	}
	md, err := metadataJSON(e)
	if err != nil {
		return err
	}
	c.row = append(c.row[:0],
		strconv.FormatUint(e.Seq, 10), e.ID, e.Time.Format(time.RFC3339Nano), e.Level.String(), e.Message,
		e.Hostname, strconv.Itoa(e.PID), e.Tenant, string(md), e.Hash.String())
	return c.w.Write(c.row)
}

// close writes the header of an empty export and flushes.
func (c *csvEncoder) close() error {
	if !c.header {
		c.header = true
		c.w.Write(csvHeader)
	}
	c.w.Flush()
	return c.w.Error()
}

type esBulkEncoder struct {
	w     *bufio.Writer
	index string
}

func newESBulkEncoder(w *bufio.Writer, index string) entryEncoder {
	return esBulkEncoder{w, index}
}

func (b esBulkEncoder) encode(e *treeoflife.Entry) error {
	type action struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	}
	a, err := json.Marshal(map[string]action{"index": {b.index, e.ID}})
	if err != nil {
		return err
	}
	doc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b.w.Write(a)
	b.w.WriteByte('\n')
	b.w.Write(doc)
	return b.w.WriteByte('\n')
}

func (b esBulkEncoder) close() error { return nil }
