// Command bench measures the operator at scale (`make bench`): for each scenario it starts a local
// kube-apiserver and etcd, fills them with unrelated Secrets and ConfigMaps, runs the manager in a
// child process against an emulated provider (latency, rate limit, injected 5xx/429), creates N
// StateBackends and prints how long they take to become Ready, the provider calls they cost while
// being created and in steady state, and the manager's memory. The child is hack/bench/manager,
// built once per run with the flags of `make build`. See internal/bench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tfstate-operator/tfstate-operator/internal/bench"
	"github.com/tfstate-operator/tfstate-operator/internal/manager"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		ns, fails, rate, jsonPath, crds, memoryLimit string
		realNs                                       = map[string]*string{}
		opts                                         bench.Options
	)
	flag.StringVar(&ns, "n", "100,1000", "Comma-separated numbers of StateBackends, one scenario each.")
	flag.StringVar(&fails, "fail", "0,0.1", "Comma-separated fractions of provider calls that fail (half 503, half 429). Scenarios: every N at 0, and the largest N at each other rate.")
	flag.DurationVar(&opts.Latency, "latency", 50*time.Millisecond, "Latency of every emulated provider call, and of every answer of the fake Cloudflare, DigitalOcean and AWS APIs (-r2, -spaces, -aws).")
	flag.StringVar(&rate, "rate", "0", "Provider rate limit as count/window, e.g. 1200/5m (the operator's limiter uses the same); 0: none.")
	flag.IntVar(&opts.Unrelated, "unrelated", 10000, "Secrets, and as many ConfigMaps, in the cluster that are not the operator's.")
	flag.IntVar(&opts.Namespaces, "namespaces", 10, "Namespaces the StateBackends and unrelated objects are spread over.")
	flag.IntVar(&opts.Workers, "workers", 32, "Parallel creates of cluster objects.")
	flag.IntVar(&opts.Concurrency, "concurrency", 0, "The manager's concurrent reconciles; 0: its default.")
	flag.DurationVar(&opts.Drift, "drift", 10*time.Second, "The manager's drift interval (steady-state figures are also given at the default 10m).")
	flag.DurationVar(&opts.Steady, "steady", 100*time.Second, "How long steady-state calls are counted once every backend is Ready (0: skip); ten drift intervals keep the per-interval figure steady.")
	flag.DurationVar(&opts.Retry, "retry", 0, "The manager's retry interval; 0: its default.")
	flag.DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "How long a scenario waits for every backend to be Ready before it reports what it reached.")
	for _, p := range []struct{ name, def, what string }{
		{bench.ProviderMinIO, "100", "the operator's real MinIO client against a real MinIO"},
		{bench.ProviderR2, "100", "the operator's real R2 client against the fake Cloudflare API over a real MinIO (its limiter: 1,200 requests per five minutes)"},
		{bench.ProviderSpaces, "100", "the operator's real Spaces client against the fake DigitalOcean API over a real MinIO (its limiter: 250 requests a minute; at most 200 keys)"},
		{bench.ProviderAWS, "100", "the operator's real AWS client (the AWS SDK) against the fake IAM, STS and S3 over a real MinIO"},
	} {
		realNs[p.name] = flag.String(p.name, p.def, "Comma-separated numbers of StateBackends for scenarios through "+p.what+"; the fakes answer after -latency (MinIO at once); no fault is injected; empty: none.")
	}
	flag.StringVar(&memoryLimit, "memory-limit", "256Mi", "The manager container's memory limit the manager is told of (TFSTATE_MEMORY_LIMIT, as the chart sets it from the pod's resources; the chart's default is 256Mi); empty: none.")
	flag.StringVar(&jsonPath, "json", filepath.Join("bin", "bench.json"), "Where the JSON report is written.")
	flag.StringVar(&crds, "crds", "", "Directory of the CRDs (default: config/crd/bases of the repository around the working directory).")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// envtest and the controller-runtime cache log through this; only errors are worth showing.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))

	opts.Assets = os.Getenv("KUBEBUILDER_ASSETS")
	if opts.Assets == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: run `make bench` (it builds kube-apiserver and etcd with `make tools` and sets it), or point it at the directory holding them")
	}
	var err error
	if opts.RateCount, opts.RatePer, err = parseRate(rate); err != nil {
		return err
	}
	if opts.Scenarios, err = scenarios(ns, fails); err != nil {
		return err
	}
	for _, p := range []string{bench.ProviderMinIO, bench.ProviderR2, bench.ProviderSpaces, bench.ProviderAWS} {
		if *realNs[p] == "" {
			continue
		}
		sizes, err := parseSizes("-"+p, *realNs[p])
		if err != nil {
			return err
		}
		for _, n := range sizes {
			opts.Scenarios = append(opts.Scenarios, bench.Scenario{N: n, Provider: p})
		}
	}
	if memoryLimit != "" {
		q, err := resource.ParseQuantity(memoryLimit)
		if err != nil || q.Value() <= 0 {
			return fmt.Errorf("-memory-limit %q: want a quantity such as 256Mi", memoryLimit)
		}
		opts.Env = append(opts.Env, fmt.Sprintf("%s=%d", manager.MemoryLimitEnv, q.Value()))
	}
	// Each scenario's heap profile of the manager, beside the JSON report.
	opts.HeapProfileDir = filepath.Dir(jsonPath)
	if opts.Drift <= 0 {
		return errors.New("-drift must be positive")
	}
	root, err := bench.ModuleRoot()
	if err != nil {
		return err
	}
	if opts.CRDs = crds; opts.CRDs == "" {
		opts.CRDs = filepath.Join(root, "config", "crd", "bases")
	}
	opts.Log = os.Stderr

	machine := bench.ThisMachine()
	fmt.Fprintf(os.Stderr, "machine: %s\n", machine)
	binDir, err := os.MkdirTemp(opts.WorkDir, "tfstate-bench-manager-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(binDir) }()
	if opts.Manager, err = bench.BuildManager(ctx, root, binDir); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "manager process: built in %.1fs, %.1f MiB (%s)\n",
		opts.Manager.BuildSeconds, float64(opts.Manager.Bytes)/(1<<20), opts.Manager.Build)
	results := bench.Run(ctx, opts)
	report := bench.NewReport(opts, results)
	if err := report.WriteTable(os.Stdout); err != nil {
		return err
	}
	if err := report.WriteJSON(jsonPath); err != nil {
		return fmt.Errorf("write %s: %w", jsonPath, err)
	}
	fmt.Printf("\nJSON: %s\n", jsonPath)
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return nil
}

