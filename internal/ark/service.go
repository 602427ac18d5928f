package ark

import (
	"time"
)

// Inference types.
const (
	InferRealTime = "real-time"
	InferBatch    = "batch"
	InferEdge     = "edge"
)

// Service statuses (reference section "service states").
const (
	StatusDeploying  = "deploying"
	StatusRunning    = "running"
	StatusConcerning = "concerning"
	StatusFailed     = "failed"
	StatusStopping   = "stopping"
	StatusStopped    = "stopped"
	StatusDeleting   = "deleting"
)

// Service is a real-time inference service: its identity, its desired configuration and what the
// engine last reported about it.
type Service struct {
	ID                   string
	ProjectID            string
	Owner                string
	Name                 string
	Description          string
	InferType            string
	WorkspaceID          string
	ClusterID            string
	PoolName             string
	VPCID                string
	SubnetNetworkID      string
	SecurityGroupID      string
	LoadBalancerPolicy   string
	Priority             int
	Schedule             []Schedule
	AdditionalProperties map[string]ServiceAdditionalProperties
	ServiceSecrets       []ServiceSecret

	// Config is the configuration the service should run: that of its newest update-log entry.
	Config []ServiceConfig

	Status   string
	Progress int
	ErrorMsg string

	PublishAt     time.Time // creation
	UpdateTime    time.Time // acceptance of the current configuration
	OperationTime time.Time // last accepted change of any kind
	TransitionAt  time.Time // last status change
	DueTime       time.Time // auto-stop time; zero when no schedule

	InvocationTimes int64
	FailedTimes     int64
}

// ServiceConfig is one model version of a service: the ServiceConfig of the deploy and update
// requests, and (with model name and version resolved at acceptance) the ServiceLogConfig of the
// update logs. Its JSON form is the wire form of ServiceLogConfig and the stored snapshot.
type ServiceConfig struct {
	ModelID              string                               `json:"model_id"`
	ModelName            string                               `json:"model_name,omitempty"`
	ModelVersion         string                               `json:"model_version,omitempty"`
	Weight               int                                  `json:"weight"`
	Specification        string                               `json:"specification,omitempty"`
	CustomSpec           *CustomSpec                          `json:"custom_spec,omitempty"`
	Envs                 map[string]string                    `json:"envs,omitempty"`
	ClusterID            string                               `json:"cluster_id,omitempty"`
	PoolName             string                               `json:"pool_name,omitempty"`
	InstanceCount        int                                  `json:"instance_count"`
	DeployTimeoutSeconds int                                  `json:"deploy_timeout_in_seconds,omitempty"`
	AdditionalProperties map[string]ModelAdditionalProperties `json:"additional_properties,omitempty"`
	Affinity             *ServiceAffinity                     `json:"affinity,omitempty"`
	// Nodes are the edge nodes (ids) of an edge service's entry; empty for real-time services.
	Nodes []string `json:"nodes,omitempty"`
}

// CustomSpec is a custom resource specification (specification "custom").
type CustomSpec struct {
	GPUP4  *float64 `json:"gpu_p4,omitempty"`
	Memory int      `json:"memory"`
	CPU    float64  `json:"cpu"`
}

// ModelAdditionalProperties are per-model deployment properties, keyed by model id.
type ModelAdditionalProperties struct {
	LogVolume                     []LogVolume        `json:"log_volume,omitempty"`
	MaxSurge                      *float64           `json:"max_surge,omitempty"`
	MaxUnavailable                *float64           `json:"max_unavailable,omitempty"`
	TerminationGracePeriodSeconds *int               `json:"termination_grace_period_seconds,omitempty"`
	PersistentVolumes             []PersistentVolume `json:"persistent_volumes,omitempty"`
}

// LogVolume maps a host log directory into an instance.
type LogVolume struct {
	HostPath  string `json:"host_path"`
	MountPath string `json:"mount_path"`
}

// PersistentVolume is a persistent storage mount.
type PersistentVolume struct {
	Name          string `json:"name,omitempty"`
	MountPath     string `json:"mount_path"`
	StorageType   string `json:"storage_type,omitempty"`
	SourceAddress string `json:"source_address,omitempty"`
}

// ServiceAffinity pins instances to nodes of a dedicated pool.
type ServiceAffinity struct {
	NodeAffinity *NodeAffinity `json:"node_affinity,omitempty"`
}

// NodeAffinity is the mode and the nodes of a ServiceAffinity.
type NodeAffinity struct {
	Mode      string             `json:"mode"`
	PoolInfos []AffinityPoolInfo `json:"pool_infos,omitempty"`
}

