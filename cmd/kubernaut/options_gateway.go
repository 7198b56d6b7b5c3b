package main

import (
	"flag"

	"github.com/kubernaut/kubernaut/cmd/internal/gatewaycmd"
)

// gatewayOptions are the gateway's option group: the flags kubernaut-gateway reads too.
type gatewayOptions struct{ gatewaycmd.Options }

func (g *gatewayOptions) bindFlags(fs *flag.FlagSet) { g.BindFlags(fs) }

func (g *gatewayOptions) validate() error { return g.Validate() }
