package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/cluster"
)

// person is someone who approves plans in the demo: the demo's administrator impersonates
// them, so that the API server authenticates each as themselves.
type person struct {
	name string
	c    client.Client
}

// approvers gives alice and bob the right to review plans (kubernaut-plan-reviewer, where the
// plans live) and to approve them everywhere (kubernaut-approver, cluster-wide: the demo's
// plans act in staging, in production and on a node).
func approvers(ctx context.Context, c client.Client, cfg *rest.Config, ns string) ([]person, error) {
	names := []string{"alice", "bob"}
	var subjects []rbacv1.Subject
	var out []person
	for _, n := range names {
		subjects = append(subjects, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: "User", Name: n})
		pc := rest.CopyConfig(cfg)
		pc.Impersonate = rest.ImpersonationConfig{UserName: n}
		k, err := client.New(pc, client.Options{Scheme: cluster.Scheme()})
		if err != nil {
			return nil, err
		}
		out = append(out, person{name: n, c: k})
	}
	for _, b := range []client.Object{
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kubernaut-demo-approvers"}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kubernaut-approver"}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kubernaut-demo-plan-reviewers"}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "kubernaut-plan-reviewer"}},
	} {
		if err := c.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("letting the demo's people approve: %w", err)
		}
	}
	return out, nil
}

// approve has the next person approve a plan waiting at its gate, by its hash, printing what
// a person would read and type. It reports true once the plan has all the approvals its
// quorum needs, false while it is still being planned or needs more.
func approve(ctx context.Context, c client.Client, people []person, ns string, s *situation) (bool, error) {
	we := &kubernautv1.WorkflowExecution{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubernautv1.WorkflowName(s.rr)}, we); err != nil || we.Status.Phase != kubernautv1.WorkflowAwaitingApproval || we.Status.Plan == nil {
		return false, nil
	}
	if _, pending := we.Annotations[kubernautv1.ApproveAnnotation]; pending {
		return false, nil // the controller has not counted the last approval yet
	}
	need := 1
	if we.Spec.Quorum != nil {
		need = int(we.Spec.Quorum.Approvers)
	}
	if !s.asked {
		s.asked = true
		why := "the approval policy asks for a person"
		aia := &kubernautv1.AIAnalysis{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: kubernautv1.AnalysisName(s.rr)}, aia); err == nil && aia.Status.Approval != nil {
			why = strings.Join(aia.Status.Approval.Reasons, "; ")
		}
		fmt.Printf("\n  ── %s waits for people: %s\n", s.name, why)
		for _, st := range we.Status.Plan.Steps {
			fmt.Printf("       step %-8s %s %s (policy allowed: %t)\n", st.Name, st.Action, st.Target, st.Policy.Allowed)
		}
		if we.Spec.Quorum != nil {
			fmt.Printf("       it needs %s (the approval policy's quorum)\n", we.Spec.Quorum)
		}
		fmt.Printf("       plan hash %s; each approves with any of:\n", we.Status.Plan.Hash)
		fmt.Printf("         kubectl kubernaut approve %s -n %s    (the plugin: make build's bin/kubectl-kubernaut)\n", s.rr, ns)
		fmt.Printf("         kubectl annotate workflowexecution %s -n %s %s=%s\n", we.Name, ns, kubernautv1.ApproveAnnotation, we.Status.Plan.Hash)
		if need == 1 {
			fmt.Printf("         argo resume %s -n %s    (with the argo engine: make demo ARGO=1)\n", we.Name, ns)
		}
		scope := "-n " + we.Spec.Target.Namespace
		if we.Spec.Target.Namespace == "" {
			scope = "--all-namespaces" // a node: cluster scope
		}
		fmt.Printf("       (who may: the verb approve where the plan acts — kubectl auth can-i approve workflowexecutions.kubernaut.io %s --as alice)\n", scope)
	}
	var counted []string
	if we.Status.Approval != nil {
		for _, a := range we.Status.Approval.Approvers {
			counted = append(counted, a.User)
		}
	}
	i := slices.IndexFunc(people, func(p person) bool { return !slices.Contains(counted, p.name) })
	if i < 0 {
		return false, fmt.Errorf("approving %s: %d people approved (%s), and it still waits: %s", we.Name, len(counted), strings.Join(counted, ", "), s.name)
	}
	p := people[i]
	if demoPlugin != "" {
		return approveWithPlugin(ctx, we, p, s, len(counted), need)
	}
	before := we.DeepCopy()
	if we.Annotations == nil {
		we.Annotations = map[string]string{}
	}
	we.Annotations[kubernautv1.ApproveAnnotation] = we.Status.Plan.Hash
	if err := p.c.Patch(ctx, we, client.MergeFrom(before)); err != nil {
		return false, fmt.Errorf("approving %s as %s: %w", we.Name, p.name, err)
	}
	who := we.Annotations[kubernautv1.DecidedByAnnotation]
	if who == "" {
		return false, fmt.Errorf("approving %s: the API server did not stamp %s (are manifests/base/admission-approvals.yaml's policies installed?)",
			we.Name, kubernautv1.DecidedByAnnotation)
	}
	fmt.Printf("       approved by %s (%d of %d): the user the API server authenticated, stamped by admission into %s\n",
		who, len(counted)+1, need, kubernautv1.DecidedByAnnotation)
	return len(counted)+1 >= need, nil
}

// demoPlugin and demoInbox are the plugin the people approve with and the receiver of the
// notifications (main's flags).
var (
	demoPlugin string
	demoInbox  *inbox
)

// approveWithPlugin has p run the approve command the notification carried (once it arrived),
// with the plugin, as themselves.
func approveWithPlugin(ctx context.Context, we *kubernautv1.WorkflowExecution, p person, s *situation, counted, need int) (bool, error) {
	command := fmt.Sprintf("kubectl kubernaut approve %s -n %s", s.rr, we.Namespace)
	if demoInbox != nil {
		if command = demoInbox.command(s.rr); command == "" {
			return false, nil // the notification has not arrived yet
		}
	}
	args := append(strings.Fields(strings.TrimPrefix(command, "kubectl kubernaut ")), "--as", p.name)
	fmt.Printf("       %s runs: %s --as %s\n", p.name, command, p.name)
	out, err := exec.CommandContext(ctx, demoPlugin, args...).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fmt.Printf("         %s\n", line)
	}
	if err != nil {
		if strings.Contains(string(out), "being counted") {
			return false, nil // the previous approval is being counted: again in a moment
		}
		return false, fmt.Errorf("%s approving %s with the plugin: %w", p.name, we.Name, err)
	}
	return counted+1 >= need, nil
}
