package treeoflife

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"
)

// AlertKind says what an Alert is about.
type AlertKind uint8

const (
	// AlertTamper: a verification (Verify, VerifyWith, or a background pass
	// under Options.VerifyInterval) found the log altered. Err is the
	// *TamperError.
	AlertTamper AlertKind = iota + 1
	// AlertBackup: a backup sink is failing (Err is BackupStatus.LastError,
	// a *SinkError) or lags by more than Options.HealthBackupLag; Detail
	// names every sink at fault when the alert starts.
	AlertBackup
	// AlertDisk: the log's file system is used beyond
	// Options.DiskUsageThreshold, or is full (Err wraps ErrDiskFull).
	AlertDisk
	// AlertFailedClosed: a write or fsync error made the logger refuse new
	// records until it is closed and opened again. Err is that error.
	AlertFailedClosed
)

var alertKindNames = [...]string{AlertTamper: "tamper", AlertBackup: "backup", AlertDisk: "disk", AlertFailedClosed: "failed_closed"}

func (k AlertKind) String() string {
	if int(k) < len(alertKindNames) && alertKindNames[k] != "" {
		return alertKindNames[k]
	}
	return "AlertKind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText returns the kind's name ("tamper", "backup", "disk",
// "failed_closed").
func (k AlertKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// An Alert reports a condition that needs someone's attention; see
// Options.OnAlert.
type Alert struct {
	Kind   AlertKind
	Time   time.Time // when the condition was found
	Err    error     // the error behind it, if any
	Detail string    // a sentence for a human
}

func (a Alert) String() string {
	s := a.Kind.String() + ": " + a.Detail
	if a.Err != nil {
		s += ": " + a.Err.Error()
	}
	return s
}

// alerter de-duplicates alerts and hands them to Options.OnAlert from a
// goroutine of its own: a condition alerts once when it starts and again
// only after it has cleared. Raising never blocks and takes only the
// alerter's own lock, so the writer and the shipper may raise.
type alerter struct {
	mu     sync.Mutex
	active [len(alertKindNames)]bool
	queue  []Alert
	wake   chan struct{} // capacity 1; made on first use
	done   chan struct{} // closed when the dispatcher has ended
}

func (a *alerter) wakeLocked() chan struct{} {
	if a.wake == nil {
		a.wake = make(chan struct{}, 1)
	}
	return a.wake
}

// raise queues al unless its kind is already active.
func (a *alerter) raise(al Alert) {
	a.mu.Lock()
	if a.active[al.Kind] {
		a.mu.Unlock()
		return
	}
	a.active[al.Kind] = true
	a.queue = append(a.queue, al)
	wake := a.wakeLocked()
	a.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
}

// clear ends the condition kind: its next occurrence alerts again.
func (a *alerter) clear(kind AlertKind) {
	a.mu.Lock()
	a.active[kind] = false
	a.mu.Unlock()
}

// start runs the dispatcher, which calls fn for each alert, in order, until
// stop is closed; then it delivers what is queued and closes a.done.
func (a *alerter) start(fn func(Alert), stop <-chan struct{}) {
	a.mu.Lock()
	wake := a.wakeLocked()
	a.done = make(chan struct{})
	a.mu.Unlock()
	go func() {
		defer close(a.done)
		for {
			select {
			case <-wake:
			case <-stop:
				a.deliver(fn)
				return
			}
			a.deliver(fn)
		}
	}()
}

func (a *alerter) deliver(fn func(Alert)) {
	for {
		a.mu.Lock()
		q := a.queue
		a.queue = nil
		a.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, al := range q {
			fn(al)
		}
	}
}

// wait waits for the dispatcher to end, if it was started.
func (a *alerter) wait() {
	a.mu.Lock()
	done := a.done
	a.mu.Unlock()
	if done != nil {
		<-done
	}
}

// alert raises an alert for Options.OnAlert, if set.
func (l *ImmutableLogger) alert(kind AlertKind, err error, detail string) {
	if l.opts.OnAlert == nil {
		return
	}
	l.obs.alerts.raise(Alert{Kind: kind, Time: time.Now(), Err: err, Detail: detail})
}

func isTamper(err error) bool { return errors.Is(err, ErrTampered) }

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
