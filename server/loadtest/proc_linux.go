package main

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal has the server process killed when this command dies without stopping
// it (kill -9), so that no server outlives a run.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
