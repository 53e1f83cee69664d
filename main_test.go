package main

import (
	"slices"
	"testing"
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
		ns := namespaces(got)
		if (ns == nil) != (len(tc.want) == 0) || len(ns) != len(tc.want) {
			t.Errorf("%s: cache namespaces %v for %q", tc.reason, ns, tc.want)
		}
		for _, n := range tc.want {
			if _, ok := ns[n]; !ok {
				t.Errorf("%s: namespace %s not watched", tc.reason, n)
			}
		}
	}
}
