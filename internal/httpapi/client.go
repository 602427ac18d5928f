package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client is a Go client of the arkserve HTTP API: the Keystone token call and the ModelArts v1
// model and service calls. BaseURL is the server's base URL (e.g. http://127.0.0.1:8111, without
// /v1); Token is sent as X-Auth-Token; HTTP defaults to http.DefaultClient.
//
// Calls that the CLI prints unchanged (lists, details, events, update logs) return the response
// body as well as its decoded form. Every error response becomes an *APIError.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// MaxClientResponseBytes bounds a response body the client reads.
const MaxClientResponseBytes = 64 << 20

// APIError is an error response: the HTTP status and the ModelArts error body
// {"error_code", "error_msg"}. A body in another shape (Keystone's {"error": {...}}, or not JSON
// at all, e.g. from a proxy) leaves Code empty and puts what it can in Message.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, msg, e.Status)
}

// decodeAPIError builds the APIError of a non-success response.
func decodeAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var b struct {
		ErrorCode string `json:"error_code"`
		ErrorMsg  string `json:"error_msg"`
		Error     *struct {
			Code    any    `json:"code"`
			Title   string `json:"title"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &b) == nil {
		switch {
		case b.ErrorCode != "" || b.ErrorMsg != "":
			e.Code, e.Message = b.ErrorCode, b.ErrorMsg
			return e
		case b.Error != nil && b.Error.Message != "":
			e.Message = b.Error.Message
			return e
		}
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	if text != "" {
		e.Message = http.StatusText(status) + ": " + text
	}
	return e
}

// do sends a request and returns the body of a response with status want. body is encoded as JSON
// unless it is a json.RawMessage or []byte, which are sent as they are.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any, want int) (*http.Response, []byte, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	if base == "" {
		return nil, nil, errors.New("no server URL")
	}
	u := base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		var b []byte
		switch v := body.(type) {
		case json.RawMessage:
			b = v
		case []byte:
			b = v
		default:
			var err error
			if b, err = json.Marshal(body); err != nil {
				return nil, nil, fmt.Errorf("encode request: %w", err)
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("X-Auth-Token", c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxClientResponseBytes+1))
	if err != nil {
		return resp, nil, fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if len(data) > MaxClientResponseBytes {
		return resp, nil, fmt.Errorf("%s %s: response larger than %d bytes", method, path, MaxClientResponseBytes)
	}
	if resp.StatusCode != want {
		return resp, data, decodeAPIError(resp.StatusCode, data)
	}
	return resp, data, nil
}

// call is do for the ModelArts calls (status 200) that decode the body into out (when non-nil).
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body, out any) ([]byte, error) {
	_, data, err := c.do(ctx, method, path, query, body, http.StatusOK)
	if err != nil {
		return data, err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return data, fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return data, nil
}

// get sends a GET and decodes the body into a new T; it returns the body bytes as well, so that
// callers can print the response unchanged.
func get[T any](ctx context.Context, c *Client, path string, query url.Values) (*T, []byte, error) {
	var out T
	data, err := c.call(ctx, http.MethodGet, path, query, nil, &out)
	if err != nil {
		return nil, data, err
	}
	return &out, data, nil
}

func projectPath(projectID string, parts ...string) string {
	var b strings.Builder
	b.WriteString("/v1/")
	b.WriteString(url.PathEscape(projectID))
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(p)
	}
	return b.String()
}

// LoginResult is what Authenticate returns.
type LoginResult struct {
	Token     string
	ProjectID string
	ExpiresAt time.Time
}

// Authenticate gets a token with Keystone's password method, for the user by name in the domain
// by name, scoped to the project by name in that domain (POST /v3/auth/tokens, 201).
func (c *Client) Authenticate(ctx context.Context, user, password, domain, project string) (*LoginResult, error) {
	dom := map[string]string{"name": domain}
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{
			"methods":  []string{"password"},
			"password": map[string]any{"user": map[string]any{"name": user, "password": password, "domain": dom}},
		},
		"scope": map[string]any{"project": map[string]any{"name": project, "domain": dom}},
	}}
	resp, data, err := c.do(ctx, http.MethodPost, "/v3/auth/tokens", nil, body, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	var out struct {
		Token struct {
			ExpiresAt string `json:"expires_at"`
			Project   struct {
				ID string `json:"id"`
			} `json:"project"`
		} `json:"token"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("POST /v3/auth/tokens: decode response: %w", err)
	}
	r := &LoginResult{Token: resp.Header.Get("X-Subject-Token"), ProjectID: out.Token.Project.ID}
	if r.Token == "" || r.ProjectID == "" {
		return nil, errors.New("POST /v3/auth/tokens: the response has no X-Subject-Token or no project")
	}
	if out.Token.ExpiresAt != "" {
		if r.ExpiresAt, err = time.Parse(time.RFC3339Nano, out.Token.ExpiresAt); err != nil {
			return nil, fmt.Errorf("POST /v3/auth/tokens: expires_at %q: %w", out.Token.ExpiresAt, err)
		}
	}
	return r, nil
}

