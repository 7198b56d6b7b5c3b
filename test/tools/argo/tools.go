//go:build tools

// Package tools pins the workflow-controller's and argoexec's main packages in this module.
package tools

import (
	_ "github.com/argoproj/argo-workflows/v3/cmd/argoexec"
	_ "github.com/argoproj/argo-workflows/v3/cmd/workflow-controller"
)
