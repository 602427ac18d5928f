package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// configRequest is a ServiceConfig of the deploy and update bodies.
type configRequest struct {
	ModelID              string                                   `json:"model_id"`
	Weight               flexInt                                  `json:"weight"`
	Specification        string                                   `json:"specification"`
	CustomSpec           *ark.CustomSpec                          `json:"custom_spec"`
	Envs                 map[string]string                        `json:"envs"`
	InstanceCount        flexInt                                  `json:"instance_count"`
	DeployTimeout        flexInt                                  `json:"deploy_timeout_in_seconds"`
	ClusterID            string                                   `json:"cluster_id"`
	PoolName             string                                   `json:"pool_name"`
	AdditionalProperties map[string]ark.ModelAdditionalProperties `json:"additional_properties"`
	Affinity             *ark.ServiceAffinity                     `json:"affinity"`
	Nodes                []string                                 `json:"nodes"`
	// Batch-only fields: accepted so that a batch body is refused for its infer_type, not its shape.
	SrcPath     string `json:"src_path"`
	DestPath    string `json:"dest_path"`
	ReqURI      string `json:"req_uri"`
	MappingType string `json:"mapping_type"`
	SrcType     string `json:"src_type"`
}

// deployRequest is the CreateService body.
type deployRequest struct {
	WorkspaceID          *string                                    `json:"workspace_id"`
	Schedule             []ark.Schedule                             `json:"schedule"`
	ClusterID            string                                     `json:"cluster_id"`
	PoolName             string                                     `json:"pool_name"`
	InferType            string                                     `json:"infer_type"`
	VPCID                string                                     `json:"vpc_id"`
	ServiceName          string                                     `json:"service_name"`
	Description          string                                     `json:"description"`
	SecurityGroupID      string                                     `json:"security_group_id"`
	SubnetNetworkID      string                                     `json:"subnet_network_id"`
	Config               []configRequest                            `json:"config"`
	AdditionalProperties map[string]ark.ServiceAdditionalProperties `json:"additional_properties"`
	LoadBalancerPolicy   string                                     `json:"load_balancer_policy"`
	ServiceSecrets       []ark.ServiceSecret                        `json:"service_secrets"`
	Priority             flexInt                                    `json:"priority"`
}

// updateRequest is the UpdateService body; absent fields are left unchanged.
type updateRequest struct {
	Schedule             *[]ark.Schedule                            `json:"schedule"`
	Description          *string                                    `json:"description"`
	Config               []configRequest                            `json:"config"`
	Status               *string                                    `json:"status"`
	AdditionalProperties map[string]ark.ServiceAdditionalProperties `json:"additional_properties"`
	LoadBalancerPolicy   *string                                    `json:"load_balancer_policy"`
	ServiceSecrets       *[]ark.ServiceSecret                       `json:"service_secrets"`
	Priority             flexInt                                    `json:"priority"`
}

// checkInferType refuses what this server does not run yet.
func checkInferType(t string) error {
	switch t {
	case "":
		return ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (infer_type) is required.")
	case ark.InferRealTime, ark.InferEdge:
		return nil
	case ark.InferBatch:
		return ark.Errorf(ark.ENotEnabled, "The %s service has not been enabled or authorized: this server runs real-time and edge services.", t)
	}
	return ark.Errorf(ark.EInvalidParam, "Parameter (infer_type) is invalid: use real-time or edge.")
}

// toConfig turns request entries into domain config of a service of inferType and validates
// them; the nodes of an edge service must be nodes of the project.
func (s *Server) toConfig(ctx context.Context, projectID, inferType string, reqs []configRequest) ([]ark.ServiceConfig, error) {
	if len(reqs) > ark.MaxConfigEntries {
		return nil, ark.Errorf(ark.EInvalidParam, "Parameter (config) is invalid: at most %d model versions per service.", ark.MaxConfigEntries)
	}
	out := make([]ark.ServiceConfig, 0, len(reqs))
	for _, c := range reqs {
		if !c.Weight.set && inferType == ark.InferRealTime {
			return nil, ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (config.weight) is required.")
		}
		if !c.InstanceCount.set {
			return nil, ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (config.instance_count) is required.")
		}
		for _, p := range []string{c.ClusterID, c.PoolName} {
			if p != "" && !s.knownPool(p) {
				return nil, ark.Errorf(ark.EClusterNotFound, "Cluster %s does not exist.", clipString(p))
			}
		}
		out = append(out, ark.ServiceConfig{ModelID: c.ModelID, Weight: c.Weight.value, Specification: c.Specification,
			CustomSpec: c.CustomSpec, Envs: c.Envs, InstanceCount: c.InstanceCount.value, DeployTimeoutSeconds: c.DeployTimeout.value,
			ClusterID: c.ClusterID, PoolName: c.PoolName, AdditionalProperties: c.AdditionalProperties, Affinity: c.Affinity,
			Nodes: c.Nodes})
	}
	if inferType == ark.InferEdge {
		// Edge instances run on the nodes, not in this server's pool.
		if err := ark.ValidateEdgeConfig(out, s.catalog); err != nil {
			return out, err
		}
		return out, s.checkNodes(ctx, projectID, out)
	}
	if err := ark.ValidateServiceConfig(out, s.catalog); err != nil {
		return out, err
	}
	if s.Capacity != nil {
		_, capacity := s.Capacity.Usage()
		return out, ark.CheckCapacity(out, s.catalog, capacity)
	}
	return out, nil
}

