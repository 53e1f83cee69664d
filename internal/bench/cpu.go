package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPUUse is where the machine's CPU time went over a phase, each a fraction of the capacity of
// all its CPUs: whether the operator, the control plane or the bench itself is the bottleneck.
type CPUUse struct {
	// Busy is the part that was not idle (1: every CPU saturated).
	Busy      float64 `json:"busy"`
	Manager   float64 `json:"manager"`
	APIServer float64 `json:"apiServer"`
	Etcd      float64 `json:"etcd"`
	// Bench is this process: the clients that create the objects and watch them become Ready.
	Bench float64 `json:"bench"`
}

// cpuSample holds cumulative CPU ticks: the machine's busy and total, and per process role.
type cpuSample struct {
	busy, total uint64
	procs       map[string]uint64
}

func (c cpuSample) since(from cpuSample) *CPUUse {
	total := float64(c.total - from.total)
	if total <= 0 {
		return &CPUUse{}
	}
	share := func(role string) float64 { return float64(c.procs[role]-from.procs[role]) / total }
	return &CPUUse{
		Busy: float64(c.busy-from.busy) / total, Manager: share("manager"),
		APIServer: share("kube-apiserver"), Etcd: share("etcd"), Bench: share("bench"),
	}
}

// readCPU samples /proc: the machine, this process, the manager and this process's kube-apiserver
// and etcd (envtest's). Linux only.
func readCPU(manager int) (cpuSample, error) {
	s := cpuSample{procs: map[string]uint64{}}
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[0] != "cpu" {
		return s, fmt.Errorf("/proc/stat: unexpected %q", line)
	}
	// user nice system idle iowait irq softirq steal; guest time is already in user.
	for i, f := range fields[1:min(len(fields), 9)] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/stat: %w", err)
		}
		s.total += v
		if i != 3 && i != 4 {
			s.busy += v
		}
	}
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return s, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, ticks, err := procStat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		switch {
		case pid == self:
			s.procs["bench"] += ticks
		case pid == manager:
			s.procs["manager"] += ticks
		case ppid == self && (comm == "kube-apiserver" || comm == "etcd"):
			s.procs[comm] += ticks
		}
	}
	return s, nil
}

// procStat reads a process's command name, parent and CPU ticks (user + system).
func procStat(pid int) (comm string, ppid int, ticks uint64, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0, err
	}
	// "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so cut at the last ')'.
	// utime and stime are fields 14 and 15, the 12th and 13th after comm.
	open, end := strings.IndexByte(string(raw), '('), strings.LastIndexByte(string(raw), ')')
	if open < 0 || end < open {
		return "", 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	comm = string(raw[open+1 : end])
	rest := strings.Fields(string(raw[end+1:]))
	if len(rest) < 13 {
		return "", 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	if ppid, err = strconv.Atoi(rest[1]); err != nil {
		return "", 0, 0, err
	}
	for _, f := range rest[11:13] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return "", 0, 0, err
		}
		ticks += v
	}
	return comm, ppid, ticks, nil
}
