package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// countingSecrets answers Gets from a map and counts them.
type countingSecrets struct {
	data  map[types.NamespacedName]string
	calls int
}

func (c *countingSecrets) Get(_ context.Context, key types.NamespacedName, s *corev1.Secret) error {
	c.calls++
	v, ok := c.data[key]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, key.Name)
	}
	*s = corev1.Secret{Data: map[string][]byte{"token": []byte(v)}}
	return nil
}

func TestSecretReadCache(t *testing.T) {
	key := types.NamespacedName{Namespace: "tfstate-system", Name: "r2"}
	missing := types.NamespacedName{Namespace: "tfstate-system", Name: "missing"}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	api := &countingSecrets{data: map[types.NamespacedName]string{key: "v1"}}
	c := &secretReadCache{next: api, now: func() time.Time { return now }}
	get := func() string {
		t.Helper()
		s := &corev1.Secret{}
		if err := c.Get(context.Background(), key, s); err != nil {
			t.Fatal(err)
		}
		return string(s.Data["token"])
	}

	cases := []struct {
		reason    string
		advance   time.Duration
		change    string
		want      string
		wantCalls int
	}{
		{"the first read asks the API server", 0, "", "v1", 1},
		{"a read within the TTL is answered from memory", providerSecretTTL / 2, "", "v1", 1},
		{"a change within the TTL is not seen yet", 0, "v2", "v1", 1},
		{"after the TTL the API server is asked again and the change seen", providerSecretTTL, "", "v2", 2},
	}
	for _, tc := range cases {
		now = now.Add(tc.advance)
		if tc.change != "" {
			api.data[key] = tc.change
		}
		if got := get(); got != tc.want || api.calls != tc.wantCalls {
			t.Errorf("%s: got %q after %d API reads, want %q after %d", tc.reason, got, api.calls, tc.want, tc.wantCalls)
		}
	}
	// A missing Secret is not remembered: once created it is found at once.
	before := api.calls
	if err := c.Get(context.Background(), missing, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("missing Secret: %v", err)
	}
	api.data[missing] = "now"
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), missing, s); err != nil || string(s.Data["token"]) != "now" || api.calls != before+2 {
		t.Errorf("a Secret created after a miss: %v, %q, %d reads", err, s.Data["token"], api.calls-before)
	}
	// What the cache hands out is a copy: changing it does not change the next answer.
	s.Data["token"] = []byte("mutated")
	s2 := &corev1.Secret{}
	_ = c.Get(context.Background(), missing, s2)
	if string(s2.Data["token"]) != "now" {
		t.Errorf("a caller's change leaked into the cache: %q", s2.Data["token"])
	}
}

// TestSecretReadCacheForgetsExpiredSecrets: a Secret read once does not stay in memory for the
// process's life; what the cache holds is what was read within the TTL.
func TestSecretReadCacheForgetsExpiredSecrets(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	api := &countingSecrets{data: map[types.NamespacedName]string{}}
	c := &secretReadCache{next: api, now: func() time.Time { return now }}
	read := func(name string) {
		t.Helper()
		key := types.NamespacedName{Namespace: "team", Name: name}
		api.data[key] = name
		if err := c.Get(context.Background(), key, &corev1.Secret{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		read(fmt.Sprintf("provider-%d", i))
	}
	cases := []struct {
		reason  string
		advance time.Duration
		want    int
	}{
		{"Secrets read within the TTL are all kept", providerSecretTTL / 2, 101},
		{"once the TTL is over, a read drops every expired one", providerSecretTTL, 1},
	}
	for i, tc := range cases {
		now = now.Add(tc.advance)
		read(fmt.Sprintf("later-%d", i))
		if n := len(c.m); n != tc.want {
			t.Errorf("%s: %d Secrets held, want %d", tc.reason, n, tc.want)
		}
	}
}
