package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// A wrong invocation says what is wrong before anything is asked of the API server.
func TestBadInvocations(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"approve"}, "accepts 1 arg(s), received 0"},
		{[]string{"show", "a", "b"}, "accepts 1 arg(s), received 2"},
		{[]string{"reject", "rr-1"}, "reject needs --reason"},
		{[]string{"list", "extra"}, `unknown command "extra"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"history", "--since", "a week"}, `--since "a week": want a positive number of days`},
		{[]string{"history", "--since", "0d"}, `--since "0d": want a positive number of days`},
		{[]string{"killswitch", "maybe"}, `invalid argument "maybe"`},
		{[]string{"killswitch"}, "accepts 1 arg(s), received 0"},
		{[]string{"pause"}, "accepts 1 arg(s), received 0"},
	} {
		var out, errOut bytes.Buffer
		root := newRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		root.SetArgs(tc.args)
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("kubectl kubernaut %s: %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// The help names every command and kubectl's own flags.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	root := newRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"list", "show", "approve", "reject", "history", "pause", "resume", "killswitch", "--namespace", "--context", "--kubeconfig", "--as"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}
