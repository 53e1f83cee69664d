package awss3_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/tfstate-operator/tfstate-operator/internal/probe"
	"github.com/tfstate-operator/tfstate-operator/internal/provider"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/awss3"
	"github.com/tfstate-operator/tfstate-operator/internal/provider/providertest"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/fakeaws"
	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

var srv *miniotest.Server

func TestMain(m *testing.M) { os.Exit(miniotest.RunTests(m, &srv)) }

// env is a fake AWS account (IAM, STS and an S3 front) over the test's MinIO, and the operator's
// admin keys in it.
type env struct {
	fake     *fakeaws.Server
	ak, sk   string
	iamPath  string
	kmsKeyID string
}

var seq atomic.Int64

func newEnv(t *testing.T, cfg fakeaws.Config, adminActions ...string) *env {
	t.Helper()
	cfg.MinIO = srv
	f, err := fakeaws.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	ak, sk, err := f.AddPrincipal("tfstate-operator", adminActions...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: f, ak: ak, sk: sk, iamPath: fmt.Sprintf("/tfstate-operator/t%d/", seq.Add(1))}
}

func (e *env) config() awss3.Config {
	return awss3.Config{
		Region:          "us-east-1",
		KMSKeyID:        e.kmsKeyID,
		IAMPath:         e.iamPath,
		S3Endpoint:      e.fake.S3Endpoint(),
		IAMEndpoint:     e.fake.IAMEndpoint(),
		STSEndpoint:     e.fake.STSEndpoint(),
		AccessKeyID:     e.ak,
		SecretAccessKey: e.sk,
	}
}

func (e *env) client(t *testing.T) *awss3.Client {
	t.Helper()
	c, err := awss3.New(context.Background(), e.config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// iam is a plain IAM client of the fake with the admin keys, for what a test does out of band.
func (e *env) iam() *iam.Client {
	return iam.New(iam.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.fake.IAMEndpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(e.ak, e.sk, ""),
	})
}

// s3 is a plain S3 client of the fake's front with the admin keys, for what a test does out of
// band (never the Client under test).
func (e *env) s3() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.fake.S3Endpoint()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(e.ak, e.sk, ""),
	})
}

func (e *env) user(name string) *fakeaws.User {
	for _, u := range e.fake.Users() {
		if u.Name == name {
			return &u
		}
	}
	return nil
}

func freshBucket(*testing.T) string {
	return fmt.Sprintf("aws-%d-%d", time.Now().UnixNano()%1e6, seq.Add(1))
}

// data is the provider's S3 side: the test's MinIO, behind the fake's front for the provider.
func data() providertest.MinIODataPlane {
	return providertest.MinIODataPlane{Host: srv.Host, RootUser: srv.RootUser, RootPassword: srv.RootPassword, Region: "us-east-1"}
}

func (e *env) harness(t *testing.T) providertest.Harness {
	return providertest.Harness{Client: e.client(t), PutObject: data().PutObject(t), GetObject: data().GetObject(t), BucketName: freshBucket}
}

// createdBucket is a fresh bucket created through c.
func createdBucket(t *testing.T, c *awss3.Client) string {
	t.Helper()
	bucket := freshBucket(t)
	if err := c.CreateBucket(context.Background(), provider.BucketRequest{Name: bucket, Owner: owner(bucket)}); err != nil {
		t.Fatal(err)
	}
	return bucket
}

func owner(bucket string) provider.Owner {
	return provider.Owner{Namespace: "team-b", Name: bucket, UID: "uid-" + bucket}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Harness { return newEnv(t, fakeaws.Config{}).harness(t) })
}

// TestQuotas: the account's documented caps, set low in the fake, are quota refusals.
func TestQuotas(t *testing.T) {
	providertest.RunQuotas(t, func(t *testing.T) providertest.QuotaHarness {
		return providertest.QuotaHarness{Harness: newEnv(t, fakeaws.Config{BucketLimit: 3, UserLimit: 4}).harness(t), BucketLimit: 3, CredentialLimit: 4}
	})
}

// TestEnforcement: the IAM users the provider creates, enforced by real S3 behind the fake.
func s3Harness(t *testing.T) providertest.S3Harness { return newEnv(t, fakeaws.Config{}).s3Harness(t) }

func (e *env) s3Harness(t *testing.T) providertest.S3Harness {
	return providertest.S3Harness{Harness: e.harness(t), S3: data().S3}
}

func TestEnforcement(t *testing.T) { providertest.RunEnforcement(t, s3Harness) }

func TestRotation(t *testing.T) { providertest.RunRotation(t, s3Harness) }

// TestGrantRepair: an administrator's second inline policy on the user, made through IAM itself,
// is found and removed, and real S3 follows.
func TestGrantRepair(t *testing.T) {
	providertest.RunGrantRepair(t, func(t *testing.T) providertest.GrantHarness {
		e := newEnv(t, fakeaws.Config{})
		return providertest.GrantHarness{S3Harness: e.s3Harness(t), Widen: e.widenWithInlinePolicy}
	})
}

// widenWithInlinePolicy gives cred's user a second inline policy with s3:* on both buckets, as an
// administrator editing the user in the console would.
func (e *env) widenWithInlinePolicy(t *testing.T, cred provider.Credential, own, other string) {
	t.Helper()
	_, err := e.iam().PutUserPolicy(context.Background(), &iam.PutUserPolicyInput{UserName: aws.String(cred.ID),
		PolicyName: aws.String("console-edit"), PolicyDocument: aws.String(everythingIn(own, other))})
	if err != nil {
		t.Fatal(err)
	}
}

