// Package searchattr registers custom search attributes on a namespace, idempotently, on the
// dev server or a production cluster alike.
package searchattr

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// ensureTimeout bounds Ensure when ctx has no deadline.
const ensureTimeout = time.Minute

// Ensure registers the custom search attributes attrs on
// namespace through the operator service, and returns once they are listed and
// accepted in visibility queries. Attributes that already exist with the same
// type are left alone, so it is safe to call on every start, against the dev
// server or a production cluster. An attribute that exists with another type is
// an error.
func Ensure(ctx context.Context, c client.Client, namespace string, attrs map[string]enums.IndexedValueType) error {
	if len(attrs) == 0 {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ensureTimeout)
		defer cancel()
	}
	op := c.OperatorService()
	missing, err := missingSearchAttributes(ctx, op, namespace, attrs)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(missing))
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes %s to namespace %q: %w", strings.Join(names, ", "), namespace, err)
	}

	// Listed: the namespace record has them.
	for {
		missing, err = missingSearchAttributes(ctx, op, namespace, attrs)
		if err == nil && len(missing) == 0 {
			break
		}
		if err == nil {
			err = fmt.Errorf("still missing: %s", strings.Join(slices.Sorted(maps.Keys(missing)), ", "))
		}
		if !sleep(ctx, pollInterval) {
			return fmt.Errorf("search attributes %s on namespace %q not visible: %w", strings.Join(names, ", "), namespace, err)
		}
	}
	// Usable: the frontend's namespace cache, which validates queries and new
	// workflows' attributes, has caught up.
	query := usabilityQuery(names)
	for {
		_, err = c.WorkflowService().ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace,
			PageSize:  1,
			Query:     query,
		})
		if err == nil {
			return nil
		}
		if !sleep(ctx, pollInterval) {
			return fmt.Errorf("search attributes %s on namespace %q not usable in queries: %w", strings.Join(names, ", "), namespace, err)
		}
	}
}

// missingSearchAttributes returns the attributes of want that namespace lacks,
// or an error if one exists with another type.
func missingSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string, want map[string]enums.IndexedValueType) (map[string]enums.IndexedValueType, error) {
	resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes of namespace %q: %w", namespace, err)
	}
	missing := make(map[string]enums.IndexedValueType)
	for name, typ := range want {
		got, ok := resp.GetCustomAttributes()[name]
		if !ok {
			if sys, isSystem := resp.GetSystemAttributes()[name]; isSystem {
				return nil, fmt.Errorf("search attribute %s is a system attribute (%s) on namespace %q: choose another name", name, sys, namespace)
			}
			missing[name] = typ
			continue
		}
		if got != typ {
			return nil, fmt.Errorf("search attribute %s exists on namespace %q as %s, not %s: remove it (temporal operator search-attribute remove) or use another namespace", name, namespace, got, typ)
		}
	}
	return missing, nil
}

// usabilityQuery is a cheap visibility query that mentions every name.
func usabilityQuery(names []string) string {
	terms := make([]string, len(names))
	for i, name := range names {
		terms[i] = quoteName(name) + " IS NULL"
	}
	return strings.Join(terms, " OR ")
}

func quoteName(name string) string {
	plain := name != "" && !(name[0] >= '0' && name[0] <= '9')
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
		}
	}
	if plain {
		return name
	}
	return "`" + strings.ReplaceAll(name, "`", "") + "`"
}

func describeNamespace(name string) *workflowservice.DescribeNamespaceRequest {
	return &workflowservice.DescribeNamespaceRequest{Namespace: name}
}

// pollInterval is how often Ensure checks that the attributes became usable.
const pollInterval = 50 * time.Millisecond

// sleep waits for d or until ctx is done; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Missing lists the attributes of attrs that namespace does not have (an attribute with
// another type is an error).
func Missing(ctx context.Context, c client.Client, namespace string, attrs map[string]enums.IndexedValueType) ([]string, error) {
	missing, err := missingSearchAttributes(ctx, c.OperatorService(), namespace, attrs)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(missing)), nil
}
