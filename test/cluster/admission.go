package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

// ApplyManifest server-side applies every object of a multi-document YAML file.
func ApplyManifest(ctx context.Context, cfg *rest.Config, path string) error {
	k, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := k.Patch(ctx, u, client.Apply, client.FieldOwner("kubernaut-test"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s from %s: %w", u.GetKind(), u.GetName(), path, err)
		}
	}
}

// InstallApprovalAdmission applies manifests/base/admission-approvals.yaml (root is the
// module's root) and waits until the API server enforces it: the mutating policy stamps
// kubernaut.io/decided-by, the validating one refuses a forged value.
func InstallApprovalAdmission(ctx context.Context, cfg *rest.Config, root string) error {
	if err := ApplyManifest(ctx, cfg, filepath.Join(root, "manifests", "base", "admission-approvals.yaml")); err != nil {
		return err
	}
	k, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		stamped := gen.WorkflowExecution("default", "admission-probe-we", func(w *kubernautv1.WorkflowExecution) {
			w.Annotations = map[string]string{"kubernaut.io/approve": "probe"}
		})
		errS := k.Create(ctx, stamped, client.DryRunAll)
		forged := gen.WorkflowExecution("default", "admission-probe-we", func(w *kubernautv1.WorkflowExecution) {
			w.Annotations = map[string]string{"kubernaut.io/decided-by": "someone-else"}
		})
		errF := k.Create(ctx, forged, client.DryRunAll)
		if errS == nil && stamped.Annotations["kubernaut.io/decided-by"] != "" && apierrors.IsForbidden(errF) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the approval admission policies are not enforced after 30 s (stamp: %v, %v; forged: %v)", errS, stamped.Annotations, errF)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
