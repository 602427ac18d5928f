package ark

import (
	"math"
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits enforced on every request (documented in docs/api.md).
const (
	MaxNameLen          = 64
	MaxDescriptionLen   = 100
	MaxConfigEntries    = 10
	MaxInstanceCount    = 128
	MaxEnvs             = 64
	MaxEnvKeyLen        = 128
	MaxEnvValueLen      = 8192
	MaxDeployTimeout    = 6 * 3600
	DefaultDeployTimout = 600
	MaxGracePeriod      = 3600
	DefaultGracePeriod  = 30
	MaxVolumes          = 8
	MaxPathLen          = 1024
	MaxStringLen        = 256
	MaxCmdLen           = 4096
	MaxSecrets          = 16
	MaxScheduleSpanDays = 365
	MaxIDLen            = 64
)

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	versionRE = regexp.MustCompile(`^(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)$`)
	envKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// descriptionForbidden is the union of the characters the reference forbids in descriptions on its
// three pages (deploy `!<>+&"'`, update `<>=&"'`, model `&!'"<>=`): one rule for every description,
// so a value accepted once is accepted everywhere.
const descriptionForbidden = `!<>=+&"'`

// ReservedEnv are environment variables arkserve sets itself for every instance; a config may not
// override them (a different PORT would make the instance unreachable).
var ReservedEnv = map[string]bool{"PORT": true, "MODEL_DIR": true, "HOME": true}

// ReservedEnvPrefix marks variables arkserve sets to identify an instance.
const ReservedEnvPrefix = "ARKSERVE_"

func invalid(field, format string, args ...any) *Error {
	return Errorf(EInvalidParam, "Parameter (%s) is invalid: "+format, append([]any{field}, args...)...)
}

func required(field string) *Error {
	return Errorf(ERequired, "Parameter verification failed, parameter (%s) is required.", field)
}

// CheckText rejects strings that are not valid UTF-8, contain control characters or are longer than
// max characters.
func CheckText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return invalid(field, "not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(field, "%d characters, at most %d allowed", n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid(field, "control characters are not allowed")
		}
	}
	return nil
}

// ValidateName checks a model or service name: 1 to 64 characters, letters, digits, "-" and "_",
// starting with a letter.
func ValidateName(field, s string) error {
	if s == "" {
		return required(field)
	}
	if err := CheckText(field, s, MaxNameLen); err != nil {
		return err
	}
	if !nameRE.MatchString(s) {
		return invalid(field, "use 1 to %d letters, digits, hyphens and underscores, starting with a letter", MaxNameLen)
	}
	return nil
}

// ValidateDescription checks a description: at most 100 characters, none of !<>=+&"'.
func ValidateDescription(s string) error {
	if err := CheckText("description", s, MaxDescriptionLen); err != nil {
		return err
	}
	if i := strings.IndexAny(s, descriptionForbidden); i >= 0 {
		return invalid("description", "the characters %s are not allowed", descriptionForbidden)
	}
	return nil
}

// ValidateVersion checks a model version: three dot-separated numbers of one or two digits without a
// leading zero (1.0.0, 10.2.33; not 01.1.1).
func ValidateVersion(s string) error {
	if s == "" {
		return required("model_version")
	}
	if !versionRE.MatchString(s) {
		return invalid("model_version", "%q does not match Digit.Digit.Digit (1 or 2 digits each, no leading zero)", clip(s))
	}
	return nil
}

