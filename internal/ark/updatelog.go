package ark

import "time"

// Update-log results.
const (
	ResultRunning = "RUNNING"
	ResultSuccess = "SUCCESS"
	ResultFail    = "FAIL"
)

// UpdateLog is one accepted configuration change of a service: written RUNNING in the same
// transaction as the change, finished once by the engine, never edited afterwards.
type UpdateLog struct {
	ServiceID string
	// UpdateTime is the acceptance time in epoch milliseconds, unique within a service.
	UpdateTime   int64
	Result       string
	Config       []ServiceConfig
	ClusterID    string
	ExtendConfig []string
	// Previous is the configuration the service ran before this entry; the engine restores it
	// when the update fails. Empty for the first deployment.
	Previous   []ServiceConfig
	FinishedAt time.Time
	// Edge are the node operations of an entry of an edge service (nil until the engine planned
	// them; empty when no node had to change); nil for real-time services.
	Edge []EdgeOp
}

// Millis returns t in epoch milliseconds, the API's time unit.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
