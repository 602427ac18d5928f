package httpapi

import (
	"net/http"
	"strings"

	"github.com/arkserve/arkserve/internal/ark"
)

// registerModelArts registers the ModelArts v1 routes. /services/specifications is a fixed path, so
// ServeMux prefers it to /services/{service_id}.
func (s *Server) registerModelArts(mux *http.ServeMux) {
	seen := map[string]bool{}
	const v1 = "/v1/{project_id}"
	for _, rt := range []struct {
		pattern string
		write   bool
		h       projectHandler
	}{
		{"POST " + v1 + "/models", true, s.handleModelCreate},
		{"GET " + v1 + "/models", false, s.handleModelList},
		{"GET " + v1 + "/models/{model_id}", false, s.handleModelShow},
		{"DELETE " + v1 + "/models/{model_id}", true, s.handleModelDelete},
		{"POST " + v1 + "/services", true, s.handleServiceDeploy},
		{"GET " + v1 + "/services", false, s.handleServiceList},
		{"GET " + v1 + "/services/specifications", false, s.handleSpecifications},
		{"GET " + v1 + "/services/{service_id}", false, s.handleServiceShow},
		{"PUT " + v1 + "/services/{service_id}", true, s.notSpecifications(s.handleServiceUpdate)},
		{"DELETE " + v1 + "/services/{service_id}", true, s.notSpecifications(s.handleServiceDelete)},
		{"GET " + v1 + "/services/{service_id}/events", false, s.handleServiceEvents},
		{"GET " + v1 + "/services/{service_id}/logs", false, s.handleServiceLogs},
		{"GET " + v1 + "/services/{service_id}/monitor", false, s.handleServiceMonitor},
		{"GET " + v1 + "/clusters", false, s.handleClusters},
	} {
		route(mux, seen, s, rt.pattern, s.project(rt.write, rt.h))
	}
}

// notSpecifications answers 405 for PUT and DELETE on /services/specifications, which the
// {service_id} patterns would otherwise take for a service id.
func (s *Server) notSpecifications(h projectHandler) projectHandler {
	return func(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
		if r.PathValue("service_id") == "specifications" {
			s.writeError(w, r, ark.Errorf(ark.EMethod, "The method %s is not allowed on %s.", r.Method, r.URL.Path))
			return
		}
		h(w, r, p)
	}
}

// serviceBase is the base URL in addresses the server hands out: PublicURL, or the scheme and
// host the request came to.
func (s *Server) serviceBase(r *http.Request) string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type specView struct {
	Specification string         `json:"specification"`
	BillingSpec   string         `json:"billing_spec"`
	Category      string         `json:"category"`
	CPUInfo       map[string]any `json:"cpu_info"`
	MemoryInfo    map[string]any `json:"memory_info"`
	GPUInfo       map[string]any `json:"gpu_info,omitempty"`
	NPUInfo       map[string]any `json:"npu_info,omitempty"`
	IsOpen        bool           `json:"is_open"`
	SpecStatus    string         `json:"spec_status"`
	SourceType    string         `json:"source_type"`
	IsFree        bool           `json:"is_free"`
	OverQuota     bool           `json:"over_quota"`
	ExtendParams  int            `json:"extend_params"`
	DisplayEN     string         `json:"display_en"`
	DisplayCN     string         `json:"display_cn"`
}

