package provider

// This file owns the one HTTP rule every client that hands a transport to an SDK follows.

import "net/http"

// TransportOf is hc's transport, or Go's default one: never nil, because an SDK handed none
// (minio-go) builds a transport of its own for every client, and clients are built per reconcile,
// each of which would keep its idle connections for 90 s.
func TransportOf(hc *http.Client) http.RoundTripper {
	if hc != nil && hc.Transport != nil {
		return hc.Transport
	}
	return http.DefaultTransport
}
