package process_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/runtime/process"
)

func TestVolumesOf(t *testing.T) {
	got := process.VolumesOf(ark.ModelAdditionalProperties{
		LogVolume: []ark.LogVolume{{HostPath: "/var/log/app/", MountPath: "/logs"}},
		PersistentVolumes: []ark.PersistentVolume{
			{SourceAddress: "sfs-1234", Name: "ignored", MountPath: "/mnt/sfs"},
			{Name: "../../etc", MountPath: "/data"},
			{Name: "..", MountPath: "/x"},
			{MountPath: "/srv/cache/"},
		},
	})
	want := []process.Volume{
		{Source: "host/var/log/app", MountPath: "/logs"},
		{Source: "sfs/sfs-1234", MountPath: "/mnt/sfs"},
		{Source: "pv/.._.._etc", MountPath: "/data"},
		{Source: "pv/_..", MountPath: "/x"},
		{Source: "pv/srv/cache", MountPath: "/srv/cache/"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("VolumesOf = %+v\nwant %+v", got, want)
	}
}

// volumeRuntime runs instances as nobody when the tests run as root, with volumes under its
// data dir.
func volumeRuntime(t *testing.T) *process.Runtime {
	t.Helper()
	rt := newRuntime(t)
	rt.VolumeDir = filepath.Join(filepath.Dir(rt.Dir), "volumes")
	if os.Getuid() == 0 {
		rt.RunAs = &process.Credential{UID: 65534, GID: 65534}
	}
	return rt
}

func TestVolumes(t *testing.T) {
	rt := volumeRuntime(t)
	hostPath := "/arkserve-test-must-not-exist/logs"
	vols := process.VolumesOf(ark.ModelAdditionalProperties{
		LogVolume:         []ark.LogVolume{{HostPath: hostPath, MountPath: "/var/log/model"}},
		PersistentVolumes: []ark.PersistentVolume{{Name: "data", MountPath: "/data"}},
	})
	s := spec(t, nil)
	s.ProjectID = "p1"
	s.Volumes = vols
	s.Cmd = `echo first >> "$ARKSERVE_MOUNT_ROOT/var/log/model/out.log" && mkdir -p "$ARKSERVE_MOUNT_ROOT/data/sub" && exec "` + model + `"`
	in := start(t, rt, s)
	mustReady(t, in)
	if got := get(t, in, "/env"); !strings.Contains(got, process.MountRootEnv+"="+filepath.Join(in.Dir, "mnt")+"\n") {
		t.Errorf("environment %q; want %s=%s", got, process.MountRootEnv, filepath.Join(in.Dir, "mnt"))
	}
	logFile := filepath.Join(rt.VolumeDir, "p1", "host", hostPath, "out.log")
	if b, err := os.ReadFile(logFile); err != nil || string(b) != "first\n" {
		t.Fatalf("%s: %q, %v; want what the instance wrote at its mount path", logFile, b, err)
	}
	if _, err := os.Stat(filepath.Dir(hostPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the host path %s itself was touched: %v", hostPath, err)
	}
	if _, err := os.Stat(filepath.Join(rt.VolumeDir, "p1", "pv", "data", "sub")); err != nil {
		t.Errorf("persistent volume: %v", err)
	}
	if rt.RunAs != nil {
		if uid, _ := ownerOf(t, logFile); uid != rt.RunAs.UID {
			t.Errorf("%s owned by %d; want the instance user %d", logFile, uid, rt.RunAs.UID)
		}
		if uid, _ := ownerOf(t, filepath.Join(rt.VolumeDir, "p1")); uid != 0 {
			t.Errorf("the project's volume directory is owned by %d; want the server (0)", uid)
		}
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The contents outlive the instance; the next one appends to them.
	s2 := spec(t, nil)
	s2.ProjectID, s2.Volumes = "p1", vols
	s2.Cmd = `echo second >> "$ARKSERVE_MOUNT_ROOT/var/log/model/out.log" && exec "` + model + `"`
	mustReady(t, start(t, rt, s2))
	if b, _ := os.ReadFile(logFile); string(b) != "first\nsecond\n" {
		t.Errorf("%s = %q; want both instances' lines", logFile, b)
	}

	// Another project has its own tree.
	s3 := spec(t, nil)
	s3.ProjectID, s3.Volumes = "p2", vols
	s3.Cmd = `test ! -e "$ARKSERVE_MOUNT_ROOT/var/log/model/out.log" || exit 9; exec "` + model + `"`
	mustReady(t, start(t, rt, s3))
}

func TestVolumeErrors(t *testing.T) {
	rt := volumeRuntime(t)
	outside := openDir(t)
	// An instance owns the directories in its volume tree and could replace one with a link
	// that leads out of it: the server must not follow it.
	s := spec(t, nil)
	s.ProjectID = "p1"
	s.Volumes = []process.Volume{{Source: "pv/data", MountPath: "/data"}}
	in := start(t, rt, s)
	mustReady(t, in)
	planted := filepath.Join(rt.VolumeDir, "p1", "pv", "data")
	if err := os.Remove(planted); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, planted); err != nil {
		t.Fatal(err)
	}

	for name, tt := range map[string]struct {
		rt      *process.Runtime
		project string
		vols    []process.Volume
	}{
		"SymlinkOut":     {rt, "p1", []process.Volume{{Source: "pv/data/x", MountPath: "/data"}}},
		"SymlinkOutLeaf": {rt, "p1", []process.Volume{{Source: "pv/data", MountPath: "/data"}}},
		"DotDotSource":   {rt, "p1", []process.Volume{{Source: "pv/../../x", MountPath: "/data"}}},
		"AbsoluteSource": {rt, "p1", []process.Volume{{Source: "/etc", MountPath: "/data"}}},
		"DotDotMount":    {rt, "p1", []process.Volume{{Source: "pv/a", MountPath: "/data/../../x"}}},
		"RelativeMount":  {rt, "p1", []process.Volume{{Source: "pv/a", MountPath: "data"}}},
		"NestedMounts":   {rt, "p1", []process.Volume{{Source: "pv/a", MountPath: "/data"}, {Source: "pv/b", MountPath: "/data/b"}}},
		"BadProject":     {rt, "../p1", []process.Volume{{Source: "pv/a", MountPath: "/data"}}},
		"NoProject":      {rt, "", []process.Volume{{Source: "pv/a", MountPath: "/data"}}},
		"NoVolumeDir":    {newRuntime(t), "p1", []process.Volume{{Source: "pv/a", MountPath: "/data"}}},
	} {
		t.Run(name, func(t *testing.T) {
			s := spec(t, nil)
			s.ProjectID, s.Volumes = tt.project, tt.vols
			in, err := tt.rt.Start(context.Background(), s)
			if err == nil {
				in.Stop(context.Background())
				t.Fatal("Start succeeded; want an error")
			}
			t.Logf("Start: %v", err)
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("the server created %v outside the volume tree", entries)
			}
			if _, err := os.Stat(filepath.Join(tt.rt.Dir, s.InstanceID)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("instance directory left behind: %v", err)
			}
		})
	}
}
