package ark

import (
	"encoding/json"
	"time"
)

// Model types accepted by CreateModel.
const (
	ModelTypeImage      = "Image"
	ModelTypeTensorFlow = "TensorFlow"
	ModelTypePyTorch    = "PyTorch"
	ModelTypeMindSpore  = "MindSpore"
	ModelTypeTemplate   = "Template"
	ModelTypeCustom     = "Custom"
)

// Model statuses. arkserve validates a model synchronously at creation, so a stored model is
// "published"; the other values exist for the list filter.
const (
	ModelPublished      = "published"
	ModelPublishing     = "publishing"
	ModelFailed         = "failed"
	ModelBuilding       = "building"
	ModelBuildingFailed = "building_failed"
)

// Model is a registered AI application (one name and version).
type Model struct {
	ID             string
	ProjectID      string
	Owner          string // user id of the creator
	Name           string
	Version        string
	Description    string
	SourceLocation string // absolute local directory the model runs from
	ModelType      string
	Runtime        string
	ModelAlgorithm string
	WorkspaceID    string
	ExecutionCode  string
	SourceCopy     string
	SourceType     string
	InitialConfig  string // the configuration file as sent or read from config.json
	ModelMetrics   string
	InstallType    []string
	Size           int64 // bytes under SourceLocation at registration
	Status         string
	CreatedAt      time.Time

	// Cmd is the shell command line that starts an instance (run with /bin/sh -c in the model
	// directory, PORT and MODEL_DIR in its environment); empty for framework models, which run
	// through the launch command configured for their runtime.
	Cmd    string
	Health Health

	// Opaque documented fields that arkserve stores and returns unchanged.
	InputParams  json.RawMessage
	OutputParams json.RawMessage
	Dependencies json.RawMessage
	Apis         json.RawMessage
	ModelDocs    json.RawMessage
	Template     json.RawMessage
}

// Health is a model's readiness check. The reference types every field as a string; arkserve
// stores numbers and renders strings on the wire.
type Health struct {
	Protocol            string `json:"protocol,omitempty"`     // http
	CheckMethod         string `json:"check_method,omitempty"` // HTTP | EXEC
	URL                 string `json:"url,omitempty"`
	Command             string `json:"command,omitempty"`
	InitialDelaySeconds int    `json:"initial_delay_seconds"`
	TimeoutSeconds      int    `json:"timeout_seconds"`
	PeriodSeconds       int    `json:"period_seconds"`
	FailureThreshold    int    `json:"failure_threshold"`
}

// DefaultHealth is the readiness check of a model that does not declare one: GET /health → 200.
func DefaultHealth() Health {
	return Health{Protocol: "http", CheckMethod: "HTTP", URL: "/health", InitialDelaySeconds: 0,
		TimeoutSeconds: 5, PeriodSeconds: 1, FailureThreshold: 3}
}

// WithDefaults fills the fields of a readiness check that the model left unset (empty, zero or
// negative) with DefaultHealth's URL, timeout, period and failure threshold.
func (h Health) WithDefaults() Health {
	d := DefaultHealth()
	if h.URL == "" {
		h.URL = d.URL
	}
	if h.TimeoutSeconds <= 0 {
		h.TimeoutSeconds = d.TimeoutSeconds
	}
	if h.PeriodSeconds <= 0 {
		h.PeriodSeconds = d.PeriodSeconds
	}
	if h.FailureThreshold <= 0 {
		h.FailureThreshold = d.FailureThreshold
	}
	return h
}

// ModelFilter selects models in ListModels.
type ModelFilter struct {
	ProjectID    string
	Name         string // fuzzy unless ExactMatch
	ExactMatch   bool
	Version      string
	Status       string
	Description  string // fuzzy
	WorkspaceID  string
	ModelType    string
	NotModelType string
	SortBy       string // create_at | model_version | model_size
	Order        string // asc | desc
	Offset       int
	Limit        int
}

// DeleteModelResult reports a DeleteModel call: what was deleted and what could not be, and why.
type DeleteModelResult struct {
	Deleted []string
	Failed  []DeleteModelFailure
}

// DeleteModelFailure is one model that could not be deleted.
type DeleteModelFailure struct {
	ModelID string
	Err     *Error
}
