package fakeaws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tfstate-operator/tfstate-operator/internal/testutil/miniotest"
)

var srv *miniotest.Server

func TestMain(m *testing.M) { os.Exit(miniotest.RunTests(m, &srv)) }

// fake is a running fake with an admin principal.
type fake struct {
	*Server
	adminKey, adminSecret string
}

func newFake(t *testing.T, cfg Config) *fake {
	t.Helper()
	cfg.MinIO = srv
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ak, sk, err := s.AddPrincipal("operator")
	if err != nil {
		t.Fatal(err)
	}
	return &fake{s, ak, sk}
}

func (f *fake) iam(ak, sk string) *iam.Client {
	return iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.IAMEndpoint()), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")})
}

func (f *fake) admin() *iam.Client { return f.iam(f.adminKey, f.adminSecret) }

func (f *fake) sts(ak, sk string) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.STSEndpoint()), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")})
}

func (f *fake) s3(ak, sk string) *s3.Client {
	return s3Client(f.S3Endpoint(), ak, sk)
}

func s3Client(endpoint, ak, sk string) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true, RetryMaxAttempts: 1,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired})
}

var counter atomic.Int64

// uniq returns a name no other test uses (all tests share one MinIO).
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, counter.Add(1))
}

// wantAPIError asserts err is an AWS API error with code and HTTP status.
func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("error %v (%T), want code %s", err, err, code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("error %v: want HTTP %d", err, status)
	}
}

