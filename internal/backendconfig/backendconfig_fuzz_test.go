package backendconfig

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tfstate-operator/tfstate-operator/internal/provider"
)

// hclAttr is one attribute of a backend file: path is the attribute's name, "outer.inner" inside
// an object and "name[i]" inside a tuple; value is the decoded string (or true/false).
type hclAttr struct {
	path, value string
	bool        bool
}

type hclTok struct {
	kind byte // 'i' identifier, 's' string, '\n', '=', '{', '}', '[', ']', ',', 0 end
	text string
}

// lexHCL is a strict lexer of the HCL subset a backend file may use: comments, identifiers,
// quoted strings with HCL's escapes, '=', braces, brackets, commas and newlines. A quoted string
// may not hold a raw newline nor start a template sequence ("${", "%{"); an escape HCL does not
// have (\x.., \a, ...) is an error, so a value %q had to escape in a way HCL reads differently is
// caught.
func lexHCL(src string) ([]hclTok, error) {
	var toks []hclTok
	isIdentStart := func(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
	isIdent := func(c byte) bool { return isIdentStart(c) || c == '-' || (c >= '0' && c <= '9') }
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '\n':
			toks = append(toks, hclTok{kind: '\n'})
			i++
		case c == '#' || strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, errors.New("unterminated /* comment")
			}
			i += 2 + end + 2
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdent(src[j]) {
				j++
			}
			toks = append(toks, hclTok{kind: 'i', text: src[i:j]})
			i = j
		case c == '"':
			var b strings.Builder
			i++
			for {
				if i >= len(src) || src[i] == '\n' || src[i] == '\r' {
					return nil, errors.New("unterminated string")
				}
				if strings.HasPrefix(src[i:], "${") || strings.HasPrefix(src[i:], "%{") {
					return nil, fmt.Errorf("template sequence %q in a string", src[i:i+2])
				}
				if src[i] == '"' {
					i++
					break
				}
				if src[i] != '\\' {
					b.WriteByte(src[i])
					i++
					continue
				}
				if i+1 >= len(src) {
					return nil, errors.New("backslash at end of input")
				}
				switch e := src[i+1]; e {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				case '"', '\\':
					b.WriteByte(e)
				case 'u', 'U':
					n := 4
					if e == 'U' {
						n = 8
					}
					if i+2+n > len(src) {
						return nil, errors.New("short unicode escape")
					}
					r, err := strconv.ParseUint(src[i+2:i+2+n], 16, 32)
					if err != nil {
						return nil, fmt.Errorf("bad unicode escape: %w", err)
					}
					b.WriteRune(rune(r))
					i += n
				default:
					return nil, fmt.Errorf("escape \\%c is not HCL", e)
				}
				i += 2
			}
			toks = append(toks, hclTok{kind: 's', text: b.String()})
		case strings.IndexByte("={}[],", c) >= 0:
			toks = append(toks, hclTok{kind: c})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q at offset %d", c, i)
		}
	}
	return append(toks, hclTok{kind: 0}), nil
}

// parseBackendFile parses a backend file: a body of `name = value` attributes, one a line, where
// a value is a string, true/false, an object of such attributes or a tuple of strings.
func parseBackendFile(src string) ([]hclAttr, error) {
	toks, err := lexHCL(src)
	if err != nil {
		return nil, err
	}
	p := &hclParser{toks: toks}
	var out []hclAttr
	for {
		p.skipNewlines()
		if p.peek().kind == 0 {
			return out, nil
		}
		attrs, err := p.attribute("")
		if err != nil {
			return nil, err
		}
		out = append(out, attrs...)
		if k := p.next().kind; k != '\n' && k != 0 {
			return nil, fmt.Errorf("want a newline after attribute %s, got %q", attrs[0].path, k)
		}
	}
}

type hclParser struct {
	toks []hclTok
	pos  int
}

func (p *hclParser) peek() hclTok { return p.toks[p.pos] }

func (p *hclParser) next() hclTok {
	t := p.toks[p.pos]
	if t.kind != 0 {
		p.pos++
	}
	return t
}

func (p *hclParser) skipNewlines() {
	for p.peek().kind == '\n' {
		p.pos++
	}
}

