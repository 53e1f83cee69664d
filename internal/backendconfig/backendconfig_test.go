package backendconfig

import (
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

var (
	minioSettings = provider.BackendSettings{Region: "us-east-1", EndpointURL: "http://127.0.0.1:9000", UsePathStyle: true, S3Compatible: true, Versioning: true}
	awsSettings   = provider.BackendSettings{Region: "eu-west-1", Encrypt: true, KMSKeyID: "alias/tfstate", Versioning: true}
	cred          = provider.Credential{ID: "AKID", AccessKeyID: "AKID", SecretAccessKey: "s3cr3t/With+Chars"}
)

func TestSecretData(t *testing.T) {
	cases := []struct {
		reason   string
		in       Input
		cred     provider.Credential
		wantKeys []string
		wantArgs string // TF_CLI_ARGS_init; "" when absent
	}{
		{
			reason:   "an S3-compatible store gets the endpoint, checksum variables, path style and skip flags",
			in:       Input{Settings: minioSettings, Bucket: "team-a-network", Key: "network/terraform.tfstate", UseLockfile: true},
			cred:     cred,
			wantKeys: []string{EnvAccessKeyID, EnvSecretAccessKey, EnvRegion, EnvDefaultRegion, EnvEndpointS3, EnvRequestChecksum, EnvResponseChecksum, EnvCLIArgsInit},
			wantArgs: "-backend-config=bucket=team-a-network -backend-config=key=network/terraform.tfstate -backend-config=region=us-east-1 " +
				"-backend-config=use_path_style=true -backend-config=skip_credentials_validation=true -backend-config=skip_region_validation=true " +
				"-backend-config=skip_requesting_account_id=true -backend-config=skip_metadata_api_check=true -backend-config=skip_s3_checksum=true " +
				"-backend-config=use_lockfile=true",
		},
		{
			reason:   "AWS gets neither endpoint nor checksum variables nor skip flags, but encryption",
			in:       Input{Settings: awsSettings, Bucket: "state", WorkspaceKeyPrefix: "workspaces", UseLockfile: true},
			cred:     cred,
			wantKeys: []string{EnvAccessKeyID, EnvSecretAccessKey, EnvRegion, EnvDefaultRegion, EnvCLIArgsInit},
			wantArgs: "-backend-config=bucket=state -backend-config=workspace_key_prefix=workspaces -backend-config=region=eu-west-1 " +
				"-backend-config=encrypt=true -backend-config=kms_key_id=alias/tfstate -backend-config=use_lockfile=true",
		},
		{
			reason: "AWS behind endpoint overrides (GovCloud, proxies) hands runners the S3 and STS endpoints, still without skip flags",
			in: Input{Settings: func() provider.BackendSettings {
				s := awsSettings
				s.EndpointURL, s.STSEndpointURL, s.UsePathStyle, s.KMSKeyID = "https://s3.example.test/", "https://sts.example.test", true, ""
				return s
			}(), Bucket: "state", Key: "k"},
			cred:     cred,
			wantKeys: []string{EnvAccessKeyID, EnvSecretAccessKey, EnvRegion, EnvDefaultRegion, EnvEndpointS3, EnvEndpointSTS, EnvCLIArgsInit},
			wantArgs: "-backend-config=bucket=state -backend-config=key=k -backend-config=region=eu-west-1 -backend-config=use_path_style=true -backend-config=encrypt=true",
		},
		{
			reason:   "a store that ignores conditional writes gets no use_lockfile, and no key means the runner picks one",
			in:       Input{Settings: minioSettings, Bucket: "abc"},
			cred:     cred,
			wantKeys: []string{EnvAccessKeyID, EnvSecretAccessKey, EnvRegion, EnvDefaultRegion, EnvEndpointS3, EnvRequestChecksum, EnvResponseChecksum, EnvCLIArgsInit},
			wantArgs: "-backend-config=bucket=abc -backend-config=region=us-east-1 -backend-config=use_path_style=true " +
				"-backend-config=skip_credentials_validation=true -backend-config=skip_region_validation=true " +
				"-backend-config=skip_requesting_account_id=true -backend-config=skip_metadata_api_check=true -backend-config=skip_s3_checksum=true",
		},
		{
			reason:   "OmitCLIArgs leaves TF_CLI_ARGS_init out for terraform-exec based runners",
			in:       Input{Settings: minioSettings, Bucket: "abc", OmitCLIArgs: true, UseLockfile: true},
			cred:     cred,
			wantKeys: []string{EnvAccessKeyID, EnvSecretAccessKey, EnvRegion, EnvDefaultRegion, EnvEndpointS3, EnvRequestChecksum, EnvResponseChecksum},
		},
		{
			reason:   "a temporary credential adds its session token",
			in:       Input{Settings: awsSettings, Bucket: "abc", OmitCLIArgs: true},
			cred:     provider.Credential{AccessKeyID: "A", SecretAccessKey: "B", SessionToken: "T"},
			wantKeys: []string{EnvAccessKeyID, EnvSecretAccessKey, EnvSessionToken, EnvRegion, EnvDefaultRegion},
		},
	}
	envName := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			data, err := SecretData(tc.in, tc.cred)
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(maps.Keys(data))
			if want := slices.Sorted(slices.Values(tc.wantKeys)); !slices.Equal(got, want) {
				t.Fatalf("keys = %v, want %v", got, want)
			}
			for k := range data {
				if !envName.MatchString(k) {
					t.Errorf("key %q is not a valid environment variable name", k)
				}
			}
			if got := string(data[EnvCLIArgsInit]); got != tc.wantArgs {
				t.Fatalf("TF_CLI_ARGS_init =\n  %s\nwant\n  %s", got, tc.wantArgs)
			}
			if string(data[EnvSecretAccessKey]) != tc.cred.SecretAccessKey || string(data[EnvAccessKeyID]) != tc.cred.AccessKeyID {
				t.Fatal("credential not carried into the Secret")
			}
		})
	}
}

