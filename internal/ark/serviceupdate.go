package ark

import (
	"fmt"
	"time"
)

// The rules of an accepted PUT that every store applies the same way; the store decides only what
// it reads and writes, in its own transaction.

// Busy reports whether a service's status refuses configuration and status changes. A store also
// counts a service with a RUNNING update-log entry as busy.
func (s *Service) Busy() bool {
	switch s.Status {
	case StatusDeploying, StatusStopping, StatusDeleting:
		return true
	}
	return false
}

// BusyError is the error for a change refused because the service is busy.
func BusyError(s *Service) error {
	return Errorf(EServiceBusy, "Service %s is %s and cannot be updated until that finishes.", s.Name, s.Status)
}

// ApplyStatus turns PUT status=running|stopped into the service's next status and returns the
// events it causes. Starting a running service or stopping a stopped one changes nothing.
func ApplyStatus(s *Service, want string, busy bool, now time.Time) ([]Event, error) {
	switch want {
	case StatusStopped:
		if s.Status == StatusStopped {
			return nil, nil
		}
		if busy {
			return nil, BusyError(s)
		}
		s.Status, s.Progress, s.TransitionAt = StatusStopping, 0, now
		return []Event{NormalEvent(EventStopping)}, nil
	case StatusRunning:
		if s.Status == StatusRunning || s.Status == StatusConcerning {
			return nil, nil
		}
		if busy {
			return nil, BusyError(s)
		}
		s.Status, s.Progress, s.ErrorMsg, s.TransitionAt = StatusDeploying, 0, "", now
		if len(s.Schedule) > 0 {
			s.DueTime = now.Add(s.Schedule[0].Span())
		}
		return []Event{NormalEvent(EventStarting)}, nil
	}
	return nil, Errorf(EInvalidParam, "Parameter (status) is invalid: use running or stopped.")
}

// ApplyUpdate applies an accepted PUT to s, loaded in the store's transaction at now: a status
// change (start or stop) or else a configuration change, which accept turns into the RUNNING
// update-log entry it returns; then the other fields. When upd carries both a status and a config,
// only the status applies. busy tells whether an update is RUNNING; it is asked only when upd
// carries a status or a config. EServiceBusy while a deployment, update or stop is in progress.
func ApplyUpdate(s *Service, upd ServiceUpdate, now time.Time, busy func() (bool, error),
	accept func(cfg []ServiceConfig) (*UpdateLog, error)) (*UpdateLog, []Event, error) {
	var entry *UpdateLog
	var events []Event
	if upd.Status != nil || upd.Config != nil {
		isBusy := s.Busy()
		if !isBusy {
			var err error
			if isBusy, err = busy(); err != nil {
				return nil, nil, err
			}
		}
		switch {
		case upd.Status != nil:
			ev, err := ApplyStatus(s, *upd.Status, isBusy, now)
			if err != nil {
				return nil, nil, err
			}
			events = append(events, ev...)
		default:
			if isBusy {
				return nil, nil, BusyError(s)
			}
			var err error
			if entry, err = accept(upd.Config); err != nil {
				return nil, nil, err
			}
			events = append(events, NormalEvent(EventUpdating))
		}
	}
	events = append(events, ApplyFields(s, upd, now)...)
	s.OperationTime = now
	return entry, events, nil
}

// ApplyFields applies the fields of upd other than status and config (description, schedule,
// additional properties, load-balancer policy, secrets, priority) and returns the events they cause.
func ApplyFields(s *Service, upd ServiceUpdate, now time.Time) []Event {
	var events []Event
	if upd.Description != nil {
		s.Description = *upd.Description
	}
	if upd.Schedule != nil {
		s.Schedule = *upd.Schedule
		if len(s.Schedule) > 0 {
			s.DueTime = now.Add(s.Schedule[0].Span())
			events = append(events, AutoStopEvent(s.Schedule[0]))
		} else if !s.DueTime.IsZero() {
			s.DueTime = time.Time{}
			events = append(events, NormalEvent(EventAutoStopDisabled))
		}
	}
	if upd.AdditionalProperties != nil {
		s.AdditionalProperties = upd.AdditionalProperties
	}
	if upd.LoadBalancerPolicy != nil {
		s.LoadBalancerPolicy = *upd.LoadBalancerPolicy
	}
	if upd.ServiceSecrets != nil {
		s.ServiceSecrets = *upd.ServiceSecrets
	}
	if upd.Priority != nil {
		s.Priority = *upd.Priority
	}
	return events
}

// AcceptConfig makes cfg the service's desired configuration, accepted at updateTime (epoch ms,
// unique within the service) and now, and returns its RUNNING update-log entry. Only a
// configuration that is serving can be rolled back to: a stopped or failed service has nothing to
// go back to, so the entry's Previous is empty and a failed update leaves it failed.
func AcceptConfig(s *Service, cfg []ServiceConfig, updateTime int64, now time.Time) *UpdateLog {
	var prev []ServiceConfig
	if s.Status == StatusRunning || s.Status == StatusConcerning {
		prev = s.Config
	}
	entry := &UpdateLog{ServiceID: s.ID, UpdateTime: updateTime, Result: ResultRunning, Config: cfg, Previous: prev, ClusterID: s.ClusterID}
	s.Config = cfg
	s.Status, s.Progress, s.ErrorMsg = StatusDeploying, 0, ""
	s.UpdateTime, s.TransitionAt = time.UnixMilli(updateTime), now
	return entry
}

// NewDeployment readies a service that is being created at now (status deploying, times, auto-stop
// due time) and returns its first update-log entry and the events of its creation.
func NewDeployment(s *Service, now time.Time) (*UpdateLog, []Event) {
	s.Status, s.Progress, s.ErrorMsg = StatusDeploying, 0, ""
	s.PublishAt, s.UpdateTime, s.OperationTime, s.TransitionAt = now, now, now, now
	s.DueTime = time.Time{}
	events := []Event{NormalEvent(EventDeploying)}
	if len(s.Schedule) > 0 {
		s.DueTime = now.Add(s.Schedule[0].Span())
		events = append(events, AutoStopEvent(s.Schedule[0]))
	}
	entry := &UpdateLog{ServiceID: s.ID, UpdateTime: now.UnixMilli(), Result: ResultRunning, Config: s.Config, ClusterID: s.ClusterID}
	return entry, events
}

// NextUpdateTime returns an acceptance time unique within a service whose newest entry was accepted
// at last: now, or 1 ms after last when now is not later (two updates in one millisecond, or a
// clock that went back).
func NextUpdateTime(now, last int64) int64 { return max(now, last+1) }

// NormalEvent is a Normal event with that text.
func NormalEvent(info string) Event { return Event{Type: EventNormal, Info: info} }

// AutoStopEvent is the event that says a schedule's auto-stop is enabled.
func AutoStopEvent(sc Schedule) Event {
	return NormalEvent(fmt.Sprintf(EventAutoStopEnabled, int64(sc.Span().Seconds())))
}
