package process

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/arkserve/arkserve/internal/ark"
)

// Volumes. A process cannot mount, and the paths in a configuration come from API users, who
// must not be able to make the server write anywhere on its host. So a volume is a directory
// under Runtime.VolumeDir/<project id>/, never the host path itself:
//
//   - log_volume {host_path: /var/log/app, mount_path: /logs}: VolumeDir/<project>/host/var/log/app
//     (instances of one project that name the same host path share it, as with a hostPath);
//   - persistent_volumes {source_address or name, mount_path}: VolumeDir/<project>/sfs/<source_address>,
//     else VolumeDir/<project>/pv/<name>, else VolumeDir/<project>/pv/<mount path>.
//
// The server creates these directories through an os.Root opened on VolumeDir/<project>: a
// symbolic link that an instance plants there cannot lead the server out of the project's tree.
// Directories it creates are owned by the instance user (RunAs) with mode 0750; VolumeDir and the
// project directories are the server's, mode 0711 (instances traverse them but cannot list them).
//
// The instance finds each volume at $ARKSERVE_MOUNT_ROOT<mount_path>: ARKSERVE_MOUNT_ROOT is
// $HOME/mnt, and $HOME/mnt/<mount_path> is a symbolic link to the directory. A model that writes
// to /logs in a container writes to "$ARKSERVE_MOUNT_ROOT/logs" here. Contents outlive the
// instance; Stop removes only the link.

// Volume is one directory given to an instance in place of a mount. VolumesOf builds them from a
// model's additional properties.
type Volume struct {
	// Source names the directory relative to Runtime.VolumeDir/<Spec.ProjectID>/: a slash-separated
	// relative path without "." or ".." elements.
	Source string
	// MountPath is the absolute path the model asked for; the instance finds the directory at
	// $ARKSERVE_MOUNT_ROOT<MountPath>.
	MountPath string
}

// VolumesOf maps log_volume and persistent_volumes of a model's additional properties to Volumes
// (see the package's notes on volumes). Names and source addresses become one path element each
// ('/' is replaced by '_'); host and mount paths are cleaned.
func VolumesOf(p ark.ModelAdditionalProperties) []Volume {
	var out []Volume
	for _, lv := range p.LogVolume {
		out = append(out, Volume{Source: "host/" + strings.TrimPrefix(path.Clean("/"+lv.HostPath), "/"), MountPath: lv.MountPath})
	}
	for _, pv := range p.PersistentVolumes {
		var src string
		switch {
		case pv.SourceAddress != "":
			src = "sfs/" + element(pv.SourceAddress)
		case pv.Name != "":
			src = "pv/" + element(pv.Name)
		default:
			src = "pv/" + strings.TrimPrefix(path.Clean("/"+pv.MountPath), "/")
		}
		out = append(out, Volume{Source: src, MountPath: pv.MountPath})
	}
	return out
}

// element turns a user string into one safe path element.
func element(s string) string {
	s = strings.ReplaceAll(s, "/", "_")
	if s == "." || s == ".." {
		s = "_" + s
	}
	return s
}

// MountRootEnv names the variable that tells an instance where its volumes are.
const MountRootEnv = "ARKSERVE_MOUNT_ROOT"

var projectIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// cleanRel checks a relative slash-separated path: no empty, ".", ".." elements, no NUL, at most
// 1024 bytes. It returns its elements.
func cleanRel(field, p string, absolute bool) ([]string, error) {
	if absolute {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("process: volume %s %q is not an absolute path", field, p)
		}
		p = strings.TrimRight(strings.TrimPrefix(p, "/"), "/")
	} else if strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("process: volume %s %q is not a relative path", field, p)
	}
	if p == "" || len(p) > 1024 || strings.ContainsRune(p, 0) {
		return nil, fmt.Errorf("process: volume %s %q is empty, too long or contains NUL", field, p)
	}
	elems := strings.Split(p, "/")
	for _, e := range elems {
		if e == "" || e == "." || e == ".." {
			return nil, fmt.Errorf("process: volume %s %q: empty, . and .. elements are not allowed", field, p)
		}
	}
	return elems, nil
}

