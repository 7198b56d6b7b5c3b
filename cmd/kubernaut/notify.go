package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/notify"
)

// notifyOptions say how Kubernaut tells people what it does (docs/notifications.md).
type notifyOptions struct {
	alertmanager      bool
	interval          time.Duration
	failureFor        time.Duration
	slackURLFile      string
	cloudEventsFile   string
	cloudEventsSource string
}

func (n *notifyOptions) bindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&n.alertmanager, "notify-alertmanager", true,
		"post Kubernaut's own alerts (KubernautApprovalRequired, KubernautRemediating, KubernautRemediationFailed, KubernautCompensationFailed) to the Alertmanager of --alertmanager-url")
	fs.DurationVar(&n.interval, "notify-interval", time.Minute, "how often firing notifications are posted again (each ends three intervals later unless posted again)")
	fs.DurationVar(&n.failureFor, "notify-failure-for", 4*time.Hour, "how long KubernautRemediationFailed fires after a remediation failed or timed out")
	fs.StringVar(&n.slackURLFile, "notify-slack-url-file", "",
		"a file holding a Slack incoming webhook's URL (a key of a mounted Secret: the URL is a credential), read at each message; empty: no Slack messages")
	fs.StringVar(&n.cloudEventsFile, "notify-cloudevents-url-file", "",
		"a file holding the URL CloudEvents 1.0 are posted to (a key of a mounted Secret), read at each event; empty: no CloudEvents")
	fs.StringVar(&n.cloudEventsSource, "notify-cloudevents-source", "kubernaut.io", "the CloudEvents' source prefix (name the cluster: kubernaut.io/prod-eu-1); each event's source is <prefix>/<namespace>/<remediation>")
}

func (n *notifyOptions) validate() error {
	switch {
	case n.interval < time.Second:
		return fmt.Errorf("--notify-interval %s: want at least 1s", n.interval)
	case n.failureFor <= 0:
		return fmt.Errorf("--notify-failure-for %s: want a positive duration", n.failureFor)
	}
	for flag, file := range map[string]string{"--notify-slack-url-file": n.slackURLFile, "--notify-cloudevents-url-file": n.cloudEventsFile} {
		if file == "" {
			continue
		}
		if _, err := os.Stat(file); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
	}
	return nil
}

// sinks are the direct sinks the flags configure.
func (n *notifyOptions) sinks() []notify.EventSink {
	var out []notify.EventSink
	if n.slackURLFile != "" {
		out = append(out, &notify.Slack{URL: notify.URLFile(n.slackURLFile)})
	}
	if n.cloudEventsFile != "" {
		out = append(out, &notify.CloudEvents{URL: notify.URLFile(n.cloudEventsFile), Source: n.cloudEventsSource})
	}
	return out
}

// setupNotifications runs the notifier beside the controllers when there is someone to tell
// (an Alertmanager, Slack, a CloudEvents receiver): it syncs on every change of a remediation
// or a plan, and every interval.
func setupNotifications(ctx context.Context, mgr ctrl.Manager, o *options) error {
	var am notify.Sink
	if o.execution.alertmanagerURL != "" && o.notify.alertmanager {
		am = &notify.Alertmanager{URL: o.execution.alertmanagerURL}
	}
	sinks := o.notify.sinks()
	if am == nil && len(sinks) == 0 {
		return nil
	}
	n := &notify.Notifier{
		Reader:   mgr.GetClient(),
		Sink:     am,
		Sinks:    sinks,
		Options:  notify.Options{Namespace: o.manager.namespace, FailureFor: o.notify.failureFor},
		Interval: o.notify.interval,
		Events:   mgr.GetEventRecorder("kubernaut-notify"),
		Metrics:  notify.NewMetrics(metrics.Registry),
		Log:      ctrl.Log.WithName("notify"),
	}
	wake := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { n.Notify() },
		UpdateFunc: func(any, any) { n.Notify() },
		DeleteFunc: func(any) { n.Notify() },
	}
	for _, obj := range []client.Object{&kubernautv1.RemediationRequest{}, &kubernautv1.WorkflowExecution{}} {
		inf, err := mgr.GetCache().GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("watching %T for the notifications: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(wake); err != nil {
			return fmt.Errorf("watching %T for the notifications: %w", obj, err)
		}
	}
	if err := mgr.Add(n); err != nil {
		return fmt.Errorf("adding the notifier: %w", err)
	}
	return nil
}
