package ark

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Resources is an amount of compute: what one instance takes (its specification), what a pool
// has, what is held. Memory is in MB as the reference counts it (1 MB = 2^20 bytes).
type Resources struct {
	CPU      float64 // cores, fractions allowed
	MemoryMB int
	GPU      float64 // fractions allowed (custom_spec.gpu_p4)
	NPU      int
}

// cpuScale is the resolution of CPU and GPU figures: sums are rounded to it so that adding and
// taking away 0.1 cores a hundred times comes back to exactly what it was.
const cpuScale = 1000

func roundFrac(v float64) float64 { return math.Round(v*cpuScale) / cpuScale }

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{CPU: roundFrac(r.CPU + o.CPU), MemoryMB: r.MemoryMB + o.MemoryMB,
		GPU: roundFrac(r.GPU + o.GPU), NPU: r.NPU + o.NPU}
}

// Sub returns r - o; components may become negative.
func (r Resources) Sub(o Resources) Resources {
	return Resources{CPU: roundFrac(r.CPU - o.CPU), MemoryMB: r.MemoryMB - o.MemoryMB,
		GPU: roundFrac(r.GPU - o.GPU), NPU: r.NPU - o.NPU}
}

// Mul returns r taken n times.
func (r Resources) Mul(n int) Resources {
	return Resources{CPU: roundFrac(r.CPU * float64(n)), MemoryMB: r.MemoryMB * n,
		GPU: roundFrac(r.GPU * float64(n)), NPU: r.NPU * n}
}

// Fits reports whether r fits in avail: no component of r is larger than that of avail.
func (r Resources) Fits(avail Resources) bool {
	return roundFrac(r.CPU) <= roundFrac(avail.CPU) && r.MemoryMB <= avail.MemoryMB &&
		roundFrac(r.GPU) <= roundFrac(avail.GPU) && r.NPU <= avail.NPU
}

// IsZero reports whether r has no component.
func (r Resources) IsZero() bool { return r == Resources{} }

// Validate rejects negative and non-finite components.
func (r Resources) Validate() error {
	if math.IsNaN(r.CPU) || math.IsInf(r.CPU, 0) || r.CPU < 0 || math.IsNaN(r.GPU) || math.IsInf(r.GPU, 0) ||
		r.GPU < 0 || r.MemoryMB < 0 || r.NPU < 0 {
		return fmt.Errorf("invalid resources %s", r)
	}
	return nil
}

// String is r for people: "2 CPU, 8192 MB", with GPUs and NPUs only when there are some.
func (r Resources) String() string {
	var b strings.Builder
	b.WriteString(strconv.FormatFloat(roundFrac(r.CPU), 'f', -1, 64) + " CPU, " + strconv.Itoa(r.MemoryMB) + " MB")
	if r.GPU != 0 {
		b.WriteString(", " + strconv.FormatFloat(roundFrac(r.GPU), 'f', -1, 64) + " GPU")
	}
	if r.NPU != 0 {
		b.WriteString(", " + strconv.Itoa(r.NPU) + " NPU")
	}
	return b.String()
}

// Resources is what one instance of the specification takes.
func (s Spec) Resources() Resources {
	return Resources{CPU: s.CPU, MemoryMB: s.MemoryMB, GPU: s.GPU, NPU: s.NPU}
}

// InstanceResources is what one instance of config entry c takes: its catalog specification, or
// its custom_spec when the specification is "custom". An unknown specification is ENoSpec; a
// custom one without custom_spec is ERequired.
func InstanceResources(c ServiceConfig, cat SpecCatalog) (Resources, error) {
	if c.Specification == SpecCustom {
		cs := c.CustomSpec
		if cs == nil {
			return Resources{}, required("config.custom_spec")
		}
		r := Resources{CPU: cs.CPU, MemoryMB: cs.Memory}
		if cs.GPUP4 != nil {
			r.GPU = *cs.GPUP4
		}
		return r, nil
	}
	s, ok := cat[c.Specification]
	if !ok {
		return Resources{}, Errorf(ENoSpec, "No resources are available for the selected specification (%s); GET /v1/{project_id}/services/specifications lists them.", clip(c.Specification))
	}
	return s.Resources(), nil
}

