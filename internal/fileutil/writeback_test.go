package fileutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestStartWriteback(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "seg"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := StartWriteback(f, 0, 1<<20); err != nil {
		t.Fatalf("StartWriteback of a written file: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	err = StartWriteback(f, 0, 1<<20)
	if runtime.GOOS == "linux" && err == nil {
		t.Fatal("StartWriteback of a closed file returned no error")
	}
}
