package netacct

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/slapgo/slapgo/nodeagent/bridge"
	"github.com/spf13/pflag"
)

// TestMain lets the test binary stand for "slapgo bridge" in a network
// namespace: "<test binary> bridge --listen … --target …".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "bridge" {
		var o bridge.Options
		fs := pflag.NewFlagSet("bridge", pflag.ContinueOnError)
		o.BindFlags(fs)
		if err := fs.Parse(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bridge:", err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := bridge.ListenAndServe(ctx, o)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