// everythingIn is a policy with s3:* on the buckets and their objects.
func everythingIn(buckets ...string) string {
	var resources []string
	for _, b := range buckets {
		resources = append(resources, `"arn:aws:s3:::`+b+`"`, `"arn:aws:s3:::`+b+`/*"`)
	}
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":[` + strings.Join(resources, ",") + `]}]}`
}

// TestGrantRepairRestoresAPrefixScopedPolicy: a prefix-scoped credential whose policy was replaced
// by a whole-bucket one gets its prefix back with the same keys; a policy that says the same thing
// written differently (what the console does to JSON) is left alone, without a write.
func TestGrantRepairRestoresAPrefixScopedPolicy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	c := e.client(t)
	bucket := createdBucket(t, c)
	// '+' and '=' are percent-encoded by IAM's GetUserPolicy: the read-back must decode them.
	req := provider.CredentialRequest{Name: "tfso-repair-prefix", Bucket: bucket, Access: provider.ReadWrite, KeyPrefix: "network+core=eu"}
	cred, err := c.IssueCredential(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	runner := data().S3(t, cred)
	write := func(key string) error {
		_, err := runner.PutObject(ctx, bucket, key, strings.NewReader("{}"), 2, miniogo.PutObjectOptions{})
		return err
	}
	repair := func(want bool) {
		t.Helper()
		if got, err := c.RepairGrant(ctx, cred.ID, req); err != nil || got != want {
			t.Fatalf("RepairGrant = %v, %v; want %v", got, err, want)
		}
	}
	putPolicy := func(doc string) {
		t.Helper()
		if _, err := e.iam().PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(cred.ID), PolicyName: aws.String(awss3.PolicyName),
			PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	issued := string(awss3.Policy(awss3.PolicyRequest{Partition: "aws", Bucket: bucket, Access: req.Access, KeyPrefix: req.KeyPrefix}))

	repair(false)
	putPolicy(string(awss3.Policy(awss3.PolicyRequest{Partition: "aws", Bucket: bucket, Access: provider.ReadWrite})))
	if err := write("elsewhere/terraform.tfstate"); err != nil {
		t.Fatalf("the replaced policy did not take (the test proves nothing): %v", err)
	}
	repair(true)
	if err := write("elsewhere/terraform.tfstate"); miniogo.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("after repair, writing outside the prefix: err = %v, want AccessDenied", err)
	}
	if err := write(req.KeyPrefix + "/terraform.tfstate"); err != nil {
		t.Errorf("after repair, writing under the prefix with the same keys: %v", err)
	}
	if u := e.user(cred.ID); u == nil || len(u.Policies) != 1 || u.Policies[awss3.PolicyName] != issued || len(u.AccessKeys) != 1 || u.AccessKeys[0].ID != cred.AccessKeyID {
		t.Fatalf("after repair the user holds %+v, want exactly the issued policy and key", u)
	}
	repair(false)

	// The same grant, reordered and reformatted: statements reversed, one-element lists as
	// strings, actions in another case, Sids gone, indented.
	var doc struct {
		Version   string
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(issued), &doc); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(doc.Statement)
	for _, st := range doc.Statement {
		delete(st, "Sid")
		if r := st["Resource"].([]any); len(r) == 1 {
			st["Resource"] = r[0]
		}
		actions := st["Action"].([]any)
		slices.Reverse(actions)
		for i, a := range actions {
			actions[i] = strings.ToUpper(a.(string)[:3]) + a.(string)[3:]
		}
	}
	rewritten, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	putPolicy(string(rewritten))
	before := len(e.fake.Requests())
	repair(false)
	for _, r := range e.fake.Requests()[before:] {
		if r.Service == "iam" && !strings.HasPrefix(r.Action, "Get") && !strings.HasPrefix(r.Action, "List") {
			t.Errorf("an equivalent grant was written to: %s", r.Action)
		}
	}
	if got := e.user(cred.ID).Policies[awss3.PolicyName]; got != string(rewritten) {
		t.Errorf("the equivalent policy was replaced by %s", got)
	}
}

// TestGrantRepairDetachesManagedPolicies: a managed policy attached to the user out of band is
// detached (the user's keys lose what it granted), and a user that still has one is revoked
// completely all the same.
func TestGrantRepairDetachesManagedPolicies(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	c := e.client(t)
	own, other := createdBucket(t, c), createdBucket(t, c)
	req := provider.CredentialRequest{Name: "tfso-repair-managed", Bucket: own, Access: provider.ReadOnly}
	cred, err := c.IssueCredential(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	o := e.iam()
	wide, err := o.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("team-s3-admin"), PolicyDocument: aws.String(everythingIn(own, other))})
	if err != nil {
		t.Fatal(err)
	}
	attach := func() {
		t.Helper()
		if _, err := o.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String(cred.ID), PolicyArn: wide.Policy.Arn}); err != nil {
			t.Fatal(err)
		}
	}
	runner := data().S3(t, cred)
	write := func() error {
		_, err := runner.PutObject(ctx, other, "x", strings.NewReader("x"), 1, miniogo.PutObjectOptions{})
		return err
	}

	attach()
	if err := write(); err != nil {
		t.Fatalf("the attached policy did not take (the test proves nothing): %v", err)
	}
	if got, err := c.RepairGrant(ctx, cred.ID, req); err != nil || !got {
		t.Fatalf("RepairGrant with a managed policy attached = %v, %v; want repaired", got, err)
	}
	if u := e.user(cred.ID); len(u.AttachedPolicies) != 0 || len(u.Policies) != 1 {
		t.Fatalf("after repair: attached %v, inline %v; want only the issued inline policy", u.AttachedPolicies, u.Policies)
	}
	if err := write(); miniogo.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("after repair, writing the other bucket: err = %v, want AccessDenied", err)
	}
	if got, err := c.RepairGrant(ctx, cred.ID, req); err != nil || got {
		t.Fatalf("a second RepairGrant = %v, %v; want nothing to do", got, err)
	}

	attach()
	if err := c.RevokeCredential(ctx, cred.ID); err != nil {
		t.Fatalf("revoking a user with an attached policy: %v", err)
	}
	if e.user(cred.ID) != nil {
		t.Fatal("the user is still there")
	}
}

