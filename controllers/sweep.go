package controllers

// This file owns the orphan sweep: revoking the credentials of this cluster that no StateBackend
// records any more (a StateBackend deleted with its finalizer stripped never revoked its own).

import "time"

// OrphanSweepConfig configures the orphan sweep of a provider's account.
type OrphanSweepConfig struct {
	// Interval is how often each provider's account is swept; zero turns the sweep off.
	Interval time.Duration
	// MinAge is how old (by the time in its name) a credential must be before it is swept.
	MinAge time.Duration
}
