package fakeaws

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func allBlocked() *s3types.PublicAccessBlockConfiguration {
	return &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
		BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}
}

func TestFrontPublicAccessBlock(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	b := f.makeBucket(t)
	c := f.s3(f.adminKey, f.adminSecret)

	_, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
	wantS3(t, "GET before any PUT", err, "NoSuchPublicAccessBlockConfiguration", 404)
	if f.Bucket(b).PublicAccessBlock != nil {
		t.Fatal("recorded before any PUT")
	}
	partial := &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}
	if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(b), PublicAccessBlockConfiguration: partial}); err != nil {
		t.Fatal(err)
	}
	if got := f.Bucket(b).PublicAccessBlock; got == nil || *got != (PublicAccessBlock{BlockPublicAcls: true, RestrictPublicBuckets: true}) {
		t.Fatalf("recorded %+v", got)
	}
	if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(b), PublicAccessBlockConfiguration: allBlocked()}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg := got.PublicAccessBlockConfiguration; !*cfg.BlockPublicAcls || !*cfg.IgnorePublicAcls || !*cfg.BlockPublicPolicy || !*cfg.RestrictPublicBuckets {
		t.Fatalf("GET answered %+v", cfg)
	}
	if _, err := c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
	wantS3(t, "GET after DELETE", err, "NoSuchPublicAccessBlockConfiguration", 404)

	var recorded []string
	for _, r := range f.Requests() {
		if r.Service == "s3" && r.Params.Get("Bucket") == b {
			recorded = append(recorded, r.Action+":"+r.Caller+":"+strconv.Itoa(r.Status))
		}
	}
	want := "CreateBucket:operator:200 GetPublicAccessBlock:operator:404 PutPublicAccessBlock:operator:200 PutPublicAccessBlock:operator:200 " +
		"GetPublicAccessBlock:operator:200 DeletePublicAccessBlock:operator:204 GetPublicAccessBlock:operator:404"
	if strings.Join(recorded, " ") != want {
		t.Fatalf("Requests:\n got %s\nwant %s", strings.Join(recorded, " "), want)
	}
}

func TestFrontOwnershipControls(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	c := f.s3(f.adminKey, f.adminSecret)
	b := uniq("fa")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b), ObjectOwnership: s3types.ObjectOwnershipBucketOwnerEnforced}); err != nil {
		t.Fatalf("CreateBucket with x-amz-object-ownership: %v", err)
	}
	if got := f.Bucket(b).ObjectOwnership; got != "BucketOwnerEnforced" {
		t.Fatalf("CreateBucket recorded %q", got)
	}
	get := func() (string, error) {
		out, err := c.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: aws.String(b)})
		if err != nil {
			return "", err
		}
		return string(out.OwnershipControls.Rules[0].ObjectOwnership), nil
	}
	if got, err := get(); err != nil || got != "BucketOwnerEnforced" {
		t.Fatalf("GET after CreateBucket: %q, %v", got, err)
	}
	if _, err := c.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: aws.String(b),
		OwnershipControls: &s3types.OwnershipControls{Rules: []s3types.OwnershipControlsRule{{ObjectOwnership: s3types.ObjectOwnershipObjectWriter}}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := get(); err != nil || got != "ObjectWriter" || f.Bucket(b).ObjectOwnership != "ObjectWriter" {
		t.Fatalf("GET after PUT: %q, %v", got, err)
	}
	_, err := c.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: aws.String(b),
		OwnershipControls: &s3types.OwnershipControls{Rules: []s3types.OwnershipControlsRule{{ObjectOwnership: "Nobody"}}}})
	wantS3(t, "an unknown ownership", err, "MalformedXML", 400)
	if _, err := c.DeleteBucketOwnershipControls(ctx, &s3.DeleteBucketOwnershipControlsInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	_, err = get()
	wantS3(t, "GET after DELETE", err, "OwnershipControlsNotFoundError", 404)

	t.Run("DeleteBucket forgets the settings; a new bucket of that name starts clean", func(t *testing.T) {
		if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(b), PublicAccessBlockConfiguration: allBlocked()}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		if f.Bucket(b) != (BucketSettings{}) {
			t.Fatalf("settings survived DeleteBucket: %+v", f.Bucket(b))
		}
		_, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
		wantS3(t, "GET on a deleted bucket", err, "NoSuchBucket", 404)
	})
}

