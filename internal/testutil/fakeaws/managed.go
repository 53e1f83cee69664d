package fakeaws

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Limits of the IAM quotas page for managed policies.
const (
	// maxManagedPolicySize is the size of one managed policy document, counted without whitespace.
	maxManagedPolicySize = 6144
	// maxAttachedPerUser is the default quota of managed policies attached to one user.
	maxAttachedPerUser = 10
)

// policyPathPrefixRE is policyPathType, the PathPrefix of ListAttachedUserPolicies: "/" or a
// path that begins and ends with "/".
var policyPathPrefixRE = regexp.MustCompile(`^((/[A-Za-z0-9.,+@=_-]+)*)/$`)

// managedPolicy is a customer managed policy: one version (v1), never changed or deleted here.
// Its description and tags are validated and not kept (nothing here reads them back).
type managedPolicy struct {
	name, path, id, arn, doc string
	created                  time.Time
}

type xmlPolicy struct {
	PolicyName                    string
	DefaultVersionId              string
	PolicyId                      string
	Path                          string
	Arn                           string
	AttachmentCount               int
	PermissionsBoundaryUsageCount int
	IsAttachable                  bool
	CreateDate                    string
	UpdateDate                    string
	Tags                          []xmlTag `xml:"Tags>member,omitempty"`
}

// minioPolicyOf is the MinIO policy of a user with these inline policies and attached managed
// policies: their union. s.mu must be held.
func (s *Server) minioPolicyOf(inline map[string]string, attached []string) []byte {
	docs := make([]string, 0, len(attached))
	for _, arn := range attached {
		if p := s.managed[arn]; p != nil {
			docs = append(docs, p.doc)
		}
	}
	return minioPolicy(inline, docs...)
}

// policyArn reads and validates PolicyArn (required; 20..2048 characters, as arnType).
func (c *call) policyArn() (string, bool) {
	arn := c.params.Get("PolicyArn")
	switch {
	case arn == "":
		c.validationError("null", "policyArn", "Member must not be null")
	case len(arn) < 20:
		c.validationError(arn, "policyArn", "Member must have length greater than or equal to 20")
	case len(arn) > 2048:
		c.validationError(arn, "policyArn", "Member must have length less than or equal to 2048")
	default:
		return arn, true
	}
	return "", false
}

func (s *Server) createPolicy(c *call) {
	name, ok := c.policyName()
	if !ok {
		return
	}
	path := c.params.Get("Path")
	if path == "" {
		path = "/"
	}
	if len(path) > 512 || !pathRE.MatchString(path) {
		c.validationError(path, "path", `Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)`)
		return
	}
	description := c.params.Get("Description")
	if len(description) > 1000 {
		c.validationError(description, "description", "Member must have length less than or equal to 1000")
		return
	}
	doc := c.params.Get("PolicyDocument")
	if doc == "" {
		c.validationError("null", "policyDocument", "Member must not be null")
		return
	}
	if msg := validatePolicy(doc); msg != "" {
		c.fail(http.StatusBadRequest, CodeMalformedPolicyDocument, msg)
		return
	}
	if policySize(doc) > maxManagedPolicySize {
		c.fail(http.StatusConflict, CodeLimitExceeded, fmt.Sprintf("Cannot exceed quota for PolicySize: %d", maxManagedPolicySize))
		return
	}
	tags, ok := c.tags()
	if !ok {
		return
	}
	p := &managedPolicy{name: name, path: path, id: newID("ANPA"), doc: doc, created: s.cfg.Now().UTC().Truncate(time.Second)}
	p.arn = "arn:aws:iam::" + s.cfg.AccountID + ":policy" + path + name
	s.mu.Lock()
	for _, old := range s.managed {
		// Policy names are unique in the account whatever their path, ignoring case.
		if strings.EqualFold(old.name, name) {
			s.mu.Unlock()
			c.fail(http.StatusConflict, CodeEntityAlreadyExists, fmt.Sprintf("A policy called %s already exists. Duplicate names are not allowed.", name))
			return
		}
	}
	s.managed[p.arn] = p
	s.mu.Unlock()
	x := xmlPolicy{PolicyName: p.name, DefaultVersionId: "v1", PolicyId: p.id, Path: p.path, Arn: p.arn, IsAttachable: true,
		CreateDate: p.created.Format(timeFormat), UpdateDate: p.created.Format(timeFormat)}
	for _, t := range tags {
		x.Tags = append(x.Tags, xmlTag(t))
	}
	c.reply("CreatePolicy", struct{ Policy xmlPolicy }{x})
}

