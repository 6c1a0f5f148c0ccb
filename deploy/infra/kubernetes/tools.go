//go:build tools

// Package tools pins the two programs this module builds; the build tag keeps it out of
// normal builds (a main package cannot be imported), `go mod tidy` still follows it.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
