package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Edge nodes (docs/edge.md): the extension routes that list and delete nodes (a token or a
// signature, like every project API), and the agent API under /nodes/{node_id}/ that `arkserve
// agent` calls with its node credential (Authorization: Bearer arkn1...).

// EdgeStore is what the node routes need from the database.
type EdgeStore interface {
	RegisterNode(ctx context.Context, n *ark.Node) error
	NodeHeartbeat(ctx context.Context, projectID, nodeID, errMsg string, instances []ark.NodeInstance) error
	FindNode(ctx context.Context, projectID, id string) (*ark.Node, error)
	ListNodes(ctx context.Context, projectID string) ([]*ark.Node, error)
	DeleteNode(ctx context.Context, projectID, id string) error
	EdgePlacements(ctx context.Context, serviceID string) ([]ark.EdgePlacement, error)
	NodePlacements(ctx context.Context, nodeID string) ([]ark.EdgePlacement, error)
}

// Edge is the engine as the agent API sees it.
type Edge interface {
	// EdgeInstance resolves what an agent runs for a placement's configuration.
	EdgeInstance(ctx context.Context, c ark.ServiceConfig) (ark.EdgeInstance, error)
	// HeartbeatTimeout is how long a node stays RUNNING after a heartbeat.
	HeartbeatTimeout() time.Duration
}

// Agent API defaults and limits.
const (
	// DefaultHeartbeatInterval is how often agents are told to send a heartbeat.
	DefaultHeartbeatInterval = 5 * time.Second
	// MaxPlacementsWait bounds the long poll of GET .../placements (below the API's 60 s timeout).
	MaxPlacementsWait = 30 * time.Second
)

// NodeHub wakes the agents' long polls when their node's placements change. The engine calls Wake;
// one hub is shared by the engine and the server of one process. With several servers on one
// database the changes the other servers' engines make come from the database (PostgreSQL's
// LISTEN/NOTIFY, cmd/arkserve); one lost meanwhile reaches the agent when its long poll ends
// (MaxPlacementsWait at most).
type NodeHub struct {
	mu      sync.Mutex // protects waiters
	waiters map[string][]chan struct{}
}

// Wake answers every long poll of a node.
func (h *NodeHub) Wake(nodeID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.waiters[nodeID] {
		close(c)
	}
	delete(h.waiters, nodeID)
}

// wait returns a channel closed by the next Wake of the node.
func (h *NodeHub) wait(nodeID string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters == nil {
		h.waiters = map[string][]chan struct{}{}
	}
	c := make(chan struct{})
	h.waiters[nodeID] = append(h.waiters[nodeID], c)
	return c
}

// forget drops a waiter that was not woken (its request ended).
func (h *NodeHub) forget(nodeID string, c <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.waiters[nodeID]
	for i, w := range ws {
		if w == c {
			h.waiters[nodeID] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(h.waiters[nodeID]) == 0 {
		delete(h.waiters, nodeID)
	}
}

func (s *Server) registerNodes(mux *http.ServeMux, seen map[string]bool) {
	const v1 = "/v1/{project_id}"
	route(mux, seen, s, "GET "+v1+"/nodes", s.project(false, s.handleNodeList))
	route(mux, seen, s, "GET "+v1+"/nodes/{node_id}", s.project(false, s.handleNodeShow))
	route(mux, seen, s, "DELETE "+v1+"/nodes/{node_id}", s.project(true, s.handleNodeDelete))
	route(mux, seen, s, "PUT "+v1+"/nodes/{node_id}/registration", s.agent(s.handleNodeRegister))
	route(mux, seen, s, "POST "+v1+"/nodes/{node_id}/heartbeat", s.agent(s.handleNodeHeartbeat))
	route(mux, seen, s, "GET "+v1+"/nodes/{node_id}/placements", s.agent(s.handleNodePlacements))
	route(mux, seen, s, "GET "+v1+"/nodes/{node_id}/models/{model_id}/content", s.agent(s.handleNodeModel))
}

// agent authenticates an agent API request: a node credential of the path's project (Authorization:
// Bearer ...) and a node id in the path. Tokens and signatures of users are not accepted here, nor
// node credentials anywhere else.
func (s *Server) agent(h func(w http.ResponseWriter, r *http.Request, c *ark.NodeCredential)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		c, err := s.IAM.VerifyNodeCredential(r.Context(), token, r.PathValue("project_id"))
		if err == nil && !ark.IsUUID(r.PathValue("node_id")) {
			err = ark.Errorf(ark.EInvalidParam, "Parameter (node_id) is invalid: use a lower-case UUID.")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r, c)
	}
}

// nodeTime is the reference's time format of Nodes: YYYY-MM-DDThh:mm:ss (UTC).
func nodeTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

// nodeView is the reference's Nodes object (Table 6 of the service details); the nodes API
// returns it too, with heartbeat_at (an extension).
type nodeView struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	State          string   `json:"state"`
	InstanceStatus string   `json:"instance_status,omitempty"`
	Message        string   `json:"message,omitempty"`
	HostName       string   `json:"host_name,omitempty"`
	HostIPs        []string `json:"host_ips"`
	OSName         string   `json:"os_name,omitempty"`
	OSVersion      string   `json:"os_version,omitempty"`
	OSType         string   `json:"os_type,omitempty"`
	Arch           string   `json:"arch,omitempty"`
	CPU            int      `json:"cpu"`
	Memory         int      `json:"memory"`
	GPUNum         int      `json:"gpu_num"`
	EnableGPU      bool     `json:"enable_gpu"`
	DeploymentNum  int      `json:"deployment_num"`
	CreatedAt      string   `json:"created_at,omitempty"`
	UpdatedAt      string   `json:"updated_at,omitempty"`
	HeartbeatAt    int64    `json:"heartbeat_at,omitempty"`
}

func (s *Server) toNodeView(n *ark.Node) nodeView {
	ips := n.HostIPs
	if ips == nil {
		ips = []string{}
	}
	return nodeView{ID: n.ID, Name: n.Name, State: n.State(s.Now(), s.heartbeatTimeout()), HostName: n.HostName,
		HostIPs: ips, OSName: n.OSName, OSVersion: n.OSVersion, OSType: n.OSType, Arch: n.Arch, CPU: n.CPU,
		Memory: n.MemoryMB, GPUNum: n.GPUNum, EnableGPU: n.GPUNum > 0, DeploymentNum: len(n.Instances),
		CreatedAt: nodeTime(n.CreatedAt), UpdatedAt: nodeTime(n.UpdatedAt), HeartbeatAt: ark.Millis(n.HeartbeatAt)}
}

func (s *Server) heartbeatTimeout() time.Duration {
	if s.Edge != nil {
		return s.Edge.HeartbeatTimeout()
	}
	return 3 * s.heartbeatInterval()
}

func (s *Server) heartbeatInterval() time.Duration {
	if s.HeartbeatInterval > 0 {
		return s.HeartbeatInterval
	}
	return DefaultHeartbeatInterval
}

func (s *Server) handleNodeList(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	ns, err := s.Store.ListNodes(r.Context(), p.ProjectID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	views := make([]nodeView, 0, len(ns))
	for _, n := range ns {
		views = append(views, s.toNodeView(n))
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"total_count": len(views), "count": len(views), "nodes": views})
}

func (s *Server) handleNodeShow(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	n, err := s.Store.FindNode(r.Context(), p.ProjectID, r.PathValue("node_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.toNodeView(n))
}

func (s *Server) handleNodeDelete(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	if err := s.Store.DeleteNode(r.Context(), p.ProjectID, r.PathValue("node_id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, struct{}{})
}

// handleNodeRegister registers (or registers again) the path's node in the credential's project
// and tells the agent how often to send heartbeats.
func (s *Server) handleNodeRegister(w http.ResponseWriter, r *http.Request, c *ark.NodeCredential) {
	var facts ark.NodeFacts
	if err := decodeJSON(r, &facts); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := facts.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	n := &ark.Node{ID: r.PathValue("node_id"), ProjectID: c.ProjectID, NodeFacts: facts}
	if err := s.Store.RegisterNode(r.Context(), n); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("edge node registered", "node", n.ID, "name", n.Name, "project", n.ProjectID, "credential", c.ID)
	s.writeJSON(w, http.StatusOK, map[string]any{"node_id": n.ID,
		"heartbeat_interval_seconds": int(s.heartbeatInterval() / time.Second)})
}

// heartbeat is the body of POST .../heartbeat.
type heartbeat struct {
	Error     string             `json:"error"`
	Instances []ark.NodeInstance `json:"instances"`
}

// handleNodeHeartbeat records a heartbeat and the node's instances, and has the engine look at the
// services whose instances it reports now or reported before (an operation may have finished).
func (s *Server) handleNodeHeartbeat(w http.ResponseWriter, r *http.Request, c *ark.NodeCredential) {
	var hb heartbeat
	if err := decodeJSON(r, &hb); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := ark.CheckText("error", hb.Error, ark.MaxStringLen*4); err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(hb.Instances) > ark.MaxNodeReports {
		s.writeError(w, r, ark.Errorf(ark.EInvalidParam, "Parameter (instances) is invalid: at most %d.", ark.MaxNodeReports))
		return
	}
	for _, in := range hb.Instances {
		if !ark.IsUUID(in.ServiceID) {
			s.writeError(w, r, ark.Errorf(ark.EInvalidParam, "Parameter (instances.service_id) is invalid: use a lower-case UUID."))
			return
		}
		switch in.Status {
		case ark.InstanceRunning, ark.InstanceNotReady, ark.InstanceFailed:
		default:
			s.writeError(w, r, ark.Errorf(ark.EInvalidParam, "Parameter (instances.status) is invalid: use running, notReady or failed."))
			return
		}
		if err := ark.CheckText("instances.message", in.Message, ark.MaxStringLen*4); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	id := r.PathValue("node_id")
	before, err := s.Store.FindNode(r.Context(), c.ProjectID, id)
	if err == nil {
		err = s.Store.NodeHeartbeat(r.Context(), c.ProjectID, id, hb.Error, hb.Instances)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, in := range append(before.Instances, hb.Instances...) {
		s.notify(in.ServiceID)
	}
	s.writeJSON(w, http.StatusOK, struct{}{})
}

// handleNodePlacements answers what the node should run, with a version (a hash of the answer).
// With ?version= equal to the current one it waits, at most ?wait= seconds (default and at most
// MaxPlacementsWait), for the node's placements to change: a long poll, so that agents learn of
// an operation at once without polling in a tight loop.
func (s *Server) handleNodePlacements(w http.ResponseWriter, r *http.Request, c *ark.NodeCredential) {
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	version := q.str("version", ark.MaxIDLen)
	wait := MaxPlacementsWait
	if v, ok := q.integer("wait", 0, int64(MaxPlacementsWait/time.Second)); ok {
		wait = time.Duration(v) * time.Second
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	id := r.PathValue("node_id")
	if _, err := s.Store.FindNode(r.Context(), c.ProjectID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		// Register before reading, so that a change between the read and the wait wakes it.
		woken := s.nodes().wait(id)
		as, err := s.assignments(r.Context(), id)
		if err != nil {
			s.nodes().forget(id, woken)
			s.writeError(w, r, err)
			return
		}
		b, _ := json.Marshal(as)
		sum := sha256.Sum256(b)
		cur := hex.EncodeToString(sum[:8])
		if cur == version {
			select {
			case <-woken:
				continue
			case <-deadline.C:
			case <-r.Context().Done():
			case <-s.closing:
			}
		}
		s.nodes().forget(id, woken)
		s.writeJSON(w, http.StatusOK, map[string]any{"version": cur, "placements": as})
		return
	}
}

func (s *Server) nodes() *NodeHub {
	if s.Nodes == nil {
		return &s.ownNodes
	}
	return s.Nodes
}

// assignments resolves a node's placements into what its agent runs.
func (s *Server) assignments(ctx context.Context, nodeID string) ([]ark.EdgeAssignment, error) {
	ps, err := s.Store.NodePlacements(ctx, nodeID)
	if err != nil {
		return nil, err
	}
	out := make([]ark.EdgeAssignment, 0, len(ps))
	for _, p := range ps {
		a := ark.EdgeAssignment{ServiceID: p.ServiceID, UpdateTime: p.UpdateTime, Instance: ark.EdgeInstance{ModelID: p.Config.ModelID,
			Error: "this server does not run edge services"}}
		if s.Edge != nil {
			if a.Instance, err = s.Edge.EdgeInstance(ctx, p.Config); err != nil {
				return nil, err
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// edgeNodes returns the Nodes objects of a config entry of an edge service: each node's facts
// and state, and the status of the service's instance on it as its agent last reported it.
func (s *Server) edgeNodes(c ark.ServiceConfig, svc *ark.Service, byID map[string]*ark.Node, placed map[string]ark.EdgePlacement) []nodeView {
	out := make([]nodeView, 0, len(c.Nodes))
	for _, id := range c.Nodes {
		n := byID[id]
		if n == nil {
			out = append(out, nodeView{ID: id, State: ark.NodeUnconnected, InstanceStatus: ark.InstanceFailed,
				Message: "the node does not exist", HostIPs: []string{}})
			continue
		}
		v := s.toNodeView(n)
		v.InstanceStatus = ark.InstanceNotReady
		p, ok := placed[id]
		rep := n.Instance(svc.ID)
		switch {
		case svc.Status == ark.StatusStopped || svc.Status == ark.StatusStopping:
			v.InstanceStatus = ark.InstanceStopped
		case ok && rep != nil && rep.UpdateTime == p.UpdateTime:
			v.InstanceStatus, v.Message = rep.Status, rep.Message
		}
		out = append(out, v)
	}
	return out
}

// nodesByID returns the project's nodes by id.
func (s *Server) nodesByID(ctx context.Context, projectID string) (map[string]*ark.Node, error) {
	ns, err := s.Store.ListNodes(ctx, projectID)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*ark.Node, len(ns))
	for _, n := range ns {
		byID[n.ID] = n
	}
	return byID, nil
}

// edgeState returns the nodes of an edge service's project by id and its placements by node.
func (s *Server) edgeState(ctx context.Context, svc *ark.Service) (map[string]*ark.Node, map[string]ark.EdgePlacement, error) {
	byID, err := s.nodesByID(ctx, svc.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	ps, err := s.Store.EdgePlacements(ctx, svc.ID)
	if err != nil {
		return nil, nil, err
	}
	placed := make(map[string]ark.EdgePlacement, len(ps))
	for _, p := range ps {
		placed[p.NodeID] = p
	}
	return byID, placed, nil
}