// attribute parses `name = value` and returns the leaf attributes under it.
func (p *hclParser) attribute(prefix string) ([]hclAttr, error) {
	name := p.next()
	if name.kind != 'i' {
		return nil, fmt.Errorf("want an attribute name, got %q %q", name.kind, name.text)
	}
	if eq := p.next(); eq.kind != '=' {
		return nil, fmt.Errorf("want '=' after %s", name.text)
	}
	path := prefix + name.text
	switch v := p.next(); {
	case v.kind == 's':
		return []hclAttr{{path: path, value: v.text}}, nil
	case v.kind == 'i' && (v.text == "true" || v.text == "false"):
		return []hclAttr{{path: path, value: v.text, bool: true}}, nil
	case v.kind == '{':
		var out []hclAttr
		for {
			p.skipNewlines()
			if p.peek().kind == '}' {
				p.next()
				return out, nil
			}
			attrs, err := p.attribute(path + ".")
			if err != nil {
				return nil, err
			}
			out = append(out, attrs...)
			if k := p.peek().kind; k != '\n' && k != ',' && k != '}' {
				return nil, fmt.Errorf("want a newline, ',' or '}' in object %s", path)
			}
			if p.peek().kind == ',' {
				p.next()
			}
		}
	case v.kind == '[':
		var out []hclAttr
		for {
			p.skipNewlines()
			t := p.next()
			switch {
			case t.kind == ']':
				return out, nil
			case t.kind == 's':
				out = append(out, hclAttr{path: fmt.Sprintf("%s[%d]", path, len(out)), value: t.text})
			default:
				return nil, fmt.Errorf("want a string or ']' in tuple %s", path)
			}
			p.skipNewlines()
			if p.peek().kind == ',' {
				p.next()
			} else if p.peek().kind != ']' {
				return nil, fmt.Errorf("want ',' or ']' in tuple %s", path)
			}
		}
	default:
		return nil, fmt.Errorf("unexpected value %q %q for %s", v.kind, v.text, path)
	}
}

func TestParseBackendFileRefusesBreakouts(t *testing.T) {
	for _, src := range []string{
		"bucket = \"a\"b\"\n",
		"bucket = \"a\nb\"\n",
		"bucket = \"${var.x}\"\n",
		"bucket = \"%{if true}x%{endif}\"\n",
		"bucket = \"\\x41\"\n",
		"bucket = \"a\" key = \"b\"\n",
		"bucket = a\n",
	} {
		if attrs, err := parseBackendFile(src); err == nil {
			t.Errorf("parsed %q as %+v, want an error", src, attrs)
		}
	}
	attrs, err := parseBackendFile("# c\nbucket = \"a\\\"b\" // c\nencrypt = true\nendpoints = {\n  s3 = \"h\"\n}\nf = [\"x\", \"y\"]\n")
	want := []hclAttr{{path: "bucket", value: `a"b`}, {path: "encrypt", value: "true", bool: true}, {path: "endpoints.s3", value: "h"}, {path: "f[0]", value: "x"}, {path: "f[1]", value: "y"}}
	if err != nil || !slices.Equal(attrs, want) {
		t.Fatalf("parsed %+v, %v; want %+v", attrs, err, want)
	}
}

// expectedBackendFile is what the backend file for in must hold, attribute by attribute.
func expectedBackendFile(in Input) map[string]hclAttr {
	s := in.Settings
	want := map[string]hclAttr{}
	str := func(path, v string) { want[path] = hclAttr{path: path, value: v} }
	flag := func(path string) { want[path] = hclAttr{path: path, value: "true", bool: true} }
	str("bucket", in.Bucket)
	if in.Key != "" {
		str("key", in.Key)
	}
	if in.WorkspaceKeyPrefix != "" {
		str("workspace_key_prefix", in.WorkspaceKeyPrefix)
	}
	str("region", s.Region)
	if s.UsePathStyle {
		flag("use_path_style")
	}
	if s.S3Compatible {
		for _, f := range []string{"skip_credentials_validation", "skip_region_validation", "skip_requesting_account_id", "skip_metadata_api_check", "skip_s3_checksum"} {
			flag(f)
		}
	}
	if s.Encrypt {
		flag("encrypt")
	}
	if s.KMSKeyID != "" {
		str("kms_key_id", s.KMSKeyID)
	}
	if in.UseLockfile {
		flag("use_lockfile")
	}
	if iso := in.Isolation; iso != nil {
		str("profile", iso.Profile)
		str("shared_credentials_files[0]", iso.MountPath+"/"+SecretCredentialsFile)
		str("shared_config_files[0]", iso.MountPath+"/"+SecretConfigFile)
	}
	if s.EndpointURL != "" {
		str("endpoints.s3", strings.TrimSuffix(s.EndpointURL, "/"))
	}
	if s.STSEndpointURL != "" {
		str("endpoints.sts", strings.TrimSuffix(s.STSEndpointURL, "/"))
	}
	return want
}

