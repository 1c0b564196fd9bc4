package legacy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
)

// A Record is one line of a legacy log with its place in the original
// chain.
type Record struct {
	Index    uint64 // position in the chain (block index), from 0
	File     string // the file holding the line
	Line     int    // its line number in File, from 1
	Data     []byte // the line without its newline; valid until the next Next
	Hash     string // the hash the chain records (SHA-256 of Data when the log has no chain file)
	PrevHash string // the previousHash the chain records ("0" for the first)
	// Broken is why the line does not match the chain ("" when it does).
	Broken string
}

// Where returns file:line, for messages.
func (r *Record) Where() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

// A Reader reads the lines of a legacy log in order, across its archives,
// and checks each one against the chain: the block at its index must have
// that index, the hash SHA-256 of the line, a previousHash equal to the
// hash before it ("0" for the first) and the line as its data. Without
// blockchain.json, log-hashes.json is checked instead when there is one;
// with neither, nothing is checked (Checked says which).
type Reader struct {
	src     Source
	next    int // index in src.Files of the next file to open
	f       *os.File
	gz      *gzip.Reader
	br      *bufio.Reader
	file    string
	line    int
	buf     []byte
	chain   *chainReader
	hashes  []string
	checked string
	rec     Record
	index   uint64
	prev    string
	hexSum  [64]byte
	blocks  uint64 // blocks the chain holds, known once the lines end
	result  *Result
	replay  *Result
}

// Result is what a Reader found, for a second reading with Replay: the
// SHA-256 and CRC-32C of every line, and where the chain differs from them.
// It holds 36 bytes per record.
type Result struct {
	sums     [][32]byte
	crcs     []uint32
	recorded map[uint64]string // the recorded hash, where it is not the line's SHA-256
	prevs    map[uint64]string // the recorded previousHash, where it is not the hash before
	broken   map[uint64]string
	missing  uint64
	chain    string
}

// Records returns the number of records read.
func (c *Result) Records() uint64 { return uint64(len(c.sums)) }

// NewReader opens src for reading.
func NewReader(src Source) (*Reader, error) {
	r := &Reader{src: src, prev: "0", br: bufio.NewReaderSize(nil, 1<<20)}
	r.result = &Result{recorded: map[uint64]string{}, prevs: map[uint64]string{}, broken: map[uint64]string{}}
	switch {
	case src.Chain != "":
		c, err := openChain(src.Chain)
		if err != nil {
			return nil, err
		}
		r.chain, r.checked = c, chainName
	case src.Hashes != "":
		b, err := os.ReadFile(src.Hashes)
		if err != nil {
			return nil, err
		}
		var h struct {
			Hashes []string `json:"hashes"`
		}
		if err := json.Unmarshal(b, &h); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotLegacy, src.Hashes, err)
		}
		r.hashes, r.checked = h.Hashes, hashesName
	}
	r.result.chain = r.checked
	return r, nil
}

// Replay returns a Reader that reads src's lines again, after a first
// Reader returned res (its Result, once its Next returned io.EOF): records
// come with the same hashes, links and Broken reasons, without reading the
// chain files again. A line that is not what the first reading found is an
// error.
func Replay(src Source, res *Result) *Reader {
	return &Reader{src: src, prev: "0", br: bufio.NewReaderSize(nil, 1<<20), replay: res, checked: res.chain}
}

// Result returns what the reader found, once Next has returned io.EOF.
func (r *Reader) Result() *Result {
	r.result.missing = r.Missing()
	return r.result
}

// Checked names what the lines are checked against: "blockchain.json",
// "log-hashes.json", or "" when the log has neither.
func (r *Reader) Checked() string { return r.checked }

// Close closes the files the reader holds open.
func (r *Reader) Close() error {
	r.closeFile()
	if r.chain != nil {
		return r.chain.close()
	}
	return nil
}

