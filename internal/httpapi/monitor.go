package httpapi

import (
	"net/http"

	"github.com/arkserve/arkserve/internal/ark"
)

// Monitor reports what runs for a service, per model (the rollout engine and the gateway).
type Monitor interface {
	Monitor(serviceID string) []ark.ModelMonitor
}

type monitorResponse struct {
	ServiceName                 string        `json:"service_name"`
	ServiceID                   string        `json:"service_id"`
	Monitors                    []monitorItem `json:"monitors"`
	ServiceRunningInstanceCount int           `json:"service_running_instance_count"`
	ServiceInstanceCount        int           `json:"service_instance_count"`
	ReqCountPerMin              int64         `json:"req_count_per_min"`
}

type monitorItem struct {
	ModelID                   string  `json:"model_id"`
	ModelName                 string  `json:"model_name"`
	ModelVersion              string  `json:"model_version"`
	ModelRunningInstanceCount int     `json:"model_running_instance_count"`
	ModelInstanceCount        int     `json:"model_instance_count"`
	InvocationTimes           int64   `json:"invocation_times"`
	FailedTimes               int64   `json:"failed_times"`
	CPUCoreUsage              float64 `json:"cpu_core_usage"`
	CPUCoreTotal              float64 `json:"cpu_core_total"`
	CPUMemoryUsage            int     `json:"cpu_memory_usage"`
	CPUMemoryTotal            int     `json:"cpu_memory_total"`
	GPUUsage                  float64 `json:"gpu_usage"`
	GPUTotal                  float64 `json:"gpu_total"`
	NodeID                    string  `json:"node_id,omitempty"`
	NodeName                  string  `json:"node_name,omitempty"`
}

// handleServiceMonitor answers GET .../services/{service_id}/monitor: per model of the service's
// configuration, its instances (model_instance_count is the configured count, the running count
// the ready instances), its calls since the server started, and what its processes use against
// what their specification grants. For an edge service there is one item per node (node_id and
// node_name set; the figures are what the node's agent last reported), or only that of ?node_id=;
// real-time services ignore node_id.
func (s *Server) handleServiceMonitor(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	nodeID := q.str("node_id", ark.MaxStringLen)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	svc, err := s.Store.FindService(r.Context(), p.ProjectID, r.PathValue("service_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if svc.InferType == ark.InferEdge {
		s.edgeMonitor(w, r, svc, nodeID) // from the store: any replica answers
		return
	}
	if s.viaPeer(w, r, svc.ID) {
		return // the instances run there
	}
	seen := map[string]ark.ModelMonitor{}
	if s.Monitor != nil {
		for _, m := range s.Monitor.Monitor(svc.ID) {
			seen[m.ModelID] = m
		}
	}
	resp := monitorResponse{ServiceName: svc.Name, ServiceID: svc.ID, Monitors: []monitorItem{}}
	for _, c := range svc.Config {
		m := seen[c.ModelID]
		res, _ := ark.InstanceResources(c, s.catalog)
		n := float64(c.InstanceCount)
		resp.Monitors = append(resp.Monitors, monitorItem{
			ModelID: c.ModelID, ModelName: c.ModelName, ModelVersion: c.ModelVersion,
			ModelRunningInstanceCount: m.Ready, ModelInstanceCount: c.InstanceCount,
			InvocationTimes: m.Invocations, FailedTimes: m.Failures,
			CPUCoreUsage: m.CPUCores, CPUCoreTotal: res.CPU * n,
			CPUMemoryUsage: m.MemoryMB, CPUMemoryTotal: res.MemoryMB * c.InstanceCount,
			GPUTotal: res.GPU * n,
		})
		resp.ServiceRunningInstanceCount += m.Ready
		resp.ServiceInstanceCount += c.InstanceCount
		resp.ReqCountPerMin += m.ReqPerMinute
	}
	s.writeJSON(w, http.StatusOK, resp)
}

// edgeMonitor answers the monitor API of an edge service: per node of its configuration (or the
// one node asked for, 404 ModelArts.0215 when the project has no such node), the model it runs
// there and what the node's agent last reported of its instance. Calls to edge instances do not
// pass through this server, so they are not counted.
func (s *Server) edgeMonitor(w http.ResponseWriter, r *http.Request, svc *ark.Service, nodeID string) {
	byID, err := s.nodesByID(r.Context(), svc.ProjectID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if nodeID != "" && byID[nodeID] == nil {
		s.writeError(w, r, ark.NodeNotFound(nodeID))
		return
	}
	resp := monitorResponse{ServiceName: svc.Name, ServiceID: svc.ID, Monitors: []monitorItem{}}
	for _, c := range svc.Config {
		res, _ := ark.InstanceResources(c, s.catalog)
		for _, id := range c.Nodes {
			if nodeID != "" && id != nodeID {
				continue
			}
			it := monitorItem{ModelID: c.ModelID, ModelName: c.ModelName, ModelVersion: c.ModelVersion,
				ModelInstanceCount: 1, CPUCoreTotal: res.CPU, CPUMemoryTotal: res.MemoryMB, GPUTotal: res.GPU, NodeID: id}
			if n := byID[id]; n != nil {
				it.NodeName = n.Name
				if rep := n.Instance(svc.ID); rep != nil {
					it.CPUCoreUsage, it.CPUMemoryUsage = rep.CPUCores, rep.MemoryMB
					if rep.Status == ark.InstanceRunning {
						it.ModelRunningInstanceCount = 1
					}
				}
			}
			resp.Monitors = append(resp.Monitors, it)
			resp.ServiceRunningInstanceCount += it.ModelRunningInstanceCount
			resp.ServiceInstanceCount++
		}
	}
	s.writeJSON(w, http.StatusOK, resp)
}