// clip shortens a user value for an error message.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// ValidateModel checks a model before registration. Paths are checked for form here; the HTTP layer
// checks that the directory exists.
func ValidateModel(m *Model) error {
	if err := ValidateName("model_name", m.Name); err != nil {
		return err
	}
	if err := ValidateVersion(m.Version); err != nil {
		return err
	}
	if err := ValidateDescription(m.Description); err != nil {
		return err
	}
	switch m.ModelType {
	case "":
		return required("model_type")
	case ModelTypeImage, ModelTypeTensorFlow, ModelTypePyTorch, ModelTypeMindSpore, ModelTypeCustom:
	case ModelTypeTemplate:
		return Errorf(ENotEnabled, "model_type Template is not supported by this server.")
	default:
		return invalid("model_type", "%q; use Image, TensorFlow, PyTorch, MindSpore or Custom", clip(m.ModelType))
	}
	if m.SourceLocation == "" {
		return required("source_location")
	}
	for field, v := range map[string]string{"runtime": m.Runtime, "model_algorithm": m.ModelAlgorithm,
		"workspace_id": m.WorkspaceID, "execution_code": m.ExecutionCode, "source_type": m.SourceType} {
		if err := CheckText(field, v, MaxStringLen); err != nil {
			return err
		}
	}
	if err := CheckText("source_location", m.SourceLocation, MaxPathLen); err != nil {
		return err
	}
	switch m.SourceCopy {
	case "", "true", "false":
	default:
		return invalid("source_copy", "use true or false")
	}
	if m.SourceType != "" && m.SourceType != "auto" {
		return invalid("source_type", "only auto is allowed")
	}
	if len(m.InstallType) > 3 {
		return invalid("install_type", "at most 3 values")
	}
	for _, t := range m.InstallType {
		if t != "real-time" && t != "batch" && t != "edge" {
			return invalid("install_type", "%q; use real-time, batch or edge", clip(t))
		}
	}
	if len(m.Cmd) > MaxCmdLen || !utf8.ValidString(m.Cmd) || strings.ContainsRune(m.Cmd, 0) {
		return invalid("cmd", "at most %d bytes of UTF-8 without NUL", MaxCmdLen)
	}
	return ValidateHealth(m.Health)
}

// ValidateHealth checks a readiness check.
func ValidateHealth(h Health) error {
	switch strings.ToUpper(h.CheckMethod) {
	case "", "HTTP":
		if h.URL != "" && (!strings.HasPrefix(h.URL, "/") || len(h.URL) > MaxPathLen || strings.ContainsAny(h.URL, " \t\r\n")) {
			return invalid("health.url", "an absolute path such as /health")
		}
	case "EXEC":
		if h.Command == "" {
			return required("health.command")
		}
		if len(h.Command) > MaxCmdLen || strings.ContainsRune(h.Command, 0) {
			return invalid("health.command", "at most %d bytes without NUL", MaxCmdLen)
		}
	default:
		return invalid("health.check_method", "use HTTP or EXEC")
	}
	if p := strings.ToLower(h.Protocol); p != "" && p != "http" {
		return invalid("health.protocol", "only http is supported")
	}
	for field, v := range map[string][2]int{
		"health.initial_delay_seconds": {h.InitialDelaySeconds, 3600},
		"health.timeout_seconds":       {h.TimeoutSeconds, 600},
		"health.period_seconds":        {h.PeriodSeconds, 600},
		"health.failure_threshold":     {h.FailureThreshold, 100},
	} {
		if v[0] < 0 || v[0] > v[1] {
			return invalid(field, "must be between 0 and %d", v[1])
		}
	}
	return nil
}

// SpecCatalog answers which specifications exist.
type SpecCatalog map[string]Spec

// NewSpecCatalog indexes specs by name.
func NewSpecCatalog(specs []Spec) SpecCatalog {
	c := make(SpecCatalog, len(specs))
	for _, s := range specs {
		c[s.Name] = s
	}
	return c
}

// ValidateServiceConfig checks the config array of a deploy or update of a real-time service and
// normalises it (custom_spec rounding). Model existence is checked by the store, in the transaction
// that takes the snapshot.
func ValidateServiceConfig(cfgs []ServiceConfig, catalog SpecCatalog) error {
	return validateConfig(cfgs, catalog, InferRealTime)
}

// ValidateEdgeConfig checks the config array of an edge service: the rules of real-time entries
// except the weights (nothing is routed between entries), and nodes: every entry names 1 or more
// nodes, no node twice in the service, at most MaxEdgeNodes, one instance per node. Whether the
// nodes exist in the project is checked against the store by the caller.
func ValidateEdgeConfig(cfgs []ServiceConfig, catalog SpecCatalog) error {
	return validateConfig(cfgs, catalog, InferEdge)
}

