// Package rowcodec is what arkserve's SQL stores (internal/sqlite, internal/postgres) share: the
// columns of models, services and update-log entries, how domain values are encoded into them
// (JSON text, epoch milliseconds) and decoded back, and the filters' LIKE patterns and sort
// orders. Both engines store the same bytes, so a row reads back the same from either, and
// arkserve admin migrate copies rows as they are. SQL statements stay in each engine's package.
package rowcodec

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Scanner is a row: *sql.Row, *sql.Rows, pgx.Row, pgx.Rows.
type Scanner interface{ Scan(dest ...any) error }

// JSON encodes v as stored in a JSON column.
func JSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("rowcodec: encode %T: %v", v, err)) // our own types always encode
	}
	return string(b)
}

// FromJSON decodes a JSON column into v; "" and "null" leave v as it is.
func FromJSON(s string, v any) error {
	if s == "" || s == "null" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("decode stored %T: %w", v, err)
	}
	return nil
}

// Time decodes an epoch-millisecond column; 0 is the zero time.
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Contains is the LIKE pattern (with ESCAPE '\') that matches s anywhere, wildcards in s literal.
func Contains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// Order is the SQL sort direction of a filter's order: ASC for "asc" (any case), else DESC.
func Order(o string) string {
	if strings.EqualFold(o, "asc") {
		return "ASC"
	}
	return "DESC"
}

// ModelSort is the column a model list sorts by; false for an unknown sort_by.
func ModelSort(sortBy string) (string, bool) {
	col, ok := map[string]string{"": "created_at", "create_at": "created_at", "model_version": "version", "model_size": "size"}[sortBy]
	return col, ok
}

// ServiceSort is the column a service list sorts by; false for an unknown sort_by.
func ServiceSort(sortBy string) (string, bool) {
	col, ok := map[string]string{"": "publish_at", "publish_at": "publish_at", "service_name": "name", "transition_at": "transition_at"}[sortBy]
	return col, ok
}

// modelExtra holds the documented model fields arkserve stores and returns as given.
type modelExtra struct {
	InputParams  json.RawMessage `json:"input_params,omitempty"`
	OutputParams json.RawMessage `json:"output_params,omitempty"`
	Dependencies json.RawMessage `json:"dependencies,omitempty"`
	Apis         json.RawMessage `json:"apis,omitempty"`
	ModelDocs    json.RawMessage `json:"model_docs,omitempty"`
	Template     json.RawMessage `json:"template,omitempty"`
}

// ModelColumns are the columns of table models, in the order of ModelValues and ScanModel.
const ModelColumns = `id, project_id, owner, name, version, description, source_location, model_type, runtime,
	model_algorithm, workspace_id, execution_code, source_copy, source_type, initial_config, model_metrics,
	install_type, size, status, created_at, cmd, health, extra`

// ModelValues are m's values for ModelColumns.
func ModelValues(m *ark.Model) []any {
	extra := modelExtra{m.InputParams, m.OutputParams, m.Dependencies, m.Apis, m.ModelDocs, m.Template}
	return []any{m.ID, m.ProjectID, m.Owner, m.Name, m.Version, m.Description, m.SourceLocation, m.ModelType, m.Runtime,
		m.ModelAlgorithm, m.WorkspaceID, m.ExecutionCode, m.SourceCopy, m.SourceType, m.InitialConfig, m.ModelMetrics,
		JSON(m.InstallType), m.Size, m.Status, m.CreatedAt.UnixMilli(), m.Cmd, JSON(m.Health), JSON(extra)}
}

// ScanModel decodes a row of ModelColumns.
func ScanModel(sc Scanner) (*ark.Model, error) {
	var m ark.Model
	var installType, health, extra string
	var created int64
	if err := sc.Scan(&m.ID, &m.ProjectID, &m.Owner, &m.Name, &m.Version, &m.Description, &m.SourceLocation,
		&m.ModelType, &m.Runtime, &m.ModelAlgorithm, &m.WorkspaceID, &m.ExecutionCode, &m.SourceCopy, &m.SourceType,
		&m.InitialConfig, &m.ModelMetrics, &installType, &m.Size, &m.Status, &created, &m.Cmd, &health, &extra); err != nil {
		return nil, err
	}
	m.CreatedAt = Time(created)
	var x modelExtra
	err := errors.Join(FromJSON(installType, &m.InstallType), FromJSON(health, &m.Health), FromJSON(extra, &x))
	m.InputParams, m.OutputParams, m.Dependencies, m.Apis, m.ModelDocs, m.Template =
		x.InputParams, x.OutputParams, x.Dependencies, x.Apis, x.ModelDocs, x.Template
	return &m, err
}

// ServiceColumns are the columns of table services, in the order of ServiceValues and ScanService.
const ServiceColumns = `id, project_id, owner, name, description, infer_type, workspace_id, cluster_id, pool_name,
	vpc_id, subnet_network_id, security_group_id, load_balancer_policy, priority, schedule, additional_properties,
	service_secrets, config, status, progress, error_msg, publish_at, update_time, operation_time, transition_at,
	due_time, invocation_times, failed_times, deleted`

// ServiceValues are the values of a new service for ServiceColumns (no calls, not deleted); deleted
// is the engine's encoding of false (0 on SQLite, false on PostgreSQL).
func ServiceValues(s *ark.Service, deleted any) []any {
	return []any{s.ID, s.ProjectID, s.Owner, s.Name, s.Description, s.InferType, s.WorkspaceID, s.ClusterID, s.PoolName,
		s.VPCID, s.SubnetNetworkID, s.SecurityGroupID, s.LoadBalancerPolicy, s.Priority, JSON(s.Schedule),
		JSON(s.AdditionalProperties), JSON(s.ServiceSecrets), JSON(s.Config), s.Status, s.Progress,
		s.ErrorMsg, ark.Millis(s.PublishAt), ark.Millis(s.UpdateTime), ark.Millis(s.OperationTime), ark.Millis(s.TransitionAt),
		ark.Millis(s.DueTime), s.InvocationTimes, s.FailedTimes, deleted}
}

// ServiceStateColumns are the columns of table services that an accepted PUT rewrites, in the
// order of ServiceStateValues.
var ServiceStateColumns = []string{"description", "schedule", "due_time", "additional_properties",
	"load_balancer_policy", "service_secrets", "priority", "config", "status", "progress", "error_msg",
	"update_time", "operation_time", "transition_at"}

// ServiceStateValues are s's values for ServiceStateColumns.
func ServiceStateValues(s *ark.Service) []any {
	return []any{s.Description, JSON(s.Schedule), ark.Millis(s.DueTime), JSON(s.AdditionalProperties),
		s.LoadBalancerPolicy, JSON(s.ServiceSecrets), s.Priority, JSON(s.Config), s.Status, s.Progress,
		s.ErrorMsg, ark.Millis(s.UpdateTime), ark.Millis(s.OperationTime), ark.Millis(s.TransitionAt)}
}

// ScanService decodes a row of ServiceColumns and reports whether the service is marked deleted.
func ScanService(sc Scanner) (*ark.Service, bool, error) {
	var s ark.Service
	var sched, props, secrets, cfg string
	var publish, update, op, trans, due int64
	var deleted bool
	if err := sc.Scan(&s.ID, &s.ProjectID, &s.Owner, &s.Name, &s.Description, &s.InferType, &s.WorkspaceID,
		&s.ClusterID, &s.PoolName, &s.VPCID, &s.SubnetNetworkID, &s.SecurityGroupID, &s.LoadBalancerPolicy,
		&s.Priority, &sched, &props, &secrets, &cfg, &s.Status, &s.Progress, &s.ErrorMsg, &publish, &update, &op,
		&trans, &due, &s.InvocationTimes, &s.FailedTimes, &deleted); err != nil {
		return nil, false, err
	}
	s.PublishAt, s.UpdateTime, s.OperationTime, s.TransitionAt, s.DueTime =
		Time(publish), Time(update), Time(op), Time(trans), Time(due)
	err := errors.Join(FromJSON(sched, &s.Schedule), FromJSON(props, &s.AdditionalProperties),
		FromJSON(secrets, &s.ServiceSecrets), FromJSON(cfg, &s.Config))
	return &s, deleted, err
}

// LogColumns are the columns of table update_logs, in the order of ScanLog.
const LogColumns = `service_id, update_time, result, config, previous, cluster_id, extend_config, finished_at, edge`

// LogValues are a new entry's values for the first seven of LogColumns (finished_at defaults to 0,
// edge to "": the engine plans an edge entry's node operations).
func LogValues(l *ark.UpdateLog) []any {
	return []any{l.ServiceID, l.UpdateTime, l.Result, JSON(l.Config), JSON(l.Previous), l.ClusterID, JSON(l.ExtendConfig)}
}

// ScanLog decodes a row of LogColumns.
func ScanLog(sc Scanner) (ark.UpdateLog, error) {
	var l ark.UpdateLog
	var cfg, prev, ext, edge string
	var fin int64
	if err := sc.Scan(&l.ServiceID, &l.UpdateTime, &l.Result, &cfg, &prev, &l.ClusterID, &ext, &fin, &edge); err != nil {
		return l, err
	}
	l.FinishedAt = Time(fin)
	return l, errors.Join(FromJSON(cfg, &l.Config), FromJSON(prev, &l.Previous), FromJSON(ext, &l.ExtendConfig),
		FromJSON(edge, &l.Edge))
}

// EventRow is the type and time stored for an event: its own, or normal and now when it has none.
func EventRow(e ark.Event, now int64) (typ string, ms int64) {
	typ, ms = e.Type, now
	if !e.OccurTime.IsZero() {
		ms = e.OccurTime.UnixMilli()
	}
	if typ == "" {
		typ = ark.EventNormal
	}
	return typ, ms
}

// NodeColumns are the columns of table nodes, in the order of ScanNode.
const NodeColumns = `id, project_id, name, info, created_at, updated_at, heartbeat_at, error, instances`

// NodeInfo is the info column of n: its registered facts (the name is a column of its own too).
func NodeInfo(n *ark.Node) string { return JSON(n.NodeFacts) }

// NodeInstances encodes the instances a node reported: [] for none, never null.
func NodeInstances(in []ark.NodeInstance) string {
	if in == nil {
		in = []ark.NodeInstance{}
	}
	return JSON(in)
}

// ScanNode decodes a row of NodeColumns.
func ScanNode(sc Scanner) (*ark.Node, error) {
	var n ark.Node
	var info, instances string
	var created, updated, heartbeat int64
	var name string
	if err := sc.Scan(&n.ID, &n.ProjectID, &name, &info, &created, &updated, &heartbeat, &n.Error, &instances); err != nil {
		return nil, err
	}
	n.CreatedAt, n.UpdatedAt, n.HeartbeatAt = Time(created), Time(updated), Time(heartbeat)
	err := errors.Join(FromJSON(info, &n.NodeFacts), FromJSON(instances, &n.Instances))
	n.Name = name
	return &n, err
}

// NodeCredentialColumns are the columns of table node_credentials, in the order of
// ScanNodeCredential.
const NodeCredentialColumns = `id, project_id, description, secret_hash, created_at, revoked_at`

// NodeCredentialValues are c's values for NodeCredentialColumns.
func NodeCredentialValues(c *ark.NodeCredential) []any {
	return []any{c.ID, c.ProjectID, c.Description, c.SecretHash, ark.Millis(c.CreatedAt), ark.Millis(c.RevokedAt)}
}

// ScanNodeCredential decodes a row of NodeCredentialColumns.
func ScanNodeCredential(sc Scanner) (*ark.NodeCredential, error) {
	var c ark.NodeCredential
	var created, revoked int64
	if err := sc.Scan(&c.ID, &c.ProjectID, &c.Description, &c.SecretHash, &created, &revoked); err != nil {
		return nil, err
	}
	c.CreatedAt, c.RevokedAt = Time(created), Time(revoked)
	return &c, nil
}

// PlacementColumns are the columns of table edge_placements, in the order of ScanPlacement.
const PlacementColumns = `service_id, node_id, update_time, config`

// ScanPlacement decodes a row of PlacementColumns.
func ScanPlacement(sc Scanner) (ark.EdgePlacement, error) {
	var p ark.EdgePlacement
	var cfg string
	if err := sc.Scan(&p.ServiceID, &p.NodeID, &p.UpdateTime, &cfg); err != nil {
		return p, err
	}
	return p, FromJSON(cfg, &p.Config)
}
