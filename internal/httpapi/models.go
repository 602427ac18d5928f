package httpapi

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/arkserve/arkserve/internal/ark"
)

// createModelRequest is the CreateModel body.
type createModelRequest struct {
	ModelName        string          `json:"model_name"`
	ModelVersion     string          `json:"model_version"`
	SourceLocation   string          `json:"source_location"`
	ModelType        string          `json:"model_type"`
	Description      string          `json:"description"`
	Runtime          string          `json:"runtime"`
	ExecutionCode    string          `json:"execution_code"`
	SourceCopy       string          `json:"source_copy"`
	InitialConfig    string          `json:"initial_config"`
	SourceJobID      string          `json:"source_job_id"`
	SourceJobVersion string          `json:"source_job_version"`
	InputParams      json.RawMessage `json:"input_params"`
	OutputParams     json.RawMessage `json:"output_params"`
	ModelMetrics     string          `json:"model_metrics"`
	SourceType       string          `json:"source_type"`
	Dependencies     json.RawMessage `json:"dependencies"`
	WorkspaceID      string          `json:"workspace_id"`
	ModelAlgorithm   string          `json:"model_algorithm"`
	Apis             json.RawMessage `json:"apis"`
	InstallType      []string        `json:"install_type"`
	ModelDocs        json.RawMessage `json:"model_docs"`
	Template         json.RawMessage `json:"template"`
}

// modelConfigFile is the part of a model's configuration file (initial_config or config.json)
// that arkserve reads: how to start an instance and how to tell that it is ready.
type modelConfigFile struct {
	ModelAlgorithm string          `json:"model_algorithm"`
	ModelType      string          `json:"model_type"`
	Runtime        string          `json:"runtime"`
	Cmd            string          `json:"cmd"`
	Health         *healthWire     `json:"health"`
	Apis           json.RawMessage `json:"apis"`
	Dependencies   json.RawMessage `json:"dependencies"`
}

// healthWire is ModelHealth as the reference writes it: every field a string (numbers accepted).
type healthWire struct {
	Protocol            string     `json:"protocol,omitempty"`
	CheckMethod         string     `json:"check_method,omitempty"`
	URL                 string     `json:"url,omitempty"`
	Command             string     `json:"command,omitempty"`
	InitialDelaySeconds flexString `json:"initial_delay_seconds,omitempty"`
	TimeoutSeconds      flexString `json:"timeout_seconds,omitempty"`
	PeriodSeconds       flexString `json:"period_seconds,omitempty"`
	FailureThreshold    flexString `json:"failure_threshold,omitempty"`
}

func (h *healthWire) toDomain() (ark.Health, error) {
	out := ark.DefaultHealth()
	if h == nil {
		return out, nil
	}
	if h.Protocol != "" {
		out.Protocol = strings.ToLower(h.Protocol)
	}
	if h.CheckMethod != "" {
		out.CheckMethod = strings.ToUpper(h.CheckMethod)
	}
	if h.URL != "" {
		out.URL = h.URL
	}
	out.Command = h.Command
	for _, f := range []struct {
		name string
		v    flexString
		dst  *int
	}{
		{"health.initial_delay_seconds", h.InitialDelaySeconds, &out.InitialDelaySeconds},
		{"health.timeout_seconds", h.TimeoutSeconds, &out.TimeoutSeconds},
		{"health.period_seconds", h.PeriodSeconds, &out.PeriodSeconds},
		{"health.failure_threshold", h.FailureThreshold, &out.FailureThreshold},
	} {
		if f.v == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(f.v)))
		if err != nil {
			return out, ark.Errorf(ark.EInvalidParam, "Parameter (%s) is invalid: an integer is required.", f.name)
		}
		*f.dst = n
	}
	return out, ark.ValidateHealth(out)
}

func healthToWire(h ark.Health) healthWire {
	return healthWire{Protocol: h.Protocol, CheckMethod: h.CheckMethod, URL: h.URL, Command: h.Command,
		InitialDelaySeconds: flexString(strconv.Itoa(h.InitialDelaySeconds)),
		TimeoutSeconds:      flexString(strconv.Itoa(h.TimeoutSeconds)),
		PeriodSeconds:       flexString(strconv.Itoa(h.PeriodSeconds)),
		FailureThreshold:    flexString(strconv.Itoa(h.FailureThreshold))}
}

// MaxModelConfigBytes bounds a config.json read from a model directory.
const MaxModelConfigBytes = 1 << 20

