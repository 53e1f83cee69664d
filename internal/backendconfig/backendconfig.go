// Package backendconfig renders what a Terraform runner needs to use a StateBackend: the Secret's
// environment variables (credentials, region, endpoint, checksum settings and TF_CLI_ARGS_init) and
// the ConfigMap's non-secret backend settings (a *.tfbackend file and one key per backend argument).
//
// Every value is checked against a strict allow-list instead of being quoted or escaped: the same
// values end up in TF_CLI_ARGS_init, which Terraform splits into words, and in HCL, so a value that
// needs escaping in either is refused. Admission validation refuses them first; this is the second
// line of defence, so a bug elsewhere cannot inject a flag.
package backendconfig

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// Secret keys. All are valid environment-variable names so that `envFrom` takes every one.
const (
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
	EnvRegion          = "AWS_REGION"
	// EnvDefaultRegion is read by older SDKs and tools (the AWS CLI v1) that ignore AWS_REGION.
	EnvDefaultRegion = "AWS_DEFAULT_REGION"
	// EnvEndpointS3 is the S3 endpoint off AWS. Terraform's s3 backend (>= 1.6) reads it, which
	// keeps the endpoint out of TF_CLI_ARGS_init and out of tofu-controller's key=value arguments.
	EnvEndpointS3 = "AWS_ENDPOINT_URL_S3"
	// EnvEndpointSTS is the STS endpoint where it is not the SDK's default (AWS with an endpoint
	// override): Terraform validates credentials and finds the account id through STS.
	EnvEndpointSTS = "AWS_ENDPOINT_URL_STS"
	// EnvRequestChecksum and EnvResponseChecksum keep Terraform >= 1.11.2's AWS SDK from sending
	// checksum trailers that several S3-compatible stores reject (hashicorp/terraform #36704, #37130).
	EnvRequestChecksum  = "AWS_REQUEST_CHECKSUM_CALCULATION"
	EnvResponseChecksum = "AWS_RESPONSE_CHECKSUM_VALIDATION"
	// EnvCLIArgsInit carries the backend arguments as -backend-config= flags of `terraform init`.
	EnvCLIArgsInit = "TF_CLI_ARGS_init"
)

// ConfigMap keys besides the per-argument ones.
const (
	// ConfigMapBackendFile is a backend config file for `terraform init -backend-config=FILE`.
	ConfigMapBackendFile = "backend.s3.tfbackend"
	// ConfigMapCABundle holds the provider's private CA bundle, when it has one.
	ConfigMapCABundle = "ca.crt"
)

// Secret keys of the isolated shape: AWS shared credentials and config files, mounted as files.
const (
	SecretCredentialsFile = "credentials"
	SecretConfigFile      = "config"
)

// Isolation renders the Secret as AWS shared credentials and config files holding one named
// profile, instead of environment variables: runners that also run the AWS provider must not have
// the state credential in AWS_* variables (terraform-provider-aws #23052). The backend file selects
// the profile and the files where the runner mounts the Secret.
type Isolation struct {
	// MountPath is the directory where runners mount the Secret.
	MountPath string
	// Profile is the profile name in both files.
	Profile string
}

// Input is everything the renderer needs; nothing in it is secret.
type Input struct {
	// Settings describe the store (region, endpoint, path style, S3-compatibility, encryption).
	Settings provider.BackendSettings
	// Bucket is the state bucket.
	Bucket string
	// Key is the default state key; empty leaves it to the runner.
	Key string
	// WorkspaceKeyPrefix is the prefix of non-default workspaces' state; empty keeps Terraform's.
	WorkspaceKeyPrefix string
	// UseLockfile emits use_lockfile=true. Set it only when a probe proved the store refuses a
	// second conditional PutObject: otherwise the lock would not exclude anything.
	UseLockfile bool
	// Isolation, when set, renders the Secret as shared credentials and config files (and no
	// environment variables at all) and makes the backend file select them.
	Isolation *Isolation
	// OmitCLIArgs leaves TF_CLI_ARGS_init out of the Secret. Flux tofu-controller runs Terraform
	// through hashicorp/terraform-exec, whose environment API refuses TF_CLI_ARGS, TF_CLI_ARGS_* and
	// TF_VAR_* (tfexec/cmd.go: prohibitedEnvVars, prohibitedEnvVarPrefixes); such runners take the
	// backend arguments from the ConfigMap's per-argument keys (backendConfigsFrom) instead.
	OmitCLIArgs bool
}