func TestConfigMapData(t *testing.T) {
	in := Input{Settings: minioSettings, Bucket: "team-a-network", Key: "network/terraform.tfstate", UseLockfile: true}
	in.Settings.CABundle = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	data, err := ConfigMapData(in)
	if err != nil {
		t.Fatal(err)
	}
	wantFile := `bucket = "team-a-network"
key = "network/terraform.tfstate"
region = "us-east-1"
use_path_style = true
skip_credentials_validation = true
skip_region_validation = true
skip_requesting_account_id = true
skip_metadata_api_check = true
skip_s3_checksum = true
use_lockfile = true
endpoints = {
  s3 = "http://127.0.0.1:9000"
}
`
	if !strings.HasSuffix(data[ConfigMapBackendFile], wantFile) {
		t.Fatalf("backend file:\n%s\nwant it to end with\n%s", data[ConfigMapBackendFile], wantFile)
	}
	keys, err := ArgumentKeys(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, ok := data[k]; !ok {
			t.Errorf("argument key %q missing from the ConfigMap", k)
		}
	}
	if data["bucket"] != "team-a-network" || data["use_lockfile"] != "true" || data[ConfigMapCABundle] != in.Settings.CABundle {
		t.Fatalf("ConfigMap data = %v", data)
	}
	if want := len(keys) + 2; len(data) != want {
		t.Fatalf("ConfigMap has %d keys, want %d (arguments, backend file, ca.crt): %v", len(data), want, slices.Sorted(maps.Keys(data)))
	}
}

func TestConfigMapBackendFileNamesTheSTSEndpoint(t *testing.T) {
	in := Input{Settings: awsSettings, Bucket: "state", Key: "k"}
	in.Settings.EndpointURL, in.Settings.STSEndpointURL, in.Settings.KMSKeyID = "https://s3.example.test", "https://sts.example.test/", ""
	data, err := ConfigMapData(in)
	if err != nil {
		t.Fatal(err)
	}
	want := "endpoints = {\n  s3 = \"https://s3.example.test\"\n  sts = \"https://sts.example.test\"\n}\n"
	if !strings.HasSuffix(data[ConfigMapBackendFile], want) {
		t.Fatalf("backend file:\n%s\nwant it to end with\n%s", data[ConfigMapBackendFile], want)
	}
}

