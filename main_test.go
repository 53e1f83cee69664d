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
	}
}
