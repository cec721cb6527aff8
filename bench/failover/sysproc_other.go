//go:build !linux

package main

import "syscall"

// sysProcAttr: no parent-death signal outside Linux; the servers are
// stopped by the cleanup on exit.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