func TestUnsafeValuesAreRefused(t *testing.T) {
	cases := []struct {
		reason string
		mutate func(*Input)
	}{
		{"a space would split TF_CLI_ARGS_init into another flag", func(in *Input) { in.Key = "a -backend-config=bucket=other" }},
		{"a key starting with / is not a relative path", func(in *Input) { in.Key = "/state" }},
		{"a key ending with / names no object", func(in *Input) { in.Key = "state/" }},
		{"'..' escapes the prefix", func(in *Input) { in.Key = "a/../b" }},
		{"'.' segments are ambiguous", func(in *Input) { in.WorkspaceKeyPrefix = "./ws" }},
		{"double slashes are empty segments", func(in *Input) { in.Key = "a//b" }},
		{"a quote would break the HCL file", func(in *Input) { in.Key = `a"b` }},
		{"uppercase bucket names are invalid S3 names", func(in *Input) { in.Bucket = "Bucket" }},
		{"a bucket name of two characters is too short", func(in *Input) { in.Bucket = "ab" }},
		{"a region with a space", func(in *Input) { in.Settings.Region = "us east" }},
		{"an empty region", func(in *Input) { in.Settings.Region = "" }},
		{"an endpoint with a query", func(in *Input) { in.Settings.EndpointURL = "http://h:9000/?x=1" }},
		{"an endpoint with credentials", func(in *Input) { in.Settings.EndpointURL = "http://u:p@h:9000" }},
		{"an endpoint that is not http(s)", func(in *Input) { in.Settings.EndpointURL = "file:///etc" }},
		{"an STS endpoint with a query", func(in *Input) { in.Settings.STSEndpointURL = "https://sts.example.test/?a=b" }},
		{"a kms key id with a space", func(in *Input) { in.Settings.KMSKeyID = "alias/x y" }},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			in := Input{Settings: minioSettings, Bucket: "abc", Key: "k"}
			tc.mutate(&in)
			if _, err := SecretData(in, cred); !errors.Is(err, ErrUnsafeValue) {
				t.Fatalf("SecretData: err = %v, want ErrUnsafeValue", err)
			}
			if _, err := ConfigMapData(in); !errors.Is(err, ErrUnsafeValue) {
				t.Fatalf("ConfigMapData: err = %v, want ErrUnsafeValue", err)
			}
		})
	}
}

func TestMissingCredentialIsRefusedWithoutEchoingIt(t *testing.T) {
	_, err := SecretData(Input{Settings: minioSettings, Bucket: "abc"}, provider.Credential{AccessKeyID: "AKID", SecretAccessKey: ""})
	if err == nil {
		t.Fatal("want an error for a credential without secret")
	}
	_, err = SecretData(Input{Settings: minioSettings, Bucket: "BAD"}, cred)
	if err == nil || strings.Contains(err.Error(), cred.SecretAccessKey) {
		t.Fatalf("err = %v: want an error that does not contain the secret", err)
	}
}

