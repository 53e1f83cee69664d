package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"syscall"
)

// This file owns what a provider's failure may say in text. Error text reaches StateBackend and
// provider conditions and Events, which tenants read, and a tenant StorageProvider can aim the
// operator at any HTTP service (an in-cluster one, say). So a failure is described by its class
// alone: the HTTP status and the store's error code, or the kind of network failure; never by
// what the reply said (its body, message or status line).

// RemoteError is a store's failure described by its class. It wraps the original error, so
// errors.Is and errors.As still see everything the store answered; only its text is reduced.
type RemoteError struct {
	// StatusCode is the reply's HTTP status (0: no reply).
	StatusCode int
	// Code is the store's error code when it looks like one ("" otherwise).
	Code string
	err  error
}

func (e *RemoteError) Error() string {
	switch {
	case e.StatusCode != 0 && e.Code != "":
		return fmt.Sprintf("HTTP %d %s", e.StatusCode, e.Code)
	case e.StatusCode != 0:
		return fmt.Sprintf("HTTP %d", e.StatusCode)
	case e.Code != "":
		return e.Code
	}
	return networkClass(e.err)
}

func (e *RemoteError) Unwrap() error { return e.err }

// errorCode is what a store's error code looks like (S3's "NoSuchBucket", Cloudflare's numbers,
// DigitalOcean's "not_found"). Anything else in the code's place (minio-go puts the status line
// there for replies that are not XML) is left out.
var errorCode = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Redact describes err by its class: status is the reply's HTTP status (0: no reply or unknown)
// and code the store's error code ("" when none). An error that is already described by its
// class (a RemoteError, or a refused endpoint, whose text is the operator's own) is returned as
// is.
func Redact(err error, status int, code string) error {
	var re *RemoteError
	if err == nil || errors.As(err, &re) || errors.Is(err, ErrEndpointRefused) {
		return err
	}
	if !errorCode.MatchString(code) {
		code = ""
	}
	return &RemoteError{StatusCode: status, Code: code, err: err}
}

// networkClass names a failure that has no reply: a timeout, a cancellation, a refused or reset
// connection, a failed name lookup, or a reply that was not HTTP (whose first bytes net/http would
// quote, so they are left out too).
func networkClass(err error) string {
	var dns *net.DNSError
	var errno syscall.Errno
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.As(err, &dns):
		return "name lookup failed (" + dns.Name + ")"
	case errors.As(err, &errno):
		return "network error: " + errno.Error()
	case errors.As(err, &op):
		return "network error (" + op.Op + ")"
	}
	return "no usable reply"
}