func (s *Server) handleSpecifications(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q.boolean("is_personal_cluster")
	q.enum("infer_type", ark.InferRealTime, ark.InferBatch)
	offset, limit := q.page()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	used, capacity, known := s.usage()
	free := capacity.Sub(used)
	all := make([]specView, 0, len(s.Specs))
	for _, sp := range s.Specs {
		// runnable: one instance fits in the whole pool; otherwise a deploy with it is refused
		// (3976). over_quota: it does not fit in what is free now; a deploy is accepted and its
		// instances start when enough is released.
		need := sp.Resources()
		runnable := !known || need.Fits(capacity)
		status := "normal"
		if !runnable {
			status = "unavailable"
		}
		v := specView{Specification: sp.Name, BillingSpec: sp.Name, Category: sp.Category,
			CPUInfo:    map[string]any{"arch": sp.Arch, "cpu": sp.CPU},
			MemoryInfo: map[string]any{"unit": "MB", "memory": sp.MemoryMB},
			IsOpen:     sp.IsOpen && runnable, SpecStatus: status, OverQuota: known && !need.Fits(free),
			DisplayEN: sp.Display, DisplayCN: sp.Display}
		if sp.GPU > 0 {
			v.GPUInfo = map[string]any{"brand": "NVIDIA", "version": sp.GPUName, "unit": "MB", "memory": sp.GPUMemMB, "gpu": sp.GPU}
		}
		if sp.NPU > 0 {
			v.NPUInfo = map[string]any{"brand": "ASCEND", "version": "snt3", "unit": "MB", "memory": 8192, "npu": sp.NPU}
		}
		all = append(all, v)
	}
	page := all[min(offset, len(all)):min(offset+limit, len(all))]
	s.writeJSON(w, http.StatusOK, map[string]any{"total_count": len(all), "count": len(page), "specifications": page})
}

func (s *Server) handleClusters(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	name := q.str("cluster_name", ark.MaxNameLen)
	status := q.enum("status", "deploying", "running", "concerning", "abnormal")
	q.enum("sort_by", "created_at", "cluster_name")
	q.enum("order", "asc", "desc")
	offset, limit := q.page()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	pool := s.Pool
	used, capacity, _ := s.usage()
	free := clampFree(capacity.Sub(used))
	nodes, available := 1, 1 // the local host
	if c, ok := s.Capacity.(interface{ Nodes() (count, available int) }); ok {
		nodes, available = c.Nodes() // a cluster's nodes, and those that take instances now
	}
	clusters := []map[string]any{}
	if (name == "" || strings.Contains(pool.Name, name)) && (status == "" || status == "running") {
		clusters = append(clusters, map[string]any{
			"cluster_id": pool.ID, "cluster_name": pool.Name, "status": "running", "description": pool.Description,
			"owner": p.ProjectID, "project": p.ProjectID, "tenant": p.ProjectID, "created_at": pool.CreatedAt,
			// allocatable_* is what is free now (the reference: "number of available ..."); the
			// total_* and allocated_* extensions are the capacity and what instances hold.
			"allocatable_cpu_cores": free.CPU, "allocatable_memory": free.MemoryMB, "allocatable_gpus": free.GPU,
			"allocatable_npus": free.NPU,
			"total_cpu_cores":  capacity.CPU, "total_memory": capacity.MemoryMB, "total_gpus": capacity.GPU, "total_npus": capacity.NPU,
			"allocated_cpu_cores": used.CPU, "allocated_memory": used.MemoryMB, "allocated_gpus": used.GPU, "allocated_npus": used.NPU,
			"nodes":      map[string]any{"specification": pool.Name, "count": nodes, "available_count": available},
			"period_num": 0, "period_type": "", "product_id": "", "order_id": "",
		})
	}
	total := len(clusters)
	clusters = clusters[min(offset, total):min(offset+limit, total)]
	s.writeJSON(w, http.StatusOK, map[string]any{"total_count": total, "count": len(clusters), "clusters": clusters})
}

// usage is what instances hold and the pool's capacity: from Capacity (the engine's ledger), else
// Pool's figures with nothing held. known is false when neither says anything.
func (s *Server) usage() (used, capacity ark.Resources, known bool) {
	if s.Capacity != nil {
		used, capacity = s.Capacity.Usage()
	} else {
		capacity = ark.Resources{CPU: s.Pool.CPU, MemoryMB: s.Pool.MemoryMB, GPU: s.Pool.GPUs}
	}
	return used, capacity, !capacity.IsZero()
}

func clampFree(r ark.Resources) ark.Resources {
	return ark.Resources{CPU: max(r.CPU, 0), MemoryMB: max(r.MemoryMB, 0), GPU: max(r.GPU, 0), NPU: max(r.NPU, 0)}
}
