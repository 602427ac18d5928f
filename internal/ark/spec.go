package ark

// Spec is a resource specification (flavor) of the catalog: what one instance takes.
type Spec struct {
	Name     string
	Category string // CPU | GPU | NPU
	Arch     string
	CPU      float64
	MemoryMB int
	GPU      float64
	GPUName  string
	GPUMemMB int
	NPU      int
	IsOpen   bool // false: must be requested (a local pool without that hardware cannot run it)
	Display  string
}

// SpecCustom is the specification whose resources come from custom_spec.
const SpecCustom = "custom"

// DefaultSpecs is the built-in catalog: the reference's flavors plus small local ones, so that a
// laptop can run several instances. The server may replace it from its configuration.
func DefaultSpecs() []Spec {
	return []Spec{
		{Name: "modelarts.vm.cpu.2u", Category: "CPU", Arch: "x86", CPU: 2, MemoryMB: 8192, IsOpen: true,
			Display: "CPU: 2 vCPUs | 8 GiB"},
		{Name: "modelarts.vm.cpu.8u", Category: "CPU", Arch: "x86", CPU: 8, MemoryMB: 32768, IsOpen: true,
			Display: "CPU: 8 vCPUs | 32 GiB"},
		{Name: "modelarts.vm.gpu.pnt004", Category: "GPU", Arch: "x86", CPU: 8, MemoryMB: 32768, GPU: 1,
			GPUName: "NVIDIA Pnt004", GPUMemMB: 16384, IsOpen: false,
			Display: "GPU: 1 x NVIDIA Pnt004 (16 GiB) | CPU: 8 vCPUs | 32 GiB"},
		{Name: "modelarts.vm.ai1.snt3", Category: "NPU", Arch: "arm", CPU: 8, MemoryMB: 32768, NPU: 1,
			IsOpen: false, Display: "Ascend: 1 x Snt3 | CPU: 8 vCPUs | 32 GiB"},
		{Name: "arkserve.local.small", Category: "CPU", Arch: "x86", CPU: 0.25, MemoryMB: 256, IsOpen: true,
			Display: "CPU: 0.25 vCPUs | 256 MiB (local)"},
		{Name: "arkserve.local.medium", Category: "CPU", Arch: "x86", CPU: 1, MemoryMB: 1024, IsOpen: true,
			Display: "CPU: 1 vCPU | 1 GiB (local)"},
	}
}

// Pool is a resource pool instances run in; the embedded default is the local host.
type Pool struct {
	ID          string
	Name        string
	Description string  // what the pool is: "local host pool", "Kubernetes cluster, namespace x"
	CPU         float64 // allocatable cores
	MemoryMB    int
	GPUs        float64
	CreatedAt   int64 // epoch ms
}