// modelDir resolves source_location to a local directory: an absolute path or a file:// URL,
// without ".." segments, that exists and is a directory.
func modelDir(loc string) (string, error) {
	p := loc
	if strings.HasPrefix(loc, "file:") {
		u, err := url.Parse(loc)
		if err != nil || (u.Host != "" && u.Host != "localhost") || u.Path == "" {
			return "", ark.Errorf(ark.EInvalidParam, "Parameter (source_location) is invalid: use an absolute directory or a file:///path URL.")
		}
		p = u.Path
	} else if strings.Contains(loc, "://") {
		return "", ark.Errorf(ark.EInvalidParam, "Parameter (source_location) is invalid: this server runs models from local directories (an absolute path or file:///path), not %s URLs.", clipString(loc[:strings.Index(loc, "://")]))
	}
	if !filepath.IsAbs(p) {
		return "", ark.Errorf(ark.EInvalidParam, "Parameter (source_location) is invalid: the directory must be an absolute path.")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", ark.Errorf(ark.EInvalidParam, "Parameter (source_location) is invalid: \"..\" is not allowed.")
		}
	}
	p = filepath.Clean(p)
	st, err := os.Stat(p)
	if err != nil {
		return "", ark.Errorf(ark.EInvalidParam, "Parameter (source_location) is invalid: directory %s does not exist or cannot be read.", clipString(p))
	}
	if !st.IsDir() {
		return "", ark.Errorf(ark.EInvalidParam, "Parameter (source_location) is invalid: %s is not a directory.", clipString(p))
	}
	return p, nil
}

// dirSize adds up the regular files under dir, giving up (and reporting what it counted) after
// maxFiles so that registering a huge tree stays quick.
func dirSize(dir string, maxFiles int) int64 {
	var total int64
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if n++; n > maxFiles {
			return filepath.SkipAll
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// checkRawShape rejects opaque fields that are not of the documented JSON kind.
func checkRawShape(field string, raw json.RawMessage, array bool) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	c := strings.TrimSpace(string(raw))[0]
	if (array && c != '[') || (!array && c != '{') {
		kind := "an object"
		if array {
			kind = "an array"
		}
		return ark.Errorf(ark.EInvalidParam, "Parameter (%s) is invalid: expected %s.", field, kind)
	}
	return nil
}

func (s *Server) handleModelCreate(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	var req createModelRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.modelFromRequest(&req, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.CreateModel(r.Context(), m); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]string{"model_id": m.ID})
}

