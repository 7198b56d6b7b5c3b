package cluster

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// RunManager builds a controller manager for a test from opts (the test scheme when it names
// none; never a metrics server; controller names may repeat across tests, each test having a
// manager of its own), lets setup register controllers on it, and starts it. stop ends it and
// returns what Start returned, waiting at most 30 s.
func RunManager(cfg *rest.Config, opts ctrl.Options, setup func(ctx context.Context, mgr ctrl.Manager) error) (stop func() error, err error) {
	if opts.Scheme == nil {
		opts.Scheme = Scheme()
	}
	opts.Metrics = metricsserver.Options{BindAddress: "0"}
	opts.Controller.SkipNameValidation = ptr.To(true)
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("creating a controller manager: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := setup(ctx, mgr); err != nil {
		cancel()
		return nil, fmt.Errorf("setting up the controllers: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("the controller manager did not stop within 30 s")
		}
	}, nil
}