// createUser makes a user with one inline policy (if doc != "") and one access key.
func (f *fake) createUser(t *testing.T, name, doc string) (ak, sk string) {
	t.Helper()
	ctx := context.Background()
	c := f.admin()
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if doc != "" {
		if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("state"), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return *out.AccessKey.AccessKeyId, *out.AccessKey.SecretAccessKey
}

// rawIAM sends a Query API request signed with (ak, sk) for service/region, or unsigned when ak
// is "". tamper changes the body after signing.
func rawIAM(t *testing.T, endpoint, ak, sk, service, region string, form url.Values, tamper bool) (int, string) {
	t.Helper()
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, endpoint+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if ak != "" {
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req,
			sha256Hex([]byte(body)), service, region, time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	if tamper {
		tampered := strings.Replace(body, "ListUsers", "ListUser_", 1)
		req.Body = io.NopCloser(strings.NewReader(tampered))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var (
	accessKeyRE = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	userIDRE    = regexp.MustCompile(`^AIDA[A-Z2-7]{17}$`)
	secretRE    = regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
)

func TestUserLifecycle(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newFake(t, Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	c := f.admin()
	boundary := "arn:aws:iam::123456789012:policy/tfstate-boundary"

	created, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("tfstate-team-a"), Path: aws.String("/tfstate/"),
		PermissionsBoundary: aws.String(boundary), Tags: []iamtypes.Tag{{Key: aws.String("owner"), Value: aws.String("team-a")}}})
	if err != nil {
		t.Fatal(err)
	}
	u := created.User
	if *u.UserName != "tfstate-team-a" || *u.Path != "/tfstate/" || *u.Arn != "arn:aws:iam::123456789012:user/tfstate/tfstate-team-a" ||
		!userIDRE.MatchString(*u.UserId) || !u.CreateDate.Equal(now) ||
		u.PermissionsBoundary == nil || *u.PermissionsBoundary.PermissionsBoundaryArn != boundary ||
		u.PermissionsBoundary.PermissionsBoundaryType != iamtypes.PermissionsBoundaryAttachmentTypePolicy ||
		len(u.Tags) != 1 || *u.Tags[0].Key != "owner" || *u.Tags[0].Value != "team-a" {
		t.Fatalf("CreateUser answered %+v", u)
	}

	t.Run("GetUser finds the user ignoring case; without a name it is the caller", func(t *testing.T) {
		got, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("TFSTATE-team-a")})
		if err != nil || *got.User.UserId != *u.UserId || *got.User.UserName != "tfstate-team-a" || got.User.PermissionsBoundary == nil {
			t.Fatalf("GetUser: %+v, %v", got, err)
		}
		self, err := c.GetUser(ctx, &iam.GetUserInput{})
		if err != nil || *self.User.UserName != "operator" || *self.User.Arn != "arn:aws:iam::123456789012:user/operator" {
			t.Fatalf("GetUser(self): %+v, %v", self, err)
		}
	})

	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}]}`
	t.Run("inline policies round-trip; GetUserPolicy answers the document URL-encoded", func(t *testing.T) {
		if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: u.UserName, PolicyName: aws.String("state"), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: u.UserName, PolicyName: aws.String("state")})
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := url.QueryUnescape(*got.PolicyDocument)
		if decoded != doc || err != nil || strings.ContainsAny(*got.PolicyDocument, `{":,`) || *got.UserName != "tfstate-team-a" {
			t.Fatalf("GetUserPolicy: %q (decoded %q, %v)", *got.PolicyDocument, decoded, err)
		}
		list, err := c.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: u.UserName})
		if err != nil || len(list.PolicyNames) != 1 || list.PolicyNames[0] != "state" || list.IsTruncated {
			t.Fatalf("ListUserPolicies: %+v, %v", list, err)
		}
	})

	var key *iamtypes.AccessKey
	t.Run("CreateAccessKey answers an AWS-shaped key; ListAccessKeys lists it without the secret", func(t *testing.T) {
		out, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: u.UserName})
		if err != nil {
			t.Fatal(err)
		}
		key = out.AccessKey
		if !accessKeyRE.MatchString(*key.AccessKeyId) || !secretRE.MatchString(*key.SecretAccessKey) ||
			key.Status != iamtypes.StatusTypeActive || *key.UserName != "tfstate-team-a" || !key.CreateDate.Equal(now) {
			t.Fatalf("CreateAccessKey: %+v", key)
		}
		if f.SecretOf(*key.AccessKeyId) != *key.SecretAccessKey {
			t.Fatal("SecretOf does not return the secret")
		}
		list, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName})
		if err != nil || len(list.AccessKeyMetadata) != 1 || *list.AccessKeyMetadata[0].AccessKeyId != *key.AccessKeyId ||
			list.AccessKeyMetadata[0].Status != iamtypes.StatusTypeActive || *list.AccessKeyMetadata[0].UserName != "tfstate-team-a" {
			t.Fatalf("ListAccessKeys: %+v, %v", list, err)
		}
	})

	t.Run("GetAccessKeyLastUsed: N/A until used, then the service and region", func(t *testing.T) {
		got, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: key.AccessKeyId})
		if err != nil || *got.UserName != "tfstate-team-a" || *got.AccessKeyLastUsed.ServiceName != "N/A" ||
			*got.AccessKeyLastUsed.Region != "N/A" || got.AccessKeyLastUsed.LastUsedDate != nil {
			t.Fatalf("before use: %+v, %v", got, err)
		}
		if _, err := f.sts(*key.AccessKeyId, *key.SecretAccessKey).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatal(err)
		}
		got, err = c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: key.AccessKeyId})
		if err != nil || *got.AccessKeyLastUsed.ServiceName != "sts" || *got.AccessKeyLastUsed.Region != "us-east-1" ||
			got.AccessKeyLastUsed.LastUsedDate == nil || !got.AccessKeyLastUsed.LastUsedDate.Equal(now) {
			t.Fatalf("after use: %+v, %v", got.AccessKeyLastUsed, err)
		}
	})

	t.Run("Users snapshot", func(t *testing.T) {
		users := f.Users()
		if len(users) != 1 || users[0].Name != "tfstate-team-a" || users[0].PermissionsBoundary != boundary ||
			users[0].Policies["state"] != doc || len(users[0].AccessKeys) != 1 || users[0].AccessKeys[0].ID != *key.AccessKeyId ||
			!users[0].AccessKeys[0].Propagated || users[0].Tags[0] != (Tag{"owner", "team-a"}) {
			t.Fatalf("Users() = %+v", users)
		}
	})

	t.Run("teardown in AWS's order: keys, policies, user", func(t *testing.T) {
		_, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: u.UserName})
		var dc *iamtypes.DeleteConflictException
		if !errors.As(err, &dc) || !strings.Contains(*dc.Message, "access keys") {
			t.Fatalf("DeleteUser with a key: %v", err)
		}
		if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: u.UserName, AccessKeyId: key.AccessKeyId}); err != nil {
			t.Fatal(err)
		}
		if f.SecretOf(*key.AccessKeyId) != "" {
			t.Fatal("SecretOf still knows a deleted key")
		}
		_, err = c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: u.UserName})
		if !errors.As(err, &dc) || !strings.Contains(*dc.Message, "policies") {
			t.Fatalf("DeleteUser with a policy: %v", err)
		}
		if _, err := c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: u.UserName, PolicyName: aws.String("state")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: u.UserName}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: u.UserName})
		var nse *iamtypes.NoSuchEntityException
		if !errors.As(err, &nse) {
			t.Fatalf("GetUser after delete: %v", err)
		}
		if len(f.Users()) != 0 {
			t.Fatalf("Users() = %+v", f.Users())
		}
	})

	t.Run("Requests records every call with its caller and status", func(t *testing.T) {
		var sawCreate, sawConflict bool
		for _, r := range f.Requests() {
			if r.Service == "iam" && r.Action == "CreateUser" && r.Caller == "operator" && r.Status == 200 && r.Params.Get("Path") == "/tfstate/" {
				sawCreate = true
			}
			if r.Action == "DeleteUser" && r.Status == 409 && r.Code == CodeDeleteConflict {
				sawConflict = true
			}
		}
		if !sawCreate || !sawConflict {
			t.Fatalf("requests %+v", f.Requests())
		}
	})
}

