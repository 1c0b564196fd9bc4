package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress draws one line of progress on a terminal, drawn at the start,
// redrawn ten times a second and erased at the end. A nil *progress draws nothing: commands
// call it whether or not the output is a terminal.
type progress struct {
	w     io.Writer
	start time.Time
	stop  chan struct{}
	done  sync.WaitGroup

	mu     sync.Mutex
	label  string
	n, max int64
}

// startProgress starts drawing, on a terminal; max is the total of the
// count, or 0 when it is not known.
func (c *cli) startProgress(label string, max int64) *progress {
	if !c.progress {
		return nil
	}
	p := &progress{w: c.stderr, start: time.Now(), stop: make(chan struct{}), label: label, max: max}
	p.draw() // at once, so that even a short run shows what it does
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(p.w, "\r\033[K")
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) draw() {
	p.mu.Lock()
	label, n, max := p.label, p.n, p.max
	p.mu.Unlock()
	elapsed := time.Since(p.start).Truncate(time.Second)
	if max <= 0 {
		fmt.Fprintf(p.w, "\r\033[K%s %d %s", label, n, elapsed)
		return
	}
	const width = 30
	filled := int(min(n, max) * width / max)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < filled {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r\033[K%s [%s] %d/%d %s", label, bar, n, max, elapsed)
}

// set sets the label and the count.
func (p *progress) set(label string, n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.label, p.n = label, n
	p.mu.Unlock()
}

// end erases the line.
func (p *progress) end() {
	if p == nil {
		return
	}
	close(p.stop)
	p.done.Wait()
}
