//go:build !linux

package main

import "errors"

func pinProcess(pid int, cpus ...int) error {
	return errors.New("pinning processes to CPUs needs Linux")
}