// argument is one backend argument. Bool arguments render unquoted in HCL.
type argument struct {
	name, value string
	bool        bool
}

var (
	bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	keyPattern    = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
	regionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	kmsPattern    = regexp.MustCompile(`^[A-Za-z0-9:/_.-]{1,1000}$`)
	mountPattern  = regexp.MustCompile(`^(/[A-Za-z0-9._-]+)+$`)
	profilePat    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	urlPattern    = regexp.MustCompile(`^https?://[A-Za-z0-9.:\[\]_-]+(/[A-Za-z0-9._~/-]*)?$`)
)

// ErrUnsafeValue is wrapped by every refusal of an input value.
var ErrUnsafeValue = errors.New("value not allowed in backend settings")

func unsafe(field, why string) error { return fmt.Errorf("%w: %s %s", ErrUnsafeValue, field, why) }

func checkPath(field, v string) error {
	if !keyPattern.MatchString(v) {
		return unsafe(field, "must be segments of letters, digits, '.', '_' and '-' separated by single '/', not starting or ending with '/'")
	}
	for _, seg := range strings.Split(v, "/") {
		if seg == "." || seg == ".." {
			return unsafe(field, "must not contain '.' or '..' segments")
		}
	}
	return nil
}

// arguments validates in and returns the backend arguments in a stable order.
func arguments(in Input) ([]argument, error) {
	s := in.Settings
	if !bucketPattern.MatchString(in.Bucket) {
		return nil, unsafe("bucket", "must be 3-63 lowercase letters, digits, '.' and '-'")
	}
	if !regionPattern.MatchString(s.Region) {
		return nil, unsafe("region", "must be lowercase letters, digits and '-'")
	}
	for _, ep := range []string{s.EndpointURL, s.STSEndpointURL} {
		if ep == "" {
			continue
		}
		if err := checkEndpoint(ep); err != nil {
			return nil, err
		}
	}
	args := []argument{{name: "bucket", value: in.Bucket}}
	if in.Key != "" {
		if err := checkPath("key", in.Key); err != nil {
			return nil, err
		}
		args = append(args, argument{name: "key", value: in.Key})
	}
	if in.WorkspaceKeyPrefix != "" {
		if err := checkPath("workspace_key_prefix", in.WorkspaceKeyPrefix); err != nil {
			return nil, err
		}
		args = append(args, argument{name: "workspace_key_prefix", value: in.WorkspaceKeyPrefix})
	}
	args = append(args, argument{name: "region", value: s.Region})
	flag := func(name string) { args = append(args, argument{name: name, value: "true", bool: true}) }
	if s.UsePathStyle {
		flag("use_path_style")
	}
	if s.S3Compatible {
		// Off AWS there is no STS to validate keys against, no IMDS, no account id to look up,
		// region names are the store's own, and the backend's own checksums are refused by some.
		flag("skip_credentials_validation")
		flag("skip_region_validation")
		flag("skip_requesting_account_id")
		flag("skip_metadata_api_check")
		flag("skip_s3_checksum")
	}
	if s.Encrypt {
		flag("encrypt")
	}
	if s.KMSKeyID != "" {
		if !kmsPattern.MatchString(s.KMSKeyID) {
			return nil, unsafe("kms_key_id", "must be a KMS key id, alias or ARN")
		}
		args = append(args, argument{name: "kms_key_id", value: s.KMSKeyID})
	}
	if in.UseLockfile {
		flag("use_lockfile")
	}
	if iso := in.Isolation; iso != nil {
		if !mountPattern.MatchString(iso.MountPath) || strings.Contains("/"+iso.MountPath+"/", "/../") || strings.Contains("/"+iso.MountPath+"/", "/./") {
			return nil, unsafe("isolation mount path", "must be an absolute path of letters, digits, '.', '_' and '-' segments")
		}
		if !profilePat.MatchString(iso.Profile) {
			return nil, unsafe("isolation profile", "must be 1-64 letters, digits, '_' and '-'")
		}
		args = append(args, argument{name: "profile", value: iso.Profile})
	}
	return args, nil
}

