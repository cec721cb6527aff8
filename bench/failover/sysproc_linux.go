package main

import "syscall"

// sysProcAttr makes a server die with this program (SIGKILL on parent
// death), so that an interrupted run leaves no servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
