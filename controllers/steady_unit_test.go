package controllers

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestDriftSchedule(t *testing.T) {
	const interval = 10 * time.Minute
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	key := types.NamespacedName{Namespace: "team-a", Name: "network"}

	t.Run("after a restart the first checks spread over one interval", func(t *testing.T) {
		var d driftSchedule
		var earliest, latest time.Duration = interval, 0
		for i := range 1000 {
			e := d.entry(types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("backend-%d", i)}, now, interval, "p/1")
			off := e.due.Sub(now)
			if off < 0 || off > interval {
				t.Fatalf("first check %s from now, want within [0, %s]", off, interval)
			}
			earliest, latest = min(earliest, off), max(latest, off)
		}
		if latest-earliest < interval/2 {
			t.Errorf("1,000 first checks fell within %s of each other; they must spread over the interval", latest-earliest)
		}
	})
	t.Run("an unknown backend takes its provider as checked", func(t *testing.T) {
		var d driftSchedule
		if e := d.entry(key, now, interval, "p/1"); e.provider != "p/1" || e.turn != 0 {
			t.Errorf("entry %+v, want provider p/1 at turn 0", e)
		}
		if e := d.entry(key, now, interval, "p/2"); e.provider != "p/1" {
			t.Errorf("a later provider version %q replaced the checked one; only a full check may", e.provider)
		}
	})
	t.Run("a check moves the turn on and the next check one jittered interval later", func(t *testing.T) {
		var d driftSchedule
		d.entry(key, now, interval, "p/1")
		for turn := 1; turn <= 50; turn++ {
			d.checked(key, now, interval, true, "")
			e := d.entry(key, now, interval, "")
			if e.turn != turn {
				t.Fatalf("turn %d after %d checks", e.turn, turn)
			}
			if off := e.due.Sub(now); off < interval || off > interval*6/5 {
				t.Fatalf("next check %s from now, want between %s and a fifth more: never two in one interval", off, interval)
			}
		}
	})
	t.Run("a full check records the provider and keeps the turn", func(t *testing.T) {
		var d driftSchedule
		d.entry(key, now, interval, "p/1")
		d.checked(key, now, interval, true, "")
		d.checked(key, now, interval, false, "p/2")
		if e := d.entry(key, now, interval, ""); e.turn != 1 || e.provider != "p/2" {
			t.Errorf("entry %+v, want turn 1 and provider p/2", e)
		}
	})
	t.Run("postpone and forget", func(t *testing.T) {
		var d driftSchedule
		d.entry(key, now, interval, "p/1")
		d.postpone(key, now.Add(time.Hour))
		if e := d.entry(key, now, interval, ""); !e.due.Equal(now.Add(time.Hour)) {
			t.Errorf("due %s after postponing to an hour from now", e.due)
		}
		d.forget(key)
		if e := d.entry(key, now, interval, "p/3"); e.provider != "p/3" {
			t.Errorf("a forgotten backend kept its schedule: %+v", e)
		}
	})
}