func validateConfig(cfgs []ServiceConfig, catalog SpecCatalog, inferType string) error {
	if len(cfgs) == 0 {
		return Errorf(EEmpty, "Parameter config cannot be empty.")
	}
	if len(cfgs) > MaxConfigEntries {
		return invalid("config", "at most %d model versions per service", MaxConfigEntries)
	}
	seen := map[string]bool{}
	sum := 0
	nodes := map[string]bool{}
	for i := range cfgs {
		c := &cfgs[i]
		if err := validateNodes(c, inferType, nodes); err != nil {
			return err
		}
		if c.ModelID == "" {
			return required("config.model_id")
		}
		if err := CheckText("config.model_id", c.ModelID, MaxIDLen); err != nil {
			return err
		}
		if seen[c.ModelID] {
			return Errorf(EDuplicateVersion, "Failed to deploy services because the version of the model that is used for deploying services is the same (model %s appears twice).", c.ModelID)
		}
		seen[c.ModelID] = true
		if c.Weight < 0 || c.Weight > 100 {
			return invalid("config.weight", "%d; each weight is between 0 and 100", c.Weight)
		}
		sum += c.Weight
		if c.InstanceCount < 1 || c.InstanceCount > MaxInstanceCount {
			return invalid("config.instance_count", "%d; use 1 to %d", c.InstanceCount, MaxInstanceCount)
		}
		if c.DeployTimeoutSeconds < 0 || c.DeployTimeoutSeconds > MaxDeployTimeout {
			return invalid("config.deploy_timeout_in_seconds", "%d; use 1 to %d", c.DeployTimeoutSeconds, MaxDeployTimeout)
		}
		if err := validateSpec(c, catalog); err != nil {
			return err
		}
		if err := validateEnvs(c.Envs); err != nil {
			return err
		}
		for field, v := range map[string]string{"config.cluster_id": c.ClusterID, "config.pool_name": c.PoolName} {
			if err := CheckText(field, v, MaxIDLen); err != nil {
				return err
			}
		}
		for key, p := range c.AdditionalProperties {
			if key != c.ModelID {
				return invalid("config.additional_properties", "keys are the model id of their entry (%s), got %q", c.ModelID, clip(key))
			}
			if err := validateModelProps(p); err != nil {
				return err
			}
		}
		if a := c.Affinity; a != nil && a.NodeAffinity != nil {
			if m := a.NodeAffinity.Mode; m != "required" && m != "preferred" {
				return invalid("config.affinity.node_affinity.mode", "use required or preferred")
			}
			for _, pi := range a.NodeAffinity.PoolInfos {
				if pi.PoolName == "" {
					return required("config.affinity.node_affinity.pool_infos.pool_name")
				}
				if len(pi.Nodes) == 0 {
					return required("config.affinity.node_affinity.pool_infos.nodes")
				}
			}
		}
	}
	if inferType == InferRealTime && sum != 100 {
		return invalid("config.weight", "the weights sum to %d; they must sum to 100", sum)
	}
	return nil
}

// validateNodes checks an entry's nodes; seen collects the nodes of the entries before it.
func validateNodes(c *ServiceConfig, inferType string, seen map[string]bool) error {
	if inferType != InferEdge {
		if len(c.Nodes) > 0 {
			return invalid("config.nodes", "nodes are for edge services (infer_type edge)")
		}
		return nil
	}
	if len(c.Nodes) == 0 {
		return required("config.nodes")
	}
	if c.InstanceCount != 1 {
		return invalid("config.instance_count", "%d; an edge service runs 1 instance on each of its nodes", c.InstanceCount)
	}
	for _, n := range c.Nodes {
		if !IsUUID(n) {
			return invalid("config.nodes", "%q is not a node id", clip(n))
		}
		if seen[n] {
			return invalid("config.nodes", "node %s appears twice", n)
		}
		seen[n] = true
	}
	if len(seen) > MaxEdgeNodes {
		return invalid("config.nodes", "at most %d nodes per service", MaxEdgeNodes)
	}
	return nil
}

