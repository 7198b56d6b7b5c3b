//go:build tools

// Package tools pins the workflow-controller's main package in this module.
package tools

import _ "github.com/argoproj/argo-workflows/v3/cmd/workflow-controller"
