package fakeaws

import (
	"encoding/json"
	"strings"
)

// MalformedPolicy messages of PutBucketPolicy, as AWS words them (the wording S3-compatible
// servers that mirror AWS use, e.g. versitygw's auth/bucket_policy.go, and public error reports).
const (
	malformedJSONPolicy   = "Policies must be valid JSON and the first byte must be '{'"
	missingStatement      = "Missing required field Statement"
	emptyStatement        = "Could not parse the policy: Statement is empty!"
	missingPrincipal      = "Missing required field Principal"
	invalidPolicyResource = "Policy has invalid resource"
	invalidPolicyAction   = "Policy has invalid action"
	invalidPolicyJSON     = "This policy contains invalid Json"
	invalidPolicyVersion  = "The policy must contain a valid version string"
	invalidEffect         = "Invalid effect: "
	invalidPrincipal      = "Invalid principal in policy"
)

// validateBucketPolicy checks doc as S3 checks a bucket policy for bucket, returning the
// MalformedPolicy message, or "" when it is valid: a JSON object with a valid Version (if any) and
// a non-empty Statement, each statement with Effect Allow|Deny, Principal or NotPrincipal ("*" or
// an object of strings or lists of strings), Action or NotAction (s3: actions or "*"), and
// Resource or NotResource naming this bucket or objects in it. [inference] The order of the
// checks and the "Invalid effect" wording are not sourced.
func validateBucketPolicy(doc, bucket string) string {
	trimmed := strings.TrimSpace(doc)
	if !strings.HasPrefix(trimmed, "{") {
		return malformedJSONPolicy
	}
	var top map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(trimmed))
	if err := dec.Decode(&top); err != nil || dec.More() {
		return invalidPolicyJSON
	}
	if v, ok := top["Version"]; ok {
		var version string
		if json.Unmarshal(v, &version) != nil || (version != "2012-10-17" && version != "2008-10-17") {
			return invalidPolicyVersion
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return missingStatement
	}
	stmts, ok := statements(raw)
	if !ok {
		return invalidPolicyJSON
	}
	if len(stmts) == 0 {
		return emptyStatement
	}
	for _, st := range stmts {
		var effect string
		if json.Unmarshal(st["Effect"], &effect) != nil || (effect != "Allow" && effect != "Deny") {
			return invalidEffect + effect
		}
		p, hasP := st["Principal"]
		np, hasNP := st["NotPrincipal"]
		if !hasP && !hasNP {
			return missingPrincipal
		}
		if hasP && !validPrincipal(p) || hasNP && !validPrincipal(np) {
			return invalidPrincipal
		}
		actions, hasA := st["Action"]
		if na, ok := st["NotAction"]; ok {
			actions, hasA = na, true
		}
		list, ok := stringOrList(actions)
		if !hasA || !ok || len(list) == 0 {
			return invalidPolicyAction
		}
		for _, a := range list {
			if a != "*" && !strings.HasPrefix(strings.ToLower(a), "s3:") {
				return invalidPolicyAction
			}
		}
		resources, hasR := st["Resource"]
		if nr, ok := st["NotResource"]; ok {
			resources, hasR = nr, true
		}
		list, ok = stringOrList(resources)
		if !hasR || !ok || len(list) == 0 {
			return invalidPolicyResource
		}
		for _, r := range list {
			arn := "arn:aws:s3:::" + bucket
			if r != arn && !strings.HasPrefix(r, arn+"/") {
				return invalidPolicyResource
			}
		}
	}
	return ""
}

// validPrincipal: "*", or an object whose values are strings or lists of strings.
func validPrincipal(raw json.RawMessage) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == "*"
	}
	var kinds map[string]json.RawMessage
	if json.Unmarshal(raw, &kinds) != nil || len(kinds) == 0 {
		return false
	}
	for _, v := range kinds {
		if list, ok := stringOrList(v); !ok || len(list) == 0 {
			return false
		}
	}
	return true
}

// publicBucketPolicy reports whether a (valid) bucket policy is public in the sense
// BlockPublicPolicy refuses: an Allow statement for everyone ("*" as the Principal or among its
// values, or any NotPrincipal) without a Condition. [inference] AWS also calls a conditioned grant
// to everyone public unless the condition pins fixed values of certain keys (aws:SourceIp CIDRs,
// aws:SourceVpce, aws:SourceArn, ...: "The meaning of public" in the S3 User Guide); the fake does
// not judge conditions and takes any as narrowing, so it refuses less than AWS would.
func publicBucketPolicy(doc string) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal([]byte(doc), &top) != nil {
		return false
	}
	stmts, _ := statements(top["Statement"])
	for _, st := range stmts {
		var effect string
		_ = json.Unmarshal(st["Effect"], &effect)
		if effect != "Allow" {
			continue
		}
		if _, ok := st["Condition"]; ok {
			continue
		}
		if _, ok := st["NotPrincipal"]; ok {
			return true
		}
		var one string
		if json.Unmarshal(st["Principal"], &one) == nil {
			if one == "*" {
				return true
			}
			continue
		}
		var kinds map[string]json.RawMessage
		_ = json.Unmarshal(st["Principal"], &kinds)
		for _, v := range kinds {
			list, _ := stringOrList(v)
			for _, p := range list {
				if p == "*" {
					return true
				}
			}
		}
	}
	return false
}