func validateSpec(c *ServiceConfig, catalog SpecCatalog) error {
	if c.Specification == "" {
		return required("config.specification")
	}
	if c.Specification == SpecCustom {
		cs := c.CustomSpec
		if cs == nil {
			return required("config.custom_spec")
		}
		if math.IsNaN(cs.CPU) || cs.CPU < 0.01 || cs.CPU > 1024 {
			return invalid("config.custom_spec.cpu", "use 0.01 to 1024 CPU cores")
		}
		if cs.Memory < 1 || cs.Memory > 4<<20 {
			return invalid("config.custom_spec.memory", "use 1 to %d MB", 4<<20)
		}
		if g := cs.GPUP4; g != nil && (math.IsNaN(*g) || *g < 0 || *g > 64) {
			return invalid("config.custom_spec.gpu_p4", "use 0 to 64 GPUs")
		}
		// The reference: "the third decimal place is rounded off".
		cs.CPU = math.Round(cs.CPU*100) / 100
		if g := cs.GPUP4; g != nil {
			r := math.Round(*g*100) / 100
			cs.GPUP4 = &r
		}
		return nil
	}
	if c.CustomSpec != nil {
		return invalid("config.custom_spec", "only allowed with specification custom")
	}
	s, ok := catalog[c.Specification]
	if !ok {
		return Errorf(ENoSpec, "No resources are available for the selected specification (%s); GET /v1/{project_id}/services/specifications lists them.", clip(c.Specification))
	}
	if !s.IsOpen {
		return Errorf(ENoSpec, "No resources are available for the selected specification (%s): it must be requested.", s.Name)
	}
	return nil
}

func validateEnvs(envs map[string]string) error {
	if len(envs) > MaxEnvs {
		return invalid("config.envs", "at most %d variables", MaxEnvs)
	}
	for k, v := range envs {
		if len(k) > MaxEnvKeyLen || !envKeyRE.MatchString(k) {
			return invalid("config.envs", "variable name %q: letters, digits, _ . - (at most %d), not starting with a digit", clip(k), MaxEnvKeyLen)
		}
		if ReservedEnv[k] || strings.HasPrefix(k, ReservedEnvPrefix) {
			return invalid("config.envs", "%s is set by arkserve and cannot be overridden", k)
		}
		if len(v) > MaxEnvValueLen || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return invalid("config.envs", "value of %s: at most %d bytes of UTF-8 without NUL", k, MaxEnvValueLen)
		}
	}
	return nil
}

// systemDirs may not be mount paths of persistent volumes or log volumes.
var systemDirs = map[string]bool{"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true,
	"/lib": true, "/lib64": true, "/proc": true, "/root": true, "/run": true, "/sbin": true, "/sys": true,
	"/usr": true, "/var": true, "/var/run": true, "/var/lib": true}

func checkPath(field, p string) error {
	if p == "" {
		return required(field)
	}
	if err := CheckText(field, p, MaxPathLen); err != nil {
		return err
	}
	if !strings.HasPrefix(p, "/") {
		return invalid(field, "must be an absolute path")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return invalid(field, "must not contain ..")
		}
	}
	if systemDirs[path.Clean(p)] {
		return invalid(field, "%s is a system directory", path.Clean(p))
	}
	return nil
}

func validateModelProps(p ModelAdditionalProperties) error {
	for field, v := range map[string]*float64{"max_surge": p.MaxSurge, "max_unavailable": p.MaxUnavailable} {
		if v != nil && (math.IsNaN(*v) || *v < 0 || *v > MaxInstanceCount) {
			return invalid("additional_properties."+field, "use 0 to %d (below 1 a fraction of instance_count)", MaxInstanceCount)
		}
	}
	if g := p.TerminationGracePeriodSeconds; g != nil && (*g < 0 || *g > MaxGracePeriod) {
		return invalid("additional_properties.termination_grace_period_seconds", "use 0 to %d", MaxGracePeriod)
	}
	if len(p.LogVolume) > MaxVolumes || len(p.PersistentVolumes) > MaxVolumes {
		return invalid("additional_properties", "at most %d volumes of each kind", MaxVolumes)
	}
	for _, lv := range p.LogVolume {
		if err := checkPath("log_volume.host_path", lv.HostPath); err != nil {
			return err
		}
		if err := checkPath("log_volume.mount_path", lv.MountPath); err != nil {
			return err
		}
	}
	for _, pv := range p.PersistentVolumes {
		if err := checkPath("persistent_volumes.mount_path", pv.MountPath); err != nil {
			return err
		}
		if pv.StorageType != "" && pv.StorageType != "sfs_turbo" {
			return invalid("persistent_volumes.storage_type", "only sfs_turbo")
		}
		for field, v := range map[string]string{"persistent_volumes.name": pv.Name, "persistent_volumes.source_address": pv.SourceAddress} {
			if err := CheckText(field, v, MaxStringLen); err != nil {
				return err
			}
		}
	}
	return checkMountPaths(p)
}