// TestManagedPolicies: customer managed policies are made, attached to users, listed in pages and
// detached with IAM's shapes, and hold a user back from deletion while attached.
func TestManagedPolicies(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newFake(t, Config{Now: func() time.Time { return now }, MaxItems: 2})
	ctx := context.Background()
	c := f.admin()
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`
	create := func(name, path string) *iamtypes.Policy {
		t.Helper()
		in := &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(doc)}
		if path != "" {
			in.Path = aws.String(path)
		}
		out, err := c.CreatePolicy(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.Policy
	}

	wide := create("widen", "/ops/")
	if *wide.PolicyName != "widen" || *wide.Path != "/ops/" || *wide.Arn != "arn:aws:iam::123456789012:policy/ops/widen" ||
		!regexp.MustCompile(`^ANPA[A-Z2-7]{17}$`).MatchString(*wide.PolicyId) || *wide.DefaultVersionId != "v1" ||
		!wide.IsAttachable || *wide.AttachmentCount != 0 || !wide.CreateDate.Equal(now) || !wide.UpdateDate.Equal(now) {
		t.Fatalf("CreatePolicy answered %+v", wide)
	}
	_, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("WIDEN"), PolicyDocument: aws.String(doc)})
	var exists *iamtypes.EntityAlreadyExistsException
	if !errors.As(err, &exists) || *exists.Message != "A policy called WIDEN already exists. Duplicate names are not allowed." {
		t.Fatalf("a second policy of the same name (another case, another path): %v", err)
	}
	a, b := create("a-extra", ""), create("b-extra", "")

	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("holder")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*iamtypes.Policy{wide, b, a, wide} { // wide twice: attaching again changes nothing
		if _, err := c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("holder"), PolicyArn: p.Arn}); err != nil {
			t.Fatalf("attach %s: %v", *p.Arn, err)
		}
	}
	wantARNs := []string{*a.Arn, *b.Arn, *wide.Arn} // ARN order
	if got := f.Users()[0].AttachedPolicies; strings.Join(got, ",") != strings.Join(wantARNs, ",") {
		t.Fatalf("Users() attached %v, want %v", got, wantARNs)
	}

	t.Run("ListAttachedUserPolicies pages by Marker and filters by the policies' path", func(t *testing.T) {
		first, err := c.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("holder")})
		if err != nil || len(first.AttachedPolicies) != 2 || !first.IsTruncated || first.Marker == nil ||
			*first.AttachedPolicies[0].PolicyArn != *a.Arn || *first.AttachedPolicies[0].PolicyName != "a-extra" {
			t.Fatalf("first page: %+v, %v", first, err)
		}
		var all []string
		p := iam.NewListAttachedUserPoliciesPaginator(c, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("holder"), MaxItems: aws.Int32(1)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, ap := range page.AttachedPolicies {
				all = append(all, *ap.PolicyArn)
			}
		}
		if strings.Join(all, ",") != strings.Join(wantARNs, ",") {
			t.Fatalf("paginator: %v, want %v", all, wantARNs)
		}
		ops, err := c.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("holder"), PathPrefix: aws.String("/ops/")})
		if err != nil || len(ops.AttachedPolicies) != 1 || *ops.AttachedPolicies[0].PolicyArn != *wide.Arn || ops.IsTruncated {
			t.Fatalf("PathPrefix /ops/: %+v, %v", ops, err)
		}
		_, err = c.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("holder"), PathPrefix: aws.String("/ops")})
		wantAPIError(t, err, CodeValidationError, 400)
	})

	t.Run("an attached policy holds the user back from deletion", func(t *testing.T) {
		_, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("holder")})
		var dc *iamtypes.DeleteConflictException
		if !errors.As(err, &dc) || *dc.Message != "Cannot delete entity, must detach all policies first." {
			t.Fatalf("DeleteUser with attached policies: %v", err)
		}
		for _, arn := range wantARNs {
			if _, err := c.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("holder"), PolicyArn: aws.String(arn)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("holder")}); err != nil {
			t.Fatalf("DeleteUser once detached: %v", err)
		}
	})

	t.Run("at most 10 managed policies per user", func(t *testing.T) {
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("collector")}); err != nil {
			t.Fatal(err)
		}
		for i := range 11 {
			p := create(fmt.Sprintf("quota-%02d", i), "")
			_, err := c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("collector"), PolicyArn: p.Arn})
			if i < 10 && err != nil {
				t.Fatalf("attach number %d: %v", i+1, err)
			}
			if i == 10 {
				var le *iamtypes.LimitExceededException
				if !errors.As(err, &le) || *le.Message != "Cannot exceed quota for PoliciesPerUser: 10" {
					t.Fatalf("the 11th attach: %v", err)
				}
				wantAPIError(t, err, CodeLimitExceeded, 409)
			}
		}
	})
}

func TestErrors(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	c := f.admin()
	f.createUser(t, "full", "")
	if _, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("full")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	// 1,900 characters without whitespace: a second policy of the same size passes the limit.
	bigDoc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":[` +
		strings.TrimSuffix(strings.Repeat(`"arn:aws:s3:::`+strings.Repeat("x", 40)+`/*",`, 33), ",") + `]}]}`
	if n := policySize(bigDoc); n < 1100 || n > 2048 {
		t.Fatalf("bigDoc has %d characters", n)
	}
	if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("big"), PolicyName: aws.String("one"), PolicyDocument: aws.String(bigDoc)}); err != nil {
		t.Fatal(err)
	}
	typed := func(target any) func(error) bool { return func(err error) bool { return errors.As(err, target) } }

	for _, tc := range []struct {
		name, reason string
		call         func() error
		code         string
		status       int
		typed        func(error) bool
		message      string
	}{
		{"existing user", "user names are unique ignoring case",
			func() error {
				_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("FULL")})
				return err
			}, CodeEntityAlreadyExists, 409, typed(new(*iamtypes.EntityAlreadyExistsException)), "User with name full already exists."},
		{"unknown user", "GetUser of a name nobody made",
			func() error {
				_, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
				return err
			}, CodeNoSuchEntity, 404, typed(new(*iamtypes.NoSuchEntityException)), "The user with name nobody cannot be found."},
		{"third access key", "AWS allows two keys per user",
			func() error {
				_, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("full")})
				return err
			}, CodeLimitExceeded, 409, typed(new(*iamtypes.LimitExceededException)), "Cannot exceed quota for AccessKeysPerUser: 2"},
		{"delete a user with keys", "keys must go first",
			func() error {
				_, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("full")})
				return err
			}, CodeDeleteConflict, 409, typed(new(*iamtypes.DeleteConflictException)), "Cannot delete entity, must delete access keys first."},
		{"policy that is not JSON", "IAM parses the document",
			func() error {
				_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("full"), PolicyName: aws.String("p"), PolicyDocument: aws.String("{not json")})
				return err
			}, CodeMalformedPolicyDocument, 400, typed(new(*iamtypes.MalformedPolicyDocumentException)), "Syntax errors in policy."},
		{"inline policies over 2,048 characters", "the limit is on the user's policies together",
			func() error {
				_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("big"), PolicyName: aws.String("two"), PolicyDocument: aws.String(bigDoc)})
				return err
			}, CodeLimitExceeded, 409, typed(new(*iamtypes.LimitExceededException)), "Maximum policy size of 2048 bytes exceeded for user big"},
		{"policy on an unknown user", "PutUserPolicy needs the user",
			func() error {
				_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("nobody"), PolicyName: aws.String("p"), PolicyDocument: aws.String(bigDoc)})
				return err
			}, CodeNoSuchEntity, 404, typed(new(*iamtypes.NoSuchEntityException)), ""},
		{"unknown policy", "GetUserPolicy of a name never put",
			func() error {
				_, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("big"), PolicyName: aws.String("nope")})
				return err
			}, CodeNoSuchEntity, 404, typed(new(*iamtypes.NoSuchEntityException)), "The user policy with name nope cannot be found."},
		{"delete an unknown policy", "DeleteUserPolicy of a name never put",
			func() error {
				_, err := c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("big"), PolicyName: aws.String("nope")})
				return err
			}, CodeNoSuchEntity, 404, typed(new(*iamtypes.NoSuchEntityException)), ""},
		{"delete an unknown key", "the key must belong to the user",
			func() error {
				_, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("big"), AccessKeyId: aws.String("AKIAAAAAAAAAAAAAAAAA")})
				return err
			}, CodeNoSuchEntity, 404, typed(new(*iamtypes.NoSuchEntityException)), "The Access Key with id AKIAAAAAAAAAAAAAAAAA cannot be found."},
		{"list keys of an unknown user", "ListAccessKeys needs the user",
			func() error {
				_, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("nobody")})
				return err
			}, CodeNoSuchEntity, 404, typed(new(*iamtypes.NoSuchEntityException)), ""},
		{"last use of an unknown key", "AWS answers AccessDenied naming the key [inference]",
			func() error {
				_, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIAAAAAAAAAAAAAAAAA")})
				return err
			}, CodeAccessDenied, 403, nil, "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key AKIAAAAAAAAAAAAAAAAA"},
		{"user name with a space", `UserName is [\w+=,.@-]+`,
			func() error {
				_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("a b")})
				return err
			}, CodeValidationError, 400, nil, `1 validation error detected: Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"user name of 65 characters", "UserName is at most 64",
			func() error {
				_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(strings.Repeat("a", 65))})
				return err
			}, CodeValidationError, 400, nil, ""},
		{"path without the trailing slash", "a path begins and ends with /",
			func() error {
				_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("p"), Path: aws.String("/tfstate")})
				return err
			}, CodeValidationError, 400, nil, ""},
		{"policy name with a slash", `PolicyName is [\w+=,.@-]+`,
			func() error {
				_, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("big"), PolicyName: aws.String("a/b"), PolicyDocument: aws.String(bigDoc)})
				return err
			}, CodeValidationError, 400, nil, ""},
		{"duplicate tag keys", "tag keys are unique ignoring case",
			func() error {
				_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("tags"), Tags: []iamtypes.Tag{
					{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("A"), Value: aws.String("2")}}})
				return err
			}, CodeInvalidInput, 400, typed(new(*iamtypes.InvalidInputException)), ""},
		{"attach an unknown managed policy", "AWS managed policies and ARNs nobody made are unknown here",
			func() error {
				_, err := c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("big"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AmazonS3FullAccess")})
				return err
			}, CodeNoSuchEntity, 404, typed(new(*iamtypes.NoSuchEntityException)), "Policy arn:aws:iam::aws:policy/AmazonS3FullAccess does not exist or is not attachable."},
		{"detach a policy that is not attached", "DetachUserPolicy needs the attachment [inference: the message]",
			func() error {
				_, err := c.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("big"), PolicyArn: aws.String("arn:aws:iam::123456789012:policy/nope")})
				return err
			}, CodeNoSuchEntity, 404, typed(new(*iamtypes.NoSuchEntityException)), "Policy arn:aws:iam::123456789012:policy/nope was not found."},
		{"list attached policies of an unknown user", "ListAttachedUserPolicies needs the user",
			func() error {
				_, err := c.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("nobody")})
				return err
			}, CodeNoSuchEntity, 404, typed(new(*iamtypes.NoSuchEntityException)), "The user with name nobody cannot be found."},
		{"a managed policy over 6,144 characters", "AWS's managed policy size quota",
			func() error {
				huge := `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":[` +
					strings.TrimSuffix(strings.Repeat(`"arn:aws:s3:::`+strings.Repeat("x", 40)+`/*",`, 110), ",") + `]}]}`
				_, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("huge"), PolicyDocument: aws.String(huge)})
				return err
			}, CodeLimitExceeded, 409, typed(new(*iamtypes.LimitExceededException)), "Cannot exceed quota for PolicySize: 6144"},
		{"a managed policy path without the trailing slash", "a path begins and ends with /",
			func() error {
				_, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("p"), Path: aws.String("/x"), PolicyDocument: aws.String(bigDoc)})
				return err
			}, CodeValidationError, 400, nil, ""},
		{"MaxItems over 1000", "AWS takes 1..1000",
			func() error {
				_, err := c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(1001)})
				return err
			}, CodeValidationError, 400, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantAPIError(t, err, tc.code, tc.status)
			if tc.typed != nil && !tc.typed(err) {
				t.Fatalf("%v (%T) is not the typed error (%s)", err, err, tc.reason)
			}
			var ae smithy.APIError
			errors.As(err, &ae)
			if tc.message != "" && ae.ErrorMessage() != tc.message {
				t.Fatalf("message %q, want %q", ae.ErrorMessage(), tc.message)
			}
		})
	}

	t.Run("Throttling is a retryable API error the SDK retries", func(t *testing.T) {
		f.InjectThrottle(1)
		_, err := c.ListUsers(ctx, &iam.ListUsersInput{})
		wantAPIError(t, err, CodeThrottling, 400)
		var ae smithy.APIError
		if errors.As(err, &ae); ae.ErrorMessage() != "Rate exceeded" {
			t.Fatalf("message %q", ae.ErrorMessage())
		}
		f.InjectThrottle(1)
		retrying := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.IAMEndpoint()), RetryMaxAttempts: 3,
			Credentials: credentials.NewStaticCredentialsProvider(f.adminKey, f.adminSecret, "")})
		if _, err := retrying.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
			t.Fatalf("the SDK's retry should pass the throttle: %v", err)
		}
	})
}