func checkEndpoint(raw string) error {
	if !urlPattern.MatchString(raw) {
		return unsafe("endpoint", "must be an http(s) URL of host, port and path only")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return unsafe("endpoint", "must be an http(s) URL of host, port and path only")
	}
	return nil
}

// SecretData renders the Secret's data: cred plus every setting Terraform's s3 backend needs, so
// that `terraform init` on `backend "s3" {}` works with `envFrom` alone. Errors never contain cred.
func SecretData(in Input, cred provider.Credential) (map[string][]byte, error) {
	args, err := arguments(in)
	if err != nil {
		return nil, err
	}
	if cred.AccessKeyID == "" || cred.SecretAccessKey == "" {
		return nil, errors.New("credential has no access key id or secret access key")
	}
	if in.Isolation != nil {
		if err := checkCredentialValues(cred); err != nil {
			return nil, err
		}
		return sharedFiles(in, cred), nil
	}
	data := map[string][]byte{
		EnvAccessKeyID:     []byte(cred.AccessKeyID),
		EnvSecretAccessKey: []byte(cred.SecretAccessKey),
		EnvRegion:          []byte(in.Settings.Region),
		EnvDefaultRegion:   []byte(in.Settings.Region),
	}
	if cred.SessionToken != "" {
		data[EnvSessionToken] = []byte(cred.SessionToken)
	}
	if in.Settings.EndpointURL != "" {
		data[EnvEndpointS3] = []byte(strings.TrimSuffix(in.Settings.EndpointURL, "/"))
	}
	if in.Settings.STSEndpointURL != "" {
		data[EnvEndpointSTS] = []byte(strings.TrimSuffix(in.Settings.STSEndpointURL, "/"))
	}
	if in.Settings.S3Compatible {
		data[EnvRequestChecksum] = []byte("when_required")
		data[EnvResponseChecksum] = []byte("when_required")
	}
	if !in.OmitCLIArgs {
		flags := make([]string, len(args))
		for i, a := range args {
			flags[i] = "-backend-config=" + a.name + "=" + a.value
		}
		data[EnvCLIArgsInit] = []byte(strings.Join(flags, " "))
	}
	return data, nil
}

// sharedFiles is the isolated Secret: a credentials file and a config file with one profile. The
// config file carries what the environment would (region, endpoint, checksum settings), so a
// runner's environment holds nothing of the state backend. INI values need no quoting as long as
// they hold no whitespace or control character (a newline would add keys or sections), which
// checkCredentialValues makes sure of before this runs.
// checkCredentialValues refuses a credential that could not be written into the shared files as
// is: keys, secrets and session tokens from every store are printable ASCII without spaces
// (session tokens carry '.', '-', '_' besides base64).
func checkCredentialValues(cred provider.Credential) error {
	for _, v := range []struct{ what, value string }{
		{"access key id", cred.AccessKeyID}, {"secret access key", cred.SecretAccessKey}, {"session token", cred.SessionToken},
	} {
		for _, c := range v.value {
			if c <= ' ' || c > '~' {
				return fmt.Errorf("the issued %s holds a character that cannot go into an AWS shared credentials file", v.what)
			}
		}
	}
	return nil
}

