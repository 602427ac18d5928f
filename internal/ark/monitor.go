package ark

// ModelMonitor is what runs for one model of a service and what it does, for the monitor API.
type ModelMonitor struct {
	ModelID      string
	Ready        int     // instances that serve
	CPUCores     float64 // cores in use, summed over the instances
	MemoryMB     int     // resident memory, summed over the instances
	Invocations  int64   // calls since the server started
	Failures     int64
	ReqPerMinute int64
}