// parseRate parses "count/window" ("1200/5m"); "0" or "" is no limit.
func parseRate(s string) (int, time.Duration, error) {
	if s == "" || s == "0" {
		return 0, 0, nil
	}
	count, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 1 {
		return 0, 0, fmt.Errorf("-rate %q: want count/window, e.g. 1200/5m", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return 0, 0, fmt.Errorf("-rate %q: window: want a duration such as 5m", s)
	}
	return n, d, nil
}

// parseSizes parses a flag's comma-separated numbers of StateBackends.
func parseSizes(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: want positive integers", flagName, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// scenarios is every N without failures, then the largest N at each non-zero fail rate (a single
// N is run at every rate).
func scenarios(ns, fails string) ([]bench.Scenario, error) {
	sizes, err := parseSizes("-n", ns)
	if err != nil {
		return nil, err
	}
	var rates []float64
	for _, f := range strings.Split(fails, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r < 0 || r >= 1 {
			return nil, fmt.Errorf("-fail %q: want fractions in [0, 1)", fails)
		}
		rates = append(rates, r)
	}
	largest := sizes[0]
	for _, n := range sizes {
		largest = max(largest, n)
	}
	var out []bench.Scenario
	for _, r := range rates {
		if r == 0 {
			for _, n := range sizes {
				out = append(out, bench.Scenario{N: n})
			}
			continue
		}
		out = append(out, bench.Scenario{N: largest, FailRate: r})
	}
	return out, nil
}