// AffinityPoolInfo lists nodes of one pool.
type AffinityPoolInfo struct {
	PoolName string         `json:"pool_name"`
	Nodes    []AffinityNode `json:"nodes"`
}

// AffinityNode names a node by private IP.
type AffinityNode struct {
	Name string `json:"name"`
}

// Schedule stops a service automatically after a duration.
type Schedule struct {
	Duration int    `json:"duration"`
	TimeUnit string `json:"time_unit"` // DAYS | HOURS | MINUTES
	Type     string `json:"type"`      // stop
}

// Span returns how long the schedule lets the service run.
func (s Schedule) Span() time.Duration {
	unit := time.Minute
	switch s.TimeUnit {
	case "HOURS":
		unit = time.Hour
	case "DAYS":
		unit = 24 * time.Hour
	}
	return time.Duration(s.Duration) * unit
}

// ServiceAdditionalProperties are service-level properties.
type ServiceAdditionalProperties struct {
	SmnNotification   map[string]SmnNotification `json:"smn_notification,omitempty"`
	LogReportChannels []LogReportChannel         `json:"log_report_channels,omitempty"`
	WebsocketUpgrade  *bool                      `json:"websocket_upgrade,omitempty"`
}

// SmnNotification subscribes a topic to service events.
type SmnNotification struct {
	TopicURN string `json:"topic_urn"`
	Events   []int  `json:"events"`
}

// LogReportChannel reports logs to a channel (only LTS).
type LogReportChannel struct {
	Type          string           `json:"type"`
	Configuration *LogReportTarget `json:"configuration,omitempty"`
}

// LogReportTarget is an LTS log group and stream.
type LogReportTarget struct {
	LogGroupID  string `json:"log_group_id"`
	LogStreamID string `json:"log_stream_id"`
}

// ServiceSecret mounts a key into a service. "mouthPath" is the reference's spelling.
type ServiceSecret struct {
	SecretID  string `json:"secretId"`
	MouthPath string `json:"mouthPath"`
}

// ServiceUpdate is an accepted PUT: nil fields are left unchanged. When Status is set, Config is
// ignored, as the reference says.
type ServiceUpdate struct {
	Description          *string
	Status               *string
	Config               []ServiceConfig
	Schedule             *[]Schedule
	AdditionalProperties map[string]ServiceAdditionalProperties
	LoadBalancerPolicy   *string
	ServiceSecrets       *[]ServiceSecret
	Priority             *int
}

// ServiceFilter selects services in ListServices.
type ServiceFilter struct {
	ProjectID   string
	ServiceID   string
	Name        string
	ModelID     string
	WorkspaceID string
	InferType   string
	Status      string
	SortBy      string // publish_at | service_name | transition_at
	Order       string // asc | desc
	Offset      int
	Limit       int
}

// Event types.
const (
	EventNormal   = "normal"
	EventAbnormal = "abnormal"
)

// Event is one line of a service's event log.
type Event struct {
	ServiceID string
	Type      string
	Info      string
	OccurTime time.Time
}

// EventFilter selects events.
type EventFilter struct {
	ProjectID string
	ServiceID string
	Type      string
	Info      string // substring
	Start     time.Time
	End       time.Time
	Order     string
	Offset    int
	Limit     int
}

// StatusChange is what the engine reports about a service.
type StatusChange struct {
	Status   string
	Progress int
	ErrorMsg string
}

// engineReportsFrom lists, for each status the engine reports, the statuses it may replace. A
// user's request can overtake a report (a stop while instances were becoming ready); the report
// must not undo it.
var engineReportsFrom = map[string][]string{
	StatusDeploying:  {StatusDeploying},
	StatusRunning:    {StatusDeploying, StatusRunning, StatusConcerning},
	StatusConcerning: {StatusDeploying, StatusRunning, StatusConcerning},
	StatusFailed:     {StatusDeploying, StatusRunning, StatusConcerning, StatusFailed},
	StatusStopped:    {StatusStopping, StatusStopped, StatusRunning, StatusConcerning},
	StatusStopping:   {StatusDeploying, StatusRunning, StatusConcerning, StatusStopping}, // a schedule runs out
}

// EngineMayReport reports whether the engine may move a service from status cur to next.
func EngineMayReport(cur, next string) bool {
	for _, s := range engineReportsFrom[next] {
		if s == cur {
			return true
		}
	}
	return false
}