// Login is Authenticate returning only the token and the project id. It does not set c.Token.
func (c *Client) Login(ctx context.Context, user, password, domain, project string) (token, projectID string, err error) {
	r, err := c.Authenticate(ctx, user, password, domain, project)
	if err != nil {
		return "", "", err
	}
	return r.Token, r.ProjectID, nil
}

// ModelRequest is the CreateModel body (the fields the client sets; the server takes more).
type ModelRequest struct {
	ModelName      string `json:"model_name"`
	ModelVersion   string `json:"model_version"`
	SourceLocation string `json:"source_location"`
	ModelType      string `json:"model_type"`
	Description    string `json:"description,omitempty"`
	Runtime        string `json:"runtime,omitempty"`
	ModelAlgorithm string `json:"model_algorithm,omitempty"`
	// InitialConfig is the model's config.json as a JSON string (cmd, health, ...).
	InitialConfig string `json:"initial_config,omitempty"`
}

// CreateModel registers a model (POST /v1/{project_id}/models) and returns its id.
func (c *Client) CreateModel(ctx context.Context, projectID string, req ModelRequest) (string, error) {
	var out struct {
		ModelID string `json:"model_id"`
	}
	_, err := c.call(ctx, http.MethodPost, projectPath(projectID, "models"), nil, req, &out)
	return out.ModelID, err
}

// ModelInfo is a model as ListModels and ShowModel return it (the fields the client reads).
type ModelInfo struct {
	ModelID        string `json:"model_id"`
	ModelName      string `json:"model_name"`
	ModelVersion   string `json:"model_version"`
	ModelType      string `json:"model_type"`
	ModelStatus    string `json:"model_status"`
	ModelSize      int64  `json:"model_size"`
	Description    string `json:"description"`
	CreateAt       int64  `json:"create_at"`
	Owner          string `json:"owner"`
	SourceLocation string `json:"source_location,omitempty"`
	Runtime        string `json:"runtime,omitempty"`
	Cmd            string `json:"cmd,omitempty"`
}

// ModelList is the ListModels body.
type ModelList struct {
	TotalCount int         `json:"total_count"`
	Count      int         `json:"count"`
	Models     []ModelInfo `json:"models"`
}

// ListModels lists models (GET /v1/{project_id}/models) with the reference's query parameters
// (model_name, model_version, model_status, offset, limit, sort_by, order, ...). It returns the
// decoded list and the response body.
func (c *Client) ListModels(ctx context.Context, projectID string, query url.Values) (*ModelList, []byte, error) {
	return get[ModelList](ctx, c, projectPath(projectID, "models"), query)
}

// ShowModel returns a model (GET /v1/{project_id}/models/{model_id}) and the response body.
func (c *Client) ShowModel(ctx context.Context, projectID, modelID string) (*ModelInfo, []byte, error) {
	return get[ModelInfo](ctx, c, projectPath(projectID, "models", url.PathEscape(modelID)), nil)
}

