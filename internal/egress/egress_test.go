package egress

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		reason, addr string
		refused      bool
	}{
		{"the AWS, GCP and Azure metadata service", "169.254.169.254", true},
		{"AWS's IPv6 metadata service is unique-local, not link-local", "fd00:ec2::254", true},
		{"loopback, any address of 127.0.0.0/8", "127.8.9.10", true},
		{"IPv6 loopback", "::1", true},
		{"the unspecified address dials the local host", "0.0.0.0", true},
		{"IPv6 link-local", "fe80::1", true},
		{"IPv4-mapped metadata address", "::ffff:169.254.169.254", true},
		{"the metadata address through NAT64", "64:ff9b::a9fe:a9fe", true},
		{"a cluster Service address", "10.96.0.10", false},
		{"a public address", "203.0.113.7", false},
		{"another unique-local address", "fd00:ec2::253", false},
	} {
		if got := Refused(netip.MustParseAddr(tc.addr)); got != tc.refused {
			t.Errorf("%s: Refused(%s) = %v, want %v", tc.reason, tc.addr, got, tc.refused)
		}
	}
}

func TestControlRefusesWithTheSentinel(t *testing.T) {
	if err := Control("tcp", "127.0.0.1:9000", nil); !errors.Is(err, provider.ErrEndpointRefused) || !errors.Is(err, provider.ErrInvalidConfig) {
		t.Errorf("Control(127.0.0.1:9000) = %v, want ErrEndpointRefused (an ErrInvalidConfig)", err)
	}
	if err := Control("tcp6", "[fe80::1%eth0]:80", nil); !errors.Is(err, provider.ErrEndpointRefused) {
		t.Errorf("Control(zoned link-local) = %v, want ErrEndpointRefused", err)
	}
	if err := Control("tcp", "10.0.0.1:443", nil); err != nil {
		t.Errorf("Control(10.0.0.1:443) = %v, want nil", err)
	}
}
