//go:build ignore

// testenv is the small helper that scripts/test.sh builds and runs, so that
// the script needs nothing but Go (no curl, no python):
//
//	testenv freeport N              print N distinct free TCP ports on 127.0.0.1
//	testenv wait URL TIMEOUT        poll URL until it answers 200 or TIMEOUT passes
//	testenv wait-pid PID URL TIMEOUT  the same, but give up at once if PID exits
//
// With TESTENV_READY_ANY_STATUS=1 in the environment, wait and wait-pid take
// any HTTP answer as ready, for servers that have no unauthenticated URL
// answering 200 (Azurite answers 400 or 403 to every request without a
// signature).
package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "freeport":
		if len(os.Args) != 3 {
			usage()
		}
		n, err := strconv.Atoi(os.Args[2])
		if err != nil || n < 1 || n > 100 {
			usage()
		}
		freeports(n)
	case "wait":
		if len(os.Args) != 4 {
			usage()
		}
		wait(0, os.Args[2], os.Args[3])
	case "wait-pid":
		if len(os.Args) != 5 {
			usage()
		}
		pid, err := strconv.Atoi(os.Args[2])
		if err != nil {
			usage()
		}
		wait(pid, os.Args[3], os.Args[4])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: testenv freeport N | wait URL TIMEOUT | wait-pid PID URL TIMEOUT")
	os.Exit(2)
}

// freeports asks the kernel for n ports, holding all listeners open until
// every port is known so that they are distinct. Another process could still
// take one before the server binds it; test.sh retries the start if so.
func freeports(n int) {
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			os.Exit(1)
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
}

// wait polls url every 100ms until it answers 200 OK. It fails after
// timeout, or as soon as process pid (if not 0) has exited.
func wait(pid int, url, timeout string) {
	d, err := time.ParseDuration(timeout)
	if err != nil {
		usage()
	}
	client := &http.Client{Timeout: 2 * time.Second}
	anyStatus := os.Getenv("TESTENV_READY_ANY_STATUS") == "1"
	deadline := time.Now().Add(d)
	last := "no answer"
	for time.Now().Before(deadline) {
		if pid != 0 && !alive(pid) {
			fmt.Fprintf(os.Stderr, "testenv: process %d exited while waiting for %s\n", pid, url)
			os.Exit(1)
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || anyStatus {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "testenv: %s not ready after %s (last: %s)\n", url, d, last)
	os.Exit(1)
}

// alive reports whether process pid exists and is not a zombie (exited but
// not yet reaped by the shell that started it).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc: trust kill
	}
	// The state follows the command name, which is in parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
