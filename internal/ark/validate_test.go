package ark_test

import (
	"go/build"
	"strings"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
)

func TestValidateVersion(t *testing.T) {
	for v, ok := range map[string]bool{"1.0.0": true, "0.0.1": true, "10.2.99": true, "01.1.1": false, "1.0": false,
		"1.0.0.0": false, "100.0.0": false, "a.b.c": false, "": false, "1.0.0 ": false} {
		if err := ark.ValidateVersion(v); (err == nil) != ok {
			t.Errorf("ValidateVersion(%q) = %v; want ok %v", v, err, ok)
		}
	}
}

func TestValidateNameAndDescription(t *testing.T) {
	for n, ok := range map[string]bool{"mnist": true, "a-b_c1": true, strings.Repeat("a", 64): true,
		strings.Repeat("a", 65): false, "1abc": false, "a b": false, "a;b": false, "": false, "名字": false} {
		if err := ark.ValidateName("service_name", n); (err == nil) != ok {
			t.Errorf("ValidateName(%q) = %v; want ok %v", n, err, ok)
		}
	}
	for d, ok := range map[string]bool{"": true, "mnist service": true, strings.Repeat("é", 100): true,
		strings.Repeat("a", 101): false, "a=b": false, "a+b": false, "<b>": false, "it's": false, "a\x00b": false, "\xff": false} {
		if err := ark.ValidateDescription(d); (err == nil) != ok {
			t.Errorf("ValidateDescription(%q) = %v; want ok %v", d, err, ok)
		}
	}
}

func TestValidateServiceConfig(t *testing.T) {
	cat := ark.NewSpecCatalog(ark.DefaultSpecs())
	c := func(id string, w, n int) ark.ServiceConfig {
		return ark.ServiceConfig{ModelID: id, Weight: w, InstanceCount: n, Specification: "arkserve.local.small"}
	}
	cpu := 1.234
	tests := []struct {
		name string
		cfg  []ark.ServiceConfig
		code string
	}{
		{"ok", []ark.ServiceConfig{c("a", 70, 1), c("b", 30, 128)}, ""},
		{"empty", nil, ark.EEmpty},
		{"sum 99", []ark.ServiceConfig{c("a", 70, 1), c("b", 29, 1)}, ark.EInvalidParam},
		{"duplicate", []ark.ServiceConfig{c("a", 50, 1), c("a", 50, 1)}, ark.EDuplicateVersion},
		{"instances 0", []ark.ServiceConfig{c("a", 100, 0)}, ark.EInvalidParam},
		{"instances 129", []ark.ServiceConfig{c("a", 100, 129)}, ark.EInvalidParam},
		{"custom rounded", []ark.ServiceConfig{{ModelID: "a", Weight: 100, InstanceCount: 1, Specification: "custom", CustomSpec: &ark.CustomSpec{CPU: cpu, Memory: 512}}}, ""},
	}
	for _, tt := range tests {
		err := ark.ValidateServiceConfig(tt.cfg, cat)
		if got := ark.ErrorCode(err); got != tt.code {
			t.Errorf("%s: code %q (%v); want %q", tt.name, got, err, tt.code)
		}
	}
	custom := []ark.ServiceConfig{{ModelID: "a", Weight: 100, InstanceCount: 1, Specification: "custom", CustomSpec: &ark.CustomSpec{CPU: cpu, Memory: 512}}}
	if err := ark.ValidateServiceConfig(custom, cat); err != nil || custom[0].CustomSpec.CPU != 1.23 {
		t.Errorf("custom cpu = %v (%v); want rounded to 1.23", custom[0].CustomSpec.CPU, err)
	}
}

// TestDomainImportsStandardLibraryOnly keeps the domain free of storage, HTTP and process code.
func TestDomainImportsStandardLibraryOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(strings.Split(imp, "/")[0], ".") {
			t.Errorf("internal/ark imports %s; the domain uses the standard library only", imp)
		}
		switch imp {
		case "database/sql", "net/http", "os/exec":
			t.Errorf("internal/ark imports %s; storage, HTTP and processes live outside the domain", imp)
		}
	}
}

func TestValidateMountPaths(t *testing.T) {
	cat := ark.NewSpecCatalog(ark.DefaultSpecs())
	for _, tt := range []struct {
		logs, pvs []string
		ok        bool
	}{
		{[]string{"/var/log/model"}, []string{"/data"}, true},
		{[]string{"/var/log/a", "/var/log/ab"}, nil, true},
		{[]string{"/var/log/a", "/var/log/a/"}, nil, false},
		{[]string{"/data/logs"}, []string{"/data"}, false},
		{nil, []string{"/data", "/data/x/y"}, false},
	} {
		p := ark.ModelAdditionalProperties{}
		for _, m := range tt.logs {
			p.LogVolume = append(p.LogVolume, ark.LogVolume{HostPath: "/srv/logs", MountPath: m})
		}
		for _, m := range tt.pvs {
			p.PersistentVolumes = append(p.PersistentVolumes, ark.PersistentVolume{Name: "v", MountPath: m})
		}
		cfg := []ark.ServiceConfig{{ModelID: "a", Weight: 100, InstanceCount: 1, Specification: "arkserve.local.small",
			AdditionalProperties: map[string]ark.ModelAdditionalProperties{"a": p}}}
		if err := ark.ValidateServiceConfig(cfg, cat); (err == nil) != tt.ok {
			t.Errorf("log volumes at %v, persistent volumes at %v: %v; want ok %v", tt.logs, tt.pvs, err, tt.ok)
		}
	}
}