// prepareVolumes creates the volume directories of spec and the links to them in home/mnt.
// Nothing it does follows a link out of VolumeDir/<project> or out of home.
func (r *Runtime) prepareVolumes(spec Spec, home string) error {
	if len(spec.Volumes) == 0 {
		return nil
	}
	if r.VolumeDir == "" {
		return errors.New("process: the instance has volumes and Runtime.VolumeDir is not set")
	}
	if !projectIDRE.MatchString(spec.ProjectID) {
		return fmt.Errorf("process: invalid project id %q for volumes", spec.ProjectID)
	}
	type link struct {
		mount  []string
		target string
	}
	var links []link
	for i, v := range spec.Volumes {
		src, err := cleanRel("source", v.Source, false)
		if err != nil {
			return err
		}
		mnt, err := cleanRel("mount path", v.MountPath, true)
		if err != nil {
			return err
		}
		for _, o := range spec.Volumes[:i] {
			a, b := "/"+strings.Join(mnt, "/"), path.Clean(o.MountPath)
			if a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/") {
				return fmt.Errorf("process: volume mount paths %s and %s overlap", b, a)
			}
		}
		dir, err := r.volumeDir(spec.ProjectID, src)
		if err != nil {
			return err
		}
		links = append(links, link{mount: mnt, target: dir})
	}
	// The links live in the instance's HOME, which the server created a moment ago and the
	// instance has not started yet.
	root, err := os.OpenRoot(home)
	if err != nil {
		return fmt.Errorf("process: volumes: %w", err)
	}
	defer root.Close()
	for _, l := range links {
		elems := append([]string{"mnt"}, l.mount...)
		for i := 1; i < len(elems); i++ {
			if err := r.mkdirOwned(root, path.Join(elems[:i]...), 0o755); err != nil {
				return err
			}
		}
		name := path.Join(elems...)
		if err := root.Symlink(l.target, name); err != nil {
			return fmt.Errorf("process: volume link: %w", err)
		}
		if r.RunAs != nil {
			if err := root.Lchown(name, int(r.RunAs.UID), int(r.RunAs.GID)); err != nil {
				return fmt.Errorf("process: volume link: %w", err)
			}
		}
	}
	return nil
}

// volumeDir creates (when missing) VolumeDir/<project>/<src...> and returns its absolute path.
func (r *Runtime) volumeDir(project string, src []string) (string, error) {
	base, err := filepath.Abs(r.VolumeDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(base, 0o711); err != nil {
		return "", fmt.Errorf("process: volume root: %w", err)
	}
	vroot, err := os.OpenRoot(base)
	if err != nil {
		return "", fmt.Errorf("process: volume root: %w", err)
	}
	defer vroot.Close()
	if err := vroot.Mkdir(project, 0o711); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("process: volume root: %w", err)
	}
	proot, err := vroot.OpenRoot(project)
	if err != nil {
		return "", fmt.Errorf("process: volume root: %w", err)
	}
	defer proot.Close()
	for i := 1; i <= len(src); i++ {
		if err := r.mkdirOwned(proot, path.Join(src[:i]...), 0o750); err != nil {
			return "", err
		}
	}
	return filepath.Join(base, project, filepath.FromSlash(path.Join(src...))), nil
}

// mkdirOwned creates directory name in root owned by the instance user, or checks that what is
// there is a directory (following links, within root).
func (r *Runtime) mkdirOwned(root *os.Root, name string, mode os.FileMode) error {
	err := root.Mkdir(name, mode)
	switch {
	case err == nil:
		if r.RunAs != nil {
			if err := root.Lchown(name, int(r.RunAs.UID), int(r.RunAs.GID)); err != nil {
				return fmt.Errorf("process: volume directory: %w", err)
			}
		}
		return nil
	case errors.Is(err, fs.ErrExist):
		fi, err := root.Stat(name)
		if err != nil {
			return fmt.Errorf("process: volume directory: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("process: volume directory %s exists and is not a directory", name)
		}
		return nil
	default:
		return fmt.Errorf("process: volume directory: %w", err)
	}
}