func TestFrontRefusals(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	b := f.makeBucket(t)
	userKey, userSecret := f.createUser(t, "user", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)
	pabOnly, pabSecret, err := f.AddPrincipal("pab-only", "s3:PutBucketPublicAccessBlock", "s3:ListAllMyBuckets")
	if err != nil {
		t.Fatal(err)
	}
	putPAB := func(ak, sk, bucket string) error {
		_, err := f.s3(ak, sk).PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(bucket), PublicAccessBlockConfiguration: allBlocked()})
		return err
	}
	for _, tc := range []struct {
		reason string
		call   func() error
		code   string
		status int
	}{
		{"a user's key, even with s3:* in its policy", func() error { return putPAB(userKey, userSecret, b) }, "AccessDenied", 403},
		{"a key nobody issued", func() error { return putPAB("AKIAAAAAAAAAAAAAAAAA", "secret", b) }, "InvalidAccessKeyId", 403},
		{"the wrong secret", func() error { return putPAB(f.adminKey, "x"+f.adminSecret[1:], b) }, "SignatureDoesNotMatch", 403},
		{"a bucket that does not exist", func() error { return putPAB(f.adminKey, f.adminSecret, uniq("fa-none")) }, "NoSuchBucket", 404},
		{"a principal allowed the PUT", func() error { return putPAB(pabOnly, pabSecret, b) }, "", 0},
		{"a principal not allowed the GET", func() error {
			_, err := f.s3(pabOnly, pabSecret).GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
			return err
		}, "AccessDenied", 403},
		{"its listed s3 actions work on MinIO", func() error {
			_, err := f.s3(pabOnly, pabSecret).ListBuckets(ctx, &s3.ListBucketsInput{})
			return err
		}, "", 0},
		{"and nothing else does", func() error { return put(f.s3(pabOnly, pabSecret), b, "x") }, "AccessDenied", 403},
	} {
		t.Run(tc.reason, func(t *testing.T) { wantS3(t, tc.reason, tc.call(), tc.code, tc.status) })
	}
	var refused bool
	for _, r := range f.Requests() {
		if r.Action == "PutPublicAccessBlock" && r.Caller == "user" && r.Status == 403 && r.Code == "AccessDenied" {
			refused = true
		}
	}
	if !refused {
		t.Fatalf("the refusal is not in Requests: %+v", f.Requests())
	}
}

func TestFrontEncryption(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	b := f.makeBucket(t)
	c := f.s3(f.adminKey, f.adminSecret)
	putEnc := func(c *s3.Client, alg s3types.ServerSideEncryption, key string) error {
		def := &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: alg}
		if key != "" {
			def.KMSMasterKeyID = aws.String(key)
		}
		_, err := c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(b), ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
			Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: def, BucketKeyEnabled: aws.Bool(true)}}}})
		return err
	}
	getEnc := func() (s3types.ServerSideEncryptionRule, error) {
		out, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(b)})
		if err != nil {
			return s3types.ServerSideEncryptionRule{}, err
		}
		return out.ServerSideEncryptionConfiguration.Rules[0], nil
	}

	t.Run("AES256 goes to MinIO, which then encrypts new objects", func(t *testing.T) {
		if err := putEnc(c, s3types.ServerSideEncryptionAes256, ""); err != nil {
			t.Fatal(err)
		}
		if got := f.Bucket(b).Encryption; got == nil || *got != (Encryption{Algorithm: "AES256", BucketKeyEnabled: true}) {
			t.Fatalf("recorded %+v", got)
		}
		rule, err := getEnc()
		if err != nil || rule.ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAes256 {
			t.Fatalf("GET: %+v, %v", rule, err)
		}
		if err := put(c, b, "plain"); err != nil {
			t.Fatal(err)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String("plain")})
		if err != nil || head.ServerSideEncryption != s3types.ServerSideEncryptionAes256 {
			t.Fatalf("HeadObject: %+v, %v", head, err)
		}
	})
	arn := "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	t.Run("aws:kms with an AWS key ARN is kept by the front", func(t *testing.T) {
		if err := putEnc(c, s3types.ServerSideEncryptionAwsKms, arn); err != nil {
			t.Fatal(err)
		}
		if got := f.Bucket(b).Encryption; got == nil || *got != (Encryption{Algorithm: "aws:kms", KMSKeyID: arn, BucketKeyEnabled: true, Intercepted: true}) {
			t.Fatalf("recorded %+v", got)
		}
		rule, err := getEnc()
		if err != nil || rule.ApplyServerSideEncryptionByDefault.SSEAlgorithm != s3types.ServerSideEncryptionAwsKms ||
			*rule.ApplyServerSideEncryptionByDefault.KMSMasterKeyID != arn || !*rule.BucketKeyEnabled {
			t.Fatalf("GET: %+v, %v", rule, err)
		}
	})
	t.Run("only principals may set it", func(t *testing.T) {
		ak, sk := f.createUser(t, "enc-user", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)
		wantS3(t, "a user's key", putEnc(f.s3(ak, sk), s3types.ServerSideEncryptionAwsKms, arn), "AccessDenied", 403)
	})
	t.Run("aws:kms with MinIO's own key goes to MinIO", func(t *testing.T) {
		if err := putEnc(c, s3types.ServerSideEncryptionAwsKms, srv.KMSKey); err != nil {
			t.Fatal(err)
		}
		if got := f.Bucket(b).Encryption; got == nil || got.Intercepted {
			t.Fatalf("recorded %+v", got)
		}
	})
	t.Run("DELETE clears it", func(t *testing.T) {
		if _, err := c.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
		if got := f.Bucket(b).Encryption; got != nil {
			t.Fatalf("recorded %+v", got)
		}
		_, err := getEnc()
		wantS3(t, "GET after DELETE", err, "ServerSideEncryptionConfigurationNotFoundError", 404)
	})
}

