package workflows_test

import (
	"fmt"

	"go.temporal.io/api/workflowservice/v1"

	"tandem/workflows"
)

func listByName(name string) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("%s = %q", workflows.SyncSearchAttribute, name),
	}
}
