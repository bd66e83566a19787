//go:build tools

// Package tools pins the Argo Workflows module whose workflow-controller build.sh builds.
package tools

import _ "github.com/argoproj/argo-workflows/v3/cmd/workflow-controller"
