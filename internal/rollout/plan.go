package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/runtime/process"
)

// group is one config entry of a target: a model version and instance_count instances of it.
// Immutable after planGroup.
type group struct {
	key       string // the model and every instance-relevant setting (groupKey)
	cfg       ark.ServiceConfig
	pos       int          // index of the entry in its configuration
	modelName string       // for pairing old groups with new ones
	label     string       // name@version, for events
	spec      InstanceSpec // template: InstanceID is filled per instance
	timeout   time.Duration
	period    time.Duration // liveness probe interval once ready
	threshold int           // consecutive failed liveness probes that make a ready instance not ready
	bounds    bounds
}

// planGroup turns a config entry and its model into what starting its instances needs. It fails
// with a user-facing message when the model cannot be run. needCmd says whether instances need a
// command line (processes do; a container image has an entrypoint of its own).
func planGroup(c ark.ServiceConfig, m *ark.Model, launch map[string]string, needCmd bool, defaultTimeout time.Duration) (*group, error) {
	label := modelLabel(c, m)
	cmd := m.Cmd
	if cmd == "" && needCmd {
		cmd = launch[m.Runtime]
	}
	if cmd == "" && needCmd {
		cmd = launch[m.ModelType]
	}
	if cmd == "" && needCmd {
		return nil, fmt.Errorf("model %s has no cmd and this server has no launch command for its runtime %q (model type %s)",
			label, m.Runtime, m.ModelType)
	}
	if m.SourceLocation == "" {
		return nil, fmt.Errorf("model %s has no source location", label)
	}
	if c.InstanceCount < 1 {
		return nil, fmt.Errorf("model %s: instance_count %d; at least 1 is needed", label, c.InstanceCount)
	}
	grace := gracePeriod(c)
	timeout := defaultTimeout
	if c.DeployTimeoutSeconds > 0 {
		timeout = time.Duration(c.DeployTimeoutSeconds) * time.Second
	}
	h := m.Health
	withDefaults := h.WithDefaults()
	period := time.Duration(withDefaults.PeriodSeconds) * time.Second
	threshold := withDefaults.FailureThreshold
	g := &group{
		key: groupKey(c), cfg: c, modelName: m.Name, label: label, timeout: timeout, period: period,
		threshold: threshold, bounds: rollingBounds(c.InstanceCount, c.AdditionalProperties[c.ModelID]),
		spec: InstanceSpec{ModelID: c.ModelID, ModelDir: m.SourceLocation, Cmd: cmd, Env: c.Envs,
			Health: h, GracePeriod: grace, ProjectID: m.ProjectID,
			Volumes: process.VolumesOf(c.AdditionalProperties[c.ModelID])},
	}
	return g, nil
}

func modelLabel(c ark.ServiceConfig, m *ark.Model) string {
	name, version := c.ModelName, c.ModelVersion
	if m != nil {
		if name == "" {
			name = m.Name
		}
		if version == "" {
			version = m.Version
		}
	}
	if name == "" {
		return c.ModelID
	}
	return name + "@" + version
}

// groupKey identifies what an entry's instances run: the model and every field that reaches the
// instances. The weight (it only steers traffic), the instance count (a change adds or removes
// instances), the deploy timeout and the rolling bounds (they steer the rollout, not the
// instances) are left out, as are the names the store resolves.
func groupKey(c ark.ServiceConfig) string {
	c.Weight, c.InstanceCount, c.DeployTimeoutSeconds, c.ModelName, c.ModelVersion = 0, 0, 0, "", ""
	p := c.AdditionalProperties[c.ModelID]
	c.AdditionalProperties = nil
	if p.LogVolume != nil || p.PersistentVolumes != nil || p.TerminationGracePeriodSeconds != nil {
		p.MaxSurge, p.MaxUnavailable = nil, nil
		c.AdditionalProperties = map[string]ark.ModelAdditionalProperties{c.ModelID: p}
	}
	return c.ModelID + "-" + hash(c)
}

// configKey identifies a whole configuration (weights included).
func configKey(cfgs []ark.ServiceConfig) string { return hash(cfgs) }

func hash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // ark.ServiceConfig always marshals
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// secretKeyRE matches the names of variables whose values are treated as secrets.
var secretKeyRE = regexp.MustCompile(`(?i)key|secret|passw|token|credential|auth|private|cert|pwd`)

// redact replaces, in s, the values of the secret-looking variables of env with "******", longest
// first, so that an instance printing its environment does not put secrets into events.
func redact(s string, env map[string]string) string {
	var vals []string
	for k, v := range env {
		if len(v) >= 4 && secretKeyRE.MatchString(k) {
			vals = append(vals, v)
		}
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, "******")
	}
	return s
}

// backoff is the delay before restarting an instance that failed n times in a row: 1 s, doubling,
// at most 5 minutes.
func backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 9 {
		return 5 * time.Minute
	}
	return min(time.Second<<(n-1), 5*time.Minute)
}

// gracePeriod is how long an instance of config entry c has to stop after SIGTERM
// (termination_grace_period_seconds, else ark.DefaultGracePeriod).
func gracePeriod(c ark.ServiceConfig) time.Duration {
	if p, ok := c.AdditionalProperties[c.ModelID]; ok && p.TerminationGracePeriodSeconds != nil {
		return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	return time.Duration(ark.DefaultGracePeriod) * time.Second
}
