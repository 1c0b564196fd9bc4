package main

import (
	"bufio"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/treeoflife/treeoflife"
)

// parquetRow is one entry in a Parquet export: the fields, the seq and the
// chain values, in the stored names. metadata is JSON text (the JSON
// logical type), which Athena, BigQuery, DuckDB and Spark all parse.
type parquetRow struct {
	Seq       int64     `parquet:"seq,delta"`
	ID        string    `parquet:"id"`
	Timestamp time.Time `parquet:"timestamp,timestamp(nanosecond)"`
	Level     string    `parquet:"level,dict"`
	Message   string    `parquet:"message"`
	Metadata  string    `parquet:"metadata,json"`
	Hostname  string    `parquet:"hostname,dict"`
	PID       int64     `parquet:"pid"`
	Tenant    *string   `parquet:"tenantId,optional"`
	Chain     string    `parquet:"chain"`
	PrevHash  string    `parquet:"prevHash"`
}

// parquetRowGroup is the number of rows the writer holds in memory before
// it writes them out as a row group.
const parquetRowGroup = 64 << 10

type parquetEncoder struct {
	w   *parquet.GenericWriter[parquetRow]
	buf []parquetRow
}

func newParquetEncoder(w *bufio.Writer) entryEncoder {
	return &parquetEncoder{
		w:   parquet.NewGenericWriter[parquetRow](w, parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(parquetRowGroup)),
		buf: make([]parquetRow, 0, 1024),
	}
}

func (p *parquetEncoder) encode(e *treeoflife.Entry) error {
	md, err := metadataJSON(e)
	if err != nil {
		return err
	}
	row := parquetRow{
		Seq: int64(e.Seq), ID: e.ID, Timestamp: e.Time, Level: e.Level.String(), Message: e.Message,
		Metadata: string(md), Hostname: e.Hostname, PID: int64(e.PID), Chain: e.Hash.String(), PrevHash: e.PrevHash.String(),
	}
	if e.Tenant != "" {
		t := e.Tenant
		row.Tenant = &t
	}
	p.buf = append(p.buf, row)
	if len(p.buf) == cap(p.buf) {
		return p.flush()
	}
	return nil
}

func (p *parquetEncoder) flush() error {
	_, err := p.w.Write(p.buf)
	p.buf = p.buf[:0]
	return err
}

// close writes what is buffered and the file's footer.
func (p *parquetEncoder) close() error {
	if err := p.flush(); err != nil {
		return err
	}
	return p.w.Close()
}