func (s *Server) modelFromRequest(req *createModelRequest, p *ark.Principal) (*ark.Model, error) {
	for _, f := range []struct {
		name  string
		raw   json.RawMessage
		array bool
	}{{"input_params", req.InputParams, true}, {"output_params", req.OutputParams, true},
		{"dependencies", req.Dependencies, true}, {"apis", req.Apis, true}, {"model_docs", req.ModelDocs, true},
		{"template", req.Template, false}} {
		if err := checkRawShape(f.name, f.raw, f.array); err != nil {
			return nil, err
		}
	}
	m := &ark.Model{
		ID: ark.NewUUID(), ProjectID: p.ProjectID, Owner: p.UserID, Name: req.ModelName, Version: req.ModelVersion,
		Description: req.Description, SourceLocation: req.SourceLocation, ModelType: req.ModelType, Runtime: req.Runtime,
		ModelAlgorithm: req.ModelAlgorithm, WorkspaceID: req.WorkspaceID, ExecutionCode: req.ExecutionCode,
		SourceCopy: req.SourceCopy, SourceType: req.SourceType, InitialConfig: req.InitialConfig,
		ModelMetrics: req.ModelMetrics, InstallType: req.InstallType, Status: ark.ModelPublished,
		InputParams: req.InputParams, OutputParams: req.OutputParams, Dependencies: req.Dependencies,
		Apis: req.Apis, ModelDocs: req.ModelDocs, Template: req.Template, Health: ark.DefaultHealth(),
	}
	if m.WorkspaceID == "" {
		m.WorkspaceID = "0"
	}
	if m.SourceCopy == "" {
		m.SourceCopy = "true"
	}
	if len(m.InstallType) == 0 {
		m.InstallType = []string{"real-time", "batch"}
	}
	if err := ark.CheckText("initial_config", m.InitialConfig, MaxModelConfigBytes); err != nil && m.InitialConfig != "" {
		return nil, err
	}
	if err := ark.CheckText("model_metrics", m.ModelMetrics, 64<<10); err != nil {
		return nil, err
	}
	// Validate the form of every field before touching the file system.
	if err := ark.ValidateModel(m); err != nil {
		return nil, err
	}
	var dir string // "" for an image
	if s.ImageSource != nil && m.ModelType == ark.ModelTypeImage {
		if err := s.ImageSource(m.SourceLocation); err != nil {
			return nil, ark.Errorf(ark.EInvalidParam, "Parameter (source_location) is invalid: %s.", err.Error())
		}
	} else {
		var err error
		if dir, err = modelDir(m.SourceLocation); err != nil {
			return nil, err
		}
		m.SourceLocation = dir
	}
	cfgText := m.InitialConfig
	if cfgText == "" && dir != "" {
		b, err := readLimited(filepath.Join(dir, "config.json"), MaxModelConfigBytes)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, ark.Errorf(ark.EModelConfig, "Config json file does not conform to the specification: %s.", clipString(err.Error()))
		}
		cfgText = string(b)
		m.InitialConfig = cfgText
	}
	if strings.TrimSpace(cfgText) != "" {
		var cf modelConfigFile
		if err := json.Unmarshal([]byte(cfgText), &cf); err != nil {
			return nil, ark.Errorf(ark.EModelConfig, "Config json file does not conform to the specification: %s.", clipString(err.Error()))
		}
		m.Cmd = cf.Cmd
		var err error
		if m.Health, err = cf.Health.toDomain(); err != nil {
			return nil, err
		}
		if m.Runtime == "" {
			m.Runtime = cf.Runtime
		}
		if m.ModelAlgorithm == "" {
			m.ModelAlgorithm = cf.ModelAlgorithm
		}
		if len(m.Apis) == 0 {
			m.Apis = cf.Apis
		}
		if len(m.Dependencies) == 0 {
			m.Dependencies = cf.Dependencies
		}
		if err := errors.Join(checkRawShape("config.json apis", m.Apis, true), checkRawShape("config.json dependencies", m.Dependencies, true)); err != nil {
			return nil, ark.Errorf(ark.EModelConfig, "Config json file does not conform to the specification: apis and dependencies must be arrays.")
		}
		// Re-check what came from the file with the same rules as the request.
		if err := ark.ValidateModel(m); err != nil {
			return nil, err
		}
	}
	if m.Cmd != "" && !s.mayRegisterCmd(p) {
		return nil, ark.Errorf(ark.EForbidden, "You are not authorized to perform the (register a model with a cmd) operation: it runs commands on the server's host; roles allowed: %s.", strings.Join(s.CmdModelRoles, ", "))
	}
	if dir != "" {
		m.Size = dirSize(dir, 100000)
	}
	return m, nil
}

func (s *Server) mayRegisterCmd(p *ark.Principal) bool {
	for _, r := range s.CmdModelRoles {
		if p.HasRole(r) {
			return true
		}
	}
	return false
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, errors.New("config.json is larger than 1 MiB")
	}
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	if err != nil && st.Size() > 0 {
		return nil, err
	}
	return b, nil
}

// modelListItem is an entry of ListModels.
type modelListItem struct {
	Owner           string            `json:"owner"`
	ModelVersion    string            `json:"model_version"`
	ModelType       string            `json:"model_type"`
	Description     string            `json:"description"`
	Project         string            `json:"project"`
	SourceType      string            `json:"source_type"`
	ModelID         string            `json:"model_id"`
	ModelSource     string            `json:"model_source"`
	InstallType     []string          `json:"install_type"`
	ModelSize       int64             `json:"model_size"`
	WorkspaceID     string            `json:"workspace_id"`
	ModelStatus     string            `json:"model_status"`
	MarketFlag      bool              `json:"market_flag"`
	Tunable         bool              `json:"tunable"`
	ModelName       string            `json:"model_name"`
	CreateAt        int64             `json:"create_at"`
	PublishableFlag bool              `json:"publishable_flag"`
	SourceCopy      string            `json:"source_copy"`
	Tenant          string            `json:"tenant"`
	Specification   map[string]string `json:"specification"`
}

// modelDetail is ShowModel's body.
type modelDetail struct {
	modelListItem
	SourceLocation   string          `json:"source_location"`
	SourceJobID      string          `json:"source_job_id,omitempty"`
	SourceJobVersion string          `json:"source_job_version,omitempty"`
	ModelAlgorithm   string          `json:"model_algorithm"`
	ExecutionCode    string          `json:"execution_code,omitempty"`
	ImageAddress     string          `json:"image_address,omitempty"`
	InputParams      json.RawMessage `json:"input_params,omitempty"`
	OutputParams     json.RawMessage `json:"output_params,omitempty"`
	Health           healthWire      `json:"health"`
	Runtime          string          `json:"runtime,omitempty"`
	ModelMetrics     string          `json:"model_metrics,omitempty"`
	Dependencies     json.RawMessage `json:"dependencies,omitempty"`
	Apis             string          `json:"apis,omitempty"`
	ModelDocs        json.RawMessage `json:"model_docs,omitempty"`
	ModelLabels      []string        `json:"model_labels"`
	LabelsMap        map[string]any  `json:"labels_map"`
	Config           string          `json:"config,omitempty"`
	Cmd              string          `json:"cmd,omitempty"`
}