// realTimeOnly refuses, for an edge service, the fields the reference reserves for real-time
// services (schedule, load_balancer_policy) or for real-time and batch ones (priority).
func realTimeOnly(schedule []ark.Schedule, lb, priority bool) error {
	switch {
	case len(schedule) > 0:
		return ark.Errorf(ark.EInvalidParam, "Parameter (schedule) is invalid: it is for real-time services.")
	case lb:
		return ark.Errorf(ark.EInvalidParam, "Parameter (load_balancer_policy) is invalid: it is for real-time services.")
	case priority:
		return ark.Errorf(ark.EInvalidParam, "Parameter (priority) is invalid: it is for real-time and batch services.")
	}
	return nil
}

// checkNodes refuses an edge configuration that names a node the project does not have.
func (s *Server) checkNodes(ctx context.Context, projectID string, cfg []ark.ServiceConfig) error {
	ns, err := s.Store.ListNodes(ctx, projectID)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, n := range ns {
		have[n.ID] = true
	}
	for _, id := range ark.EdgeNodes(cfg) {
		if !have[id] {
			return ark.Errorf(ark.ENodeNotFound, "Node %s does not exist.", id)
		}
	}
	return nil
}

// checkModels refuses a configuration with a model the runtime cannot run (CheckModel). Models
// that do not exist are left to the store, which says so in its transaction.
func (s *Server) checkModels(ctx context.Context, projectID string, cfg []ark.ServiceConfig) error {
	if s.CheckModel == nil {
		return nil
	}
	for _, c := range cfg {
		m, err := s.Store.FindModel(ctx, projectID, c.ModelID)
		if ark.ErrorCode(err) == ark.EModelNotFound {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.CheckModel(m); err != nil {
			// The runtime's messages name no more of the user's input than the model type.
			return ark.Errorf(ark.EInvalidParam, "Parameter (config.model_id) is invalid: %s.", err.Error())
		}
	}
	return nil
}

func (s *Server) knownPool(idOrName string) bool {
	return idOrName == s.Pool.ID || idOrName == s.Pool.Name
}

func (s *Server) handleServiceDeploy(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	var req deployRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	svc, err := s.serviceFromRequest(r.Context(), &req, p)
	if err == nil && svc.InferType != ark.InferEdge { // edge instances run on agents, not here
		err = s.checkModels(r.Context(), p.ProjectID, svc.Config)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.Store.CreateService(r.Context(), svc); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.notify(svc.ID)
	s.writeJSON(w, http.StatusOK, map[string]any{"service_id": svc.ID, "resource_ids": []string{}})
}

func (s *Server) serviceFromRequest(ctx context.Context, req *deployRequest, p *ark.Principal) (*ark.Service, error) {
	if err := checkInferType(req.InferType); err != nil {
		return nil, err
	}
	if err := ark.ValidateName("service_name", req.ServiceName); err != nil {
		return nil, err
	}
	if err := ark.ValidateDescription(req.Description); err != nil {
		return nil, err
	}
	ws := "0"
	if req.WorkspaceID != nil && *req.WorkspaceID != "" {
		ws = *req.WorkspaceID
	}
	for field, v := range map[string]string{"workspace_id": ws, "cluster_id": req.ClusterID, "pool_name": req.PoolName,
		"vpc_id": req.VPCID, "security_group_id": req.SecurityGroupID, "subnet_network_id": req.SubnetNetworkID} {
		if err := ark.CheckText(field, v, ark.MaxIDLen); err != nil {
			return nil, err
		}
	}
	if req.VPCID != "" && (req.SecurityGroupID == "" || req.SubnetNetworkID == "") {
		return nil, ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (security_group_id and subnet_network_id, mandatory with vpc_id) is required.")
	}
	for _, pool := range []string{req.ClusterID, req.PoolName} {
		if pool != "" && !s.knownPool(pool) {
			return nil, ark.Errorf(ark.EClusterNotFound, "Cluster %s does not exist.", clipString(pool))
		}
	}
	if req.Config == nil {
		return nil, ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (config) is required.")
	}
	if req.InferType == ark.InferEdge {
		if err := realTimeOnly(req.Schedule, req.LoadBalancerPolicy != "", req.Priority.set); err != nil {
			return nil, err
		}
	}
	cfg, err := s.toConfig(ctx, p.ProjectID, req.InferType, req.Config)
	if err != nil {
		return nil, err
	}
	if err := ark.ValidateSchedule(req.Schedule); err != nil {
		return nil, err
	}
	if err := ark.ValidateServiceProps(req.AdditionalProperties); err != nil {
		return nil, err
	}
	if err := ark.ValidateServiceFields(req.LoadBalancerPolicy, req.Priority.value, req.ServiceSecrets); err != nil {
		return nil, err
	}
	return &ark.Service{ID: ark.NewUUID(), ProjectID: p.ProjectID, Owner: p.UserID, Name: req.ServiceName,
		Description: req.Description, InferType: req.InferType, WorkspaceID: ws, ClusterID: req.ClusterID,
		PoolName: req.PoolName, VPCID: req.VPCID, SubnetNetworkID: req.SubnetNetworkID, SecurityGroupID: req.SecurityGroupID,
		LoadBalancerPolicy: req.LoadBalancerPolicy, Priority: req.Priority.value, Schedule: req.Schedule,
		AdditionalProperties: req.AdditionalProperties, ServiceSecrets: req.ServiceSecrets, Config: cfg}, nil
}

func (s *Server) notify(id string) {
	if s.Engine != nil {
		s.Engine.Notify(id)
	}
}

func (s *Server) handleServiceUpdate(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	var req updateRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	upd, err := s.updateFromRequest(r.Context(), p.ProjectID, r.PathValue("service_id"), &req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, _, err := s.Store.UpdateService(r.Context(), p.ProjectID, r.PathValue("service_id"), upd); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.notify(r.PathValue("service_id"))
	s.writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) updateFromRequest(ctx context.Context, projectID, serviceID string, req *updateRequest) (ark.ServiceUpdate, error) {
	upd := ark.ServiceUpdate{Description: req.Description, Schedule: req.Schedule,
		AdditionalProperties: req.AdditionalProperties, LoadBalancerPolicy: req.LoadBalancerPolicy,
		ServiceSecrets: req.ServiceSecrets}
	if req.Description != nil {
		if err := ark.ValidateDescription(*req.Description); err != nil {
			return upd, err
		}
	}
	if req.Status != nil {
		if *req.Status != ark.StatusRunning && *req.Status != ark.StatusStopped {
			return upd, ark.Errorf(ark.EInvalidParam, "Parameter (status) is invalid: use running or stopped.")
		}
		upd.Status = req.Status
	}
	// The rules of config and of the real-time-only fields depend on the service's infer_type,
	// which a PUT cannot change.
	var inferType string
	if (req.Status == nil && req.Config != nil) || req.Schedule != nil || req.LoadBalancerPolicy != nil || req.Priority.set {
		svc, err := s.Store.FindService(ctx, projectID, serviceID)
		if err != nil {
			return upd, err
		}
		inferType = svc.InferType
	}
	if inferType == ark.InferEdge {
		var sched []ark.Schedule
		if req.Schedule != nil {
			sched = *req.Schedule
		}
		if err := realTimeOnly(sched, req.LoadBalancerPolicy != nil && *req.LoadBalancerPolicy != "", req.Priority.set); err != nil {
			return upd, err
		}
	}
	if req.Status == nil && req.Config != nil {
		// The reference: "If both of them are used, modify status only", so config is validated
		// and applied only when status is absent.
		cfg, err := s.toConfig(ctx, projectID, inferType, req.Config)
		if err != nil {
			return upd, err
		}
		upd.Config = cfg
	}
	if req.Schedule != nil {
		if err := ark.ValidateSchedule(*req.Schedule); err != nil {
			return upd, err
		}
	}
	if err := ark.ValidateServiceProps(req.AdditionalProperties); err != nil {
		return upd, err
	}
	var secrets []ark.ServiceSecret
	if req.ServiceSecrets != nil {
		secrets = *req.ServiceSecrets
	}
	lb := ""
	if req.LoadBalancerPolicy != nil {
		lb = *req.LoadBalancerPolicy
	}
	if err := ark.ValidateServiceFields(lb, req.Priority.value, secrets); err != nil {
		return upd, err
	}
	if req.Priority.set {
		upd.Priority = &req.Priority.value
	}
	if inferType != ark.InferEdge { // edge instances run on agents, not here
		if err := s.checkModels(ctx, projectID, upd.Config); err != nil {
			return upd, err
		}
	}
	return upd, nil
}

// MaxDeleteIDs bounds a comma-separated DELETE.
const MaxDeleteIDs = 100

func (s *Server) handleServiceDelete(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	ids := strings.Split(r.PathValue("service_id"), ",")
	if len(ids) > MaxDeleteIDs {
		s.writeError(w, r, ark.Errorf(ark.EInvalidParam, "Parameter (service_id) is invalid: at most %d ids at once.", MaxDeleteIDs))
		return
	}
	for i, id := range ids {
		ids[i] = strings.TrimSpace(id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids) // "a,a" deletes a once
	// One transaction: an unknown id deletes nothing.
	if err := s.Store.DeleteServices(r.Context(), p.ProjectID, ids...); err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, id := range ids {
		s.notify(id)
	}
	s.writeJSON(w, http.StatusOK, struct{}{})
}

// serviceItem is a ListServices entry; serviceDetail adds ShowService's fields.
type serviceItem struct {
	FailedTimes              int64                                      `json:"failed_times"`
	Owner                    string                                     `json:"owner"`
	DueTime                  int64                                      `json:"due_time,omitempty"`
	InferType                string                                     `json:"infer_type"`
	ServiceName              string                                     `json:"service_name"`
	Description              string                                     `json:"description"`
	Project                  string                                     `json:"project"`
	InvocationTimes          int64                                      `json:"invocation_times"`
	PublishAt                int64                                      `json:"publish_at"`
	WorkspaceID              string                                     `json:"workspace_id"`
	Schedule                 []ark.Schedule                             `json:"schedule,omitempty"`
	OperationTime            int64                                      `json:"operation_time"`
	IsShared                 bool                                       `json:"is_shared"`
	ServiceID                string                                     `json:"service_id"`
	Progress                 *int                                       `json:"progress,omitempty"`
	SharedCount              int                                        `json:"shared_count"`
	Tenant                   string                                     `json:"tenant"`
	Status                   string                                     `json:"status"`
	IsOpenedSampleCollection string                                     `json:"is_opened_sample_collection"`
	TransitionAt             int64                                      `json:"transition_at"`
	IsFree                   bool                                       `json:"is_free"`
	AdditionalProperties     map[string]ark.ServiceAdditionalProperties `json:"additional_properties,omitempty"`
}

type serviceDetail struct {
	serviceItem
	// Always present in details ({} when unset), as in the reference's example.
	AdditionalProperties map[string]ark.ServiceAdditionalProperties `json:"additional_properties"`
	ClusterID            string                                     `json:"cluster_id,omitempty"`
	PoolName             string                                     `json:"pool_name,omitempty"`
	VPCID                string                                     `json:"vpc_id,omitempty"`
	SubnetNetworkID      string                                     `json:"subnet_network_id,omitempty"`
	SecurityGroupID      string                                     `json:"security_group_id,omitempty"`
	ErrorMsg             string                                     `json:"error_msg,omitempty"`
	Config               []serviceConfigView                        `json:"config"`
	AccessAddress        string                                     `json:"access_address,omitempty"`
	UpdateTime           int64                                      `json:"update_time"`
	LoadBalancerPolicy   string                                     `json:"load_balancer_policy,omitempty"`
	Priority             int                                        `json:"priority,omitempty"`
}

// serviceConfigView is QueryServiceConfig. Nodes (edge services only) replaces the node ids of
// ark.ServiceConfig with the reference's Nodes objects.
type serviceConfigView struct {
	ark.ServiceConfig
	Nodes        []nodeView `json:"nodes,omitempty"`
	Status       string     `json:"status"`
	Scaling      bool       `json:"scaling"`
	SupportDebug bool       `json:"support_debug"`
}

func toServiceItem(s *ark.Service) serviceItem {
	it := serviceItem{FailedTimes: s.FailedTimes, Owner: s.Owner, DueTime: ark.Millis(s.DueTime), InferType: s.InferType,
		ServiceName: s.Name, Description: s.Description, Project: s.ProjectID, InvocationTimes: s.InvocationTimes,
		PublishAt: ark.Millis(s.PublishAt), WorkspaceID: s.WorkspaceID, Schedule: s.Schedule,
		OperationTime: ark.Millis(s.OperationTime), ServiceID: s.ID, Tenant: s.ProjectID, Status: s.Status,
		IsOpenedSampleCollection: "false", TransitionAt: ark.Millis(s.TransitionAt),
		AdditionalProperties: s.AdditionalProperties}
	if s.Status == ark.StatusDeploying {
		pr := s.Progress
		it.Progress = &pr
	}
	return it
}

// instanceStatus is the status of a config entry's instances as the service status implies it.
func instanceStatus(serviceStatus string) string {
	switch serviceStatus {
	case ark.StatusRunning:
		return ark.StatusRunning
	case ark.StatusStopped, ark.StatusStopping:
		return ark.StatusStopped
	case ark.StatusFailed:
		return ark.StatusFailed
	}
	return "notReady"
}

func (s *Server) handleServiceShow(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	svc, err := s.Store.FindService(r.Context(), p.ProjectID, r.PathValue("service_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d := serviceDetail{serviceItem: toServiceItem(svc), ClusterID: svc.ClusterID, PoolName: svc.PoolName,
		VPCID: svc.VPCID, SubnetNetworkID: svc.SubnetNetworkID, SecurityGroupID: svc.SecurityGroupID,
		UpdateTime: ark.Millis(svc.UpdateTime), LoadBalancerPolicy: svc.LoadBalancerPolicy, Priority: svc.Priority,
		Config: make([]serviceConfigView, 0, len(svc.Config))}
	if svc.Status == ark.StatusFailed {
		d.ErrorMsg = svc.ErrorMsg
	}
	d.AdditionalProperties = svc.AdditionalProperties
	if d.AdditionalProperties == nil {
		d.AdditionalProperties = map[string]ark.ServiceAdditionalProperties{}
	}
	var byID map[string]*ark.Node
	var placed map[string]ark.EdgePlacement
	if svc.InferType == ark.InferEdge {
		if byID, placed, err = s.edgeState(r.Context(), svc); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	for _, c := range svc.Config {
		v := serviceConfigView{ServiceConfig: c, Status: instanceStatus(svc.Status)}
		if svc.InferType == ark.InferEdge {
			v.Nodes = s.edgeNodes(c, svc, byID, placed)
		}
		d.Config = append(d.Config, v)
	}
	// Inference goes through the gateway to real-time services only; edge instances serve on
	// their nodes.
	if svc.InferType != ark.InferEdge && (svc.Status == ark.StatusRunning || svc.Status == ark.StatusConcerning) {
		d.AccessAddress = s.serviceBase(r) + "/v1/infers/" + svc.ID
	}
	s.writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleServiceList(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := ark.ServiceFilter{ProjectID: p.ProjectID}
	f.ServiceID = q.str("service_id", ark.MaxIDLen)
	f.Name = q.str("service_name", ark.MaxNameLen)
	f.ModelID = q.str("model_id", ark.MaxIDLen)
	f.WorkspaceID = q.str("workspace_id", ark.MaxIDLen)
	f.InferType = q.enum("infer_type", ark.InferRealTime, ark.InferBatch, ark.InferEdge)
	f.Status = q.enum("status", ark.StatusRunning, ark.StatusDeploying, ark.StatusConcerning, ark.StatusFailed,
		ark.StatusStopped, "finished", ark.StatusStopping, ark.StatusDeleting, "pending", "waiting")
	f.SortBy = q.enum("sort_by", "publish_at", "service_name", "transition_at")
	f.Order = q.enum("order", "asc", "desc")
	q.str("tags", ark.MaxStringLen) // accepted; arkserve has no tags yet, so it filters nothing
	f.Offset, f.Limit = q.page()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	svcs, total, err := s.Store.ListServices(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items := make([]serviceItem, 0, len(svcs))
	for _, svc := range svcs {
		items = append(items, toServiceItem(svc))
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"total_count": total, "count": len(items), "services": items})
}

// logConfig is ServiceLogConfig: exactly the fields of the reference's Table 6. weight and
// instance_count are returned for real-time services only, as the table says.
type logConfig struct {
	ModelID              string                                   `json:"model_id"`
	ModelName            string                                   `json:"model_name,omitempty"`
	ModelVersion         string                                   `json:"model_version,omitempty"`
	Weight               *int                                     `json:"weight,omitempty"`
	Specification        string                                   `json:"specification,omitempty"`
	CustomSpec           *ark.CustomSpec                          `json:"custom_spec,omitempty"`
	Envs                 map[string]string                        `json:"envs,omitempty"`
	ClusterID            string                                   `json:"cluster_id,omitempty"`
	InstanceCount        *int                                     `json:"instance_count,omitempty"`
	AdditionalProperties map[string]ark.ModelAdditionalProperties `json:"additional_properties,omitempty"`
}

// logEntry is Log (Table 5). success_num, failed_num and result_detail are present for edge
// services only (while the entry is RUNNING they count the node operations finished so far).
type logEntry struct {
	UpdateTime   int64              `json:"update_time"`
	Result       string             `json:"result"`
	Config       []logConfig        `json:"config"`
	SuccessNum   *int               `json:"success_num,omitempty"`
	FailedNum    *int               `json:"failed_num,omitempty"`
	ResultDetail []ark.UpdateResult `json:"result_detail,omitzero"`
	ClusterID    string             `json:"cluster_id,omitempty"`
	ExtendConfig []string           `json:"extend_config,omitempty"`
}

type logsResponse struct {
	ServiceName string     `json:"service_name"`
	ServiceID   string     `json:"service_id"`
	Logs        []logEntry `json:"logs"`
}

func (s *Server) handleServiceLogs(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var ut *int64
	if v, ok := q.integer("update_time", 0, 1<<53); ok {
		ut = &v
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	s.writeLogs(w, r, p.ProjectID, r.PathValue("service_id"), ut)
}

func toLogsResponse(svc *ark.Service, logs []ark.UpdateLog) logsResponse {
	out := logsResponse{ServiceName: svc.Name, ServiceID: svc.ID, Logs: make([]logEntry, 0, len(logs))}
	edge := svc.InferType == ark.InferEdge
	for _, l := range logs {
		e := logEntry{UpdateTime: l.UpdateTime, Result: l.Result, Config: make([]logConfig, 0, len(l.Config)),
			ClusterID: l.ClusterID, ExtendConfig: l.ExtendConfig}
		if edge {
			success, failed, detail := ark.EdgeResults(l.Edge)
			e.SuccessNum, e.FailedNum, e.ResultDetail = &success, &failed, detail
		}
		for _, c := range l.Config {
			lc := logConfig{ModelID: c.ModelID, ModelName: c.ModelName, ModelVersion: c.ModelVersion,
				Specification: c.Specification, CustomSpec: c.CustomSpec, Envs: c.Envs,
				ClusterID: c.ClusterID, AdditionalProperties: c.AdditionalProperties}
			if !edge {
				lc.Weight, lc.InstanceCount = &c.Weight, &c.InstanceCount
			}
			e.Config = append(e.Config, lc)
		}
		out.Logs = append(out.Logs, e)
	}
	return out
}

// eventInfoForbidden are the characters the reference does not allow in the event_info filter.
const eventInfoForbidden = "`(){}';,[]<>/?"

func (s *Server) handleServiceEvents(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := ark.EventFilter{ProjectID: p.ProjectID, ServiceID: r.PathValue("service_id")}
	f.Type = q.enum("event_type", ark.EventNormal, ark.EventAbnormal)
	f.Info = q.str("event_info", ark.MaxStringLen)
	if strings.ContainsAny(f.Info, eventInfoForbidden) {
		q.fail("event_info", "the characters %s are not allowed.", eventInfoForbidden)
	}
	if v, ok := q.integer("start_time", 0, 1<<53); ok {
		f.Start = time.UnixMilli(v)
	}
	if v, ok := q.integer("end_time", 0, 1<<53); ok {
		f.End = time.UnixMilli(v)
	}
	q.enum("sort_by", "occur_time")
	f.Order = q.enum("order", "asc", "desc")
	f.Offset, f.Limit = q.page()
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	svc, events, total, err := s.Store.ListEvents(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	type eventView struct {
		EventType string `json:"event_type"`
		EventInfo string `json:"event_info"`
		OccurTime int64  `json:"occur_time"`
	}
	views := make([]eventView, 0, len(events))
	for _, e := range events {
		views = append(views, eventView{EventType: e.Type, EventInfo: e.Info, OccurTime: ark.Millis(e.OccurTime)})
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"service_name": svc.Name, "service_id": svc.ID,
		"total_count": total, "count": len(views), "events": views})
}
