package manager

import "testing"

func TestCacheNamespaces(t *testing.T) {
	for _, tc := range []struct {
		reason string
		names  []string
	}{
		{"no list watches every namespace", nil},
		{"one namespace", []string{"team-a"}},
		{"a list", []string{"team-a", "team-b"}},
	} {
		ns := namespaces(tc.names)
		if (ns == nil) != (len(tc.names) == 0) || len(ns) != len(tc.names) {
			t.Errorf("%s: cache namespaces %v for %q", tc.reason, ns, tc.names)
		}
		for _, n := range tc.names {
			if _, ok := ns[n]; !ok {
				t.Errorf("%s: namespace %s not watched", tc.reason, n)
			}
		}
	}
}
