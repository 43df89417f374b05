package main

import (
	"runtime"
	"sync"
	"time"
)

// sampler records the peak of the Go heap in use while a design runs, above what was in
// use just before (after a GC). The embedded server lives in this process too, so the
// figure includes what Temporal holds for the run (histories in in-memory SQLite,
// caches), the connectors' stored records, and the design's own working set.
type sampler struct {
	baseline uint64
	mu       sync.Mutex
	peak     uint64
	done     chan struct{}
	wg       sync.WaitGroup
}

func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func startSampler() *sampler {
	runtime.GC()
	s := &sampler{baseline: heapInuse(), done: make(chan struct{})}
	s.peak = s.baseline
	s.wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.observe()
			}
		}
	})
	return s
}

func (s *sampler) observe() {
	h := heapInuse()
	s.mu.Lock()
	s.peak = max(s.peak, h)
	s.mu.Unlock()
}

// stop ends sampling and returns the peak above the baseline, in bytes.
func (s *sampler) stop() uint64 {
	s.observe()
	close(s.done)
	s.wg.Wait()
	return s.peak - s.baseline
}

// retained is the heap still in use after a GC, above the sampler's baseline: what the
// run left behind (records stored in the target, histories kept by the server).
func (s *sampler) retained() uint64 {
	runtime.GC()
	h := heapInuse()
	if h < s.baseline {
		return 0
	}
	return h - s.baseline
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