func TestFrontRegion(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		reason             string
		fakeRegion, region string
		code               string
		status             int
	}{
		{"the default region", "", "us-east-1", "", 0},
		{"another region than the bucket's", "", "eu-west-1", "AuthorizationHeaderMalformed", 400},
		{"Config.Region", "eu-west-1", "eu-west-1", "", 0},
		{"us-east-1 against an eu-west-1 fake", "eu-west-1", "us-east-1", "AuthorizationHeaderMalformed", 400},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			f := newFake(t, Config{Region: tc.fakeRegion})
			region := tc.fakeRegion
			if region == "" {
				region = "us-east-1"
			}
			b := uniq("fa")
			admin := s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(f.S3Endpoint()), UsePathStyle: true, RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider(f.adminKey, f.adminSecret, "")})
			if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
				t.Fatal(err)
			}
			c := s3.New(s3.Options{Region: tc.region, BaseEndpoint: aws.String(f.S3Endpoint()), UsePathStyle: true, RetryMaxAttempts: 1,
				Credentials:                credentials.NewStaticCredentialsProvider(f.adminKey, f.adminSecret, ""),
				RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
			wantS3(t, "PutObject (forwarded)", put(c, b, "x"), tc.code, tc.status)
			_, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(b), PublicAccessBlockConfiguration: allBlocked()})
			wantS3(t, "PutPublicAccessBlock (answered by the front)", err, tc.code, tc.status)
		})
	}
}

