package treeoflife

// readView is a consistent snapshot of what the writer has written, for
// readers: the segments and their indexes, and how far each may be read.
// Records at seq >= Size are not visible, whatever the indexes say.
type readView struct {
	Dir     string
	LogID   [16]byte
	Tenant  string          // the log's tenant ("" for none): every entry read must name it
	Indexes []*segmentIndex // one per segment, in order; the last may be the active one (a copy)
	Size    uint64          // records visible
	// The active segment may be read up to ActiveLen bytes.
	ActiveSeq uint64
	ActiveLen int64
}

// segmentFile names the segment an index describes, plain or compressed as
// it is on disk now (openSegment falls back to the other if it changes).
func (v *readView) segmentFile(x *segmentIndex) segmentFile {
	sf := segmentFile{FirstSeq: x.FirstSeq, Name: segmentName(x.FirstSeq)}
	if x.FirstSeq != v.ActiveSeq {
		if _, err := statFile(v.Dir, sf.Name); err != nil {
			sf.Name = indexNameToCompressed(x.FirstSeq)
			sf.Compressed = true
		}
	}
	return sf
}

// limit is the byte offset to stop reading segment x at (-1: to its end).
func (v *readView) limit(x *segmentIndex) int64 {
	if x.FirstSeq == v.ActiveSeq {
		return v.ActiveLen
	}
	return -1
}

// view returns a snapshot of the written log, and a channel closed the next
// time more is written (for following the log).
func (l *ImmutableLogger) view() (*readView, <-chan struct{}, error) {
	if !l.live() {
		return nil, nil, ErrClosed
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, ErrClosed
	}
	return l.viewLocked(l.written), l.committed, nil
}

// durableView is view limited to what has been fsynced. It works after
// Close too, for the backup shipper's last round.
func (l *ImmutableLogger) durableView() (*readView, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.viewLocked(l.durable), l.committed
}

// durableHead returns a view of the fsynced records and their head.
func (l *ImmutableLogger) durableHead() (*readView, Head) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.durable.front
	return l.viewLocked(l.durable), Head{Size: l.durable.size, Chain: l.durable.chain, Root: f.root()}
}

// durableSize returns how many records are fsynced, and a channel closed
// when that (or the written size) next changes.
func (l *ImmutableLogger) durableSize() (uint64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable.size, l.committed
}

func (l *ImmutableLogger) viewLocked(w writtenState) *readView {
	v := &readView{Dir: l.dir, LogID: l.logID, Tenant: l.opts.Tenant, Size: w.size, ActiveSeq: w.segSeq, ActiveLen: w.segLen}
	v.Indexes = make([]*segmentIndex, 0, len(l.indexes))
	for _, x := range l.indexes {
		if x.FirstSeq > w.segSeq {
			break // started after the snapshot
		}
		if x.FirstSeq == w.segSeq || x == l.indexes[len(l.indexes)-1] {
			x = x.clone() // still growing
		}
		v.Indexes = append(v.Indexes, x)
	}
	return v
}