// FuzzBackendFile: for any bucket, key, workspace key prefix, region, endpoints, KMS key and
// isolation mount path and profile the renderer accepts, the ConfigMap's backend file parses as
// HCL attributes (strings that cannot leave their quotes or start a template) that are exactly
// the expected ones, each once and with the input's values; the per-argument keys agree with it
// and the ConfigMap has no other keys.
func FuzzBackendFile(f *testing.F) {
	f.Add("team-a-network", "network/terraform.tfstate", "ws", "us-east-1", "http://127.0.0.1:9000/", "", "", "/var/run/secrets/tfstate", "tfstate", uint8(0xff))
	f.Add("state", "k", "", "eu-west-1", "https://s3.example.test", "https://sts.example.test/", "alias/tfstate", "", "", uint8(0x04))
	f.Add("abc", "a\"b", "x${y}", "us-east-1", "http://h/%{x}", "", "arn:aws:kms:eu-west-1:1:key/x", "/a\nb", "p\"", uint8(0x10))
	f.Add("abc", "k", "", "auto", "http://[::1]:9000/p_a.t~h/", "", "", "/m", "p]\n[q", uint8(0x12))
	f.Add("abc", "k", "", "us-east-1", "", "", "", "/a/../b", "p", uint8(0x10))
	f.Fuzz(func(t *testing.T, bucket, key, prefix, region, endpoint, sts, kms, mount, profile string, flags uint8) {
		in := Input{Bucket: bucket, Key: key, WorkspaceKeyPrefix: prefix,
			UseLockfile: flags&0x08 != 0,
			Settings: provider.BackendSettings{Region: region, EndpointURL: endpoint, STSEndpointURL: sts, KMSKeyID: kms,
				UsePathStyle: flags&0x01 != 0, S3Compatible: flags&0x02 != 0, Encrypt: flags&0x04 != 0, CABundle: "CA"}}
		if flags&0x10 != 0 {
			in.Isolation = &Isolation{MountPath: mount, Profile: profile}
		}
		data, err := ConfigMapData(in)
		if err != nil {
			if !errors.Is(err, ErrUnsafeValue) {
				t.Fatalf("refusal %v does not wrap ErrUnsafeValue", err)
			}
			return
		}
		file := data[ConfigMapBackendFile]
		attrs, err := parseBackendFile(file)
		if err != nil {
			t.Fatalf("backend file does not parse: %v\n%s", err, file)
		}
		want := expectedBackendFile(in)
		seen := map[string]bool{}
		for _, a := range attrs {
			if seen[a.path] {
				t.Fatalf("attribute %s twice in\n%s", a.path, file)
			}
			seen[a.path] = true
			if w, ok := want[a.path]; !ok || w != a {
				t.Fatalf("attribute %+v, want %+v (expected: %v) in\n%s", a, w, ok, file)
			}
			if strings.ContainsAny(a.value, "\"\\\n\r") || strings.Contains(a.value, "${") || strings.Contains(a.value, "%{") {
				t.Fatalf("attribute %s = %q holds a character that needs escaping", a.path, a.value)
			}
		}
		for path := range want {
			if !seen[path] {
				t.Fatalf("attribute %s missing from\n%s", path, file)
			}
		}
		// The per-argument keys are the top-level scalar attributes, verbatim.
		keys, err := ArgumentKeys(in)
		if err != nil {
			t.Fatalf("ArgumentKeys refused what ConfigMapData accepted: %v", err)
		}
		wantKeys := append(slices.Clone(keys), ConfigMapBackendFile, ConfigMapCABundle)
		if got := slices.Sorted(maps.Keys(data)); !slices.Equal(got, slices.Sorted(slices.Values(wantKeys))) {
			t.Fatalf("ConfigMap keys %v, want %v", got, wantKeys)
		}
		for _, k := range keys {
			if w, ok := want[k]; !ok || data[k] != w.value {
				t.Fatalf("ConfigMap key %s = %q, backend file says %q", k, data[k], w.value)
			}
		}
		if _, err := SecretData(in, cred); err != nil {
			t.Fatalf("SecretData refused what ConfigMapData accepted: %v", err)
		}
	})
}