func sharedFiles(in Input, cred provider.Credential) map[string][]byte {
	p := in.Isolation.Profile
	var creds, cfg strings.Builder
	fmt.Fprintf(&creds, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", p, cred.AccessKeyID, cred.SecretAccessKey)
	if cred.SessionToken != "" {
		fmt.Fprintf(&creds, "aws_session_token = %s\n", cred.SessionToken)
	}
	fmt.Fprintf(&cfg, "[profile %s]\nregion = %s\n", p, in.Settings.Region)
	if in.Settings.S3Compatible {
		cfg.WriteString("request_checksum_calculation = when_required\nresponse_checksum_validation = when_required\n")
	}
	return map[string][]byte{SecretCredentialsFile: []byte(creds.String()), SecretConfigFile: []byte(cfg.String())}
}

// CredentialFromSecret reads the credential back from Secret data of either shape.
func CredentialFromSecret(data map[string][]byte) provider.Credential {
	if f, ok := data[SecretCredentialsFile]; ok {
		var c provider.Credential
		for _, line := range strings.Split(string(f), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "aws_access_key_id":
				c.AccessKeyID = strings.TrimSpace(v)
			case "aws_secret_access_key":
				c.SecretAccessKey = strings.TrimSpace(v)
			case "aws_session_token":
				c.SessionToken = strings.TrimSpace(v)
			}
		}
		return c
	}
	return provider.Credential{
		AccessKeyID:     string(data[EnvAccessKeyID]),
		SecretAccessKey: string(data[EnvSecretAccessKey]),
		SessionToken:    string(data[EnvSessionToken]),
	}
}

// ConfigMapData renders the ConfigMap's data: the backend file, one key per backend argument (for
// Flux tofu-controller's backendConfigsFrom, which passes each selected key as
// -backend-config key=value) and the CA bundle. No secret material.
func ConfigMapData(in Input) (map[string]string, error) {
	args, err := arguments(in)
	if err != nil {
		return nil, err
	}
	data := make(map[string]string, len(args)+2)
	var file strings.Builder
	file.WriteString("# Terraform s3 backend settings written by tfstate-operator.\n")
	file.WriteString("# Use with: terraform init -backend-config=" + ConfigMapBackendFile + "\n")
	if in.Isolation != nil {
		file.WriteString("# Credentials come from the Secret mounted at " + in.Isolation.MountPath + " (profile " + in.Isolation.Profile + "), not from the environment.\n")
	} else {
		file.WriteString("# Credentials come from the Secret's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).\n")
	}
	for _, a := range args {
		data[a.name] = a.value
		if a.bool {
			fmt.Fprintf(&file, "%s = %s\n", a.name, a.value)
		} else {
			fmt.Fprintf(&file, "%s = %q\n", a.name, a.value)
		}
	}
	var endpoints []string
	if ep := strings.TrimSuffix(in.Settings.EndpointURL, "/"); ep != "" {
		endpoints = append(endpoints, fmt.Sprintf("  s3 = %q\n", ep))
	}
	if ep := strings.TrimSuffix(in.Settings.STSEndpointURL, "/"); ep != "" {
		endpoints = append(endpoints, fmt.Sprintf("  sts = %q\n", ep))
	}
	if len(endpoints) > 0 {
		file.WriteString("endpoints = {\n" + strings.Join(endpoints, "") + "}\n")
	}
	if iso := in.Isolation; iso != nil {
		fmt.Fprintf(&file, "shared_credentials_files = [%q]\nshared_config_files = [%q]\n",
			iso.MountPath+"/"+SecretCredentialsFile, iso.MountPath+"/"+SecretConfigFile)
	}
	data[ConfigMapBackendFile] = file.String()
	if in.Settings.CABundle != "" {
		data[ConfigMapCABundle] = in.Settings.CABundle
	}
	return data, nil
}

// ArgumentKeys lists the ConfigMap keys that are backend arguments, in the order Terraform gets
// them: what a tofu-controller Terraform object selects in backendConfigsFrom.
func ArgumentKeys(in Input) ([]string, error) {
	args, err := arguments(in)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(args))
	for i, a := range args {
		keys[i] = a.name
	}
	return keys, nil
}
