package rollout

import (
	"context"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Store is what the engine needs from the database. Every method is its own transaction. The
// engine's writes carry the service's lease (ark.Lease) and fail with ark.ErrLeaseLost, changing
// nothing, when another replica has acquired it since.
type Store interface {
	// ServicesToReconcile returns the ids of services (of every project, deleted ones included)
	// whose status is deploying, stopping or deleting, or that have a RUNNING update-log entry,
	// or whose status is running or concerning (so that the engine can check their instances),
	// leaving out those whose lease another holder than holder holds and has not let expire.
	ServicesToReconcile(ctx context.Context, holder string) ([]string, error)
	// AcquireLease takes a service's lease for holder, until ttl from now, when it is free,
	// expired or holder's already; the fence grows. ok is false when another holder's lease has
	// not expired or the service does not exist.
	AcquireLease(ctx context.Context, serviceID, holder string, ttl time.Duration) (l ark.Lease, ok bool, err error)
	// RenewLeases extends every unexpired lease holder holds to ttl from now, fences unchanged,
	// and returns them.
	RenewLeases(ctx context.Context, holder string, ttl time.Duration) ([]ark.Lease, error)
	// ReleaseLease lets a lease expire now, when it is still l.
	ReleaseLease(ctx context.Context, l ark.Lease) error
	// ServiceByID returns a service by id in any project, including a service marked deleted
	// (Deleted reports that). ark.EServiceNotFound when it does not exist at all.
	ServiceByID(ctx context.Context, id string) (svc *ark.Service, deleted bool, err error)
	// RunningUpdate returns the service's RUNNING update-log entry, or nil when there is none.
	RunningUpdate(ctx context.Context, serviceID string) (*ark.UpdateLog, error)
	// FindModelByID returns a model by id in any project (ark.EModelNotFound).
	FindModelByID(ctx context.Context, id string) (*ark.Model, error)
	// FinishUpdate ends the RUNNING entry (l.ServiceID, updateTime) with result SUCCESS or FAIL and,
	// in the same transaction, sets the service's status and error message and appends the events.
	// On FAIL with a non-empty entry.Previous the service's configuration goes back to Previous,
	// unless the entry carries edge operations (an edge update is not rolled back).
	// It returns false (and changes nothing) when the entry is no longer RUNNING, so that a
	// finished entry is never edited.
	FinishUpdate(ctx context.Context, l ark.Lease, updateTime int64, result string, st ark.StatusChange, events ...ark.Event) (bool, error)
	// SetStatus sets the service's status, progress and error message and appends the events.
	SetStatus(ctx context.Context, l ark.Lease, st ark.StatusChange, events ...ark.Event) error
	// PurgeService removes a service marked deleted, with its update logs, events and lease.
	PurgeService(ctx context.Context, l ark.Lease) error

	// ListNodes returns the edge nodes of a project.
	ListNodes(ctx context.Context, projectID string) ([]*ark.Node, error)
	// EdgePlacements returns what each node runs for an edge service.
	EdgePlacements(ctx context.Context, serviceID string) ([]ark.EdgePlacement, error)
	// SaveEdgeOps stores the node operations of the RUNNING entry (l.ServiceID, updateTime) and the
	// placements they change (set replaces a node's placement, unset removes it) in one
	// transaction; false, changing nothing, when the entry is no longer RUNNING.
	SaveEdgeOps(ctx context.Context, l ark.Lease, updateTime int64, ops []ark.EdgeOp, set []ark.EdgePlacement, unset []string) (bool, error)
}