func (r *Reader) closeFile() {
	if r.gz != nil {
		r.gz.Close()
		r.gz = nil
	}
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// Next returns the next record, or io.EOF after the last. The record is
// valid until the next call.
func (r *Reader) Next() (*Record, error) {
	line, err := r.readLine()
	if err != nil {
		if err == io.EOF {
			if cerr := r.countRest(); cerr != nil {
				return nil, cerr
			}
		}
		return nil, err
	}
	rec := &r.rec
	*rec = Record{Index: r.index, File: r.file, Line: r.line, Data: line}
	if c := r.replay; c != nil {
		// The line's SHA-256 is the first reading's; a CRC-32C (several
		// times cheaper) tells whether the line is still what was hashed.
		if r.index >= uint64(len(c.sums)) || c.crcs[r.index] != crc32.Checksum(line, castagnoli) {
			return nil, fmt.Errorf("%s: the line changed while it was being imported", rec.Where())
		}
		hex.Encode(r.hexSum[:], c.sums[r.index][:])
		rec.Hash, rec.PrevHash, rec.Broken = string(r.hexSum[:]), r.prev, c.broken[r.index]
		if h, ok := c.recorded[r.index]; ok {
			rec.Hash = h
		}
		if p, ok := c.prevs[r.index]; ok {
			rec.PrevHash = p
		}
		r.prev = rec.Hash
		r.index++
		return rec, nil
	}
	sum := sha256.Sum256(line)
	hex.Encode(r.hexSum[:], sum[:])
	computed := r.hexSum[:]
	switch {
	case r.chain != nil:
		b, err := r.chain.next()
		if err == io.EOF {
			rec.Hash, rec.PrevHash = string(computed), r.prev
			rec.Broken = fmt.Sprintf("the line is not in %s (its chain ends at block %d)", chainName, r.index)
			break
		}
		if err != nil {
			return nil, err
		}
		rec.Hash, rec.PrevHash = b.Hash, b.PreviousHash
		switch {
		case b.Index != int64(r.index):
			rec.Broken = fmt.Sprintf("block %d of %s has index %d", r.index, chainName, b.Index)
		case b.Hash != string(computed):
			rec.Broken = fmt.Sprintf("the line does not match its recorded hash (SHA-256 %s, %s says %s)", computed, chainName, b.Hash)
		case b.PreviousHash != r.prev:
			rec.Broken = fmt.Sprintf("previousHash %s does not link to the hash before it, %s", b.PreviousHash, r.prev)
		case !equalUnescaped(b.Data, line):
			rec.Broken = fmt.Sprintf("the data of block %d in %s differs from the line", r.index, chainName)
		}
	case r.hashes != nil:
		rec.PrevHash = r.prev
		if r.index >= uint64(len(r.hashes)) {
			rec.Hash = string(computed)
			rec.Broken = fmt.Sprintf("the line is not in %s (it lists %d hashes)", hashesName, len(r.hashes))
		} else if rec.Hash = r.hashes[r.index]; rec.Hash != string(computed) {
			rec.Broken = fmt.Sprintf("the line does not match its recorded hash (SHA-256 %s, %s says %s)", computed, hashesName, rec.Hash)
		}
	default:
		rec.Hash, rec.PrevHash = string(computed), r.prev
	}
	res := r.result
	res.sums = append(res.sums, sum)
	res.crcs = append(res.crcs, crc32.Checksum(line, castagnoli))
	if rec.Hash != string(computed) {
		res.recorded[r.index] = rec.Hash
	}
	if rec.PrevHash != r.prev {
		res.prevs[r.index] = rec.PrevHash
	}
	if rec.Broken != "" {
		res.broken[r.index] = rec.Broken
	}
	r.prev = rec.Hash
	r.index++
	return rec, nil
}

// Missing returns how many records the chain holds after the last line of
// the log files (records lost from the files), once Next has returned
// io.EOF.
func (r *Reader) Missing() uint64 {
	if r.blocks > r.index {
		return r.blocks - r.index
	}
	return 0
}

// countRest counts the blocks after the last line.
func (r *Reader) countRest() error {
	switch {
	case r.replay != nil:
		if r.index != uint64(len(r.replay.sums)) {
			return fmt.Errorf("%s: the log has %d lines, %d when it was checked: it changed while it was being imported", r.src.Dir, r.index, len(r.replay.sums))
		}
		r.blocks = r.index + r.replay.missing
	case r.chain != nil:
		r.blocks = r.index
		for {
			_, err := r.chain.next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			r.blocks++
		}
	case r.hashes != nil:
		r.blocks = uint64(len(r.hashes))
	default:
		r.blocks = r.index
	}
	return nil
}

// readLine returns the next non-empty line, opening the next file when one
// ends.
func (r *Reader) readLine() ([]byte, error) {
	for {
		if r.f == nil {
			if r.next == len(r.src.Files) {
				return nil, io.EOF
			}
			if err := r.openFile(r.src.Files[r.next]); err != nil {
				return nil, err
			}
			r.next++
		}
		line, err := r.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			r.buf = append(r.buf[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = r.br.ReadSlice('\n')
				r.buf = append(r.buf, line...)
			}
			line = r.buf
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s: %w", r.file, err)
		}
		if len(line) > 0 {
			r.line++
			line = bytes.TrimSuffix(line, []byte{'\n'})
			if len(line) > 0 {
				return line, nil
			}
		}
		if err == io.EOF {
			r.closeFile()
		}
	}
}

func (r *Reader) openFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	r.f, r.file, r.line = f, path, 0
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			r.f = nil
			return fmt.Errorf("%w: %s: %v", ErrNotLegacy, path, err)
		}
		r.gz = gz
		r.br.Reset(gz)
		return nil
	}
	r.br.Reset(f)
	return nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// A block is one entry of blockchain.json.
