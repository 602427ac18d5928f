package ark

import "errors"

// Lease is a replica's right to drive one service's instances and to write the engine's side of
// its state (status, events, the end of an update-log entry). Several arkserve servers share one
// database; at most one of them holds a service's lease at a time, and it holds it only while it
// renews it before it expires.
//
// Fence is the fencing token: it grows every time the lease is acquired, never when it is
// renewed. Every engine write carries the lease and the store refuses it (ErrLeaseLost) unless the
// lease row still has the same holder and fence, in the same transaction as the write. So a
// replica that stalled past its lease's expiry while another took over cannot overwrite what its
// successor wrote, whatever the clocks say.
type Lease struct {
	ServiceID string
	Holder    string // the replica's identity (stable across its restarts)
	Fence     int64
}

// ErrLeaseLost is what a store returns for a write whose lease is no longer the service's current
// one: another replica acquired it. It is internal to the engine and never reaches a client.
var ErrLeaseLost = errors.New("the service's lease is held by another replica")
