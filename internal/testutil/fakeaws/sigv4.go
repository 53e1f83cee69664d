package fakeaws

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// caller is an authenticated caller: a principal (AddPrincipal) or an issued user key.
type caller struct {
	name, arn, userID string
	principal         *principal // nil for a user's key
	key               *accessKey // nil for a principal
}

// authError is a refused authentication: the code, the message and the HTTP status.
type authError struct {
	status        int
	code, message string
}

// sigv4 is the parsed Authorization header (or presigned query) of a request.
type sigv4 struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
	amzDate                      string
}

// parseSigV4 reads the Authorization header "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/
// aws4_request, SignedHeaders=a;b, Signature=hex" and X-Amz-Date. ok is false when there is no
// Authorization header at all.
func parseSigV4(r *http.Request) (sig sigv4, present bool, valid bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return sig, false, false
	}
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return sig, true, false
	}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "Credential":
			parts := strings.Split(v, "/")
			if len(parts) != 5 || parts[4] != "aws4_request" {
				return sig, true, false
			}
			sig.keyID, sig.date, sig.region, sig.service = parts[0], parts[1], parts[2], parts[3]
		case "SignedHeaders":
			sig.signedHeaders = strings.Split(v, ";")
		case "Signature":
			sig.signature = v
		}
	}
	sig.amzDate = r.Header.Get("X-Amz-Date")
	if sig.keyID == "" || sig.signature == "" || len(sig.signedHeaders) == 0 || sig.amzDate == "" {
		return sig, true, false
	}
	return sig, true, true
}

// lookupKey finds the caller holding access key id: a principal, or a user's key that has
// propagated. s.mu must be held.
func (s *Server) lookupKey(id string) (*caller, string) {
	if p := s.principals[id]; p != nil {
		return &caller{name: p.name, arn: p.arn(s.cfg.AccountID), userID: p.id, principal: p}, p.secret
	}
	if k := s.keys[id]; k != nil && k.propagated {
		return &caller{name: k.user.name, arn: k.user.arn(s.cfg.AccountID), userID: k.user.id, key: k}, k.secret
	}
	return nil, ""
}

// authenticate verifies r's SigV4 signature for service by recomputing it with the SDK's signer
// over a copy of r that carries only the headers the client says it signed. payloadHash is the
// hex SHA-256 of the body (or the literal the client signed for S3, e.g. UNSIGNED-PAYLOAD).
// The error codes are those of the Query APIs; S3 maps them (see s3Auth).
func (s *Server) authenticate(r *http.Request, payloadHash, service string) (*caller, *authError) {
	sig, present, valid := parseSigV4(r)
	if !present {
		return nil, &authError{http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"}
	}
	if !valid {
		return nil, &authError{http.StatusBadRequest, "IncompleteSignature", "Authorization header requires 'Credential', 'Signature', 'SignedHeaders' and 'X-Amz-Date'."}
	}
	s.mu.Lock()
	c, secret := s.lookupKey(sig.keyID)
	s.mu.Unlock()
	if c == nil {
		return nil, &authError{http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid."}
	}
	mismatch := &authError{http.StatusForbidden, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	if sig.service != service {
		mismatch.message = "Credential should be scoped to correct service: '" + service + "'. "
		return nil, mismatch
	}
	// IAM is global: AWS wants its credential scope in us-east-1. STS here stands for the
	// regional endpoint of Config.Region.
	if (service == "iam" && sig.region != "us-east-1") || (service == "sts" && sig.region != s.cfg.Region) {
		mismatch.message = "Credential should be scoped to a valid region. "
		return nil, mismatch
	}
	t, err := time.Parse("20060102T150405Z", sig.amzDate)
	if err != nil || t.Format("20060102") != sig.date {
		return nil, mismatch
	}

	cp, err := http.NewRequestWithContext(context.Background(), r.Method,
		(&url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}).String(), nil)
	if err != nil {
		return nil, mismatch
	}
	cp.Host = r.Host
	for _, h := range sig.signedHeaders {
		switch h {
		case "host":
		case "content-length":
			cp.ContentLength = r.ContentLength
		default:
			for _, v := range r.Header.Values(h) {
				cp.Header.Add(h, v)
			}
		}
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" })
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: sig.keyID, SecretAccessKey: secret},
		cp, payloadHash, service, sig.region, t); err != nil {
		return nil, mismatch
	}
	want, _, _ := parseSigV4(cp)
	if !hmac.Equal([]byte(want.signature), []byte(sig.signature)) {
		return nil, mismatch
	}
	s.noteUse(c, service, sig.region)
	return c, nil
}

// noteUse records a key's last use (GetAccessKeyLastUsed).
func (s *Server) noteUse(c *caller, service, region string) {
	use := &lastUse{at: s.cfg.Now().UTC().Truncate(time.Second), service: service, region: region}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.key != nil {
		c.key.lastUsed = use
	} else {
		c.principal.lastUsed = use
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