type block struct {
	Index        int64
	hasIndex     bool
	Data         []byte // as written in the file: escaped
	Hash         string
	PreviousHash string
}

// chainReader reads blockchain.json one block at a time: the file holds
// every line of the log, so it is not read into memory whole. A goroutine
// parses the blocks a batch ahead of the reader of the lines.
type chainReader struct {
	f       *os.File
	s       streamScanner
	path    string
	b       block
	count   int
	done    bool
	batches chan chainBatch
	quit    chan struct{}
	cur     chainBatch
	pos     int
}

// chainBatch is a run of parsed blocks, and the error that ended the
// reading (io.EOF at the end of the array) after them.
type chainBatch struct {
	blocks []block
	err    error
}

const chainBatchSize = 256

func openChain(path string) (*chainReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	c := &chainReader{f: f, s: streamScanner{br: bufio.NewReaderSize(f, 1<<20)}, path: path}
	if ch, err := c.s.next(); err != nil || ch != '[' {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a JSON array of blocks", ErrNotLegacy, path)
	}
	c.batches, c.quit = make(chan chainBatch, 4), make(chan struct{})
	go c.parse()
	return c, nil
}

// parse sends the blocks in batches until the array ends or a block is
// malformed.
func (c *chainReader) parse() {
	defer close(c.batches)
	for {
		batch := chainBatch{blocks: make([]block, 0, chainBatchSize)}
		for len(batch.blocks) < chainBatchSize {
			b, err := c.parseNext()
			if err != nil {
				batch.err = err
				break
			}
			cp := *b
			cp.Data = bytes.Clone(b.Data)
			batch.blocks = append(batch.blocks, cp)
		}
		select {
		case c.batches <- batch:
		case <-c.quit:
			return
		}
		if batch.err != nil {
			return
		}
	}
}

// next returns the next block, or io.EOF after the last.
func (c *chainReader) next() (*block, error) {
	for c.pos == len(c.cur.blocks) {
		if c.cur.err != nil {
			return nil, c.cur.err
		}
		b, ok := <-c.batches
		if !ok {
			return nil, io.EOF
		}
		c.cur, c.pos = b, 0
	}
	c.pos++
	return &c.cur.blocks[c.pos-1], nil
}

// parseNext parses the next block, or returns io.EOF after the last.
func (c *chainReader) parseNext() (*block, error) {
	if c.done {
		return nil, io.EOF
	}
	ch, err := c.s.next()
	if err == nil && c.count > 0 && ch == ',' {
		ch, err = c.s.next()
	} else if err == nil && ch == ']' {
		c.done = true
		return nil, io.EOF
	} else if err == nil && c.count > 0 {
		err = errJSON
	}
	if err == nil && ch != '{' {
		err = errJSON
	}
	if err == nil {
		err = c.s.block(&c.b)
	}
	if err == nil && !c.b.hasIndex {
		err = errors.New("a block has no index")
	}
	if err != nil {
		if errors.Is(err, errJSON) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %s: block %d is malformed: %v", ErrNotLegacy, c.path, c.count, err)
		}
		return nil, fmt.Errorf("%s: block %d: %w", c.path, c.count, err)
	}
	c.count++
	return &c.b, nil
}

// close stops the parsing goroutine and closes the file.
func (c *chainReader) close() error {
	close(c.quit)
	for range c.batches {
	}
	return c.f.Close()
}
