package httpapi

import (
	"context"

	"github.com/arkserve/arkserve/internal/ark"
)

// Store is what the ModelArts handlers need from the database (internal/sqlite implements it).
type Store interface {
	CreateModel(ctx context.Context, m *ark.Model) error
	FindModel(ctx context.Context, projectID, id string) (*ark.Model, error)
	ListModels(ctx context.Context, f ark.ModelFilter) ([]*ark.Model, int, error)
	DeleteModel(ctx context.Context, projectID, id string, cascade bool) (ark.DeleteModelResult, error)

	CreateService(ctx context.Context, s *ark.Service) (*ark.UpdateLog, error)
	FindService(ctx context.Context, projectID, id string) (*ark.Service, error)
	ListServices(ctx context.Context, f ark.ServiceFilter) ([]*ark.Service, int, error)
	UpdateService(ctx context.Context, projectID, id string, upd ark.ServiceUpdate) (*ark.Service, *ark.UpdateLog, error)
	DeleteServices(ctx context.Context, projectID string, ids ...string) error
	UpdateLogs(ctx context.Context, projectID, serviceID string, updateTime *int64) (*ark.Service, []ark.UpdateLog, error)
	ListEvents(ctx context.Context, f ark.EventFilter) (*ark.Service, []ark.Event, int, error)

	EdgeStore
}