// FuzzCLIArgs: whatever the input, TF_CLI_ARGS_init splits into -backend-config=name=value words of
// known names only, and the ConfigMap never holds the secret.
func FuzzCLIArgs(f *testing.F) {
	f.Add("abc", "network/terraform.tfstate", "ws", "us-east-1", "http://127.0.0.1:9000", "alias/x")
	f.Add("a b", "k -x", "", "auto", "https://h/", "")
	f.Fuzz(func(t *testing.T, bucket, key, prefix, region, endpoint, kms string) {
		in := Input{Bucket: bucket, Key: key, WorkspaceKeyPrefix: prefix, UseLockfile: true,
			Settings: provider.BackendSettings{Region: region, EndpointURL: endpoint, KMSKeyID: kms, S3Compatible: true, UsePathStyle: true}}
		data, err := SecretData(in, cred)
		if err != nil {
			return
		}
		known := map[string]bool{"bucket": true, "key": true, "workspace_key_prefix": true, "region": true, "use_path_style": true,
			"skip_credentials_validation": true, "skip_region_validation": true, "skip_requesting_account_id": true,
			"skip_metadata_api_check": true, "skip_s3_checksum": true, "encrypt": true, "kms_key_id": true, "use_lockfile": true}
		seen := map[string]bool{}
		for _, word := range strings.Fields(string(data[EnvCLIArgsInit])) {
			rest, ok := strings.CutPrefix(word, "-backend-config=")
			name, value, ok2 := strings.Cut(rest, "=")
			if !ok || !ok2 || !known[name] || seen[name] || value == "" || strings.ContainsAny(value, "\"'\\$`") {
				t.Fatalf("unexpected word %q in TF_CLI_ARGS_init %q", word, data[EnvCLIArgsInit])
			}
			seen[name] = true
		}
		cm, err := ConfigMapData(in)
		if err != nil {
			t.Fatalf("SecretData accepted what ConfigMapData refused: %v", err)
		}
		for k, v := range cm {
			if strings.Contains(v, cred.SecretAccessKey) {
				t.Fatalf("ConfigMap key %q holds the secret", k)
			}
		}
	})
}

func TestIsolatedSecretIsSharedFilesOnly(t *testing.T) {
	in := Input{Settings: minioSettings, Bucket: "abc", Key: "k", UseLockfile: true, Isolation: &Isolation{MountPath: "/var/run/secrets/tfstate", Profile: "tfstate"}}
	withToken := provider.Credential{AccessKeyID: "AKIA1", SecretAccessKey: "s3cr3t+/=", SessionToken: "tok"}
	data, err := SecretData(in, withToken)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(data)); !slices.Equal(got, []string{SecretConfigFile, SecretCredentialsFile}) {
		t.Fatalf("keys = %v, want only the two files (no AWS_* variables, no TF_CLI_ARGS_init)", got)
	}
	wantCreds := "[tfstate]\naws_access_key_id = AKIA1\naws_secret_access_key = s3cr3t+/=\naws_session_token = tok\n"
	wantConfig := "[profile tfstate]\nregion = us-east-1\nrequest_checksum_calculation = when_required\nresponse_checksum_validation = when_required\n"
	if string(data[SecretCredentialsFile]) != wantCreds || string(data[SecretConfigFile]) != wantConfig {
		t.Fatalf("files:\n%s\n%s\nwant\n%s\n%s", data[SecretCredentialsFile], data[SecretConfigFile], wantCreds, wantConfig)
	}
	if got := CredentialFromSecret(data); got != withToken {
		t.Fatalf("read back %+v, want %+v", got, withToken)
	}
	cm, err := ConfigMapData(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`profile = "tfstate"`, `shared_credentials_files = ["/var/run/secrets/tfstate/credentials"]`, `shared_config_files = ["/var/run/secrets/tfstate/config"]`} {
		if !strings.Contains(cm[ConfigMapBackendFile], want+"\n") {
			t.Errorf("backend file lacks %s:\n%s", want, cm[ConfigMapBackendFile])
		}
	}
	for _, bad := range []Isolation{{MountPath: "relative", Profile: "p"}, {MountPath: "/a/../b", Profile: "p"}, {MountPath: "/a b", Profile: "p"}, {MountPath: "/a", Profile: "p]"}, {MountPath: "/a", Profile: ""}} {
		in.Isolation = &bad
		if _, err := SecretData(in, withToken); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("isolation %+v: err = %v, want ErrUnsafeValue", bad, err)
		}
	}
}

func TestCredentialFromEnvironmentSecret(t *testing.T) {
	data, err := SecretData(Input{Settings: minioSettings, Bucket: "abc"}, cred)
	if err != nil {
		t.Fatal(err)
	}
	if got := CredentialFromSecret(data); got.AccessKeyID != cred.AccessKeyID || got.SecretAccessKey != cred.SecretAccessKey {
		t.Fatalf("read back %+v", got)
	}
}
