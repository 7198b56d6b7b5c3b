package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Approvers are the people the suites approve plans as: none of them changes the workloads
// the suites break, so the separation of duties counts them (the suites' administrator, who
// makes the situations, would not be counted).
var Approvers = []string{"alice", "bob", "carol"}

// InstallApprovers lets Approvers review and approve every plan: kubernaut-plan-reviewer and
// kubernaut-approver (manifests/base/admission-approvals.yaml), cluster-wide.
func InstallApprovers(ctx context.Context, cfg *rest.Config) error {
	k, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return err
	}
	var subjects []rbacv1.Subject
	for _, n := range Approvers {
		subjects = append(subjects, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: "User", Name: n})
	}
	for _, role := range []string{"kubernaut-approver", "kubernaut-plan-reviewer"} {
		b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "test-" + role}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}
		if err := k.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("binding %s to the suites' approvers: %w", role, err)
		}
	}
	return nil
}

// ApprovePlan approves the plan key by its hash, as `kubectl annotate` by each of as many
// Approvers as its quorum needs, waiting for the controller to count each approval before the
// next. It returns the plan as the last approval left it.
func ApprovePlan(ctx context.Context, cfg *rest.Config, key client.ObjectKey) (*kubernautv1.WorkflowExecution, error) {
	k, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, err
	}
	we := &kubernautv1.WorkflowExecution{}
	for i := 0; ; i++ {
		// Wait until the plan awaits an approval and holds none not yet counted.
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			if err := k.Get(ctx, key, we); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			_, pending := we.Annotations[kubernautv1.ApproveAnnotation]
			return decided(we) || we.Status.Phase == kubernautv1.WorkflowAwaitingApproval && we.Status.Plan != nil && !pending, nil
		})
		if err != nil {
			return we, fmt.Errorf("waiting for plan %s to await an approval (phase %s): %w", key, we.Status.Phase, err)
		}
		if decided(we) {
			return we, nil
		}
		var counted []string
		if we.Status.Approval != nil {
			for _, a := range we.Status.Approval.Approvers {
				counted = append(counted, a.User)
			}
		}
		next := slices.IndexFunc(Approvers, func(n string) bool { return !slices.Contains(counted, n) })
		if next < 0 || i >= len(Approvers) {
			return we, fmt.Errorf("plan %s still awaits approval after %s approved it: %v", key, counted, we.Status.Conditions)
		}
		pc := rest.CopyConfig(cfg)
		pc.Impersonate = rest.ImpersonationConfig{UserName: Approvers[next]}
		person, err := client.New(pc, client.Options{Scheme: Scheme()})
		if err != nil {
			return we, err
		}
		before := we.DeepCopy()
		if we.Annotations == nil {
			we.Annotations = map[string]string{}
		}
		we.Annotations[kubernautv1.ApproveAnnotation] = we.Status.Plan.Hash
		if err := person.Patch(ctx, we, client.MergeFrom(before), client.FieldOwner("kubectl-annotate")); err != nil {
			return we, fmt.Errorf("approving plan %s as %s: %w", key, Approvers[next], err)
		}
	}
}

// decided: the plan is approved, or ended without.
func decided(we *kubernautv1.WorkflowExecution) bool {
	return meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.ApprovedCondition) || we.Status.Phase.IsFinished()
}
