package fakeaws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// maxUserPolicySize is AWS's limit on the aggregate size of a user's inline policies, counted
// without whitespace.
const maxUserPolicySize = 2048

// policySize counts the characters of doc that are not whitespace, as IAM counts policy size.
func policySize(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// validatePolicy checks doc as IAM checks an identity-based policy, returning the
// MalformedPolicyDocument message, or "" when it is valid. The messages are those AWS answers
// (seen in public error reports).
func validatePolicy(doc string) string {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(doc))
	if err := dec.Decode(&top); err != nil || dec.More() {
		return "Syntax errors in policy."
	}
	for k := range top {
		switch k {
		case "Version", "Id", "Statement":
		default:
			return "Syntax errors in policy."
		}
	}
	if v, ok := top["Version"]; ok {
		var version string
		if json.Unmarshal(v, &version) != nil || (version != "2012-10-17" && version != "2008-10-17") {
			return "The policy must contain a valid version string"
		}
	}
	stmts, ok := statements(top["Statement"])
	if !ok {
		return "Syntax errors in policy."
	}
	if len(stmts) == 0 {
		// [inference] AWS refuses a policy without statements; the exact message is not sourced.
		return "Syntax errors in policy."
	}
	for _, st := range stmts {
		if msg := validateStatement(st); msg != "" {
			return msg
		}
	}
	return ""
}

// statements reads Statement, a statement or a list of them.
func statements(raw json.RawMessage) ([]map[string]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, true
	}
	if raw[0] == '{' {
		var st map[string]json.RawMessage
		if json.Unmarshal(raw, &st) != nil {
			return nil, false
		}
		return []map[string]json.RawMessage{st}, true
	}
	var list []map[string]json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, false
	}
	return list, true
}

// stringOrList reads a JSON string or list of strings.
func stringOrList(raw json.RawMessage) ([]string, bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list, true
	}
	return nil, false
}

func validateStatement(st map[string]json.RawMessage) string {
	for k := range st {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			return "Policy document should not specify a principal."
		default:
			return "Syntax errors in policy."
		}
	}
	effect, ok := st["Effect"]
	if !ok {
		return "Missing required field Effect"
	}
	var e string
	if json.Unmarshal(effect, &e) != nil || (e != "Allow" && e != "Deny") {
		return "Syntax errors in policy." // [inference] the message for a bad Effect
	}
	actionKey := "Action"
	if _, ok := st["NotAction"]; ok {
		if _, both := st["Action"]; both {
			return "Syntax errors in policy."
		}
		actionKey = "NotAction"
	}
	actions, ok := stringOrList(st[actionKey])
	if st[actionKey] == nil || len(actions) == 0 {
		return "Policy statement must contain actions."
	}
	if !ok {
		return "Syntax errors in policy."
	}
	for _, a := range actions {
		if a != "*" && !strings.Contains(a, ":") {
			return "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
		}
	}
	resourceKey := "Resource"
	if _, ok := st["NotResource"]; ok {
		if _, both := st["Resource"]; both {
			return "Syntax errors in policy."
		}
		resourceKey = "NotResource"
	}
	resources, ok := stringOrList(st[resourceKey])
	if st[resourceKey] == nil || len(resources) == 0 {
		return "Policy statement must contain resources."
	}
	if !ok {
		return "Syntax errors in policy."
	}
	for _, r := range resources {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return fmt.Sprintf("Resource %s must be in ARN format or \"*\".", r)
		}
	}
	if c, ok := st["Condition"]; ok {
		var m map[string]map[string]json.RawMessage
		if json.Unmarshal(c, &m) != nil {
			return "Syntax errors in policy."
		}
	}
	return ""
}

