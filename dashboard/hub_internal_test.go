package dashboard

import "testing"

// TestHubRate: one stream gets the most, many share a budget, and none
// gets less than the least.
func TestHubRate(t *testing.T) {
	for _, tc := range []struct{ streams, want int }{
		{0, hubMaxRate}, {1, hubMaxRate}, {2, hubMaxRate}, {4, hubBudget / 4}, {100, hubBudget / 100}, {1000, hubMinRate},
	} {
		if got := hubRate(tc.streams); got != tc.want {
			t.Errorf("hubRate(%d) = %d, want %d", tc.streams, got, tc.want)
		}
	}
	if hubRate(100)*100 > hubBudget {
		t.Errorf("100 streams get %d events/s together, over the budget of %d", hubRate(100)*100, hubBudget)
	}
}