func (s *Server) attachUserPolicy(c *call) {
	name, ok := c.userName()
	if !ok {
		return
	}
	arn, ok := c.policyArn()
	if !ok {
		return
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	u := s.lookupUser(c, name)
	if u == nil {
		s.mu.Unlock()
		return
	}
	switch {
	case s.managed[arn] == nil:
		s.mu.Unlock()
		c.fail(http.StatusNotFound, CodeNoSuchEntity, fmt.Sprintf("Policy %s does not exist or is not attachable.", arn))
		return
	case slices.Contains(u.attached, arn):
		// [inference] Attaching an attached policy again changes nothing and succeeds.
		s.mu.Unlock()
		c.reply("AttachUserPolicy", nil)
		return
	case len(u.attached) >= maxAttachedPerUser:
		s.mu.Unlock()
		c.fail(http.StatusConflict, CodeLimitExceeded, fmt.Sprintf("Cannot exceed quota for PoliciesPerUser: %d", maxAttachedPerUser))
		return
	}
	next := append(slices.Clone(u.attached), arn)
	slices.Sort(next)
	inline := u.policies
	s.mu.Unlock()
	if !s.enforce(c, u, inline, next) {
		return
	}
	c.reply("AttachUserPolicy", nil)
}

func (s *Server) detachUserPolicy(c *call) {
	name, ok := c.userName()
	if !ok {
		return
	}
	arn, ok := c.policyArn()
	if !ok {
		return
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	u := s.lookupUser(c, name)
	if u == nil {
		s.mu.Unlock()
		return
	}
	if !slices.Contains(u.attached, arn) {
		s.mu.Unlock()
		// [inference] The wording of AWS emulators (LocalStack) for a policy not attached.
		c.fail(http.StatusNotFound, CodeNoSuchEntity, fmt.Sprintf("Policy %s was not found.", arn))
		return
	}
	next := slices.DeleteFunc(slices.Clone(u.attached), func(a string) bool { return a == arn })
	inline := u.policies
	s.mu.Unlock()
	if !s.enforce(c, u, inline, next) {
		return
	}
	c.reply("DetachUserPolicy", nil)
}

func (s *Server) listAttachedUserPolicies(c *call) {
	name, ok := c.userName()
	if !ok {
		return
	}
	prefix := c.params.Get("PathPrefix")
	if prefix == "" {
		prefix = "/"
	}
	if len(prefix) > 512 || !policyPathPrefixRE.MatchString(prefix) {
		c.validationError(prefix, "pathPrefix", `Member must satisfy regular expression pattern: ((/[A-Za-z0-9\.,\+@=_-]+)*)/`)
		return
	}
	start, size, ok := s.page(c)
	if !ok {
		return
	}
	type attachedPolicy struct{ PolicyName, PolicyArn string }
	s.mu.Lock()
	u := s.lookupUser(c, name)
	if u == nil {
		s.mu.Unlock()
		return
	}
	byARN := map[string]attachedPolicy{}
	var arns []string
	for _, arn := range u.attached {
		if p := s.managed[arn]; p != nil && strings.HasPrefix(p.path, prefix) {
			byARN[arn] = attachedPolicy{p.name, arn}
			arns = append(arns, arn)
		}
	}
	s.mu.Unlock()
	sort.Strings(arns) // [inference] attached policies are listed in ARN order
	pageARNs, marker := paginate(arns, start, size)
	policies := []attachedPolicy{}
	for _, arn := range pageARNs {
		policies = append(policies, byARN[arn])
	}
	c.reply("ListAttachedUserPolicies", struct {
		AttachedPolicies []attachedPolicy `xml:"AttachedPolicies>member"`
		IsTruncated      bool
		Marker           string `xml:",omitempty"`
	}{policies, marker != "", marker})
}
