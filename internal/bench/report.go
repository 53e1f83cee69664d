package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Machine describes where the figures were taken.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GOMAXPROC int    `json:"gomaxprocs"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Go        string `json:"go"`
	CPUModel  string `json:"cpuModel"`
}

// ThisMachine describes the machine the bench runs on.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROC: runtime.GOMAXPROCS(0), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPUModel = strings.TrimSpace(value)
				break
			}
		}
	}
	return m
}

func (m Machine) String() string {
	model := m.CPUModel
	if model == "" {
		model = "unknown CPU"
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s", m.CPUs, model, m.OS, m.Arch, m.Go)
}

// Settings are the options a report was taken with, as recorded in the JSON.
type Settings struct {
	LatencyMS       float64 `json:"latencyMs"`
	RateLimit       string  `json:"rateLimit"`
	Unrelated       int     `json:"unrelatedSecretsAndConfigMapsEach"`
	Namespaces      int     `json:"namespaces"`
	Concurrency     int     `json:"concurrency"`
	DriftSeconds    float64 `json:"driftSeconds"`
	SteadySeconds   float64 `json:"steadySeconds"`
	TimeoutSeconds  float64 `json:"timeoutSeconds"`
	RetrySeconds    float64 `json:"retrySeconds"`
	CreationWorkers int     `json:"creationWorkers"`
	// ManagerEnv is what the manager process's environment was given (its memory limit).
	ManagerEnv []string `json:"managerEnv,omitempty"`
}

// Report is the JSON document.
type Report struct {
	Time     time.Time `json:"time"`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	Results  []Result  `json:"results"`
	// Manager is the binary the manager process ran: the pages of it that were read are in the
	// process's RSS (fileRSSMiB).
	Manager ManagerBinary `json:"manager"`
}

// NewReport assembles the report of results taken with opts.
func NewReport(opts Options, results []Result) Report {
	rate := "none"
	if opts.RateCount > 0 {
		rate = fmt.Sprintf("%d/%s", opts.RateCount, opts.RatePer)
	}
	return Report{
		Time:    time.Now().UTC(),
		Machine: ThisMachine(),
		Settings: Settings{
			LatencyMS: float64(opts.Latency) / float64(time.Millisecond), RateLimit: rate,
			Unrelated: opts.Unrelated, Namespaces: opts.Namespaces, Concurrency: opts.Concurrency,
			DriftSeconds: opts.Drift.Seconds(), SteadySeconds: opts.Steady.Seconds(),
			TimeoutSeconds: opts.Timeout.Seconds(), RetrySeconds: opts.Retry.Seconds(), CreationWorkers: opts.Workers,
			ManagerEnv: opts.Env,
		},
		Results: results,
		Manager: opts.Manager,
	}
}

// WriteJSON writes the report to path, creating its directory.
func (r Report) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// WriteTable prints the report for humans: one row per scenario, then where the manager's work
// went while creating.
func (r Report) WriteTable(w io.Writer) error {
	s := r.Settings
	conc := "default"
	if s.Concurrency > 0 {
		conc = fmt.Sprint(s.Concurrency)
	}
	fmt.Fprintf(w, "\nmachine: %s\n", r.Machine)
	fmt.Fprintf(w, "manager process: %.1f MiB binary built in %.1fs (%s)\n", mib(uint64(max(r.Manager.Bytes, 0))), r.Manager.BuildSeconds, r.Manager.Build)
	fmt.Fprintf(w, "provider latency %gms, rate limit %s, %d unrelated Secrets + %d ConfigMaps, concurrency %s, drift interval %gs (steady window %gs), manager environment %q\n\n",
		s.LatencyMS, s.RateLimit, s.Unrelated, s.Unrelated, conc, s.DriftSeconds, s.SteadySeconds, s.ManagerEnv)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "provider\tN\tfail\tready\tall Ready\tp50\tp99\tcreate R/W/fail per backend\tsteady R/W per backend per drift\tper hour at 10m R/W\tpeak RSS (anon) MiB\tpeak heap MiB\tGC cycles (pause)\tstartup\tmax/window (limit)\t")
	for _, res := range r.Results {
		steady, hour := "-", "-"
		if res.Steady != nil {
			steady = fmt.Sprintf("%.2f/%.2f", res.Steady.Reads, res.Steady.Writes)
			hour = fmt.Sprintf("%.1f/%.1f", res.SteadyPerHourAtDefault.Reads, res.SteadyPerHourAtDefault.Writes)
		}
		ready := fmt.Sprintf("%d/%d", res.Ready, res.N)
		if res.TimedOut {
			ready += " (timeout)"
		}
		if res.Error != "" {
			ready += " (error)"
		}
		limit := "none"
		if res.Provider.Limit > 0 {
			limit = fmt.Sprint(res.Provider.Limit)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f%%\t%s\t%s\t%s\t%s\t%.2f/%.2f/%.2f\t%s\t%s\t%.1f (%.1f)\t%.1f\t%d (%s)\t%s\t%d/%s (%s)\t\n",
			providerOf(res.Scenario), res.N, res.FailRate*100, ready, secs(res.ReadyAllSeconds), secs(res.P50Seconds), secs(res.P99Seconds),
			res.Creating.Reads, res.Creating.Writes, res.Creating.Failed, steady, hour,
			res.PeakRSSMiB, res.PeakAnonMiB, res.PeakHeapMiB, res.GCCycles, secs(res.GCPauseSeconds), secs(res.StartupSeconds),
			res.Provider.MaxInWindow, time.Duration(res.Provider.WindowSeconds*float64(time.Second)), limit)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nwhile creating (per backend), and the manager's RSS at its first reconcile:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tfail\tcreate objects\tprovider calls\tprobes\tAPI writes\tAPI requests by verb\treconciles\treconcile time\tCPU busy: manager/apiserver/etcd/bench\tstart RSS MiB\t")
	for _, res := range r.Results {
		verbs, reconciles, secsPer, cpu := "-", "-", "-", "-"
		if c := res.CreatingCPU; c != nil {
			cpu = fmt.Sprintf("%.0f%%: %.0f/%.0f/%.0f/%.0f%%", c.Busy*100, c.Manager*100, c.APIServer*100, c.Etcd*100, c.Bench*100)
		}
		if m := res.ManagerCreating; m != nil {
			verbs = perN(m.APIRequests, res.N)
			reconciles = perN(m.Reconciles, res.N)
			secsPer = fmt.Sprintf("%.3fs", m.ReconcileSeconds["statebackend"]/float64(res.N))
		}
		fmt.Fprintf(tw, "%d\t%.0f%%\t%s\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%.1f\t\n", res.N, res.FailRate*100, secs(res.CreateSeconds),
			res.Creating.Reads+res.Creating.Writes+res.Creating.Failed, res.Creating.Probes, res.Creating.APIWrites,
			verbs, reconciles, secsPer, cpu, res.StartupRSSMiB)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range r.Results {
		if len(res.APIServerCreating) > 0 {
			// Below 0.05 per backend: the API server's own housekeeping (leases, endpoints) and
			// the provider's status; the JSON has them.
			shown := map[string]float64{}
			for k, v := range res.APIServerCreating {
				if v >= 0.05 {
					shown[k] = v
				}
			}
			fmt.Fprintf(w, "N=%d fail=%.0f%%: API requests per backend while creating, as the API server counted them: %s\n",
				res.N, res.FailRate*100, perN(shown, 1))
		}
	}
	for _, res := range r.Results {
		if res.Error != "" {
			fmt.Fprintf(w, "N=%d fail=%.0f%%: %s\n", res.N, res.FailRate*100, res.Error)
		}
	}
	return nil
}

func secs(s float64) string {
	if s == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fs", s)
}

// perN formats counts divided by n, keys sorted.
func perN(m map[string]float64, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, m[k]/float64(n)))
	}
	return strings.Join(parts, ", ")
}
