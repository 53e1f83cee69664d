package bench

import "testing"

func TestAccountsFor(t *testing.T) {
	for _, tc := range []struct {
		reason   string
		provider string
		n, want  int
	}{
		{"the emulator has no ceiling", ProviderEmulated, 10000, 1},
		{"nor has MinIO", ProviderMinIO, 1000, 1},
		{"R2: 250 backends fill one account's 500 tokens when all rotate", ProviderR2, 250, 1},
		{"R2: one more needs a second account", ProviderR2, 251, 2},
		{"R2: 1,000 backends", ProviderR2, 1000, 4},
		{"Spaces: 100 buckets per account", ProviderSpaces, 1000, 10},
		{"AWS: 1,000 backends fit one account's 5,000 users", ProviderAWS, 1000, 1},
		{"AWS: 10,000 do not", ProviderAWS, 10000, 4},
	} {
		if got := accountsFor(tc.provider, tc.n); got != tc.want {
			t.Errorf("%s: accountsFor(%s, %d) = %d, want %d", tc.reason, tc.provider, tc.n, got, tc.want)
		}
	}
}
