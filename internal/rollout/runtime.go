package rollout

import (
	"context"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/runtime/process"
)

// Runtime is what the engine needs from an instance runtime: the process runtime (ProcessRuntime)
// now, a Kubernetes runtime later.
type Runtime interface {
	// Start starts one instance and returns without waiting for it to be ready.
	Start(ctx context.Context, spec InstanceSpec) (Instance, error)
	// StopStale stops the instances that an earlier run of the server left behind (it crashed or
	// was killed). The engine calls it once, before it starts any instance.
	StopStale(ctx context.Context) error
}

// InstanceSpec is one instance to start: the model's directory and command, the entry's envs and
// the model's readiness check.
type InstanceSpec struct {
	InstanceID  string
	ServiceID   string
	ModelID     string
	ModelDir    string
	Cmd         string
	Env         map[string]string
	Health      ark.Health
	GracePeriod time.Duration // SIGTERM → SIGKILL
	// Resources is what the instance's specification grants it; the runtime enforces CPU and
	// memory where the host allows it.
	Resources ark.Resources
	ProjectID string
	Volumes   []process.Volume // log_volume and persistent_volumes of the entry
}

// Instance is one started model server.
type Instance interface {
	ID() string
	// Addr is the host:port the gateway sends requests to.
	Addr() string
	// Exited is closed when the instance has ended; ExitError then says how (never nil).
	Exited() <-chan struct{}
	ExitError() error
	// WaitReady waits until the readiness check passes, at most timeout; it returns early with
	// an error when the instance exits.
	WaitReady(ctx context.Context, timeout time.Duration) error
	// Healthy runs the readiness check once.
	Healthy(ctx context.Context) error
	// Stop ends the instance gracefully (SIGTERM, then SIGKILL after the grace period or when ctx
	// ends) and releases what it holds; idempotent, also after the instance exited on its own.
	Stop(ctx context.Context) error
	// LogTail returns up to n last lines of the instance's output, "" once it was stopped.
	LogTail(n int) string
	// Usage is what the instance uses now (zero once it ended).
	Usage() Usage
}

// Usage is an instance's CPU time so far and resident memory now.
type Usage = process.Usage

// ProcessRuntime adapts the process runtime to Runtime.
func ProcessRuntime(r *process.Runtime) Runtime { return processRuntime{r} }

type processRuntime struct{ r *process.Runtime }

func (p processRuntime) Start(ctx context.Context, s InstanceSpec) (Instance, error) {
	in, err := p.r.Start(ctx, process.Spec{
		InstanceID: s.InstanceID, ServiceID: s.ServiceID, ModelID: s.ModelID, ModelDir: s.ModelDir,
		Cmd: s.Cmd, Env: s.Env, Health: s.Health, GracePeriod: s.GracePeriod,
		CPU: s.Resources.CPU, MemoryMB: s.Resources.MemoryMB, ProjectID: s.ProjectID, Volumes: s.Volumes,
	})
	if err != nil {
		return nil, err
	}
	return processInstance{in}, nil
}

func (p processRuntime) StopStale(ctx context.Context) error {
	_, err := p.r.StopStale(ctx)
	return err
}

type processInstance struct{ *process.Instance }

func (p processInstance) ID() string { return p.Instance.ID }