// iniSection is one section of an AWS shared credentials or config file.
type iniSection struct {
	name string
	keys map[string][]string
}

// parseINI reads a shared credentials/config file the way the AWS SDKs do: one setting a line,
// "[name]" starts a section, "key = value" with both trimmed, '#' and ';' start comment lines.
// Any other line is an error; so is a setting before the first section.
func parseINI(src string) ([]iniSection, error) {
	var out []iniSection
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("bad section line %q", line)
			}
			out = append(out, iniSection{name: strings.TrimSpace(line[1 : len(line)-1]), keys: map[string][]string{}})
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || len(out) == 0 {
				return nil, fmt.Errorf("bad setting line %q", line)
			}
			k = strings.TrimSpace(k)
			out[len(out)-1].keys[k] = append(out[len(out)-1].keys[k], strings.TrimSpace(v))
		}
	}
	return out, nil
}

// checkINI wants src to be exactly one section named section holding exactly want, each key once.
func checkINI(t *testing.T, what, src, section string, want map[string]string) {
	t.Helper()
	secs, err := parseINI(src)
	if err != nil {
		t.Fatalf("%s file: %v\n%s", what, err, src)
	}
	if len(secs) != 1 || secs[0].name != section {
		t.Fatalf("%s file has sections %+v, want exactly [%s]\n%s", what, secs, section, src)
	}
	got := secs[0].keys
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("%s file keys %v, want %v\n%s", what, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)), src)
	}
	for k, v := range want {
		if len(got[k]) != 1 || got[k][0] != v {
			t.Fatalf("%s file: %s = %q, want exactly one %q\n%s", what, k, got[k], v, src)
		}
	}
}

// FuzzIsolatedSharedFiles: the isolated Secret holds exactly the credentials and config files,
// each with exactly one section for the profile and exactly the expected keys, once each, with the
// input's values; nothing in a profile name or region the renderer accepts adds a key or section.
// Credentials are fuzzed within the alphabet sharedFiles documents ([A-Za-z0-9+/=]); SecretData
// does not itself refuse credentials outside it.
func FuzzIsolatedSharedFiles(f *testing.F) {
	f.Add("tfstate", "us-east-1", "AKIA1", "s3cr3t+/=", "tok", true)
	f.Add("p", "auto", "A", "B", "", false)
	f.Add("p]\n[other", "us-east-1\naws_secret_access_key = x", "A", "B", "", true)
	f.Add("tfstate", "us-east-1", "A", "s\n[other]\naws_secret_access_key = x", "t\naws_access_key_id = EVIL", true) // found by review: now refused
	f.Add("tfstate", "us-east-1", "ASIA1", "s", "eyJhbGciOiJIUzUxMiJ9.eyJleHAiOjF9.sig-_x", true)                    // a MinIO STS session token
	f.Add("default", "eu-west-1", "AKIA", "c2VjcmV0", "IQoJb3JpZ2luX2VjEJ//////////wEaCXVzLWVhc3QtMSJGMEQCIH==", false)
	f.Fuzz(func(t *testing.T, profile, region, akid, secret, token string, s3compat bool) {
		in := Input{Bucket: "abc", Key: "k", Settings: provider.BackendSettings{Region: region, S3Compatible: s3compat},
			Isolation: &Isolation{MountPath: "/var/run/secrets/tfstate", Profile: profile}}
		c := provider.Credential{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token}
		// Whatever credential SecretData accepts must come out as exactly one profile and read
		// back unchanged (it refuses ones that could not).
		data, err := SecretData(in, c)
		if err != nil {
			return
		}
		if got := slices.Sorted(maps.Keys(data)); !slices.Equal(got, []string{SecretConfigFile, SecretCredentialsFile}) {
			t.Fatalf("keys = %v, want only the two files", got)
		}
		wantCreds := map[string]string{"aws_access_key_id": akid, "aws_secret_access_key": secret}
		if token != "" {
			wantCreds["aws_session_token"] = token
		}
		checkINI(t, "credentials", string(data[SecretCredentialsFile]), profile, wantCreds)
		wantConfig := map[string]string{"region": region}
		if s3compat {
			wantConfig["request_checksum_calculation"] = "when_required"
			wantConfig["response_checksum_validation"] = "when_required"
		}
		checkINI(t, "config", string(data[SecretConfigFile]), "profile "+profile, wantConfig)
		if got := CredentialFromSecret(data); got != c {
			t.Fatalf("read back %+v, want %+v", got, c)
		}
	})
}
