//go:build !linux

package main

import "os/exec"

// setParentDeathSignal does nothing where the system cannot: stop the server by hand if this
// command is killed with -9.
func setParentDeathSignal(*exec.Cmd) {}
