package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
)

// TestGophercloudLogs: a real OpenStack client library authenticates, finds the ModelArts endpoint
// in the catalog, and reads a service's update logs through it.
func TestGophercloudLogs(t *testing.T) {
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	m := MustRunMain(t, dataDir(t))
	defer m.Close()
	c := newClient(t, m)
	pid := c.login()
	mid := c.createModel(pid, "mnist", "1.0.0", httpServerCmd)
	sid := c.deploy(pid, "mnist", mid, nil)
	want := c.waitFinal(pid, sid)

	ctx := context.Background()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: c.base + "/v3", Username: "admin", Password: testPassword, DomainName: "Default", TenantName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := provider.EndpointLocator(gophercloud.EndpointOpts{Type: "modelarts", Availability: gophercloud.AvailabilityPublic})
	if err != nil {
		t.Fatal(err)
	}
	if endpoint != c.base+"/v1/"+pid+"/" {
		t.Fatalf("ModelArts endpoint = %q; want %q", endpoint, c.base+"/v1/"+pid+"/")
	}
	sc := &gophercloud.ServiceClient{ProviderClient: provider, Endpoint: endpoint, Type: "modelarts"}
	var got struct {
		ServiceID   string `json:"service_id"`
		ServiceName string `json:"service_name"`
		Logs        []struct {
			UpdateTime int64  `json:"update_time"`
			Result     string `json:"result"`
		} `json:"logs"`
	}
	if _, err := sc.Get(ctx, sc.ServiceURL("services", sid, "logs"), &got, nil); err != nil {
		t.Fatal(err)
	}
	first := want["logs"].([]any)[0].(map[string]any)
	if got.ServiceID != sid || got.ServiceName != "mnist" || len(got.Logs) != 1 || got.Logs[0].Result != first["result"] {
		t.Fatalf("logs through gophercloud = %+v; want %v", got, want)
	}
	// Errors surface through the library with their status.
	_, err = sc.Get(ctx, sc.ServiceURL("services", "195c1f2d-136d-40af-a0f3-db5717d2634a", "logs"), &got, nil)
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("unknown service through gophercloud: %v; want a 404", err)
	}
}
