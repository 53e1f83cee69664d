package s3access

import "testing"

func TestAllowsPublic(t *testing.T) {
	cases := []struct {
		reason string
		doc    string
		public bool
	}{
		{"MinIO's anonymous download policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]}]}`, true},
		{"a bare star principal", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`, true},
		{"a star among AWS principals as a string", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}}`, true},
		{"a condition does not make anyone private", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}]}`, true},
		{"a named principal is not the public", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`, false},
		{"a deny for everyone is a team's hardening", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, false},
		{"no statements", `{"Version":"2012-10-17","Statement":[]}`, false},
		{"an unreadable document is not proof of closed", `{"Statement":[`, true},
	}
	for _, tc := range cases {
		if got := AllowsPublic([]byte(tc.doc)); got != tc.public {
			t.Errorf("%s: AllowsPublic = %v, want %v", tc.reason, got, tc.public)
		}
	}
}

// TestAllowsPublicAWSShapes: which bucket policies grant anyone something.
func TestAllowsPublicAWSShapes(t *testing.T) {
	const res = `"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`
	cases := []struct {
		reason string
		doc    string
		public bool
	}{
		{"Principal \"*\" is anyone", `{"Statement":[{"Effect":"Allow","Principal":"*",` + res + `}]}`, true},
		{"{\"AWS\":\"*\"} is anyone", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},` + res + `}]}`, true},
		{"{\"AWS\":[\"*\"]} is anyone", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},` + res + `}]}`, true},
		{"\"*\" among named principals is still anyone", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","*"]},` + res + `}]}`, true},
		{"a single statement, not in a list", `{"Statement":{"Effect":"Allow","Principal":"*",` + res + `}}`, true},
		{"a specific account is not public", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},` + res + `}]}`, false},
		{"a service principal is not public", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"logging.s3.amazonaws.com"},` + res + `}]}`, false},
		{"Deny with \"*\" grants nothing", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, false},
		{"a condition does not make a grant to anyone private (decided: see AllowsPublic)", `{"Statement":[{"Effect":"Allow","Principal":"*",` + res + `,"Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}]}`, true},
		{"nor does an organisation condition", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},` + res + `,"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}]}`, true},
		{"Allow with NotPrincipal grants everyone but the ones listed", `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},` + res + `}]}`, true},
		{"a team's Deny and a named grant together are not public", `{"Version":"2012-10-17","Statement":[{"Sid":"TLSOnly","Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}},{"Sid":"CI","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ci"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`, false},
		{"one public statement among others makes it public", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::b"},{"Effect":"Allow","Principal":"*",` + res + `}]}`, true},
		{"no Statement grants nothing", `{"Version":"2012-10-17"}`, false},
		{"unreadable is no proof of closed", `{"Statement":`, true},
		{"a Principal of an unknown shape is no proof either", `{"Statement":[{"Effect":"Allow","Principal":42,` + res + `}]}`, true},
	}
	for _, tc := range cases {
		if got := AllowsPublic([]byte(tc.doc)); got != tc.public {
			t.Errorf("%s: AllowsPublic = %v, want %v", tc.reason, got, tc.public)
		}
	}
}