// CheckCapacity refuses a configuration that this pool can never run, whatever else runs: one
// instance of an entry needs more than the whole pool (ENoSpec), or all instances of all entries
// together do (EInsufficient). Whether they fit in what is free now is the engine's business
// (Ledger.Reserve); this is the check at the API, with the configuration already validated.
func CheckCapacity(cfgs []ServiceConfig, cat SpecCatalog, capacity Resources) error {
	var total Resources
	n := 0
	for _, c := range cfgs {
		r, err := InstanceResources(c, cat)
		if err != nil {
			return err
		}
		if !r.Fits(capacity) {
			return Errorf(ENoSpec, "No resources are available for the selected specification (%s): one instance needs %s; the resource pool has %s in all.",
				clip(c.Specification), r, capacity)
		}
		total = total.Add(r.Mul(c.InstanceCount))
		n += c.InstanceCount
	}
	if !total.Fits(capacity) {
		return Errorf(EInsufficient, "Insufficient resources. Please try later. The %d instances of this configuration need %s together; the resource pool has %s in all.",
			n, total, capacity)
	}
	return nil
}

// Ledger accounts the resources instances hold in one pool. The rollout engine reserves an
// instance's resources before it starts it and releases them after it stopped. It is safe for
// concurrent use.
type Ledger struct {
	capacity Resources

	mu   sync.Mutex           // protects the fields below
	used Resources            // sum of held
	held map[string]Resources // by instance id
}

// NewLedger returns an empty ledger for a pool of the given capacity.
func NewLedger(capacity Resources) *Ledger {
	return &Ledger{capacity: capacity, held: map[string]Resources{}}
}

// Reserve holds r for instance id. It is idempotent: reserving again for an id that holds the
// same resources changes nothing, and an id that holds other resources is resized (the new
// amount must fit in what is free plus what the id held). When r can never fit in the pool it
// returns ENoSpec; when it does not fit in what is free now, EInsufficient. Both messages say
// what was asked and what there is.
func (l *Ledger) Reserve(id string, r Resources) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("reserve %s: %w", id, err)
	}
	if !r.Fits(l.capacity) {
		return Errorf(ENoSpec, "No resources are available for the selected specification: an instance needs %s; the resource pool has %s in all.", r, l.capacity)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old, had := l.held[id]
	if had && old == r {
		return nil
	}
	free := l.capacity.Sub(l.used).Add(old)
	if !r.Fits(free) {
		return Errorf(EInsufficient, "Insufficient resources. Please try later. An instance needs %s; %s of %s is free now.", r, clampZero(free), l.capacity)
	}
	l.used = l.used.Sub(old).Add(r)
	l.held[id] = r
	return nil
}

// Release gives back what instance id holds; releasing an id that holds nothing does nothing.
func (l *Ledger) Release(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.held[id]; ok {
		l.used = l.used.Sub(r)
		delete(l.held, id)
		if len(l.held) == 0 {
			l.used = Resources{} // no drift, whatever the rounding did
		}
	}
}

// Usage returns what the instances hold now and the pool's capacity.
func (l *Ledger) Usage() (used, capacity Resources) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used, l.capacity
}

// Held returns what instance id holds, and whether it holds anything.
func (l *Ledger) Held(id string) (Resources, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.held[id]
	return r, ok
}

func clampZero(r Resources) Resources {
	return Resources{CPU: max(r.CPU, 0), MemoryMB: max(r.MemoryMB, 0), GPU: max(r.GPU, 0), NPU: max(r.NPU, 0)}
}

var specNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateSpecs checks a specification catalog: names unique, 1 to 64 letters, digits, '.', '_'
// and '-' (and not "custom", which names custom_spec), CPU and memory positive, GPU and NPU not
// negative, category CPU, GPU or NPU.
func ValidateSpecs(specs []Spec) error {
	seen := map[string]bool{}
	for _, s := range specs {
		switch {
		case !specNameRE.MatchString(s.Name):
			return fmt.Errorf("specification %q: use 1 to 64 letters, digits, '.', '_' and '-'", s.Name)
		case s.Name == SpecCustom:
			return fmt.Errorf("specification %q: the name is reserved for custom_spec", s.Name)
		case seen[s.Name]:
			return fmt.Errorf("specification %q: defined twice", s.Name)
		case !(s.CPU > 0) || math.IsInf(s.CPU, 0) || s.MemoryMB <= 0:
			return fmt.Errorf("specification %q: cpu and memory_mb must be positive", s.Name)
		case !(s.GPU >= 0) || math.IsInf(s.GPU, 0) || s.NPU < 0 || s.GPUMemMB < 0:
			return fmt.Errorf("specification %q: gpu, gpu_memory_mb and npu must not be negative", s.Name)
		case s.Category != "CPU" && s.Category != "GPU" && s.Category != "NPU":
			return fmt.Errorf("specification %q: category %q; use CPU, GPU or NPU", s.Name, s.Category)
		}
		seen[s.Name] = true
	}
	return nil
}
