package modelserver

// SetTestHookPredict sets a function called when a predict request starts (nil: none). Set it
// before Open.
func SetTestHookPredict(f func()) { testHookPredict = f }
