package ark

import (
	"encoding/json"
	"time"
)

// Edge services run on edge nodes: machines that run `arkserve agent`, registered in one project
// with a node credential. A deployment or update of an edge service turns into one operation per
// node (EdgeOp), carried out by the agents in waves; the update-log entry records their results
// (success_num, failed_num, result_detail).

// Node states, as the reference's Nodes table names them.
const (
	NodeRunning     = "RUNNING"     // heartbeats arrive and the agent can run instances
	NodeFail        = "FAIL"        // heartbeats arrive but the agent cannot start instances
	NodeUnconnected = "UNCONNECTED" // no heartbeat for longer than the heartbeat timeout
)

// Instance statuses of a node (Nodes.instance_status).
const (
	InstanceRunning  = "running"
	InstanceStopped  = "stopped"
	InstanceNotReady = "notReady"
	InstanceFailed   = "failed"
)

// Edge operations (UpdateResult.operation).
const (
	EdgeDeploy = "deploy"
	EdgeDelete = "delete"
)

// States of an EdgeOp.
const (
	OpPending    = "pending"    // waits for its wave
	OpDispatched = "dispatched" // the node's placement changed; the agent carries it out
	OpSucceeded  = "succeeded"
	OpFailed     = "failed"
)

// Limits of edge services (documented in docs/edge.md).
const (
	MaxEdgeNodes   = 64  // nodes per service, over all its config entries
	MaxNodeIPs     = 16  // host_ips of a node
	MaxNodeReports = 256 // instances one heartbeat reports
)

// NodeFacts are what an agent registers about its node; the JSON form is the body of the
// registration.
type NodeFacts struct {
	Name      string   `json:"name"`
	HostName  string   `json:"host_name,omitempty"`
	HostIPs   []string `json:"host_ips,omitempty"`
	OSName    string   `json:"os_name,omitempty"`
	OSVersion string   `json:"os_version,omitempty"`
	OSType    string   `json:"os_type,omitempty"`
	Arch      string   `json:"arch,omitempty"`
	CPU       int      `json:"cpu"` // cores
	MemoryMB  int      `json:"memory"`
	GPUNum    int      `json:"gpu_num"`
}

// Validate checks registered facts: the name as service names, texts, at most MaxNodeIPs
// addresses, no negative figures.
func (f *NodeFacts) Validate() error {
	if err := ValidateName("name", f.Name); err != nil {
		return err
	}
	for field, v := range map[string]string{"host_name": f.HostName, "os_name": f.OSName,
		"os_version": f.OSVersion, "os_type": f.OSType, "arch": f.Arch} {
		if err := CheckText(field, v, MaxStringLen); err != nil {
			return err
		}
	}
	if len(f.HostIPs) > MaxNodeIPs {
		return invalid("host_ips", "at most %d addresses", MaxNodeIPs)
	}
	for _, ip := range f.HostIPs {
		if err := CheckText("host_ips", ip, MaxIDLen); err != nil {
			return err
		}
	}
	if f.CPU < 0 || f.MemoryMB < 0 || f.GPUNum < 0 {
		return invalid("cpu, memory, gpu_num", "they cannot be negative")
	}
	return nil
}

// Node is an edge node: what its agent registered and last reported.
type Node struct {
	ID        string // a lower-case UUID the agent keeps in its data dir
	ProjectID string
	NodeFacts
	CreatedAt time.Time // first registration
	UpdatedAt time.Time // last registration
	// HeartbeatAt is the last heartbeat; the node is UNCONNECTED when it is older than the
	// server's heartbeat timeout.
	HeartbeatAt time.Time
	// Error is what the agent last reported as its own failure ("" when none): the node is FAIL.
	Error string
	// Instances is the agent's last report of the instances it runs.
	Instances []NodeInstance
}

// State is the node's state at now with heartbeats expected within timeout.
func (n *Node) State(now time.Time, timeout time.Duration) string {
	switch {
	case n.HeartbeatAt.IsZero() || now.Sub(n.HeartbeatAt) > timeout:
		return NodeUnconnected
	case n.Error != "":
		return NodeFail
	}
	return NodeRunning
}

// Instance returns the node's reported instance of a service, nil when it reports none.
func (n *Node) Instance(serviceID string) *NodeInstance {
	for i := range n.Instances {
		if n.Instances[i].ServiceID == serviceID {
			return &n.Instances[i]
		}
	}
	return nil
}

// NodeInstance is what an agent reports about the instance it runs for one edge service.
type NodeInstance struct {
	ServiceID string `json:"service_id"`
	// UpdateTime names the placement the instance runs: that of the update-log entry whose
	// configuration it was started with.
	UpdateTime int64   `json:"update_time"`
	Status     string  `json:"status"` // running | notReady | failed
	Message    string  `json:"message,omitempty"`
	CPUCores   float64 `json:"cpu_cores"`
	MemoryMB   int     `json:"memory_mb"`
}

// NodeCredential lets an agent act for nodes of one project. The secret is shown once, at
// creation; stores keep only its SHA-256 (the secret is 32 random bytes, so a slow hash adds
// nothing), and a revoked credential stays listed but is refused.
type NodeCredential struct {
	ID          string // "nc" + 16 lower-case hex digits
	ProjectID   string
	Description string
	SecretHash  []byte
	CreatedAt   time.Time
	RevokedAt   time.Time // zero while valid
}

// EdgePlacement is what one node runs for an edge service: the config entry of the update-log
// entry accepted at UpdateTime. The agents run exactly the placements of their node.
type EdgePlacement struct {
	ServiceID  string        `json:"service_id"`
	NodeID     string        `json:"node_id"`
	UpdateTime int64         `json:"update_time"`
	Config     ServiceConfig `json:"config"`
}

