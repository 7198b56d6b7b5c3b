package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newTrustCmd is `kubectl kubernaut trust`: the scopes' levels, and the confirmation of a
// promotion the evidence earned (docs/autonomy.md).
func newTrustCmd(env *cliEnv) *cobra.Command {
	var output string
	trust := &cobra.Command{
		Use:   "trust",
		Short: "Earned autonomy: each scope's level, evidence and proposed promotion",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, _, err := env.plugin()
			if err != nil {
				return err
			}
			tp, err := p.Trust(cmd.Context())
			if err != nil {
				return err
			}
			switch output {
			case "":
				p.PrintTrust(tp)
				return nil
			case "json", "yaml":
				return printObject(env.streams.Out, output, tp)
			}
			return errors.New("--output " + output + ": want json or yaml")
		},
	}
	trust.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	trust.AddCommand(&cobra.Command{
		Use:   "promote NAMESPACE-GROUP/SIGNAL-TYPE/ACTION",
		Short: "Confirm the promotion proposed for a scope (as an edit of the TrustPolicy in Git would)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, _, err := env.plugin()
			if err != nil {
				return err
			}
			return p.Promote(cmd.Context(), args[0])
		},
	})
	return trust
}
