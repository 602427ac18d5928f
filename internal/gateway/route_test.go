package gateway

import (
	"fmt"
	"strings"
	"testing"
)

func testTable(p policy, weights ...int) *table {
	t := &table{policy: p}
	for i, w := range weights {
		name := string(rune('a' + i))
		t.entries = append(t.entries, &entry{model: &modelStats{}, weight: w,
			backends: []*backend{newBackend(name, name)}})
	}
	return t
}

// sequence is the entries (by first backend id) of n picks.
func sequence(t *table, n int) string {
	var sb strings.Builder
	for range n {
		_, b := t.pick(0, nil)
		sb.WriteString(b.id)
	}
	return sb.String()
}

// TestSmoothWeightedRoundRobin: the split follows the weights and the entries interleave as in
// nginx's smooth weighted round robin.
func TestSmoothWeightedRoundRobin(t *testing.T) {
	for _, c := range []struct {
		weights []int
		want    string // one period
	}{
		{[]int{80, 20}, "aabaa"},
		{[]int{5, 1, 1}, "aabacaa"}, // nginx's documented example
		{[]int{50, 50}, "ab"},
		{[]int{100}, "a"},
		{[]int{70, 20, 10}, "aabaacaaba"},
	} {
		tbl := testTable(roundRobin, c.weights...)
		if got := sequence(tbl, 2*len(c.want)); got != c.want+c.want {
			t.Errorf("weights %v: picks = %q; want %q", c.weights, got, c.want+c.want)
		}
	}

	// 80/20 over 10,000 picks: within ±1%, and never two b in a row nor more than four a.
	tbl := testTable(roundRobin, 80, 20)
	seq := sequence(tbl, 10000)
	a := strings.Count(seq, "a")
	if a < 7900 || a > 8100 {
		t.Errorf("80/20: a got %d of 10000 picks; want 8000 ± 100", a)
	}
	if strings.Contains(seq, "bb") || strings.Contains(seq, "aaaaa") {
		t.Errorf("80/20: picks are not interleaved: %q...", seq[:50])
	}
}

// TestPickSkipsAndRetries: tried backends are not picked again; an entry with none left is
// skipped and its share goes to the others.
func TestPickSkipsAndRetries(t *testing.T) {
	tbl := &table{}
	b1, b2, c1 := newBackend("b1", "x"), newBackend("b2", "x"), newBackend("c1", "x")
	eb := &entry{weight: 60, backends: []*backend{b1, b2}}
	ec := &entry{weight: 40, backends: []*backend{c1}}
	tbl.entries = []*entry{eb, ec}
	for range 20 {
		if _, b := tbl.pick(0, []*backend{c1}); b != b1 && b != b2 {
			t.Fatalf("pick without c1 = %s; want b1 or b2", b.id)
		}
		if e, b := tbl.pick(0, []*backend{b1, b2}); e != ec || b != c1 {
			t.Fatalf("pick without b1, b2 = %s; want c1", b.id)
		}
		if e, b := tbl.pick(0, []*backend{b1}); e == eb && b != b2 {
			t.Fatalf("pick without b1 from entry b = %s; want b2", b.id)
		}
	}
	if e, b := tbl.pick(0, []*backend{b1, b2, c1}); e != nil || b != nil {
		t.Fatalf("pick with everything tried = %v, %v; want nothing", e, b)
	}
	if e, b := (&table{}).pick(0, nil); e != nil || b != nil {
		t.Fatalf("pick from an empty table = %v, %v; want nothing", e, b)
	}
}

func TestLeastConnectionsPick(t *testing.T) {
	bs := []*backend{newBackend("a", "x"), newBackend("b", "x"), newBackend("c", "x")}
	e := &entry{weight: 1, backends: bs}
	bs[0].inflight.Store(2)
	bs[1].inflight.Store(1)
	bs[2].inflight.Store(3)
	for range 5 {
		if b := e.choose(leastConn, 0, nil); b != bs[1] {
			t.Fatalf("least connections = %s; want b", b.id)
		}
	}
	// Ties rotate.
	for _, b := range bs {
		b.inflight.Store(0)
	}
	seen := map[string]int{}
	for range 30 {
		seen[e.choose(leastConn, 0, nil).id]++
	}
	if len(seen) != 3 {
		t.Fatalf("ties went to %v; want all three", seen)
	}
}

func TestSourceIPPick(t *testing.T) {
	bs := []*backend{newBackend("i1", "x"), newBackend("i2", "x"), newBackend("i3", "x"), newBackend("i4", "x")}
	e := &entry{weight: 1, backends: bs}
	counts := map[string]int{}
	moved := 0
	for i := range 1000 {
		h := hashString(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		b := e.choose(sourceIP, h, nil)
		if again := e.choose(sourceIP, h, nil); again != b {
			t.Fatalf("client %d: %s then %s; want the same backend", i, b.id, again.id)
		}
		counts[b.id]++
		// Without i4, only i4's clients move.
		smaller := &entry{weight: 1, backends: bs[:3]}
		if nb := smaller.choose(sourceIP, h, nil); nb != b {
			if b.id != "i4" {
				t.Fatalf("client %d moved from %s to %s when i4 left", i, b.id, nb.id)
			}
			moved++
		}
	}
	for _, b := range bs {
		if n := counts[b.id]; n < 180 || n > 320 {
			t.Errorf("backend %s got %d of 1000 clients; want about 250", b.id, n)
		}
	}
	if moved != counts["i4"] {
		t.Errorf("%d clients moved; want i4's %d", moved, counts["i4"])
	}
}

func TestClientIP(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5678":   "127.0.0.1",
		"[::1]:80":         "::1",
		"10.1.2.3":         "10.1.2.3",
		"[fe80::1%lo]:123": "fe80::1%lo",
	} {
		if got := clientIP(in); got != want {
			t.Errorf("clientIP(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestWindow(t *testing.T) {
	var w window
	for s := int64(1000); s < 1090; s++ {
		w.add(s)
		w.add(s)
	}
	if got := w.sum(1089); got != 120 {
		t.Errorf("sum over the last minute = %d; want 120", got)
	}
	if got := w.sum(1089 + 30); got != 60 {
		t.Errorf("sum 30 s later = %d; want 60", got)
	}
	if got := w.sum(1089 + 60); got != 0 {
		t.Errorf("sum a minute later = %d; want 0", got)
	}
}

// BenchmarkPick is the routing decision of one request: the service lock, smooth weighted round
// robin over two entries and the policy within the entry.
func BenchmarkPick(b *testing.B) {
	for _, p := range []struct {
		name string
		p    policy
	}{{"RoundRobin", roundRobin}, {"LeastConnections", leastConn}, {"SourceIP", sourceIP}} {
		b.Run(p.name, func(b *testing.B) {
			svc := &service{}
			svc.tbl = &table{policy: p.p, entries: []*entry{
				{model: &modelStats{}, weight: 80, backends: []*backend{newBackend("a1", "x"), newBackend("a2", "x")}},
				{model: &modelStats{}, weight: 20, backends: []*backend{newBackend("b1", "x"), newBackend("b2", "x")}},
			}}
			h := hashString(clientIP("127.0.0.1:43210"))
			b.ReportAllocs()
			for b.Loop() {
				svc.mu.Lock()
				_, be := svc.tbl.pick(h, nil)
				be.acquire()
				svc.mu.Unlock()
				be.release()
			}
		})
	}
}
