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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// InstallApprovalAdmission applies manifests/base/admission-approvals.yaml and
// admission-changes.yaml (root is the module's root) and waits until the API server enforces
// them: the mutating policies stamp kubernaut.io/decided-by and kubernaut.io/changed-by (in
// the opted-in namespace kubernaut-admission-probe, which it creates), the validating one
// refuses a forged decided-by.
func InstallApprovalAdmission(ctx context.Context, cfg *rest.Config, root string) error {
	for _, f := range []string{"admission-approvals.yaml", "admission-changes.yaml"} {
		if err := ApplyManifest(ctx, cfg, filepath.Join(root, "manifests", "base", f)); err != nil {
			return err
		}
	}
	k, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	probeNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubernaut-admission-probe", Labels: map[string]string{kubernautv1.OptInLabel: "true"}}}
	if err := k.Create(ctx, probeNS); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", probeNS.Name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		stamped := gen.WorkflowExecution("default", "admission-probe-we", func(w *kubernautv1.WorkflowExecution) {
			w.Annotations = map[string]string{kubernautv1.ApproveAnnotation: "probe"}
		})
		errS := k.Create(ctx, stamped, client.DryRunAll)
		forged := gen.WorkflowExecution("default", "admission-probe-we", func(w *kubernautv1.WorkflowExecution) {
			w.Annotations = map[string]string{kubernautv1.DecidedByAnnotation: "someone-else"}
		})
		errF := k.Create(ctx, forged, client.DryRunAll)
		changed := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: probeNS.Name, Name: "admission-probe"}, Data: map[string]string{"k": "v"}}
		errC := k.Create(ctx, changed, client.DryRunAll)
		if errS == nil && stamped.Annotations[kubernautv1.DecidedByAnnotation] != "" && apierrors.IsForbidden(errF) &&
			errC == nil && changed.Annotations[kubernautv1.ChangedByAnnotation] != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the approval admission policies are not enforced after 30 s (stamp: %v, %v; forged: %v; changed-by: %v, %v)",
				errS, stamped.Annotations, errF, errC, changed.Annotations)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
