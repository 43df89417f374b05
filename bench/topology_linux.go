package main

import "syscall"

// childAttr makes a child process of the topology scenario die with the bench, however
// the bench ends.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
