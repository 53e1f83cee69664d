package metrics

import (
	"context"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// Operation names, the "operation" label: the provider.Client method called.
const (
	OpObserveBucket    = "ObserveBucket"
	OpCreateBucket     = "CreateBucket"
	OpMarkBucket       = "MarkBucket"
	OpEnableVersioning = "EnableVersioning"
	OpDeleteBucket     = "DeleteBucket"
	OpIssueCredential  = "IssueCredential"
	OpListCredentials  = "ListCredentials"
	OpRevokeCredential = "RevokeCredential"
	OpRepairGrant      = "RepairGrant"
	OpRepairBucket     = "RepairBucketAccess"
	OpCheck            = "Check"
)

// Instrument returns c with every call recorded under providerName. The result implements
// provider.Checker exactly when c does, so the health check still finds it.
func (m *Metrics) Instrument(providerName string, c provider.Client) provider.Client {
	ic := &instrumented{next: c, m: m, provider: providerName}
	if checker, ok := c.(provider.Checker); ok {
		return &instrumentedChecker{instrumented: ic, checker: checker}
	}
	return ic
}

type instrumented struct {
	next     provider.Client
	m        *Metrics
	provider string
}

// timed calls f and records it as op.
func timed[T any](c *instrumented, op string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	c.m.Observe(c.provider, op, time.Since(start), err)
	return v, err
}

// timedErr is timed for the calls that return only an error.
func timedErr(c *instrumented, op string, f func() error) error {
	_, err := timed(c, op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (c *instrumented) Settings() provider.BackendSettings { return c.next.Settings() }

func (c *instrumented) ObserveBucket(ctx context.Context, bucket string) (provider.BucketObservation, error) {
	return timed(c, OpObserveBucket, func() (provider.BucketObservation, error) { return c.next.ObserveBucket(ctx, bucket) })
}

func (c *instrumented) CreateBucket(ctx context.Context, req provider.BucketRequest) error {
	return timedErr(c, OpCreateBucket, func() error { return c.next.CreateBucket(ctx, req) })
}

func (c *instrumented) MarkBucket(ctx context.Context, bucket string, owner provider.Owner) error {
	return timedErr(c, OpMarkBucket, func() error { return c.next.MarkBucket(ctx, bucket, owner) })
}

func (c *instrumented) EnableVersioning(ctx context.Context, bucket string) error {
	return timedErr(c, OpEnableVersioning, func() error { return c.next.EnableVersioning(ctx, bucket) })
}

func (c *instrumented) DeleteBucket(ctx context.Context, bucket string) error {
	return timedErr(c, OpDeleteBucket, func() error { return c.next.DeleteBucket(ctx, bucket) })
}

func (c *instrumented) IssueCredential(ctx context.Context, req provider.CredentialRequest) (provider.Credential, error) {
	return timed(c, OpIssueCredential, func() (provider.Credential, error) { return c.next.IssueCredential(ctx, req) })
}

func (c *instrumented) ListCredentials(ctx context.Context, namePrefix string) ([]provider.CredentialInfo, error) {
	return timed(c, OpListCredentials, func() ([]provider.CredentialInfo, error) { return c.next.ListCredentials(ctx, namePrefix) })
}

func (c *instrumented) RevokeCredential(ctx context.Context, id string) error {
	return timedErr(c, OpRevokeCredential, func() error { return c.next.RevokeCredential(ctx, id) })
}

func (c *instrumented) RepairBucketAccess(ctx context.Context, bucket string) (bool, error) {
	return timed(c, OpRepairBucket, func() (bool, error) { return c.next.RepairBucketAccess(ctx, bucket) })
}

func (c *instrumented) RepairGrant(ctx context.Context, id string, req provider.CredentialRequest) (bool, error) {
	return timed(c, OpRepairGrant, func() (bool, error) { return c.next.RepairGrant(ctx, id, req) })
}

type instrumentedChecker struct {
	*instrumented
	checker provider.Checker
}

func (c *instrumentedChecker) Check(ctx context.Context) error {
	return timedErr(c.instrumented, OpCheck, func() error { return c.checker.Check(ctx) })
}