func toModelListItem(m *ark.Model) modelListItem {
	return modelListItem{Owner: m.Owner, ModelVersion: m.Version, ModelType: m.ModelType, Description: m.Description,
		Project: m.ProjectID, SourceType: m.SourceType, ModelID: m.ID, ModelSource: "custom", InstallType: m.InstallType,
		ModelSize: m.Size, WorkspaceID: m.WorkspaceID, ModelStatus: m.Status, ModelName: m.Name,
		CreateAt: ark.Millis(m.CreatedAt), PublishableFlag: true, SourceCopy: m.SourceCopy, Tenant: m.ProjectID,
		Specification: map[string]string{}}
}

func (s *Server) handleModelShow(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	m, err := s.Store.FindModel(r.Context(), p.ProjectID, r.PathValue("model_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d := modelDetail{modelListItem: toModelListItem(m), SourceLocation: m.SourceLocation, ModelAlgorithm: m.ModelAlgorithm,
		ExecutionCode: m.ExecutionCode, InputParams: m.InputParams, OutputParams: m.OutputParams,
		Health: healthToWire(m.Health), Runtime: m.Runtime, ModelMetrics: m.ModelMetrics, Dependencies: m.Dependencies,
		ModelDocs: m.ModelDocs, ModelLabels: []string{}, LabelsMap: map[string]any{"labels": []string{}},
		Config: m.InitialConfig, Cmd: m.Cmd}
	if len(m.Apis) > 0 {
		d.Apis = string(m.Apis) // the reference types apis as a string holding JSON
	}
	s.writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleModelList(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := ark.ModelFilter{ProjectID: p.ProjectID}
	f.Name = q.str("model_name", ark.MaxNameLen)
	f.ExactMatch = q.boolean("exact_match")
	f.Version = q.str("model_version", 16)
	f.Status = q.enum("model_status", ark.ModelPublishing, ark.ModelPublished, ark.ModelFailed, ark.ModelBuilding, ark.ModelBuildingFailed)
	f.Description = q.str("description", ark.MaxDescriptionLen)
	f.WorkspaceID = q.str("workspace_id", ark.MaxIDLen)
	types := []string{ark.ModelTypeTensorFlow, ark.ModelTypePyTorch, ark.ModelTypeMindSpore, ark.ModelTypeImage, ark.ModelTypeCustom, ark.ModelTypeTemplate}
	f.ModelType = q.enum("model_type", types...)
	f.NotModelType = q.enum("not_model_type", types...)
	f.SortBy = q.enum("sort_by", "create_at", "model_version", "model_size")
	f.Order = q.enum("order", "asc", "desc")
	f.Offset, f.Limit = q.page()
	if q.err == nil && f.ModelType != "" && f.NotModelType != "" {
		q.err = ark.Errorf(ark.EInvalidParam, "Parameter (model_type, not_model_type) is invalid: use one of them, not both.")
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	ms, total, err := s.Store.ListModels(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items := make([]modelListItem, 0, len(ms))
	for _, m := range ms {
		items = append(items, toModelListItem(m))
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"models": items, "total_count": total, "count": len(items)})
}

type deleteFailure struct {
	ErrorMsg  string `json:"error_msg"`
	ErrorCode string `json:"error_code"`
	ModelID   string `json:"model_id"`
}

func (s *Server) handleModelDelete(w http.ResponseWriter, r *http.Request, p *ark.Principal) {
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cascade := q.boolean("cascade")
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	res, err := s.Store.DeleteModel(r.Context(), p.ProjectID, r.PathValue("model_id"), cascade)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		DeleteSuccessList []string        `json:"delete_success_list"`
		DeleteFailedList  []deleteFailure `json:"delete_failed_list"`
	}{DeleteSuccessList: append([]string{}, res.Deleted...), DeleteFailedList: []deleteFailure{}}
	for _, f := range res.Failed {
		out.DeleteFailedList = append(out.DeleteFailedList, deleteFailure{ErrorMsg: f.Err.Message, ErrorCode: f.Err.Code, ModelID: f.ModelID})
	}
	s.writeJSON(w, http.StatusOK, out)
}