// ModelDeleteFailure is an entry of DeleteModel's delete_failed_list.
type ModelDeleteFailure struct {
	ModelID   string `json:"model_id"`
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

// ModelDeleteResult is the DeleteModel body.
type ModelDeleteResult struct {
	DeleteSuccessList []string             `json:"delete_success_list"`
	DeleteFailedList  []ModelDeleteFailure `json:"delete_failed_list"`
}

// DeleteModel deletes a model (DELETE /v1/{project_id}/models/{model_id}), with cascade its other
// versions too. A model that cannot be deleted (in use by a service) is reported in the result's
// DeleteFailedList, not as an error, as the API does.
func (c *Client) DeleteModel(ctx context.Context, projectID, modelID string, cascade bool) (*ModelDeleteResult, error) {
	var q url.Values
	if cascade {
		q = url.Values{"cascade": {"true"}}
	}
	var out ModelDeleteResult
	if _, err := c.call(ctx, http.MethodDelete, projectPath(projectID, "models", url.PathEscape(modelID)), q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// NodeInfo is an edge node as ListNodes and ShowNode return it (the fields the client reads).
type NodeInfo struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	State         string   `json:"state"`
	HostName      string   `json:"host_name"`
	HostIPs       []string `json:"host_ips"`
	OSName        string   `json:"os_name"`
	Arch          string   `json:"arch"`
	CPU           int      `json:"cpu"`
	Memory        int      `json:"memory"`
	GPUNum        int      `json:"gpu_num"`
	DeploymentNum int      `json:"deployment_num"`
	HeartbeatAt   int64    `json:"heartbeat_at"`
}

// NodeList is the ListNodes body.
type NodeList struct {
	Count int        `json:"count"`
	Nodes []NodeInfo `json:"nodes"`
}

// ListNodes lists the project's edge nodes (GET /v1/{project_id}/nodes, an extension). It returns
// the decoded list and the response body.
func (c *Client) ListNodes(ctx context.Context, projectID string) (*NodeList, []byte, error) {
	return get[NodeList](ctx, c, projectPath(projectID, "nodes"), nil)
}

// ShowNode returns an edge node (GET /v1/{project_id}/nodes/{node_id}) and the response body.
func (c *Client) ShowNode(ctx context.Context, projectID, nodeID string) (*NodeInfo, []byte, error) {
	return get[NodeInfo](ctx, c, projectPath(projectID, "nodes", url.PathEscape(nodeID)), nil)
}

// DeleteNode deletes an edge node (DELETE /v1/{project_id}/nodes/{node_id}); a node that still
// has placements is refused.
func (c *Client) DeleteNode(ctx context.Context, projectID, nodeID string) error {
	_, err := c.call(ctx, http.MethodDelete, projectPath(projectID, "nodes", url.PathEscape(nodeID)), nil, nil, nil)
	return err
}

// ServiceConfigRequest is a ServiceConfig of the deploy and update bodies (the fields the client
// sets).
type ServiceConfigRequest struct {
	ModelID       string            `json:"model_id"`
	Weight        int               `json:"weight"`
	Specification string            `json:"specification"`
	InstanceCount int               `json:"instance_count"`
	Envs          map[string]string `json:"envs,omitempty"`
}

// DeployRequest is the CreateService body (the fields the client sets).
type DeployRequest struct {
	ServiceName string                 `json:"service_name"`
	Description string                 `json:"description,omitempty"`
	InferType   string                 `json:"infer_type"`
	Config      []ServiceConfigRequest `json:"config"`
}

// UpdateRequest is the UpdateService body (the fields the client sets); nil and empty fields are
// left out and so left unchanged.
type UpdateRequest struct {
	Description *string                `json:"description,omitempty"`
	Status      string                 `json:"status,omitempty"`
	Config      []ServiceConfigRequest `json:"config,omitempty"`
}

// DeployService deploys a service (POST /v1/{project_id}/services) and returns its id. body is a
// DeployRequest, or any value that encodes to the CreateService body; a json.RawMessage is sent
// unchanged.
func (c *Client) DeployService(ctx context.Context, projectID string, body any) (string, error) {
	var out struct {
		ServiceID string `json:"service_id"`
	}
	_, err := c.call(ctx, http.MethodPost, projectPath(projectID, "services"), nil, body, &out)
	return out.ServiceID, err
}

// ServiceConfigInfo is a config entry of ShowService.
type ServiceConfigInfo struct {
	ModelID       string `json:"model_id"`
	ModelName     string `json:"model_name,omitempty"`
	ModelVersion  string `json:"model_version,omitempty"`
	Weight        int    `json:"weight"`
	Specification string `json:"specification,omitempty"`
	InstanceCount int    `json:"instance_count"`
	Status        string `json:"status,omitempty"`
}

// ServiceInfo is a service as ListServices and ShowService return it (the fields the client reads).
type ServiceInfo struct {
	ServiceID     string              `json:"service_id"`
	ServiceName   string              `json:"service_name"`
	Description   string              `json:"description"`
	InferType     string              `json:"infer_type"`
	Status        string              `json:"status"`
	Progress      *int                `json:"progress,omitempty"`
	PublishAt     int64               `json:"publish_at"`
	UpdateTime    int64               `json:"update_time,omitempty"`
	TransitionAt  int64               `json:"transition_at"`
	ErrorMsg      string              `json:"error_msg,omitempty"`
	AccessAddress string              `json:"access_address,omitempty"`
	Config        []ServiceConfigInfo `json:"config,omitempty"`
}

// ServiceList is the ListServices body.
type ServiceList struct {
	TotalCount int           `json:"total_count"`
	Count      int           `json:"count"`
	Services   []ServiceInfo `json:"services"`
}

// ListServices lists services (GET /v1/{project_id}/services) with the reference's query
// parameters (service_name, model_id, status, offset, limit, sort_by, order, ...). It returns the
// decoded list and the response body.
func (c *Client) ListServices(ctx context.Context, projectID string, query url.Values) (*ServiceList, []byte, error) {
	return get[ServiceList](ctx, c, projectPath(projectID, "services"), query)
}

// ShowService returns a service (GET /v1/{project_id}/services/{service_id}) and the response body.
func (c *Client) ShowService(ctx context.Context, projectID, serviceID string) (*ServiceInfo, []byte, error) {
	return get[ServiceInfo](ctx, c, projectPath(projectID, "services", url.PathEscape(serviceID)), nil)
}

// UpdateService updates a service (PUT /v1/{project_id}/services/{service_id}): its configuration,
// description, or status (running / stopped to start or stop it). body is an UpdateRequest, or any
// value that encodes to the UpdateService body; a json.RawMessage is sent unchanged.
func (c *Client) UpdateService(ctx context.Context, projectID, serviceID string, body any) error {
	_, err := c.call(ctx, http.MethodPut, projectPath(projectID, "services", url.PathEscape(serviceID)), nil, body, nil)
	return err
}

// DeleteService deletes services (DELETE /v1/{project_id}/services/{id,id,...}); an unknown id
// deletes none of them.
func (c *Client) DeleteService(ctx context.Context, projectID string, serviceIDs ...string) error {
	if len(serviceIDs) == 0 {
		return errors.New("no service id")
	}
	esc := make([]string, len(serviceIDs))
	for i, id := range serviceIDs {
		esc[i] = url.PathEscape(id)
	}
	_, err := c.call(ctx, http.MethodDelete, projectPath(projectID, "services", strings.Join(esc, ",")), nil, nil, nil)
	return err
}

// ModelMonitor is a model of ShowServiceMonitorInfo: its ready (running) instances of the configured
// ones, and its calls.
type ModelMonitor struct {
	ModelID                   string `json:"model_id"`
	ModelName                 string `json:"model_name"`
	ModelVersion              string `json:"model_version"`
	ModelRunningInstanceCount int    `json:"model_running_instance_count"`
	ModelInstanceCount        int    `json:"model_instance_count"`
	InvocationTimes           int64  `json:"invocation_times"`
	FailedTimes               int64  `json:"failed_times"`
}

// ServiceMonitor is the ShowServiceMonitorInfo body (the fields the client reads).
type ServiceMonitor struct {
	ServiceName                 string         `json:"service_name"`
	ServiceID                   string         `json:"service_id"`
	Monitors                    []ModelMonitor `json:"monitors"`
	ServiceRunningInstanceCount int            `json:"service_running_instance_count"`
	ServiceInstanceCount        int            `json:"service_instance_count"`
	ReqCountPerMin              int64          `json:"req_count_per_min"`
}

// Monitor returns what runs for a service, per model of its configuration
// (GET /v1/{project_id}/services/{service_id}/monitor), and the response body.
func (c *Client) Monitor(ctx context.Context, projectID, serviceID string) (*ServiceMonitor, []byte, error) {
	return get[ServiceMonitor](ctx, c, projectPath(projectID, "services", url.PathEscape(serviceID), "monitor"), nil)
}

// ServiceEvent is an event of ShowServiceEvents.
type ServiceEvent struct {
	EventType string `json:"event_type"`
	EventInfo string `json:"event_info"`
	OccurTime int64  `json:"occur_time"`
}

// ServiceEventList is the ShowServiceEvents body.
type ServiceEventList struct {
	ServiceName string         `json:"service_name"`
	ServiceID   string         `json:"service_id"`
	TotalCount  int            `json:"total_count"`
	Count       int            `json:"count"`
	Events      []ServiceEvent `json:"events"`
}

// ServiceEvents lists a service's events (GET /v1/{project_id}/services/{service_id}/events) with
// the reference's query parameters (event_type, start_time, end_time, offset, limit, order, ...).
// It returns the decoded list and the response body.
func (c *Client) ServiceEvents(ctx context.Context, projectID, serviceID string, query url.Values) (*ServiceEventList, []byte, error) {
	return get[ServiceEventList](ctx, c, projectPath(projectID, "services", url.PathEscape(serviceID), "events"), query)
}

// UpdateLogConfig is a ServiceLogConfig: one model version of an update-log entry.
type UpdateLogConfig struct {
	ModelID       string            `json:"model_id"`
	ModelName     string            `json:"model_name,omitempty"`
	ModelVersion  string            `json:"model_version,omitempty"`
	Weight        int               `json:"weight"`
	Specification string            `json:"specification,omitempty"`
	InstanceCount int               `json:"instance_count"`
	ClusterID     string            `json:"cluster_id,omitempty"`
	Envs          map[string]string `json:"envs,omitempty"`
}

// UpdateLogEntry is an update-log entry (the reference's Log).
type UpdateLogEntry struct {
	UpdateTime int64             `json:"update_time"`
	Result     string            `json:"result"`
	Config     []UpdateLogConfig `json:"config"`
	ClusterID  string            `json:"cluster_id,omitempty"`
}

// UpdateLogs is the ShowServiceUpdateLogs body.
type UpdateLogs struct {
	ServiceName string           `json:"service_name"`
	ServiceID   string           `json:"service_id"`
	Logs        []UpdateLogEntry `json:"logs"`
}

// ServiceLogs returns a service's update logs (GET /v1/{project_id}/services/{service_id}/logs),
// newest first; with updateTime only the entry accepted at that epoch millisecond. It returns the
// decoded logs and the response body unchanged.
func (c *Client) ServiceLogs(ctx context.Context, projectID, serviceID string, updateTime *int64) (*UpdateLogs, []byte, error) {
	var q url.Values
	if updateTime != nil {
		q = url.Values{"update_time": {strconv.FormatInt(*updateTime, 10)}}
	}
	return get[UpdateLogs](ctx, c, projectPath(projectID, "services", url.PathEscape(serviceID), "logs"), q)
}