// checkMountPaths refuses two volumes of one model at the same mount path or one inside another:
// no runtime can give both (the process runtime maps each to one symbolic link).
func checkMountPaths(p ModelAdditionalProperties) error {
	var paths []string
	for _, lv := range p.LogVolume {
		paths = append(paths, path.Clean(lv.MountPath))
	}
	for _, pv := range p.PersistentVolumes {
		paths = append(paths, path.Clean(pv.MountPath))
	}
	for i, a := range paths {
		for _, b := range paths[i+1:] {
			if a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/") {
				return invalid("mount_path", "%s and %s: each volume needs its own mount path, not inside another one", a, b)
			}
		}
	}
	return nil
}

// ValidateSchedule checks an auto-stop schedule: at most one entry of type stop.
func ValidateSchedule(s []Schedule) error {
	if len(s) > 1 {
		return invalid("schedule", "at most one entry")
	}
	for _, e := range s {
		if e.Type != "stop" {
			return invalid("schedule.type", "only stop")
		}
		switch e.TimeUnit {
		case "DAYS", "HOURS", "MINUTES":
		default:
			return invalid("schedule.time_unit", "use DAYS, HOURS or MINUTES")
		}
		if e.Duration < 1 || e.Span().Hours() > 24*MaxScheduleSpanDays {
			return invalid("schedule.duration", "between 1 minute and %d days", MaxScheduleSpanDays)
		}
	}
	return nil
}

// ValidateServiceProps checks service-level additional properties.
func ValidateServiceProps(props map[string]ServiceAdditionalProperties) error {
	if len(props) > 8 {
		return invalid("additional_properties", "at most 8 keys")
	}
	for k, p := range props {
		if err := CheckText("additional_properties", k, MaxIDLen); err != nil {
			return err
		}
		for topic, n := range p.SmnNotification {
			if err := CheckText("smn_notification", topic, MaxStringLen); err != nil {
				return err
			}
			if n.TopicURN == "" {
				return required("smn_notification.topic_urn")
			}
			if err := CheckText("smn_notification.topic_urn", n.TopicURN, MaxStringLen); err != nil {
				return err
			}
			if len(n.Events) == 0 {
				return required("smn_notification.events")
			}
			for _, e := range n.Events {
				if e != 1 && e != 3 && e != 7 && e != 11 {
					return invalid("smn_notification.events", "%d; use 1 (failed), 3 (running), 7 (concerning) or 11 (pending)", e)
				}
			}
		}
		for _, ch := range p.LogReportChannels {
			if ch.Type != "LTS" {
				return invalid("log_report_channels.type", "only LTS")
			}
			if c := ch.Configuration; c != nil {
				if c.LogGroupID == "" || c.LogStreamID == "" || len(c.LogGroupID) > 64 || len(c.LogStreamID) > 64 {
					return invalid("log_report_channels.configuration", "log_group_id and log_stream_id: 1 to 64 characters")
				}
			}
		}
	}
	return nil
}

// ValidateServiceFields checks the service-level fields shared by deploy and update.
func ValidateServiceFields(lb string, priority int, secrets []ServiceSecret) error {
	switch lb {
	case "", "ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP":
	default:
		return invalid("load_balancer_policy", "use ROUND_ROBIN, LEAST_CONNECTIONS or SOURCE_IP")
	}
	if priority != 0 && (priority < 1 || priority > 3) {
		return invalid("priority", "use 1 to 3")
	}
	if len(secrets) > MaxSecrets {
		return invalid("service_secrets", "at most %d", MaxSecrets)
	}
	for _, s := range secrets {
		if s.SecretID == "" {
			return required("service_secrets.secretId")
		}
		if err := CheckText("service_secrets.secretId", s.SecretID, MaxStringLen); err != nil {
			return err
		}
		if err := checkPath("service_secrets.mouthPath", s.MouthPath); err != nil {
			return err
		}
	}
	return nil
}
