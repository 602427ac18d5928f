package httpapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/httpapi/openapitest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestLogsReferenceExample encodes the reference page's example entry the way the server does and
// checks that the result is the reference's example response, field for field, and byte for byte
// the golden file.
func TestLogsReferenceExample(t *testing.T) {
	svc := &ark.Service{ID: "195c1f2d-136d-40af-a0f3-db5717d2634a", Name: "mnist"}
	logs := []ark.UpdateLog{{ServiceID: svc.ID, UpdateTime: 1574770228888, Result: ark.ResultSuccess,
		Config: []ark.ServiceConfig{{ModelID: "0e07b41b-173e-42db-8c16-8e1b44cc0d44", ModelName: "minst",
			ModelVersion: "0.0.1", Weight: 100, Specification: "modelarts.vm.cpu.2u", InstanceCount: 1}},
		// Fields kept for the engine never reach the wire.
		Previous: []ark.ServiceConfig{{ModelID: "x", Weight: 100, InstanceCount: 1}}}}
	got, err := json.MarshalIndent(toLogsResponse(svc, logs), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile("testdata/logs_reference_example.json")
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ref, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("encoded example =\n%s\nwant the reference's\n%s", got, ref)
	}
	checkGolden(t, "testdata/logs_reference_example.golden", got)
}

// checkGolden compares got with the golden file (rewritten first with -update).
func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded =\n%s\nwant (golden %s)\n%s", got, golden, want)
	}
}

// TestLogsEdgeEntry encodes a finished entry of an edge service: every field of the reference's
// Table 5 is present (success_num, failed_num and result_detail with Table 11's fields), the
// real-time-only fields of Table 6 (weight, instance_count) are absent, the body validates
// against the OpenAPI document, and it is byte for byte the golden file.
func TestLogsEdgeEntry(t *testing.T) {
	svc := &ark.Service{ID: "2b1a0c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", Name: "edge-demo", InferType: ark.InferEdge}
	cfg := ark.ServiceConfig{ModelID: "eb6a4a8c-5713-4a27-b8ed-c7e694499af5", ModelName: "mnist", ModelVersion: "1.0.1",
		Specification: "arkserve.local.small", InstanceCount: 1, Envs: map[string]string{"MODE": "edge"},
		Nodes: []string{"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"}}
	logs := []ark.UpdateLog{{ServiceID: svc.ID, UpdateTime: 1764237600000, Result: ark.ResultFail, Config: []ark.ServiceConfig{cfg},
		ClusterID: "edge-pool", ExtendConfig: []string{"x"},
		Edge: []ark.EdgeOp{
			{NodeID: "22222222-2222-4222-8222-222222222222", NodeName: "node-2", Operation: ark.EdgeDeploy, State: ark.OpSucceeded},
			{NodeID: "33333333-3333-4333-8333-333333333333", NodeName: "node-3", Operation: ark.EdgeDeploy, State: ark.OpFailed,
				Message: "the node is UNCONNECTED"},
			{NodeID: "11111111-1111-4111-8111-111111111111", NodeName: "node-1", Operation: ark.EdgeDelete, State: ark.OpSucceeded},
		}}}
	got, err := json.MarshalIndent(toLogsResponse(svc, logs), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Logs []map[string]json.RawMessage `json:"logs"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	entry := doc.Logs[0]
	for _, f := range []string{"update_time", "result", "config", "success_num", "failed_num", "result_detail", "cluster_id", "extend_config"} {
		if _, ok := entry[f]; !ok {
			t.Errorf("edge entry has no %s: %s", f, got)
		}
	}
	if string(entry["success_num"]) != "2" || string(entry["failed_num"]) != "1" {
		t.Errorf("success_num %s, failed_num %s; want 2, 1", entry["success_num"], entry["failed_num"])
	}
	if bytes.Contains(entry["config"], []byte(`"weight"`)) || bytes.Contains(entry["config"], []byte(`"instance_count"`)) {
		t.Errorf("edge config carries a real-time field: %s", entry["config"])
	}
	v, err := openapitest.Load(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateResponse("GET", "/v1/"+strings.Repeat("a", 32)+"/services/"+svc.ID+"/logs", 200, got); err != nil {
		t.Errorf("OpenAPI: %v", err)
	}
	checkGolden(t, "testdata/logs_edge.golden", got)
}