func TestFrontBucketPolicy(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	b := f.makeBucket(t)
	c := f.s3(f.adminKey, f.adminSecret)
	public := `{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + b + `/*"}]}`
	tls := `{"Version":"2012-10-17","Statement":[{"Sid":"TLSOnly","Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*",` +
		`"Resource":["arn:aws:s3:::` + b + `","arn:aws:s3:::` + b + `/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	putPolicy := func(c *s3.Client, bucket, doc string) error {
		_, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)})
		return err
	}
	getPolicy := func(c *s3.Client) (string, error) {
		out, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(b)})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Policy), nil
	}

	_, err := getPolicy(c)
	wantS3(t, "GET before any PUT", err, "NoSuchBucketPolicy", 404)
	if err := putPolicy(c, b, tls); err != nil {
		t.Fatal(err)
	}
	if got, err := getPolicy(c); err != nil || got != tls {
		t.Fatalf("GET = %q, %v; want the document as PUT", got, err)
	}
	if got := f.Bucket(b).Policy; got != tls {
		t.Fatalf("recorded %q", got)
	}
	if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(b), PublicAccessBlockConfiguration: allBlocked()}); err != nil {
		t.Fatal(err)
	}
	wantS3(t, "a public policy under BlockPublicPolicy", putPolicy(c, b, public), "AccessDenied", 403)
	if got := f.Bucket(b).Policy; got != tls {
		t.Fatalf("a refused PUT changed the policy to %q", got)
	}
	if _, err := c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	if err := putPolicy(c, b, public); err != nil {
		t.Fatalf("a public policy without a public access block: %v", err)
	}
	if got := f.Bucket(b).Policy; got != public {
		t.Fatalf("recorded %q", got)
	}
	for range 2 { // deleting twice is success
		if _, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = getPolicy(c)
	wantS3(t, "GET after DELETE", err, "NoSuchBucketPolicy", 404)

	userKey, userSecret := f.createUser(t, "user", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)
	getOnly, getSecret, err := f.AddPrincipal("policy-reader", "s3:GetBucketPolicy")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reason string
		call   func() error
		code   string
		status int
	}{
		{"not JSON", func() error { return putPolicy(c, b, "Statement") }, "MalformedPolicy", 400},
		{"no Principal (an identity policy)", func() error {
			return putPolicy(c, b, `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::`+b+`/*"}]}`)
		}, "MalformedPolicy", 400},
		{"another bucket's resource", func() error {
			return putPolicy(c, b, `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}`)
		}, "MalformedPolicy", 400},
		{"a bucket that does not exist", func() error { return putPolicy(c, uniq("fa-none"), tls) }, "NoSuchBucket", 404},
		{"a user's key, even with s3:* in its policy", func() error { return putPolicy(f.s3(userKey, userSecret), b, tls) }, "AccessDenied", 403},
		{"a principal allowed only the GET may GET", func() error {
			_, err := getPolicy(f.s3(getOnly, getSecret))
			return err
		}, "NoSuchBucketPolicy", 404},
		{"and may not PUT", func() error { return putPolicy(f.s3(getOnly, getSecret), b, tls) }, "AccessDenied", 403},
		{"nor DELETE", func() error {
			_, err := f.s3(getOnly, getSecret).DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(b)})
			return err
		}, "AccessDenied", 403},
	} {
		t.Run(tc.reason, func(t *testing.T) { wantS3(t, tc.reason, tc.call(), tc.code, tc.status) })
	}

	var recorded []string
	for _, r := range f.Requests() {
		if r.Service == "s3" && r.Params.Get("Bucket") == b && strings.Contains(r.Action, "BucketPolicy") && r.Caller == "operator" {
			recorded = append(recorded, r.Action+":"+strconv.Itoa(r.Status))
		}
	}
	want := "GetBucketPolicy:404 PutBucketPolicy:204 GetBucketPolicy:200 PutBucketPolicy:403 PutBucketPolicy:204 " +
		"DeleteBucketPolicy:204 DeleteBucketPolicy:204 GetBucketPolicy:404 PutBucketPolicy:400 PutBucketPolicy:400 PutBucketPolicy:400"
	if strings.Join(recorded, " ") != want {
		t.Fatalf("Requests:\n got %s\nwant %s", strings.Join(recorded, " "), want)
	}
}

// TestBucketPolicyValidation: what PutBucketPolicy refuses, and what BlockPublicPolicy counts as
// public (a grant to everyone without a condition).
func TestBucketPolicyValidation(t *testing.T) {
	res := `"Resource":"arn:aws:s3:::b/*"`
	for _, tc := range []struct {
		reason, doc, msg string
		public           bool
	}{
		{"Principal *", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",` + res + `}}`, "", true},
		{"AWS * in a list", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:GetObject",` + res + `}]}`, "", true},
		{"NotPrincipal grants everyone else", `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject",` + res + `}]}`, "", true},
		{"a named account", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject",` + res + `}]}`, "", false},
		{"Deny to everyone", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*",` + res + `}]}`, "", false},
		{"a condition (not judged: taken as narrowing)", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",` + res + `,"Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}]}`, "", false},
		{"the bucket itself as resource", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}]}`, "", false},
		{"leading whitespace is fine", ` {"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*",` + res + `}}`, "", false},
		{"an array", `[]`, malformedJSONPolicy, false},
		{"broken JSON", `{"Statement":`, invalidPolicyJSON, false},
		{"no Statement", `{"Version":"2012-10-17"}`, missingStatement, false},
		{"empty Statement", `{"Statement":[]}`, emptyStatement, false},
		{"a bad Version", `{"Version":"2020-01-01","Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*",` + res + `}}`, invalidPolicyVersion, false},
		{"a bad Effect", `{"Statement":{"Effect":"allow","Principal":"*","Action":"s3:*",` + res + `}}`, invalidEffect + "allow", false},
		{"no Principal", `{"Statement":{"Effect":"Allow","Action":"s3:*",` + res + `}}`, missingPrincipal, false},
		{"Principal neither * nor an object", `{"Statement":{"Effect":"Allow","Principal":"someone","Action":"s3:*",` + res + `}}`, invalidPrincipal, false},
		{"an IAM action", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"iam:GetUser",` + res + `}}`, invalidPolicyAction, false},
		{"another bucket", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bb/*"}}`, invalidPolicyResource, false},
		{"no Resource", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*"}}`, invalidPolicyResource, false},
	} {
		if got := validateBucketPolicy(tc.doc, "b"); got != tc.msg {
			t.Errorf("%s: validateBucketPolicy = %q, want %q", tc.reason, got, tc.msg)
		}
		if tc.msg == "" {
			if got := publicBucketPolicy(tc.doc); got != tc.public {
				t.Errorf("%s: publicBucketPolicy = %v, want %v", tc.reason, got, tc.public)
			}
		}
	}
}
