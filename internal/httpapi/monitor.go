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
}

// handleServiceMonitor answers GET .../services/{service_id}/monitor: per model of the service's
// configuration, its instances (model_instance_count is the configured count, the running count
// the ready instances), its calls since the server started, and what its processes use against
// what their specification grants. node_id is for edge services, which this server does not run:
// it is accepted and ignored.
func (s *Server) handleServiceMonitor(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q.str("node_id", ark.MaxStringLen)
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	svc, err := s.Store.FindService(r.Context(), p.ProjectID, r.PathValue("service_id"))
	if err != nil {
		s.writeError(w, r, err)
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
