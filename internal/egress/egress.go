// Package egress keeps the operator's calls for tenants' providers off the addresses that reach
// the operator's own pod, node and cloud identity: loopback (127.0.0.0/8, ::1), link-local (cloud
// metadata services at 169.254.169.254 and IMDS's fe80 addresses) and AWS's IPv6 metadata address
// fd00:ec2::254. It decides at dial time, on the address actually dialled, so a name that resolves
// there (localhost, or a DNS record a tenant controls and can change between two lookups) is
// refused too.
package egress

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

var (
	// awsMetadataV6 is the EC2 instance metadata service's IPv6 address (a unique-local address,
	// not a link-local one).
	awsMetadataV6 = netip.MustParseAddr("fd00:ec2::254")
	// nat64 is the well-known NAT64 prefix (RFC 6052): 64:ff9b::a.b.c.d reaches a.b.c.d.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// Refused reports whether ip is an address a tenant's endpoint may not reach: loopback,
// link-local, unspecified (which dials the local host) or a metadata service's, also when written
// as an IPv4-mapped or NAT64 IPv6 address.
func Refused(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip == awsMetadataV6
}

// Control is a net.Dialer Control function that refuses to connect to a Refused address. It runs
// after name resolution, on each address the dialer tries.
func Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: cannot tell which address %q is", provider.ErrEndpointRefused, address)
	}
	if Refused(ip) {
		return fmt.Errorf("%w: %s is a loopback or link-local address, which a StorageProvider's endpoints may not reach (the operator's --allow-local-endpoints lifts this)", provider.ErrEndpointRefused, ip)
	}
	return nil
}

// Guard makes t dial through Control (t is changed in place).
func Guard(t *http.Transport) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: Control}
	t.DialContext = d.DialContext
	t.DialTLSContext = nil
	t.Dial = nil    //nolint:staticcheck // cleared so that DialContext is the only way out
	t.DialTLS = nil //nolint:staticcheck // likewise
}

// Client returns a copy of c (nil: a client with a 30 s timeout) whose transport dials through
// Control. Only an *http.Transport (or none) can be guarded; any other RoundTripper is refused
// rather than used unguarded.
func Client(c *http.Client) (*http.Client, error) {
	out := &http.Client{Timeout: 30 * time.Second}
	if c != nil {
		cp := *c
		out = &cp
	}
	var t *http.Transport
	switch rt := out.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = rt.Clone()
	default:
		return nil, fmt.Errorf("%w: the HTTP transport %T cannot be limited to non-local addresses", provider.ErrInvalidConfig, rt)
	}
	Guard(t)
	out.Transport = t
	return out, nil
}
