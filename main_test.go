package main

import (
	"slices"
	"testing"
	"time"

	"github.com/tfstate-operator/tfstate-operator/controllers"
)

func TestWatchNamespacesFlag(t *testing.T) {
	for _, tc := range []struct {
		reason, flag string
		want         []string
	}{
		{"unset watches every namespace", "", nil},
		{"one namespace", "team-a", []string{"team-a"}},
		{"a list, with the spaces and empty items a values file may leave", " team-a, ,team-b ,", []string{"team-a", "team-b"}},
	} {
		got := splitList(tc.flag)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: splitList(%q) = %q, want %q", tc.reason, tc.flag, got, tc.want)
		}
	}
}

func TestOrphanSweepFlags(t *testing.T) {
	for _, tc := range []struct {
		reason      string
		interval    time.Duration
		minAge      time.Duration
		intervalSet bool
		watch       []string
		want        controllers.OrphanSweepConfig
		wantErr     bool
	}{
		{"the defaults", time.Hour, time.Hour, false, nil, controllers.OrphanSweepConfig{Interval: time.Hour, MinAge: time.Hour}, false},
		{"watching some namespaces turns the default off", time.Hour, time.Hour, false, []string{"team-a"}, controllers.OrphanSweepConfig{MinAge: time.Hour}, false},
		{"unless the interval is given", 2 * time.Hour, time.Hour, true, []string{"team-a"}, controllers.OrphanSweepConfig{Interval: 2 * time.Hour, MinAge: time.Hour}, false},
		{"a minimum age that would not outlast the cache's lag", time.Hour, time.Minute, false, nil, controllers.OrphanSweepConfig{}, true},
		{"a short minimum age does not matter with the sweep off", 0, 0, true, nil, controllers.OrphanSweepConfig{}, false},
		{"a negative interval", -time.Hour, time.Hour, true, nil, controllers.OrphanSweepConfig{}, true},
	} {
		got, _, err := orphanSweep(tc.interval, tc.minAge, tc.intervalSet, tc.watch)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: orphanSweep = %+v, %v; want %+v, error %v", tc.reason, got, err, tc.want, tc.wantErr)
		}
	}
}