// denyAll is the MinIO policy of a key whose user has no inline policy granting anything on S3:
// the key authenticates and every request is denied, as AWS does for a user without policies.
var denyAll = []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}`)

// minioPolicy translates a user's inline policies and the documents of its attached managed
// policies (all valid per validatePolicy) into one MinIO policy, their union as on AWS: the
// statements of every inline policy in policy-name order, then those of every managed document
// in the order given, each reduced to its S3 part (see the package doc), under Version
// 2012-10-17 (the only version MinIO takes).
func minioPolicy(inline map[string]string, managed ...string) []byte {
	names := make([]string, 0, len(inline))
	for n := range inline {
		names = append(names, n)
	}
	sort.Strings(names)
	docs := make([]string, 0, len(names)+len(managed))
	for _, n := range names {
		docs = append(docs, inline[n])
	}
	docs = append(docs, managed...)
	var out []map[string]any
	for _, doc := range docs {
		var top map[string]json.RawMessage
		if json.Unmarshal([]byte(doc), &top) != nil {
			continue
		}
		stmts, _ := statements(top["Statement"])
		for _, st := range stmts {
			if t := s3Statement(st); t != nil {
				out = append(out, t)
			}
		}
	}
	if len(out) == 0 {
		return denyAll
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": out})
	if err != nil {
		panic(err)
	}
	return b
}

// s3Statement reduces a statement to what MinIO can enforce, or nil when nothing of it concerns
// S3. MinIO refuses actions and resources of other services (kms:Decrypt is an "unsupported
// action", arn:aws:kms:... an "invalid resource"), while they grant or deny nothing on S3:
//   - Action keeps its s3: actions ("*" becomes "s3:*"); with none left the statement goes.
//   - NotAction keeps its s3: actions; with none left it excluded nothing on S3, so it becomes
//     Action s3:*.
//   - Resource keeps S3 ARNs and "*"; with none left the statement goes.
//   - NotResource keeps S3 ARNs; with none left it becomes Resource "*".
//
// Sid, Effect and Condition are kept as they are.
func s3Statement(st map[string]json.RawMessage) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"Sid", "Effect", "Condition"} {
		if v, ok := st[k]; ok {
			out[k] = v
		}
	}
	isS3Action := func(a string) bool { return strings.HasPrefix(strings.ToLower(a), "s3:") }
	// IAM reads the service prefix ignoring case, MinIO only as "s3:".
	s3Prefix := func(list []string) []string {
		for i, a := range list {
			list[i] = "s3:" + a[3:]
		}
		return list
	}
	isS3Resource := func(r string) bool { return r == "*" || strings.HasPrefix(r, "arn:aws:s3:::") }
	if raw, ok := st["NotAction"]; ok {
		list, _ := stringOrList(raw)
		kept := filter(list, isS3Action)
		if len(kept) == 0 {
			out["Action"] = []string{"s3:*"}
		} else {
			out["NotAction"] = s3Prefix(kept)
		}
	} else {
		list, _ := stringOrList(st["Action"])
		var kept []string
		for _, a := range list {
			if a == "*" {
				a = "s3:*" // MinIO reads a bare * as every MinIO action, admin ones included
			}
			if isS3Action(a) {
				kept = append(kept, a)
			}
		}
		if len(kept) == 0 {
			return nil
		}
		out["Action"] = s3Prefix(kept)
	}
	if raw, ok := st["NotResource"]; ok {
		list, _ := stringOrList(raw)
		kept := filter(list, func(r string) bool { return r != "*" && isS3Resource(r) })
		if len(kept) == 0 {
			out["Resource"] = []string{"*"}
		} else {
			out["NotResource"] = kept
		}
	} else {
		list, _ := stringOrList(st["Resource"])
		kept := filter(list, isS3Resource)
		if len(kept) == 0 {
			return nil
		}
		out["Resource"] = kept
	}
	return out
}

func filter(list []string, keep func(string) bool) []string {
	var out []string
	for _, s := range list {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// frontActions are the S3 actions of the operations the front answers itself; MinIO does not
// know them, so they never go into a MinIO policy.
var frontActions = map[string]bool{
	"s3:putbucketpublicaccessblock": true,
	"s3:getbucketpublicaccessblock": true,
	"s3:putbucketownershipcontrols": true,
	"s3:getbucketownershipcontrols": true,
}

// principalPolicy is the MinIO policy of a principal: s3:* for an admin (actions nil), else its
// s3: actions on every bucket and object (deny-all without any).
func principalPolicy(actions []string) []byte {
	var allowed []string
	if actions == nil {
		allowed = []string{"s3:*"}
	}
	for _, a := range actions {
		if strings.HasPrefix(strings.ToLower(a), "s3:") && !frontActions[strings.ToLower(a)] {
			allowed = append(allowed, a)
		}
	}
	if len(allowed) == 0 {
		return denyAll
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []map[string]any{
		{"Effect": "Allow", "Action": allowed, "Resource": []string{"arn:aws:s3:::*"}},
	}})
	if err != nil {
		panic(err)
	}
	return b
}
