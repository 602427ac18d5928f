package process

import (
	"os/exec"
	"runtime"
	"sync"
)

// Instances die with the server: each one is started with PR_SET_PDEATHSIG (SIGKILL), so that a
// server that crashed or was killed leaves no instance running that nothing routes to and that a
// successor (another replica, or this one restarted) would duplicate. A graceful shutdown stops
// them first, SIGTERM and grace period included; the signal is for deaths only.
//
// The kernel sends the parent-death signal when the *thread* that forked the child ends, not the
// process, and the Go runtime may end threads. So every instance is forked by one goroutine locked
// to its OS thread for the life of the process: that thread ends only with the process.

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var spawner = sync.OnceValue(func() chan<- spawnRequest {
	reqs := make(chan spawnRequest)
	go func() {
		runtime.LockOSThread() // never unlocked: the goroutine never returns
		for r := range reqs {
			r.done <- r.cmd.Start()
		}
	}()
	return reqs
})

// startTied starts cmd from the spawner's thread; cmd.SysProcAttr must set Pdeathsig.
func startTied(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	spawner() <- spawnRequest{cmd: cmd, done: done}
	return <-done
}
