package main

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// sampler records the peak of the Go heap in use while a design runs, above what was in
// use just before (after a GC). The embedded server lives in this process too, so the
// figure includes what Temporal holds for the run (histories in in-memory SQLite,
// caches), the connectors' stored records, and the design's own working set.
//
// The heap in use climbs between collections and drops at each, a saw-tooth whose
// period is tens of milliseconds in a bulk run: the sampler reads it every
// sampleInterval, from runtime/metrics (no stop of the world), so that a short run's
// few collections are caught near their tops as a long run's many are.
type sampler struct {
	baseline uint64
	mu       sync.Mutex
	peak     uint64
	done     chan struct{}
	wg       sync.WaitGroup
	samples  []metrics.Sample
}

// sampleInterval is how often the sampler reads the heap. A 50 ms ticker caught a
// 0.4 s run's peaks about one cycle in two, and so read it lower than a longer run's.
const sampleInterval = 2 * time.Millisecond

// heapMetrics add up to MemStats.HeapInuse: the bytes of the heap's spans in use.
var heapMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}

func newHeapSamples() []metrics.Sample {
	s := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	return s
}

// heapInuse reads the heap in use into samples.
func heapInuse(samples []metrics.Sample) uint64 {
	metrics.Read(samples)
	var sum uint64
	for _, s := range samples {
		sum += s.Value.Uint64()
	}
	return sum
}

func startSampler() *sampler {
	runtime.GC()
	s := &sampler{done: make(chan struct{}), samples: newHeapSamples()}
	s.baseline = heapInuse(s.samples)
	s.peak = s.baseline
	s.wg.Go(func() {
		t := time.NewTicker(sampleInterval)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak = max(s.peak, heapInuse(s.samples))
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
	s.mu.Lock()
	h := heapInuse(s.samples)
	s.mu.Unlock()
	if h < s.baseline {
		return 0
	}
	return h - s.baseline
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
