package httpapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
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
	golden := "testdata/logs_reference_example.golden"
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
		t.Fatalf("encoded example =\n%s\nwant (golden)\n%s", got, want)
	}
}
