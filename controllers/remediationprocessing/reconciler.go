// Package remediationprocessing enriches a signal with its cluster context (the target's
// owner chain, workload, pods, events, log tails, node, HPA, PDBs, rollouts, ConfigMaps,
// GitOps ownership) and classifies it with the Rego classification policy.
package remediationprocessing

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

// Reconciler enriches and classifies RemediationProcessings.
type Reconciler struct {
	// Client reads RemediationProcessings from the cache and writes their status.
	Client client.Client
	// Enricher gathers the context.
	Enricher *Enricher
	// Classifier evaluates the classification policy.
	Classifier *Classifier
	// Events records an event per outcome.
	Events events.EventRecorder
	// Metrics records enrichment latency and failed detections.
	Metrics *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Reconcile enriches, then classifies, and writes the status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rp := &kubernautv1.RemediationProcessing{}
	if err := r.Client.Get(ctx, req.NamespacedName, rp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if rp.Status.Phase == kubernautv1.ProcessingCompleted || rp.Status.Phase == kubernautv1.ProcessingFailed || rp.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	before := rp.DeepCopy()
	err := r.process(ctx, rp)
	rp.Status.Phase = rp.DerivePhase()
	if rp.Status.Phase == kubernautv1.ProcessingCompleted || rp.Status.Phase == kubernautv1.ProcessingFailed {
		t := metav1.NewTime(r.now())
		rp.Status.CompletedAt = &t
		// Only a failure is an event: a success is in the status, and its remediation's events
		// tell the rest (each event is a write to the API server).
		if rp.Status.Phase == kubernautv1.ProcessingFailed && r.Events != nil {
			r.Events.Eventf(rp, nil, corev1.EventTypeWarning, string(rp.Status.Phase), "Process", "%s",
				meta.FindStatusCondition(rp.Status.Conditions, kubernautv1.ReadyCondition).Message)
		}
	}
	rp.Status.ObservedGeneration = rp.Generation
	if !equality.Semantic.DeepEqual(before.Status, rp.Status) {
		if perr := r.Client.Status().Patch(ctx, rp, client.MergeFrom(before)); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("patching the status of RemediationProcessing %s: %w", req, perr))
		}
	}
	return ctrl.Result{}, err
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) set(rp *kubernautv1.RemediationProcessing, typ string, status metav1.ConditionStatus, reason, msg string) {
	kubernautv1.SetCondition(&rp.Status.Conditions, rp.Generation, typ, status, reason, msg)
}

// process runs enrichment (once) and classification. A missing target or a broken policy
// fails the processing for good (a terminal error, returned after it is recorded); an
// unreachable API server is retried.
func (r *Reconciler) process(ctx context.Context, rp *kubernautv1.RemediationProcessing) error {
	if !meta.IsStatusConditionTrue(rp.Status.Conditions, kubernautv1.EnrichedCondition) {
		start := r.now()
		subject, err := r.Enricher.Subject(ctx, rp.Spec.Target, rp.Spec.MemberTargets)
		if err != nil {
			r.set(rp, kubernautv1.EnrichedCondition, metav1.ConditionUnknown, kubernautv1.ReasonInProgress, "retrying: "+err.Error())
			return err
		}
		e, err := r.Enricher.Enrich(ctx, subject)
		r.Metrics.observeEnrichment(r.now().Sub(start), e)
		switch {
		case terminal.Is(err):
			msg := terminal.Message(err)
			r.set(rp, kubernautv1.EnrichedCondition, metav1.ConditionFalse, kubernautv1.ReasonTargetNotFound, msg)
			r.set(rp, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, msg)
			return err
		case err != nil:
			r.set(rp, kubernautv1.EnrichedCondition, metav1.ConditionUnknown, kubernautv1.ReasonInProgress, "retrying: "+err.Error())
			return err
		}
		rp.Status.Enrichment = e
		msg := fmt.Sprintf("gathered the context of %s", rp.Spec.Target)
		if subject != rp.Spec.Target {
			msg = fmt.Sprintf("gathered the context of %s, the workload of all %d members of the storm in %s", subject, len(rp.Spec.MemberTargets), rp.Spec.Target)
		}
		if n := len(e.FailedDetections); n > 0 {
			msg += fmt.Sprintf("; %d lookups failed (see status.enrichment.failedDetections)", n)
		}
		r.set(rp, kubernautv1.EnrichedCondition, metav1.ConditionTrue, kubernautv1.ReasonEnriched, msg)
	}
	c, version, err := r.Classifier.Classify(ctx, rp, rp.Status.Enrichment)
	switch {
	case terminal.Is(err):
		msg := "classification failed: " + terminal.Message(err)
		r.set(rp, kubernautv1.ClassifiedCondition, metav1.ConditionFalse, kubernautv1.ReasonPolicyError, msg)
		r.set(rp, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, msg)
		return err
	case err != nil:
		return fmt.Errorf("classifying: %w", err)
	}
	rp.Status.Classification = c
	r.set(rp, kubernautv1.ClassifiedCondition, metav1.ConditionTrue, kubernautv1.ReasonClassified, "classified by the policy ("+version+")")
	r.set(rp, kubernautv1.ReadyCondition, metav1.ConditionTrue, kubernautv1.ReasonSucceeded, "enriched and classified")
	return nil
}