func TestMalformedPolicies(t *testing.T) {
	for _, tc := range []struct {
		doc, want, reason string
	}{
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`, "", "a valid policy"},
		{`{"Statement":{"Effect":"Deny","NotAction":"s3:*","NotResource":"*"}}`, "", "one statement object, NotAction/NotResource, no Version"},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}`, "Policy statement must contain resources.", "no Resource"},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}`, "Policy statement must contain actions.", "no Action"},
		{`{"Version":"2012-10-17","Statement":[{"Action":"s3:*","Resource":"*"}]}`, "Missing required field Effect", "no Effect"},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`, "Policy document should not specify a principal.", "identity policies have no Principal"},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"GetObject","Resource":"*"}]}`, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.", "action without a service"},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}]}`, `Resource bucket must be in ARN format or "*".`, "resource that is not an ARN"},
		{`{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, "The policy must contain a valid version string", "unknown Version"},
		{`{"Version":"2012-10-17"}`, "Syntax errors in policy.", "no Statement"},
		{`{"Version":"2012-10-17","Statement":[]} trailing`, "Syntax errors in policy.", "text after the document"},
	} {
		if got := validatePolicy(tc.doc); got != tc.want {
			t.Errorf("%s: validatePolicy(%s) = %q, want %q", tc.reason, tc.doc, got, tc.want)
		}
	}
}

func TestMinIOPolicyTranslation(t *testing.T) {
	for _, tc := range []struct {
		reason   string
		policies map[string]string
		managed  []string
		want     string
	}{
		{"no policy: deny-all", nil, nil, string(denyAll)},
		{"S3 statements are kept as they are, policies in name order",
			map[string]string{
				"b": `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}}`,
				"a": `{"Version":"2008-10-17","Statement":[{"Sid":"L","Effect":"Allow","Action":["s3:ListBucket"],"Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":["p/*"]}}}]}`,
			}, nil,
			`{"Statement":[{"Action":["s3:ListBucket"],"Condition":{"StringLike":{"s3:prefix":["p/*"]}},"Effect":"Allow","Resource":["arn:aws:s3:::b"],"Sid":"L"},` +
				`{"Action":["s3:PutObject"],"Effect":"Allow","Resource":["arn:aws:s3:::b/*"]}],"Version":"2012-10-17"}`},
		{"KMS statements go; mixed ones keep their S3 part; * becomes s3:*; S3 prefix case is fixed",
			map[string]string{"p": `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"arn:aws:kms:us-east-1:123456789012:key/k"},
				{"Effect":"Allow","Action":["S3:GetObject","kms:Decrypt"],"Resource":["arn:aws:s3:::b/*","arn:aws:kms:us-east-1:123456789012:key/k"]},
				{"Effect":"Deny","Action":"*","Resource":"*"}]}`}, nil,
			`{"Statement":[{"Action":["s3:GetObject"],"Effect":"Allow","Resource":["arn:aws:s3:::b/*"]},{"Action":["s3:*"],"Effect":"Deny","Resource":["*"]}],"Version":"2012-10-17"}`},
		{"NotAction/NotResource of other services exclude nothing on S3",
			map[string]string{"p": `{"Statement":[{"Effect":"Deny","NotAction":"iam:*","NotResource":"arn:aws:kms:*:*:key/*"}]}`}, nil,
			`{"Statement":[{"Action":["s3:*"],"Effect":"Deny","Resource":["*"]}],"Version":"2012-10-17"}`},
		{"only KMS: deny-all",
			map[string]string{"p": `{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`}, nil,
			string(denyAll)},
		{"attached managed policies add their statements after the inline ones",
			map[string]string{"z": `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`},
			[]string{`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::c/*"]}}`},
			`{"Statement":[{"Action":["s3:GetObject"],"Effect":"Allow","Resource":["arn:aws:s3:::b/*"]},` +
				`{"Action":["s3:*"],"Effect":"Allow","Resource":["arn:aws:s3:::b","arn:aws:s3:::c/*"]}],"Version":"2012-10-17"}`},
		{"a managed policy alone",
			nil, []string{`{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}}`},
			`{"Statement":[{"Action":["s3:ListBucket"],"Effect":"Allow","Resource":["arn:aws:s3:::b"]}],"Version":"2012-10-17"}`},
	} {
		if got := string(minioPolicy(tc.policies, tc.managed...)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.reason, got, tc.want)
		}
	}
}

func TestListPagination(t *testing.T) {
	f := newFake(t, Config{MaxItems: 2})
	ctx := context.Background()
	c := f.admin()
	for _, u := range []struct{ name, path string }{
		{"u1", "/a/"}, {"u2", "/a/b/"}, {"u3", "/ab/"}, {"u4", "/c/"}, {"U5", "/a/"},
	} {
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u.name), Path: aws.String(u.path)}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(users []iamtypes.User) (out []string) {
		for _, u := range users {
			out = append(out, *u.UserName)
		}
		return out
	}
	for _, tc := range []struct {
		reason   string
		prefix   string
		maxItems int32
		pages    []string // names per page, comma-separated
	}{
		{"Config.MaxItems cuts the default page of 100", "", 0, []string{"u1,u2", "u3,u4", "U5"}},
		{"MaxItems 1, pages follow the marker; names sort ignoring case", "", 1, []string{"u1", "u2", "u3", "u4", "U5"}},
		{"PathPrefix is a plain string prefix: /a/ takes /a/b/ and not /ab/", "/a/", 0, []string{"u1,u2", "U5"}},
		{"PathPrefix /a takes /ab/ too", "/a", 5, []string{"u1,u2", "u3,U5"}},
		{"no match is an empty page", "/zzz/", 0, []string{""}},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			in := &iam.ListUsersInput{}
			if tc.prefix != "" {
				in.PathPrefix = aws.String(tc.prefix)
			}
			if tc.maxItems > 0 {
				in.MaxItems = aws.Int32(tc.maxItems)
			}
			var got []string
			for i := 0; i < 10; i++ {
				out, err := c.ListUsers(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, strings.Join(names(out.Users), ","))
				if out.IsTruncated != (out.Marker != nil) {
					t.Fatalf("IsTruncated %v with marker %v", out.IsTruncated, out.Marker)
				}
				if !out.IsTruncated {
					break
				}
				in.Marker = out.Marker
			}
			if strings.Join(got, "|") != strings.Join(tc.pages, "|") {
				t.Fatalf("pages %q, want %q", got, tc.pages)
			}
		})
	}
	t.Run("the SDK paginator walks every page", func(t *testing.T) {
		var all []string
		p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, names(out.Users)...)
		}
		if strings.Join(all, ",") != "u1,u2,u3,u4,U5" {
			t.Fatalf("paginator: %v", all)
		}
	})
	t.Run("ListUserPolicies and ListAccessKeys page too", func(t *testing.T) {
		doc := `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`
		for _, n := range []string{"p1", "p2", "p3"} {
			if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("u1"), PolicyName: aws.String(n), PolicyDocument: aws.String(doc)}); err != nil {
				t.Fatal(err)
			}
		}
		pol, err := c.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("u1")})
		if err != nil || strings.Join(pol.PolicyNames, ",") != "p1,p2" || !pol.IsTruncated {
			t.Fatalf("first policy page: %+v, %v", pol, err)
		}
		pol, err = c.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("u1"), Marker: pol.Marker})
		if err != nil || strings.Join(pol.PolicyNames, ",") != "p3" || pol.IsTruncated {
			t.Fatalf("second policy page: %+v, %v", pol, err)
		}
		for range 2 {
			if _, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("u2")}); err != nil {
				t.Fatal(err)
			}
		}
		keys, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("u2"), MaxItems: aws.Int32(1)})
		if err != nil || len(keys.AccessKeyMetadata) != 1 || !keys.IsTruncated {
			t.Fatalf("first key page: %+v, %v", keys, err)
		}
		rest, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("u2"), MaxItems: aws.Int32(1), Marker: keys.Marker})
		if err != nil || len(rest.AccessKeyMetadata) != 1 || rest.IsTruncated ||
			*rest.AccessKeyMetadata[0].AccessKeyId == *keys.AccessKeyMetadata[0].AccessKeyId {
			t.Fatalf("second key page: %+v, %v", rest, err)
		}
	})
}

func TestAuthentication(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	userKey, userSecret := f.createUser(t, "someone", "")
	list := url.Values{"Action": {"ListUsers"}, "Version": {"2010-05-08"}}

	for _, tc := range []struct {
		reason                  string
		ak, sk, service, region string
		form                    url.Values
		tamper                  bool
		endpoint                string
		status                  int
		code                    string
	}{
		{"a principal's signed request is answered", f.adminKey, f.adminSecret, "iam", "us-east-1", list, false, "", 200, ""},
		{"no Authorization header", "", "", "", "", list, false, "", 403, CodeMissingAuthToken},
		{"an access key nobody issued", "AKIAAAAAAAAAAAAAAAAA", "secret", "iam", "us-east-1", list, false, "", 403, CodeInvalidClientTokenID},
		{"the wrong secret", f.adminKey, "wrong" + f.adminSecret[5:], "iam", "us-east-1", list, false, "", 403, CodeSignatureDoesNotMatch},
		{"the body changed after signing", f.adminKey, f.adminSecret, "iam", "us-east-1", list, true, "", 403, CodeSignatureDoesNotMatch},
		{"signed for another service", f.adminKey, f.adminSecret, "sts", "us-east-1", list, false, "", 403, CodeSignatureDoesNotMatch},
		{"IAM signed for another region", f.adminKey, f.adminSecret, "iam", "eu-west-1", list, false, "", 403, CodeSignatureDoesNotMatch},
		{"a user's own key holds no IAM permission", userKey, userSecret, "iam", "us-east-1", list, false, "", 403, CodeAccessDenied},
		{"an action IAM does not have", f.adminKey, f.adminSecret, "iam", "us-east-1", url.Values{"Action": {"MakeCoffee"}, "Version": {"2010-05-08"}}, false, "", 400, CodeInvalidAction},
		{"STS refuses IAM actions", f.adminKey, f.adminSecret, "sts", "us-east-1", list, false, f.STSEndpoint(), 400, CodeInvalidAction},
		{"STS signed as iam", f.adminKey, f.adminSecret, "iam", "us-east-1",
			url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}, false, f.STSEndpoint(), 403, CodeSignatureDoesNotMatch},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			endpoint := tc.endpoint
			if endpoint == "" {
				endpoint = f.IAMEndpoint()
			}
			status, body := rawIAM(t, endpoint, tc.ak, tc.sk, tc.service, tc.region, tc.form, tc.tamper)
			if status != tc.status || (tc.code != "" && !strings.Contains(body, "<Code>"+tc.code+"</Code>")) {
				t.Fatalf("got %d %s, want %d %s", status, body, tc.status, tc.code)
			}
			if tc.code != "" && (!strings.Contains(body, `<ErrorResponse xmlns="https://`) || !strings.Contains(body, "<Type>Sender</Type>") ||
				!strings.Contains(body, "<RequestId>")) {
				t.Fatalf("error body %s", body)
			}
		})
	}

	t.Run("the SDK maps refusals to API errors", func(t *testing.T) {
		_, err := f.iam("AKIAAAAAAAAAAAAAAAAA", "secret").ListUsers(ctx, &iam.ListUsersInput{})
		wantAPIError(t, err, CodeInvalidClientTokenID, 403)
		_, err = f.iam(f.adminKey, "x"+f.adminSecret[1:]).ListUsers(ctx, &iam.ListUsersInput{})
		wantAPIError(t, err, CodeSignatureDoesNotMatch, 403)
		_, err = f.sts("AKIAAAAAAAAAAAAAAAAA", "secret").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		wantAPIError(t, err, CodeInvalidClientTokenID, 403)
	})
}

func TestRestrictedPrincipal(t *testing.T) {
	f := newFake(t, Config{})
	ctx := context.Background()
	ak, sk, err := f.AddPrincipal("limited", "iam:CreateUser", "iam:Get*")
	if err != nil {
		t.Fatal(err)
	}
	c := f.iam(ak, sk)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("made"), Path: aws.String("/t/")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("made")}); err != nil {
		t.Fatalf("iam:Get* should allow GetUser: %v", err)
	}
	for _, tc := range []struct {
		action string
		call   func() error
		msg    string
	}{
		{"DeleteUser", func() error {
			_, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("made")})
			return err
		},
			"User: arn:aws:iam::123456789012:user/limited is not authorized to perform: iam:DeleteUser on resource: arn:aws:iam::123456789012:user/t/made because no identity-based policy allows the iam:DeleteUser action"},
		{"ListUsers", func() error { _, err := c.ListUsers(ctx, &iam.ListUsersInput{}); return err },
			"User: arn:aws:iam::123456789012:user/limited is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::123456789012:user/ because no identity-based policy allows the iam:ListUsers action"},
		{"CreatePolicy names the policy it would make", func() error {
			_, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("wide"), Path: aws.String("/ops/"),
				PolicyDocument: aws.String(`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)})
			return err
		},
			"User: arn:aws:iam::123456789012:user/limited is not authorized to perform: iam:CreatePolicy on resource: arn:aws:iam::123456789012:policy/ops/wide because no identity-based policy allows the iam:CreatePolicy action"},
		{"DetachUserPolicy names the user", func() error {
			_, err := c.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("made"), PolicyArn: aws.String("arn:aws:iam::123456789012:policy/wide")})
			return err
		},
			"User: arn:aws:iam::123456789012:user/limited is not authorized to perform: iam:DetachUserPolicy on resource: arn:aws:iam::123456789012:user/t/made because no identity-based policy allows the iam:DetachUserPolicy action"},
	} {
		err := tc.call()
		wantAPIError(t, err, CodeAccessDenied, 403)
		var ae smithy.APIError
		if errors.As(err, &ae); ae.ErrorMessage() != tc.msg {
			t.Errorf("%s: message %q\nwant %q", tc.action, ae.ErrorMessage(), tc.msg)
		}
	}
	t.Run("without s3 actions its MinIO identity is deny-all", func(t *testing.T) {
		_, err := f.s3(ak, sk).ListBuckets(ctx, &s3.ListBucketsInput{})
		wantAPIError(t, err, "AccessDenied", 403)
	})
	t.Run("GetCallerIdentity needs no permission", func(t *testing.T) {
		id, err := f.sts(ak, sk).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil || *id.Arn != "arn:aws:iam::123456789012:user/limited" {
			t.Fatalf("%+v, %v", id, err)
		}
	})
}

func TestSTS(t *testing.T) {
	f := newFake(t, Config{AccountID: "210987654321"})
	ctx := context.Background()
	id, err := f.sts(f.adminKey, f.adminSecret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *id.Account != "210987654321" || *id.Arn != "arn:aws:iam::210987654321:user/operator" || !userIDRE.MatchString(*id.UserId) {
		t.Fatalf("admin identity %+v, %v", id, err)
	}
	c := f.admin()
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("runner"), Path: aws.String("/tfstate/ns/")}); err != nil {
		t.Fatal(err)
	}
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("runner")})
	if err != nil {
		t.Fatal(err)
	}
	id, err = f.sts(*key.AccessKey.AccessKeyId, *key.AccessKey.SecretAccessKey).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *id.Arn != "arn:aws:iam::210987654321:user/tfstate/ns/runner" || *id.UserId != *f.userID(t, "runner") {
		t.Fatalf("user identity %+v, %v", id, err)
	}

	t.Run("STS stands for the endpoint of Config.Region", func(t *testing.T) {
		eu := newFake(t, Config{Region: "eu-west-1"})
		client := func(region string) *sts.Client {
			return sts.New(sts.Options{Region: region, BaseEndpoint: aws.String(eu.STSEndpoint()), RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider(eu.adminKey, eu.adminSecret, "")})
		}
		if _, err := client("eu-west-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatal(err)
		}
		_, err := client("us-east-1").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		wantAPIError(t, err, CodeSignatureDoesNotMatch, 403)
	})
}

func (f *fake) userID(t *testing.T, name string) *string {
	for _, u := range f.Users() {
		if u.Name == name {
			return &u.UserID
		}
	}
	t.Fatalf("no user %s", name)
	return nil
}
