package tolbench

import (
	"strings"
	"testing"
)

// TestEncryptedBound: the encrypted row's verdict gives the most the
// sealing leaves it, and says when that is under the target.
func TestEncryptedBound(t *testing.T) {
	for _, tc := range []struct {
		aesCPU   float64
		bound    string
		outReach bool
	}{
		{0.25, "at most 0.880x", false}, // 1.84 / (1.84 + 0.25)
		{0.33, "at most 0.848x", true},  // 1.84 / (1.84 + 0.33)
	} {
		rows := []Row{
			{Name: RowBuffered, EntriesPerSec: 1_000_000, CPUusPerEntry: 1.84},
			{Name: RowBufferedEncrypted, EntriesPerSec: 800_000, CPUusPerEntry: 2.3},
			{Name: RowAESGCM, EntriesPerSec: 3_000_000, CPUusPerEntry: tc.aesCPU},
		}
		var got string
		for _, tg := range Targets(rows) {
			if strings.HasPrefix(tg.Name, RowBufferedEncrypted+" >= 0.85x") {
				got = tg.Got
				if tg.Pass {
					t.Errorf("aes-gcm %v us: 0.8x passes", tc.aesCPU)
				}
			}
		}
		if !strings.Contains(got, tc.bound) {
			t.Errorf("aes-gcm %v us: verdict %q lacks %q", tc.aesCPU, got, tc.bound)
		}
		if strings.Contains(got, "out of reach") != tc.outReach {
			t.Errorf("aes-gcm %v us: verdict %q; want out of reach %v", tc.aesCPU, got, tc.outReach)
		}
	}
}
