package workflows

// SetRunInPlaceEvents sets how many history events an execution holds before a finished
// run continues as new, for tests; the returned func restores it.
func SetRunInPlaceEvents(n int64) (restore func()) {
	old := runInPlaceEvents.Swap(n)
	return func() { runInPlaceEvents.Store(old) }
}
