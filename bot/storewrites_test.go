package bot

import "testing"

// TestWatchStoreWrites: the store's write state is read at every scrape.
func TestWatchStoreWrites(t *testing.T) {
	m := NewMetrics()
	refusing, total := false, int64(0)
	m.WatchStoreWrites(func() (bool, int64) { return refusing, total })
	for _, tt := range []struct {
		refusing bool
		total    int64
		gauge    float64
	}{{false, 0, 0}, {true, 7, 1}, {false, 7, 0}} {
		refusing, total = tt.refusing, tt.total
		mfs, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, mt := range mf.GetMetric() {
				switch {
				case mt.GetGauge() != nil:
					got[mf.GetName()] = mt.GetGauge().GetValue()
				case mt.GetCounter() != nil:
					got[mf.GetName()] = mt.GetCounter().GetValue()
				}
			}
		}
		if got["gridbot_store_writes_refusing"] != tt.gauge || got["gridbot_store_writes_refused_total"] != float64(tt.total) {
			t.Errorf("refusing %v, %d refused: gauge %v, counter %v", tt.refusing, tt.total,
				got["gridbot_store_writes_refusing"], got["gridbot_store_writes_refused_total"])
		}
	}
}
