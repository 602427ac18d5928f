package ark

// Route is where a service's inference traffic goes: the rollout engine publishes one for every
// service with ready instances and the gateway routes by it.
type Route struct {
	ProjectID string
	// Policy is the service's load_balancer_policy among the ready instances of one entry:
	// ROUND_ROBIN (the default when empty), LEAST_CONNECTIONS or SOURCE_IP.
	Policy  string
	Entries []RouteEntry
}

// RouteEntry is one config entry of a service: traffic is split across entries in proportion to
// Weight; entries without backends get none.
type RouteEntry struct {
	ModelID      string
	ModelName    string
	ModelVersion string
	Weight       int
	Backends     []Backend
}

// Backend is one ready instance.
type Backend struct {
	InstanceID string
	Addr       string // host:port
}

// CallCounts are inference calls of a service: all of them and the failed ones.
type CallCounts struct {
	Invocations int64
	Failures    int64
}
