// Command manager is the benchmark's manager process: the operator's manager against an emulated
// provider (internal/bench/managerproc). hack/bench builds it with the flags of `make build` and
// starts it once per scenario; it is not meant to be run by hand. It takes its configuration as
// JSON in -config and KUBECONFIG from the environment, writes "stats http://<addr>" on stdout,
// and exits when stdin closes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tfstate-operator/tfstate-operator/internal/bench/managerproc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench manager: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	config := flag.String("config", "", "The process's configuration (managerproc.ChildConfig) as JSON.")
	flag.Parse()
	if *config == "" {
		return errors.New("-config is required (hack/bench passes it)")
	}
	var cfg managerproc.ChildConfig
	if err := json.Unmarshal([]byte(*config), &cfg); err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	// An interrupt in the terminal reaches the whole process group: stop as the parent does.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return managerproc.RunChild(ctx, cfg, os.Stdin, os.Stdout)
}