// TestEquivalentPolicies: what makes two policy documents the same grant for RepairGrant.
func TestEquivalentPolicies(t *testing.T) {
	issued := `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"ListState","Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::b"],"Condition":{"StringLike":{"s3:prefix":["net/*",".tfstate-operator/*"]}}},` +
		`{"Sid":"ReadState","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/net/*"]}]}`
	cases := []struct {
		reason string
		other  string
		same   bool
	}{
		{"the same bytes", issued, true},
		{"statements in another order, whitespace, strings for one-element lists, no Sids",
			`{ "Statement": [ {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/net/*"},
			   {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":[".tfstate-operator/*","net/*"]}}} ],
			  "Version": "2012-10-17" }`, true},
		{"action names in another case (IAM ignores it) and a duplicate statement",
			`{"Version":"2012-10-17","Statement":[` +
				`{"Effect":"Allow","Action":"S3:listbucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"S3:Prefix":["net/*",".tfstate-operator/*"]}}},` +
				`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/net/*"},{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/net/*"}]}`, true},
		{"another bucket",
			strings.ReplaceAll(issued, ":::b", ":::c"), false},
		{"an extra action",
			strings.Replace(issued, `["s3:GetObject"]`, `["s3:GetObject","s3:PutObject"]`, 1), false},
		{"the prefix condition dropped (the whole bucket listable)",
			strings.Replace(issued, `,"Condition":{"StringLike":{"s3:prefix":["net/*",".tfstate-operator/*"]}}`, "", 1), false},
		{"a wider object resource (object keys are case-sensitive, so is this)",
			strings.Replace(issued, "b/net/*", "b/*", 1), false},
		{"a resource in another case",
			strings.Replace(issued, "b/net/*", "b/NET/*", 1), false},
		{"Deny instead of Allow",
			strings.Replace(issued, `"Sid":"ReadState","Effect":"Allow"`, `"Sid":"ReadState","Effect":"Deny"`, 1), false},
		{"NotAction is not Action",
			strings.Replace(issued, `"Action":["s3:GetObject"]`, `"NotAction":["s3:GetObject"]`, 1), false},
		{"an extra statement",
			strings.TrimSuffix(issued, `]}`) + `,{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, false},
		{"no Version (2008-10-17 to IAM: policy variables read differently)",
			strings.Replace(issued, `"Version":"2012-10-17",`, "", 1), false},
		{"not JSON", `{"Version":`, false},
		{"a principal (not an identity policy)",
			strings.Replace(issued, `"Sid":"ReadState",`, `"Principal":"*",`, 1), false},
	}
	for _, tc := range cases {
		if got := awss3.EquivalentPolicies([]byte(issued), []byte(tc.other)); got != tc.same {
			t.Errorf("%s: EquivalentPolicies = %v, want %v\n%s", tc.reason, got, tc.same, tc.other)
		}
		if got := awss3.EquivalentPolicies([]byte(tc.other), []byte(issued)); got != tc.same {
			t.Errorf("%s: not symmetric", tc.reason)
		}
	}
	kms := awss3.Policy(awss3.PolicyRequest{Bucket: "b", Access: provider.ReadWrite, KeyPrefix: "net", KMSKeyARN: "arn:aws:kms:us-east-1:123456789012:key/k"})
	if !awss3.EquivalentPolicies(kms, kms) {
		t.Error("awss3.Policy is not equivalent to itself")
	}
}

// TestIssuedUserHoldsExactlyThePolicy: what IAM holds for a credential is one user under the IAM
// path, with the permissions boundary, one inline policy whose text is awss3.Policy's, and one
// access key: the one returned.
func TestIssuedUserHoldsExactlyThePolicy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	e.kmsKeyID = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	cfg := e.config()
	cfg.PermissionsBoundaryARN = "arn:aws:iam::123456789012:policy/tfstate-boundary"
	c, err := awss3.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bucket := createdBucket(t, c)
	cases := []struct {
		reason string
		req    provider.CredentialRequest
	}{
		{"a writer of the whole bucket", provider.CredentialRequest{Name: "tfso-policy-rw", Bucket: bucket, Access: provider.ReadWrite}},
		{"a reader confined to a prefix", provider.CredentialRequest{Name: "tfso-policy-ro", Bucket: bucket, Access: provider.ReadOnly, KeyPrefix: "network"}},
	}
	for _, tc := range cases {
		cred, err := c.IssueCredential(ctx, tc.req)
		if err != nil {
			t.Fatalf("%s: %v", tc.reason, err)
		}
		u := e.user(tc.req.Name)
		want := string(awss3.Policy(awss3.PolicyRequest{Partition: "aws", Bucket: bucket, Access: tc.req.Access, KeyPrefix: tc.req.KeyPrefix, KMSKeyARN: e.kmsKeyID}))
		switch {
		case u == nil:
			t.Fatalf("%s: no IAM user %q", tc.reason, tc.req.Name)
		case cred.ID != tc.req.Name || cred.Name != tc.req.Name:
			t.Errorf("%s: credential id %q name %q, want the user's name %q", tc.reason, cred.ID, cred.Name, tc.req.Name)
		case u.Path != e.iamPath || u.PermissionsBoundary != cfg.PermissionsBoundaryARN:
			t.Errorf("%s: user path %q boundary %q, want %q %q", tc.reason, u.Path, u.PermissionsBoundary, e.iamPath, cfg.PermissionsBoundaryARN)
		case len(u.Policies) != 1 || u.Policies[awss3.PolicyName] != want:
			t.Errorf("%s: inline policies %v, want exactly %s = %s", tc.reason, u.Policies, awss3.PolicyName, want)
		case len(u.AccessKeys) != 1 || u.AccessKeys[0].ID != cred.AccessKeyID || e.fake.SecretOf(cred.AccessKeyID) != cred.SecretAccessKey:
			t.Errorf("%s: access keys %+v, want exactly the returned %s", tc.reason, u.AccessKeys, cred.AccessKeyID)
		}
	}
}

// TestPrefixScopedCredential: with a key prefix, real S3 lets the credential list, read and write
// state under the prefix (workspace state included) and delete lock files there, and nothing else.
func TestPrefixScopedCredential(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	c := e.client(t)
	bucket := createdBucket(t, c)
	put := data().PutObject(t)
	if err := put(ctx, bucket, "other/terraform.tfstate", []byte("theirs")); err != nil {
		t.Fatal(err)
	}
	issue := func(name string, a provider.Access) *miniogo.Client {
		cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: name, Bucket: bucket, Access: a, KeyPrefix: "network"})
		if err != nil {
			t.Fatal(err)
		}
		return data().S3(t, cred)
	}
	rw, ro := issue("tfso-prefix-rw", provider.ReadWrite), issue("tfso-prefix-ro", provider.ReadOnly)
	write := func(cl *miniogo.Client, key string) func() error {
		return func() error {
			_, err := cl.PutObject(ctx, bucket, key, strings.NewReader("{}"), 2, miniogo.PutObjectOptions{})
			return err
		}
	}
	read := func(cl *miniogo.Client, key string) func() error {
		return func() error {
			o, err := cl.GetObject(ctx, bucket, key, miniogo.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer o.Close()
			_, err = o.Stat()
			return err
		}
	}
	list := func(cl *miniogo.Client, prefix string) func() error {
		return func() error {
			for o := range cl.ListObjects(ctx, bucket, miniogo.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
				if o.Err != nil {
					return o.Err
				}
			}
			return nil
		}
	}
	remove := func(cl *miniogo.Client, key string) func() error {
		return func() error { return cl.RemoveObject(ctx, bucket, key, miniogo.RemoveObjectOptions{}) }
	}
	cases := []struct {
		reason  string
		call    func() error
		allowed bool
	}{
		{"the writer writes the state under the prefix", write(rw, "network/terraform.tfstate"), true},
		{"the writer writes workspace state under the prefix", write(rw, "network/env/dev/terraform.tfstate"), true},
		{"the writer takes a lock under the prefix", write(rw, "network/terraform.tfstate.tflock"), true},
		{"the writer releases that lock", remove(rw, "network/terraform.tfstate.tflock"), true},
		{"the writer reads the state", read(rw, "network/terraform.tfstate"), true},
		{"the writer lists the workspaces under the prefix", list(rw, "network/env/"), true},
		{"the writer may not delete state (only lock files)", remove(rw, "network/terraform.tfstate"), false},
		{"the writer may not write outside the prefix", write(rw, "other/terraform.tfstate"), false},
		{"the writer may not write at Terraform's default workspace prefix", write(rw, "env:/dev/network/terraform.tfstate"), false},
		{"the writer may not read outside the prefix", read(rw, "other/terraform.tfstate"), false},
		{"the writer may not list outside the prefix", list(rw, "other/"), false},
		{"the writer may not list the whole bucket", list(rw, ""), false},
		{"the reader reads the state", read(ro, "network/terraform.tfstate"), true},
		{"the reader lists under the prefix", list(ro, "network/"), true},
		{"the reader may not write under the prefix", write(ro, "network/terraform.tfstate"), false},
		{"the reader may not read outside the prefix", read(ro, "other/terraform.tfstate"), false},
	}
	for _, tc := range cases {
		err := tc.call()
		if tc.allowed && err != nil {
			t.Errorf("%s: %v", tc.reason, err)
		}
		if !tc.allowed && (err == nil || miniogo.ToErrorResponse(err).Code != "AccessDenied") {
			t.Errorf("%s: err = %v, want AccessDenied", tc.reason, err)
		}
	}
}

// TestProbePassesWithTheIssuedPolicy: the controller's credential probe needs nothing the policy
// does not grant, with or without a prefix; it waits out a key that IAM has not propagated yet.
func TestProbePassesWithTheIssuedPolicy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{KeyPropagation: 2 * time.Second})
	c := e.client(t)
	bucket := createdBucket(t, c)
	p := probe.New(probe.WithPropagationWindow(20 * time.Second))
	for i, tc := range []struct {
		access provider.Access
		prefix string
	}{{provider.ReadWrite, ""}, {provider.ReadWrite, "network"}, {provider.ReadOnly, "network"}} {
		cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("tfso-probe-%d", i), Bucket: bucket, Access: tc.access, KeyPrefix: tc.prefix})
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Probe(ctx, c.Settings(), bucket, cred, tc.access)
		if err != nil {
			t.Fatalf("%s with prefix %q: %v", tc.access, tc.prefix, err)
		}
		if res.ConditionalWrites != (tc.access == provider.ReadWrite) {
			t.Errorf("%s with prefix %q: conditional writes %v", tc.access, tc.prefix, res.ConditionalWrites)
		}
	}
}

// TestBucketIsHardened: a created bucket has what AWS advises for state, and the tags that mark it
// as ours; SSE-KMS uses the configured key with a bucket key.
func TestBucketIsHardened(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		reason, kmsKeyID, wantAlgorithm string
	}{
		{"default: SSE-S3", "", "AES256"},
		{"a KMS key: SSE-KMS with an S3 Bucket Key", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "aws:kms"},
	}
	for _, tc := range cases {
		e := newEnv(t, fakeaws.Config{})
		e.kmsKeyID = tc.kmsKeyID
		c := e.client(t)
		bucket := createdBucket(t, c)
		if err := c.EnableVersioning(ctx, bucket); err != nil {
			t.Fatal(err)
		}
		got := e.fake.Bucket(bucket)
		pab := got.PublicAccessBlock
		if pab == nil || !pab.BlockPublicAcls || !pab.IgnorePublicAcls || !pab.BlockPublicPolicy || !pab.RestrictPublicBuckets {
			t.Errorf("%s: public access block %+v, want all four on", tc.reason, pab)
		}
		if got.ObjectOwnership != "BucketOwnerEnforced" {
			t.Errorf("%s: object ownership %q, want BucketOwnerEnforced", tc.reason, got.ObjectOwnership)
		}
		enc := e.encryption(t, bucket)
		if enc.Algorithm != tc.wantAlgorithm || enc.KMSKeyID != tc.kmsKeyID || enc.BucketKeyEnabled != (tc.kmsKeyID != "") {
			t.Errorf("%s: default encryption %+v, want %s with key %q", tc.reason, enc, tc.wantAlgorithm, tc.kmsKeyID)
		}
		root := data().Client(t, srv.RootUser, srv.RootPassword)
		if v, err := root.GetBucketVersioning(ctx, bucket); err != nil || !v.Enabled() {
			t.Errorf("%s: versioning %+v, %v; want Enabled", tc.reason, v, err)
		}
		tags, err := root.GetBucketTagging(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{awss3.TagManagedBy: "tfstate-operator", awss3.TagOwnerNamespace: "team-b", awss3.TagOwnerName: bucket, awss3.TagOwnerUID: "uid-" + bucket}
		for k, v := range want {
			if tags.ToMap()[k] != v {
				t.Errorf("%s: tags %v, want %s=%s", tc.reason, tags.ToMap(), k, v)
			}
		}
		if obs, err := c.ObserveBucket(ctx, bucket); err != nil || obs.Owner == nil || *obs.Owner != owner(bucket) || !obs.Versioning {
			t.Errorf("%s: observed %+v (owner %+v), %v", tc.reason, obs, obs.Owner, err)
		}
	}
}

// encryption is the bucket's default encryption: what the front recorded, or what MinIO holds.
func (e *env) encryption(t *testing.T, bucket string) fakeaws.Encryption {
	t.Helper()
	if enc := e.fake.Bucket(bucket).Encryption; enc != nil {
		return *enc
	}
	cfg, err := data().Client(t, srv.RootUser, srv.RootPassword).GetBucketEncryption(context.Background(), bucket)
	if err != nil || len(cfg.Rules) != 1 {
		t.Fatalf("bucket encryption %+v, %v", cfg, err)
	}
	r := cfg.Rules[0].Apply
	return fakeaws.Encryption{Algorithm: r.SSEAlgorithm, KMSKeyID: r.KmsMasterKeyID}
}

// TestMarkKeepsOtherTags: adoption marks a bucket without dropping the tags its owner set.
func TestMarkKeepsOtherTags(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	c := e.client(t)
	bucket := freshBucket(t)
	root := data().Client(t, srv.RootUser, srv.RootPassword)
	if err := root.MakeBucket(ctx, bucket, miniogo.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	own, err := tags.NewTags(map[string]string{"cost-center": "platform"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.SetBucketTagging(ctx, bucket, own); err != nil {
		t.Fatal(err)
	}
	if obs, err := c.ObserveBucket(ctx, bucket); err != nil || !obs.Exists || obs.Owner != nil {
		t.Fatalf("observe of an unmarked bucket = %+v, %v; want exists, no owner", obs, err)
	}
	if err := c.MarkBucket(ctx, bucket, owner(bucket)); err != nil {
		t.Fatal(err)
	}
	got, err := root.GetBucketTagging(ctx, bucket)
	if err != nil || got.ToMap()["cost-center"] != "platform" || got.ToMap()[awss3.TagOwnerUID] != "uid-"+bucket {
		t.Fatalf("tags after marking: %v, %v; want cost-center kept and the owner added", got.ToMap(), err)
	}
}

// TestRevokeTearsDownInIAMsOrder: keys, then the policy, then the user (IAM refuses to delete a
// user that still has either); twice is fine.
func TestRevokeTearsDownInIAMsOrder(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	c := e.client(t)
	bucket := createdBucket(t, c)
	cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-teardown-1", Bucket: bucket, Access: provider.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.fake.Requests())
	for range 2 {
		if err := c.RevokeCredential(ctx, cred.ID); err != nil {
			t.Fatal(err)
		}
	}
	var order []string
	for _, r := range e.fake.Requests()[before:] {
		if r.Service == "iam" && r.Code == "" && strings.HasPrefix(r.Action, "Delete") {
			order = append(order, r.Action)
		}
	}
	if want := []string{"DeleteAccessKey", "DeleteUserPolicy", "DeleteUser"}; !slices.Equal(order, want) {
		t.Fatalf("successful deletes %v, want %v", order, want)
	}
	if e.user(cred.ID) != nil {
		t.Fatal("the user is still there")
	}
}

// TestInterruptedIssueIsListedAndRevoked: a crash after CreateUser, or after PutUserPolicy, leaves a
// user without a key under the backend's name prefix: listed (with no key) and revoked completely.
func TestInterruptedIssueIsListedAndRevoked(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	c := e.client(t)
	o := e.iam()
	for i, withPolicy := range []bool{false, true} {
		name := fmt.Sprintf("tfso-crashed-%d", i)
		if _, err := o.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name), Path: aws.String(e.iamPath)}); err != nil {
			t.Fatal(err)
		}
		if withPolicy {
			doc := string(awss3.Policy(awss3.PolicyRequest{Bucket: "b-x", Access: provider.ReadWrite}))
			if _, err := o.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(awss3.PolicyName), PolicyDocument: aws.String(doc)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A user of the same name prefix outside the IAM path is not ours.
	if _, err := o.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("tfso-crashed-elsewhere"), Path: aws.String("/other/")}); err != nil {
		t.Fatal(err)
	}
	live, err := c.ListCredentials(ctx, "tfso-crashed-")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range live {
		if l.AccessKeyID != "" {
			t.Errorf("listed %+v with a key, want none", l)
		}
		names = append(names, l.ID)
		if err := c.RevokeCredential(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(names, []string{"tfso-crashed-0", "tfso-crashed-1"}) {
		t.Fatalf("listed %v, want the two users under the IAM path", names)
	}
	if e.user("tfso-crashed-0") != nil || e.user("tfso-crashed-1") != nil || e.user("tfso-crashed-elsewhere") == nil {
		t.Fatalf("users after revoking: %+v", e.fake.Users())
	}
}

// TestListCredentialsPages: the listing follows IAM's markers.
func TestListCredentialsPages(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{MaxItems: 2})
	c := e.client(t)
	bucket := createdBucket(t, c)
	var want []string
	for i := range 5 {
		cred, err := c.IssueCredential(ctx, provider.CredentialRequest{Name: fmt.Sprintf("tfso-page-%d", i), Bucket: bucket, Access: provider.ReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, cred.AccessKeyID)
	}
	live, err := c.ListCredentials(ctx, "tfso-page-")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range live {
		got = append(got, l.AccessKeyID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("listed keys %v, want %v", got, want)
	}
}

// TestErrorsAreClassified: what IAM and STS refuse becomes the error class the controller turns
// into a stable condition reason.
func TestErrorsAreClassified(t *testing.T) {
	ctx := context.Background()
	t.Run("refused admin keys are InvalidConfig", func(t *testing.T) {
		e := newEnv(t, fakeaws.Config{})
		e.sk = "not-the-secret-key-of-this-principal00"
		if err := e.client(t).Check(ctx); !errors.Is(err, provider.ErrInvalidConfig) || errors.Is(err, provider.ErrPermissionDenied) {
			t.Fatalf("Check = %v, want ErrInvalidConfig", err)
		}
	})
	t.Run("a missing IAM permission is PermissionDenied and names it", func(t *testing.T) {
		e := newEnv(t, fakeaws.Config{}, "iam:ListUsers", "iam:CreateUser", "iam:ListAccessKeys", "iam:DeleteUser")
		if err := e.client(t).Check(ctx); err != nil {
			t.Fatalf("Check with the read permissions: %v", err)
		}
		_, err := e.client(t).IssueCredential(ctx, provider.CredentialRequest{Name: "tfso-denied-1", Bucket: "b-x", Access: provider.ReadOnly})
		if !errors.Is(err, provider.ErrPermissionDenied) || !strings.Contains(err.Error(), "iam:PutUserPolicy") {
			t.Fatalf("IssueCredential = %v, want ErrPermissionDenied naming iam:PutUserPolicy", err)
		}
	})
	t.Run("a permission missing for grant repair is PermissionDenied and names it", func(t *testing.T) {
		e := newEnv(t, fakeaws.Config{})
		c := e.client(t)
		req := provider.CredentialRequest{Name: "tfso-denied-repair", Bucket: createdBucket(t, c), Access: provider.ReadOnly}
		cred, err := c.IssueCredential(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		// What the README listed before grant repair existed.
		e.ak, e.sk, err = e.fake.AddPrincipal("tfstate-operator-old", "iam:ListUserPolicies", "iam:DeleteUserPolicy", "iam:PutUserPolicy")
		if err != nil {
			t.Fatal(err)
		}
		// iam:GetUser is the first call: repair checks the user is the operator's before it changes it.
		_, err = e.client(t).RepairGrant(ctx, cred.ID, req)
		if !errors.Is(err, provider.ErrPermissionDenied) || !strings.Contains(err.Error(), "iam:GetUser") {
			t.Fatalf("RepairGrant = %v, want ErrPermissionDenied naming iam:GetUser", err)
		}
	})
	t.Run("a permission missing for bucket access repair is PermissionDenied and names it", func(t *testing.T) {
		e := newEnv(t, fakeaws.Config{})
		bucket := createdBucket(t, e.client(t))
		// What the README listed before bucket access repair existed, as far as the S3 front checks.
		var err error
		e.ak, e.sk, err = e.fake.AddPrincipal("tfstate-operator-old", "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.client(t).RepairBucketAccess(ctx, bucket)
		if !errors.Is(err, provider.ErrPermissionDenied) || !strings.Contains(err.Error(), "s3:GetBucketPolicy") {
			t.Fatalf("RepairBucketAccess = %v, want ErrPermissionDenied naming s3:GetBucketPolicy", err)
		}
	})
	t.Run("IAM's two-keys-per-user quota is QuotaExceeded", func(t *testing.T) {
		e := newEnv(t, fakeaws.Config{})
		c := e.client(t)
		b := createdBucket(t, c)
		req := provider.CredentialRequest{Name: "tfso-quota-1", Bucket: b, Access: provider.ReadOnly}
		for range 2 {
			if _, err := c.IssueCredential(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.IssueCredential(ctx, req); !errors.Is(err, provider.ErrQuotaExceeded) {
			t.Fatalf("a third key for one user: %v, want ErrQuotaExceeded", err)
		}
	})
	t.Run("throttling that outlasts the SDK's retries is RateLimited", func(t *testing.T) {
		e := newEnv(t, fakeaws.Config{})
		e.fake.InjectThrottle(10)
		_, err := e.client(t).ListCredentials(ctx, "tfso-")
		var rl *provider.RateLimitedError
		if !errors.As(err, &rl) {
			t.Fatalf("ListCredentials while throttled = %v, want RateLimitedError", err)
		}
	})
}

func TestSettings(t *testing.T) {
	cases := []struct {
		reason string
		cfg    awss3.Config
		want   provider.BackendSettings
	}{
		{"AWS itself: no endpoint, no skip flags, encrypt, versioning, prefix scoping",
			awss3.Config{Region: "eu-west-1"},
			provider.BackendSettings{Region: "eu-west-1", Encrypt: true, Versioning: true, PrefixScoping: true}},
		{"SSE-KMS names the key for runners",
			awss3.Config{Region: "eu-west-1", KMSKeyID: "arn:aws:kms:eu-west-1:111122223333:key/k"},
			provider.BackendSettings{Region: "eu-west-1", Encrypt: true, KMSKeyID: "arn:aws:kms:eu-west-1:111122223333:key/k", Versioning: true, PrefixScoping: true}},
		{"endpoint overrides reach runners, with path style; still AWS (no S3-compatible flags)",
			awss3.Config{Region: "us-gov-west-1", S3Endpoint: "https://s3.example.test/", STSEndpoint: "https://sts.example.test", IAMEndpoint: "https://iam.example.test"},
			provider.BackendSettings{Region: "us-gov-west-1", EndpointURL: "https://s3.example.test", STSEndpointURL: "https://sts.example.test", UsePathStyle: true, Encrypt: true, Versioning: true, PrefixScoping: true}},
	}
	for _, tc := range cases {
		tc.cfg.AccessKeyID, tc.cfg.SecretAccessKey = "AKIAEXAMPLE", "secret"
		c, err := awss3.New(context.Background(), tc.cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.reason, err)
		}
		if got := c.Settings(); got != tc.want {
			t.Errorf("%s: settings %+v, want %+v", tc.reason, got, tc.want)
		}
	}
}

func TestBadConfigIsInvalidConfig(t *testing.T) {
	good := awss3.Config{Region: "eu-west-1", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret"}
	cases := []struct {
		reason string
		mutate func(*awss3.Config)
	}{
		{"no region", func(c *awss3.Config) { c.Region = "" }},
		{"half a static key", func(c *awss3.Config) { c.SecretAccessKey = "" }},
		{"an S3 endpoint with a bucket path", func(c *awss3.Config) { c.S3Endpoint = "https://s3.example.test/tfstate" }},
		{"an IAM endpoint without scheme", func(c *awss3.Config) { c.IAMEndpoint = "iam.amazonaws.com" }},
		{"an IAM path without its slashes", func(c *awss3.Config) { c.IAMPath = "tfstate" }},
	}
	for _, tc := range cases {
		cfg := good
		tc.mutate(&cfg)
		if _, err := awss3.New(context.Background(), cfg); !errors.Is(err, provider.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", tc.reason, err)
		}
	}
}

// TestDefaultCredentialChain: without static keys the SDK's default chain is used (here its
// environment step; IRSA and Pod Identity are further steps of the same chain).
func TestDefaultCredentialChain(t *testing.T) {
	e := newEnv(t, fakeaws.Config{})
	t.Setenv("AWS_ACCESS_KEY_ID", e.ak)
	t.Setenv("AWS_SECRET_ACCESS_KEY", e.sk)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CA_BUNDLE", "") // the machine's, if any, is not this test's business
	t.Setenv("AWS_PROFILE", "")
	cfg := e.config()
	cfg.AccessKeyID, cfg.SecretAccessKey = "", ""
	c, err := awss3.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background()); err != nil {
		t.Fatalf("Check with the environment's keys: %v", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-wrong-secret-wrong-secret00")
	if c, err = awss3.New(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(context.Background()); !errors.Is(err, provider.ErrInvalidConfig) {
		t.Fatalf("Check with a wrong secret in the environment: %v, want ErrInvalidConfig", err)
	}
}

// TestBucketAccessRepair: a bucket opened to the public through S3 itself (public-access block
// deleted, a public-read bucket policy put with the admin keys) is closed again. The fake's front
// serves no anonymous request, so exposure is read from what the front recorded.
func TestBucketAccessRepair(t *testing.T) {
	providertest.RunBucketAccessRepair(t, func(t *testing.T) providertest.AccessHarness {
		e := newEnv(t, fakeaws.Config{})
		return providertest.AccessHarness{Harness: e.harness(t), Expose: e.expose, Exposed: e.exposed}
	})
}

// expose opens bucket as someone in the console would: the public-access block goes first (with
// BlockPublicPolicy on, S3 refuses a public policy), then a public-read policy.
func (e *env) expose(t *testing.T, bucket string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.s3().DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	e.putBucketPolicy(t, bucket, publicRead(bucket))
}

func (e *env) putBucketPolicy(t *testing.T, bucket, doc string) {
	t.Helper()
	if _, err := e.s3().PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
}

// exposed: the block is not whole, or a bucket policy is there (the operator never writes one, and
// the only one these tests' exposures write is public).
func (e *env) exposed(t *testing.T, bucket string) bool {
	got := e.fake.Bucket(bucket)
	return !allFour(got.PublicAccessBlock) || got.Policy != ""
}

func allFour(p *fakeaws.PublicAccessBlock) bool {
	return p != nil && p.BlockPublicAcls && p.IgnorePublicAcls && p.BlockPublicPolicy && p.RestrictPublicBuckets
}

func publicRead(bucket string) string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + bucket + `/*"}]}`
}

// teamPolicy is a team's own hardening: a Deny of insecure transport to everyone and a grant to a
// named account (their CI), neither public.
func teamPolicy(bucket string) string {
	arn := "arn:aws:s3:::" + bucket
	return `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"TLSOnly","Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":["` + arn + `","` + arn + `/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}},` +
		`{"Sid":"CI","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ci"},"Action":"s3:GetObject","Resource":"` + arn + `/*"}]}`
}

// s3Calls are the S3 operations the front recorded for bucket from the n-th request on.
func (e *env) s3Calls(bucket string, from int) []string {
	var out []string
	for _, r := range e.fake.Requests()[from:] {
		if r.Service == "s3" && r.Params.Get("Bucket") == bucket {
			out = append(out, r.Action)
		}
	}
	return out
}

// TestBucketAccessRepairDetails: what the repair leaves alone, what it counts as public, and the
// order of its calls.
func TestBucketAccessRepairDetails(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, fakeaws.Config{})
	c := e.client(t)
	repair := func(t *testing.T, bucket string, want bool) {
		t.Helper()
		if got, err := c.RepairBucketAccess(ctx, bucket); err != nil || got != want {
			t.Fatalf("RepairBucketAccess = %v, %v; want %v", got, err, want)
		}
	}

	t.Run("a team's own policy is left alone, a weakened block is put back whole", func(t *testing.T) {
		bucket := createdBucket(t, c)
		team := teamPolicy(bucket)
		e.putBucketPolicy(t, bucket, team)
		repair(t, bucket, false)
		if got := e.fake.Bucket(bucket).Policy; got != team {
			t.Fatalf("policy after repair %q, want the team's untouched", got)
		}
		weak := &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(false)}
		if _, err := e.s3().PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(bucket), PublicAccessBlockConfiguration: weak}); err != nil {
			t.Fatal(err)
		}
		repair(t, bucket, true)
		got := e.fake.Bucket(bucket)
		if !allFour(got.PublicAccessBlock) || got.Policy != team {
			t.Fatalf("after repair: block %+v, policy %q; want all four on and the team's policy", got.PublicAccessBlock, got.Policy)
		}
		repair(t, bucket, false)
	})

	t.Run("the block goes back before the public policy is deleted", func(t *testing.T) {
		bucket := createdBucket(t, c)
		e.expose(t, bucket)
		from := len(e.fake.Requests())
		repair(t, bucket, true)
		want := "GetPublicAccessBlock GetBucketPolicy PutPublicAccessBlock DeleteBucketPolicy"
		if got := strings.Join(e.s3Calls(bucket, from), " "); got != want {
			t.Fatalf("calls %s, want %s", got, want)
		}
	})

	t.Run("a grant to anyone under a condition is deleted too", func(t *testing.T) {
		// AWS takes it under BlockPublicPolicy (a fixed aws:SourceIp CIDR is not "public" to
		// S3), but it still lets anyone in that range read without credentials.
		bucket := createdBucket(t, c)
		e.putBucketPolicy(t, bucket, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",`+
			`"Resource":"arn:aws:s3:::`+bucket+`/*","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}]}`)
		repair(t, bucket, true)
		if got := e.fake.Bucket(bucket); got.Policy != "" || !allFour(got.PublicAccessBlock) {
			t.Fatalf("after repair: block %+v, policy %q; want all four on and no policy", got.PublicAccessBlock, got.Policy)
		}
		repair(t, bucket, false)
	})
}