// EdgeOp is one node's operation of an update of an edge service. The ops of a RUNNING entry are
// the durable state of the edge rollout: the engine resumes from them after a restart.
type EdgeOp struct {
	NodeID       string `json:"node_id"`
	NodeName     string `json:"node_name"`
	Operation    string `json:"operation"` // deploy | delete
	State        string `json:"state"`
	DispatchedAt int64  `json:"dispatched_at,omitempty"` // epoch ms
	Message      string `json:"message,omitempty"`       // why it failed
	// Config is the node's new configuration (deploy only).
	Config *ServiceConfig `json:"config,omitempty"`
	// Previous is the node's placement before the update, restored when the op fails (nil: the
	// node ran nothing for the service).
	Previous *EdgePlacement `json:"previous,omitempty"`
}

// Done reports whether the op has finished.
func (o *EdgeOp) Done() bool { return o.State == OpSucceeded || o.State == OpFailed }

// UpdateResult is one row of result_detail (Table 11).
type UpdateResult struct {
	Result    bool   `json:"result"`
	NodeName  string `json:"node_name"`
	Operation string `json:"operation"`
	NodeID    string `json:"node_id"`
}

// EdgeResults counts an entry's finished ops and lists them as result_detail rows, in op order.
func EdgeResults(ops []EdgeOp) (success, failed int, detail []UpdateResult) {
	detail = []UpdateResult{}
	for _, o := range ops {
		if !o.Done() {
			continue
		}
		ok := o.State == OpSucceeded
		if ok {
			success++
		} else {
			failed++
		}
		detail = append(detail, UpdateResult{Result: ok, NodeName: o.NodeName, Operation: o.Operation, NodeID: o.NodeID})
	}
	return success, failed, detail
}

// edgeIdentity is what of a config entry reaches a node's instance: everything but the node list
// and the weight (which routes nothing on an edge node).
func edgeIdentity(c ServiceConfig) string {
	c.Nodes, c.Weight = nil, 0
	b, _ := json.Marshal(c) // a ServiceConfig always encodes
	return string(b)
}

// PlanEdge returns the ops that take the nodes from the placements they have (current) to the
// configuration cfg: deploy on a node that cfg names and that has no placement or one of another
// configuration, delete on a node with a placement that cfg no longer names. A node whose
// configuration did not change gets no op. names gives node names for result_detail. Deploys come
// in the order of cfg, then deletes in the order of current.
func PlanEdge(current []EdgePlacement, cfg []ServiceConfig, names map[string]string) []EdgeOp {
	have := map[string]*EdgePlacement{}
	for i := range current {
		have[current[i].NodeID] = &current[i]
	}
	ops := []EdgeOp{}
	wanted := map[string]bool{}
	for _, c := range cfg {
		id := edgeIdentity(c)
		for _, node := range c.Nodes {
			wanted[node] = true
			p := have[node]
			if p != nil && edgeIdentity(p.Config) == id {
				continue
			}
			entry := c
			entry.Nodes = nil
			ops = append(ops, EdgeOp{NodeID: node, NodeName: names[node], Operation: EdgeDeploy, State: OpPending,
				Config: &entry, Previous: p})
		}
	}
	for i := range current {
		p := &current[i]
		if !wanted[p.NodeID] {
			ops = append(ops, EdgeOp{NodeID: p.NodeID, NodeName: names[p.NodeID], Operation: EdgeDelete, State: OpPending, Previous: p})
		}
	}
	return ops
}

// EdgeNodes returns the node ids of an edge configuration, in order.
func EdgeNodes(cfg []ServiceConfig) []string {
	var out []string
	for _, c := range cfg {
		out = append(out, c.Nodes...)
	}
	return out
}

// EdgeAssignment is one placement of a node as its agent gets it: the service, the entry whose
// configuration it runs, and the instance resolved from the model (the wire form of the agent
// API).
type EdgeAssignment struct {
	ServiceID  string       `json:"service_id"`
	UpdateTime int64        `json:"update_time"`
	Instance   EdgeInstance `json:"instance"`
}

// EdgeInstance is what an agent starts for a placement: the model's directory (on the server:
// agents download a copy of it) and command, the entry's envs, the readiness check and the
// limits. Error, when set,
// says why the placement cannot be run (the agent reports it failed).
type EdgeInstance struct {
	ModelID              string            `json:"model_id"`
	ModelDir             string            `json:"model_dir,omitempty"`
	Cmd                  string            `json:"cmd,omitempty"`
	Envs                 map[string]string `json:"envs,omitempty"`
	Health               Health            `json:"health"`
	GracePeriodSeconds   int               `json:"grace_period_seconds"`
	DeployTimeoutSeconds int               `json:"deploy_timeout_seconds"`
	CPU                  float64           `json:"cpu,omitempty"`
	MemoryMB             int               `json:"memory_mb,omitempty"`
	Error                string            `json:"error,omitempty"`
}

// ConfigsInUse returns the configurations whose models a service needs once entry e has ended with
// result, given final, the configuration then in force. An edge update that failed is not rolled
// back (docs/edge.md): the nodes whose operation failed run their previous placement again, so the
// previous configuration's models stay in use beside the new one's.
func ConfigsInUse(e *UpdateLog, result string, final []ServiceConfig) [][]ServiceConfig {
	if result == ResultFail && e.Edge != nil {
		return [][]ServiceConfig{final, e.Previous}
	}
	return [][]ServiceConfig{final}
}

// NodeNotFound is the error for a node the project does not have.
func NodeNotFound(id string) error {
	return Errorf(ENodeNotFound, "Node %s does not exist.", id)
}
