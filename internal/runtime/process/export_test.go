package process

// InstanceCgroupDirs returns the cgroup directories of an instance, nil when it has none.
func InstanceCgroupDirs(in *Instance) []string {
	if in.cg == nil {
		return nil
	}
	return in.cg.dirs(in.ID)
}
