package fakeaws

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// IAM and STS error codes the fake answers.
const (
	CodeAccessDenied            = "AccessDenied"               // 403
	CodeDeleteConflict          = "DeleteConflict"             // 409
	CodeEntityAlreadyExists     = "EntityAlreadyExists"        // 409
	CodeIncompleteSignature     = "IncompleteSignature"        // 400
	CodeInvalidAction           = "InvalidAction"              // 400
	CodeInvalidClientTokenID    = "InvalidClientTokenId"       // 403
	CodeInvalidInput            = "InvalidInput"               // 400
	CodeLimitExceeded           = "LimitExceeded"              // 409
	CodeMalformedPolicyDocument = "MalformedPolicyDocument"    // 400
	CodeMissingAuthToken        = "MissingAuthenticationToken" // 403
	CodeNoSuchEntity            = "NoSuchEntity"               // 404
	CodeServiceFailure          = "ServiceFailure"             // 500
	CodeSignatureDoesNotMatch   = "SignatureDoesNotMatch"      // 403
	CodeThrottling              = "Throttling"                 // 400
	CodeValidationError         = "ValidationError"            // 400
)

const (
	iamVersion   = "2010-05-08"
	iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsVersion   = "2011-06-15"
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

	statusActive   = "Active"
	timeFormat     = "2006-01-02T15:04:05Z"
	maxKeysPerUser = 2
)

// Patterns and lengths of the IAM API reference.
var (
	userNameRE    = regexp.MustCompile(`^[\w+=,.@-]+$`)
	pathRE        = regexp.MustCompile(`^(/|/[\x{21}-\x{7E}]+/)$`)
	pathPrefixRE  = regexp.MustCompile(`^/[\x{21}-\x{7E}]*$`)
	accessKeyIDRE = regexp.MustCompile(`^\w+$`)
	tagKeyRE      = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValueRE    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// ---- HTTP plumbing ----

// call is one Query API request being answered.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	params    url.Values
	namespace string
	reqID     string
	caller    *caller
	status    int
	code      string
}

// reply writes <{action}Response><{action}Result>result</...><ResponseMetadata>; result nil
// writes no Result element (actions with an empty output).
func (c *call) reply(action string, result any) {
	c.status = http.StatusOK
	var b strings.Builder
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: c.namespace}}}
	err := enc.EncodeToken(start)
	if err == nil && result != nil {
		err = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(struct {
			RequestID string `xml:"RequestId"`
		}{c.reqID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(start.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		c.fail(http.StatusInternalServerError, CodeServiceFailure, "fakeaws: encoding the answer: "+err.Error())
		return
	}
	c.write(http.StatusOK, b.String())
}

// fail writes AWS's Query API error body.
func (c *call) fail(status int, code, message string) {
	c.status, c.code = status, code
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	body := struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		XMLNS   string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string
			Code    string
			Message string
		}
		RequestID string `xml:"RequestId"`
	}{XMLNS: c.namespace, RequestID: c.reqID}
	body.Error.Type, body.Error.Code, body.Error.Message = typ, code, message
	out, _ := xml.Marshal(body)
	c.write(status, xml.Header+string(out))
}

func (c *call) write(status int, body string) {
	c.w.Header().Set("Content-Type", "text/xml")
	c.w.Header().Set("x-amzn-RequestId", c.reqID)
	c.w.WriteHeader(status)
	_, _ = io.WriteString(c.w, body)
}

// validationError answers ValidationError in AWS's wording.
func (c *call) validationError(value, member, constraint string) {
	c.fail(http.StatusBadRequest, CodeValidationError,
		fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint))
}

// readQuery authenticates a Query API request and reads its parameters (form body and URL
// query). ok is false when it already answered.
func (s *Server) readQuery(c *call, service string) bool {
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, 1<<20))
	if err != nil {
		c.fail(http.StatusBadRequest, "MalformedQueryString", "request body too large or unreadable")
		return false
	}
	c.params = c.r.URL.Query()
	if c.r.Method == http.MethodPost {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			c.fail(http.StatusBadRequest, "MalformedQueryString", "the request body is not form-encoded")
			return false
		}
		for k, v := range form {
			c.params[k] = append(c.params[k], v...)
		}
	}
	cl, aerr := s.authenticate(c.r, sha256Hex(body), service)
	if aerr != nil {
		c.fail(aerr.status, aerr.code, aerr.message)
		return false
	}
	c.caller = cl
	return true
}

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request) {
	c := &call{w: w, r: r, namespace: stsNamespace, reqID: newRequestID()}
	defer s.recordCall(c, "sts")
	if !s.readQuery(c, "sts") {
		return
	}
	action := c.params.Get("Action")
	if action != "GetCallerIdentity" || c.params.Get("Version") != stsVersion {
		c.fail(http.StatusBadRequest, CodeInvalidAction, fmt.Sprintf("Could not find operation %s for version %s", action, c.params.Get("Version")))
		return
	}
	// GetCallerIdentity needs no permission (AWS documents it), so every caller may call it.
	c.reply(action, struct {
		Arn, UserId, Account string
	}{c.caller.arn, c.caller.userID, s.cfg.AccountID})
}

func (s *Server) recordCall(c *call, service string) {
	req := Request{Service: service, Action: c.params.Get("Action"), Params: c.params, Status: c.status, Code: c.code}
	if c.caller != nil {
		req.Caller = c.caller.name
	}
	s.record(req)
}

// iamActions are the IAM actions the fake implements.
var iamActions = map[string]func(*Server, *call){
	"CreateUser":           (*Server).createUser,
	"GetUser":              (*Server).getUser,
	"ListUsers":            (*Server).listUsers,
	"DeleteUser":           (*Server).deleteUser,
	"PutUserPolicy":        (*Server).putUserPolicy,
	"GetUserPolicy":        (*Server).getUserPolicy,
	"ListUserPolicies":     (*Server).listUserPolicies,
	"DeleteUserPolicy":     (*Server).deleteUserPolicy,
	"CreateAccessKey":      (*Server).createAccessKey,
	"ListAccessKeys":       (*Server).listAccessKeys,
	"DeleteAccessKey":      (*Server).deleteAccessKey,
	"GetAccessKeyLastUsed": (*Server).getAccessKeyLastUsed,

	"CreatePolicy":             (*Server).createPolicy,
	"AttachUserPolicy":         (*Server).attachUserPolicy,
	"DetachUserPolicy":         (*Server).detachUserPolicy,
	"ListAttachedUserPolicies": (*Server).listAttachedUserPolicies,
}

func (s *Server) serveIAM(w http.ResponseWriter, r *http.Request) {
	c := &call{w: w, r: r, namespace: iamNamespace, reqID: newRequestID()}
	defer s.recordCall(c, "iam")
	if !s.readQuery(c, "iam") {
		return
	}
	s.mu.Lock()
	throttled := s.throttle > 0
	if throttled {
		s.throttle--
	}
	s.mu.Unlock()
	if throttled {
		c.fail(http.StatusBadRequest, CodeThrottling, "Rate exceeded")
		return
	}
	action := c.params.Get("Action")
	handler := iamActions[action]
	if handler == nil || c.params.Get("Version") != iamVersion {
		// [inference] AWS's wording for an unknown action; the same for a wrong Version.
		c.fail(http.StatusBadRequest, CodeInvalidAction, fmt.Sprintf("Could not find operation %s for version %s", action, c.params.Get("Version")))
		return
	}
	// Authorisation. A user's own keys hold no IAM permission here (their inline policies are
	// not evaluated for iam: actions).
	if p := c.caller.principal; p == nil || !p.allowed("iam:"+action) {
		c.fail(http.StatusForbidden, CodeAccessDenied, fmt.Sprintf(
			"User: %s is not authorized to perform: iam:%s on resource: %s because no identity-based policy allows the iam:%s action",
			c.caller.arn, action, s.resourceOf(c, action), action))
		return
	}
	handler(s, c)
}

// resourceOf is the resource an AccessDenied message names: the user the call is about.
func (s *Server) resourceOf(c *call, action string) string {
	name := c.params.Get("UserName")
	switch {
	case action == "ListUsers":
		return "arn:aws:iam::" + s.cfg.AccountID + ":user/"
	case action == "CreateUser":
		path := c.params.Get("Path")
		if path == "" {
			path = "/"
		}
		return "arn:aws:iam::" + s.cfg.AccountID + ":user" + path + name
	case action == "CreatePolicy":
		path := c.params.Get("Path")
		if path == "" {
			path = "/"
		}
		return "arn:aws:iam::" + s.cfg.AccountID + ":policy" + path + c.params.Get("PolicyName")
	case name == "":
		return c.caller.arn
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[strings.ToLower(name)]; u != nil {
		return u.arn(s.cfg.AccountID)
	}
	return "arn:aws:iam::" + s.cfg.AccountID + ":user/" + name
}

// ---- parameters ----

// userName reads and validates UserName (required).
func (c *call) userName() (string, bool) { return c.name("UserName", "userName", 64) }

// policyName reads and validates PolicyName (required).
func (c *call) policyName() (string, bool) { return c.name("PolicyName", "policyName", 128) }

// name reads the required name parameter param (field in IAM's messages) of at most max
// characters of [\w+=,.@-], answering IAM's ValidationError otherwise.
func (c *call) name(param, field string, max int) (string, bool) {
	name := c.params.Get(param)
	switch {
	case name == "":
		c.validationError("null", field, "Member must not be null")
	case len(name) > max:
		c.validationError(name, field, fmt.Sprintf("Member must have length less than or equal to %d", max))
	case !userNameRE.MatchString(name):
		c.validationError(name, field, `Member must satisfy regular expression pattern: [\w+=,.@-]+`)
	default:
		return name, true
	}
	return "", false
}

// page reads Marker and MaxItems. The marker is opaque to clients: base64 of the first item of
// the next page.
func (s *Server) page(c *call) (start string, size int, ok bool) {
	size = s.cfg.MaxItems
	if v := c.params.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			c.validationError(v, "maxItems", "Member must have value between 1 and 1000")
			return "", 0, false
		}
		size = min(n, s.cfg.MaxItems)
	}
	if m := c.params.Get("Marker"); m != "" {
		b, err := base64.RawURLEncoding.DecodeString(m)
		if err != nil || len(b) == 0 {
			c.validationError(m, "marker", "Member must be a marker this API returned") // [inference]
			return "", 0, false
		}
		start = string(b)
	}
	return start, size, true
}

// paginate cuts the sorted keys from start into a page of size, returning the page and the
// next marker ("" on the last page).
func paginate(sorted []string, start string, size int) ([]string, string) {
	i := sort.SearchStrings(sorted, start)
	end := min(i+size, len(sorted))
	if end < len(sorted) {
		return sorted[i:end], base64.RawURLEncoding.EncodeToString([]byte(sorted[end]))
	}
	return sorted[i:end], ""
}

// ---- XML shapes ----

type xmlTag struct{ Key, Value string }

type xmlBoundary struct {
	PermissionsBoundaryType string
	PermissionsBoundaryArn  string
}

type xmlUser struct {
	Path                string
	UserName            string
	UserId              string
	Arn                 string
	CreateDate          string
	PermissionsBoundary *xmlBoundary `xml:",omitempty"`
	Tags                []xmlTag     `xml:"Tags>member,omitempty"`
}

// xmlUserOf is a user as CreateUser and GetUser answer it; lists leave out the boundary and tags
// (AWS's list actions return a subset of the attributes).
func (s *Server) xmlUserOf(u *user, full bool) xmlUser {
	x := xmlUser{Path: u.path, UserName: u.name, UserId: u.id, Arn: u.arn(s.cfg.AccountID), CreateDate: u.created.Format(timeFormat)}
	if full {
		if u.boundary != "" {
			x.PermissionsBoundary = &xmlBoundary{"PermissionsBoundaryPolicy", u.boundary}
		}
		for _, t := range u.tags {
			x.Tags = append(x.Tags, xmlTag(t))
		}
	}
	return x
}

type xmlKeyMetadata struct {
	UserName    string
	AccessKeyId string
	Status      string
	CreateDate  string
}

// ---- users ----

func (c *call) noSuchUser(name string) {
	c.fail(http.StatusNotFound, CodeNoSuchEntity, fmt.Sprintf("The user with name %s cannot be found.", name))
}

func (s *Server) createUser(c *call) {
	name, ok := c.userName()
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
	boundary := c.params.Get("PermissionsBoundary")
	if boundary != "" && (len(boundary) < 20 || len(boundary) > 2048) {
		c.validationError(boundary, "permissionsBoundary", "Member must have length greater than or equal to 20")
		return
	}
	tags, ok := c.tags()
	if !ok {
		return
	}
	u := &user{name: name, path: path, id: newID("AIDA"), created: s.cfg.Now().UTC().Truncate(time.Second),
		boundary: boundary, tags: tags, policies: map[string]string{}}
	s.mu.Lock()
	if old := s.users[strings.ToLower(name)]; old != nil {
		s.mu.Unlock()
		c.fail(http.StatusConflict, CodeEntityAlreadyExists, fmt.Sprintf("User with name %s already exists.", old.name))
		return
	}
	if len(s.users) >= s.cfg.UserLimit {
		s.mu.Unlock()
		// [inference] The message follows the documented AccessKeysPerUser one.
		c.fail(http.StatusConflict, CodeLimitExceeded, fmt.Sprintf("Cannot exceed quota for UsersPerAccount: %d", s.cfg.UserLimit))
		return
	}
	s.users[strings.ToLower(name)] = u
	x := s.xmlUserOf(u, true)
	s.mu.Unlock()
	c.reply("CreateUser", struct{ User xmlUser }{x})
}

// tags reads Tags.member.N.Key/Value.
func (c *call) tags() ([]Tag, bool) {
	var tags []Tag
	seen := map[string]bool{}
	for i := 1; ; i++ {
		p := fmt.Sprintf("Tags.member.%d.", i)
		key, present := c.params[p+"Key"]
		if !present {
			break
		}
		t := Tag{Key: key[0], Value: c.params.Get(p + "Value")}
		if len(t.Key) < 1 || len(t.Key) > 128 || !tagKeyRE.MatchString(t.Key) {
			c.validationError(t.Key, fmt.Sprintf("tags.%d.member.key", i), `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`)
			return nil, false
		}
		if len(t.Value) > 256 || !tagValueRE.MatchString(t.Value) {
			c.validationError(t.Value, fmt.Sprintf("tags.%d.member.value", i), `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`)
			return nil, false
		}
		if seen[strings.ToLower(t.Key)] {
			c.fail(http.StatusBadRequest, CodeInvalidInput, "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
			return nil, false
		}
		seen[strings.ToLower(t.Key)] = true
		tags = append(tags, t)
	}
	if len(tags) > 50 {
		c.validationError("[...]", "tags", "Member must have length less than or equal to 50")
		return nil, false
	}
	return tags, true
}

func (s *Server) getUser(c *call) {
	if c.params.Get("UserName") == "" {
		// The caller itself: principals are users of the account too.
		p := c.caller.principal
		c.reply("GetUser", struct{ User xmlUser }{xmlUser{Path: "/", UserName: p.name, UserId: p.id, Arn: c.caller.arn,
			CreateDate: p.created.Format(timeFormat)}})
		return
	}
	name, ok := c.userName()
	if !ok {
		return
	}
	s.mu.Lock()
	u := s.users[strings.ToLower(name)]
	var x xmlUser
	if u != nil {
		x = s.xmlUserOf(u, true)
	}
	s.mu.Unlock()
	if u == nil {
		c.noSuchUser(name)
		return
	}
	c.reply("GetUser", struct{ User xmlUser }{x})
}

func (s *Server) listUsers(c *call) {
	prefix := c.params.Get("PathPrefix")
	if prefix == "" {
		prefix = "/"
	}
	if len(prefix) > 512 || !pathPrefixRE.MatchString(prefix) {
		c.validationError(prefix, "pathPrefix", `Member must satisfy regular expression pattern: \u002F[\u0021-\u007E]*`)
		return
	}
	start, size, ok := s.page(c)
	if !ok {
		return
	}
	s.mu.Lock()
	var keys []string // lower-case names: AWS lists users ordered by name [inference: ignoring case]
	for k, u := range s.users {
		if strings.HasPrefix(u.path, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	pageKeys, marker := paginate(keys, start, size)
	users := []xmlUser{}
	for _, k := range pageKeys {
		users = append(users, s.xmlUserOf(s.users[k], false))
	}
	s.mu.Unlock()
	c.reply("ListUsers", struct {
		Users       []xmlUser `xml:"Users>member"`
		IsTruncated bool
		Marker      string `xml:",omitempty"`
	}{users, marker != "", marker})
}

func (s *Server) deleteUser(c *call) {
	name, ok := c.userName()
	if !ok {
		return
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(name)]
	switch {
	case u == nil:
		c.noSuchUser(name)
	case len(u.keys) > 0:
		c.fail(http.StatusConflict, CodeDeleteConflict, "Cannot delete entity, must delete access keys first.")
	case len(u.policies) > 0:
		c.fail(http.StatusConflict, CodeDeleteConflict, "Cannot delete entity, must delete policies first.")
	case len(u.attached) > 0:
		c.fail(http.StatusConflict, CodeDeleteConflict, "Cannot delete entity, must detach all policies first.")
	default:
		delete(s.users, strings.ToLower(name))
		c.reply("DeleteUser", nil)
	}
}

// ---- inline policies ----

func (s *Server) putUserPolicy(c *call) {
	name, ok := c.userName()
	if !ok {
		return
	}
	policyName, ok := c.policyName()
	if !ok {
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
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	u := s.users[strings.ToLower(name)]
	if u == nil {
		s.mu.Unlock()
		c.noSuchUser(name)
		return
	}
	next := map[string]string{policyName: doc}
	size := policySize(doc)
	for n, d := range u.policies {
		if n != policyName {
			next[n] = d
			size += policySize(d)
		}
	}
	s.mu.Unlock()
	if size > maxUserPolicySize {
		c.fail(http.StatusConflict, CodeLimitExceeded, fmt.Sprintf("Maximum policy size of %d bytes exceeded for user %s", maxUserPolicySize, u.name))
		return
	}
	if !s.enforce(c, u, next, u.attached) {
		return
	}
	c.reply("PutUserPolicy", nil)
}

// enforce makes inline the user's inline policies and attached its managed ones: MinIO must take
// the translation of their union first (a policy MinIO cannot enforce fails loudly with
// ServiceFailure instead of being enforced differently), then every key that works gets it.
// s.opMu must be held (it is what keeps u.policies and u.attached still for the caller).
func (s *Server) enforce(c *call, u *user, inline map[string]string, attached []string) bool {
	s.mu.Lock()
	doc := s.minioPolicyOf(inline, attached)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	check := "aws-check-" + randomHex(8)
	if err := s.admin.AddCannedPolicy(ctx, check, doc); err != nil {
		c.fail(http.StatusInternalServerError, CodeServiceFailure,
			"fakeaws: the data plane (MinIO) cannot enforce this policy: "+err.Error()+"; MinIO policy: "+string(doc))
		return false
	}
	_ = s.admin.RemoveCannedPolicy(ctx, check)
	s.mu.Lock()
	u.policies, u.attached = inline, attached
	var live []string
	for _, k := range u.keys {
		if k.propagated {
			live = append(live, k.id)
		}
	}
	s.mu.Unlock()
	for _, id := range live {
		if err := s.identities.SetPolicy(ctx, id, doc); err != nil {
			c.fail(http.StatusInternalServerError, CodeServiceFailure, "fakeaws: updating the MinIO policy of "+id+": "+err.Error())
			return false
		}
	}
	return true
}

// lookupUser answers NoSuchEntity for an unknown user. s.mu must be held.
func (s *Server) lookupUser(c *call, name string) *user {
	u := s.users[strings.ToLower(name)]
	if u == nil {
		c.noSuchUser(name)
	}
	return u
}

func (s *Server) getUserPolicy(c *call) {
	name, ok := c.userName()
	if !ok {
		return
	}
	policyName, ok := c.policyName()
	if !ok {
		return
	}
	s.mu.Lock()
	u := s.lookupUser(c, name)
	if u == nil {
		s.mu.Unlock()
		return
	}
	doc, found := u.policies[policyName]
	uname := u.name
	s.mu.Unlock()
	if !found {
		c.fail(http.StatusNotFound, CodeNoSuchEntity, fmt.Sprintf("The user policy with name %s cannot be found.", policyName))
		return
	}
	c.reply("GetUserPolicy", struct {
		UserName, PolicyName, PolicyDocument string
	}{uname, policyName, rfc3986Escape(doc)})
}

// rfc3986Escape percent-encodes everything but the unreserved characters, as IAM returns policy
// documents ("URL-encoded compliant with RFC 3986").
func rfc3986Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || strings.IndexByte("-._~", ch) >= 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

func (s *Server) listUserPolicies(c *call) {
	name, ok := c.userName()
	if !ok {
		return
	}
	start, size, ok := s.page(c)
	if !ok {
		return
	}
	s.mu.Lock()
	u := s.lookupUser(c, name)
	if u == nil {
		s.mu.Unlock()
		return
	}
	var names []string
	for n := range u.policies {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names) // [inference] AWS lists policy names in name order
	pageNames, marker := paginate(names, start, size)
	c.reply("ListUserPolicies", struct {
		PolicyNames []string `xml:"PolicyNames>member"`
		IsTruncated bool
		Marker      string `xml:",omitempty"`
	}{pageNames, marker != "", marker})
}

func (s *Server) deleteUserPolicy(c *call) {
	name, ok := c.userName()
	if !ok {
		return
	}
	policyName, ok := c.policyName()
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
	_, found := u.policies[policyName]
	next := map[string]string{}
	for n, d := range u.policies {
		if n != policyName {
			next[n] = d
		}
	}
	s.mu.Unlock()
	if !found {
		c.fail(http.StatusNotFound, CodeNoSuchEntity, fmt.Sprintf("The user policy with name %s cannot be found.", policyName))
		return
	}
	if !s.enforce(c, u, next, u.attached) {
		return
	}
	c.reply("DeleteUserPolicy", nil)
}

// ---- access keys ----

func (s *Server) createAccessKey(c *call) {
	if c.params.Get("UserName") == "" {
		c.fail(http.StatusBadRequest, CodeValidationError, "fakeaws: UserName is required (the fake does not issue keys to the calling principal)")
		return
	}
	name, ok := c.userName()
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
	if len(u.keys) >= maxKeysPerUser {
		s.mu.Unlock()
		c.fail(http.StatusConflict, CodeLimitExceeded, fmt.Sprintf("Cannot exceed quota for AccessKeysPerUser: %d", maxKeysPerUser))
		return
	}
	k := &accessKey{id: newAccessKeyID(), secret: newSecret(), user: u, created: s.cfg.Now().UTC().Truncate(time.Second)}
	u.keys = append(u.keys, k)
	s.keys[k.id] = k
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.schedule(ctx, k); err != nil {
		_ = s.identities.Delete(ctx, k.id) // whatever part of it was made
		s.mu.Lock()
		s.forgetKey(k)
		s.mu.Unlock()
		c.fail(http.StatusInternalServerError, CodeServiceFailure, "fakeaws: creating the MinIO identity: "+err.Error())
		return
	}
	c.reply("CreateAccessKey", struct {
		AccessKey struct {
			UserName, AccessKeyId, Status, SecretAccessKey, CreateDate string
		}
	}{struct{ UserName, AccessKeyId, Status, SecretAccessKey, CreateDate string }{
		u.name, k.id, statusActive, k.secret, k.created.Format(timeFormat)}})
}

// forgetKey removes k from the store. s.mu must be held.
func (s *Server) forgetKey(k *accessKey) {
	s.stopTimer(k)
	delete(s.keys, k.id)
	for i, uk := range k.user.keys {
		if uk == k {
			k.user.keys = append(k.user.keys[:i:i], k.user.keys[i+1:]...)
			break
		}
	}
}

func (s *Server) listAccessKeys(c *call) {
	start, size, ok := s.page(c)
	if !ok {
		return
	}
	var meta []xmlKeyMetadata
	if c.params.Get("UserName") == "" {
		// The caller's own keys.
		p := c.caller.principal
		meta = append(meta, xmlKeyMetadata{p.name, p.keyID, statusActive, p.created.Format(timeFormat)})
	} else {
		name, ok := c.userName()
		if !ok {
			return
		}
		s.mu.Lock()
		u := s.lookupUser(c, name)
		if u == nil {
			s.mu.Unlock()
			return
		}
		for _, k := range u.keys {
			meta = append(meta, xmlKeyMetadata{u.name, k.id, statusActive, k.created.Format(timeFormat)})
		}
		s.mu.Unlock()
	}
	// [inference] keys are listed in key id order.
	sort.Slice(meta, func(i, j int) bool { return meta[i].AccessKeyId < meta[j].AccessKeyId })
	ids := make([]string, len(meta))
	for i, m := range meta {
		ids[i] = m.AccessKeyId
	}
	pageIDs, marker := paginate(ids, start, size)
	i := sort.SearchStrings(ids, start)
	c.reply("ListAccessKeys", struct {
		AccessKeyMetadata []xmlKeyMetadata `xml:"AccessKeyMetadata>member"`
		IsTruncated       bool
		Marker            string `xml:",omitempty"`
	}{meta[i : i+len(pageIDs)], marker != "", marker})
}

func (s *Server) deleteAccessKey(c *call) {
	if c.params.Get("UserName") == "" {
		c.fail(http.StatusBadRequest, CodeValidationError, "fakeaws: UserName is required (the fake does not manage the calling principal's keys)")
		return
	}
	name, ok := c.userName()
	if !ok {
		return
	}
	id := c.params.Get("AccessKeyId")
	if len(id) < 16 || len(id) > 128 || !accessKeyIDRE.MatchString(id) {
		c.validationError(id, "accessKeyId", `Member must satisfy regular expression pattern: [\w]+`)
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
	k := s.keys[id]
	if k == nil || k.user != u {
		s.mu.Unlock()
		c.fail(http.StatusNotFound, CodeNoSuchEntity, fmt.Sprintf("The Access Key with id %s cannot be found.", id))
		return
	}
	s.stopTimer(k)
	s.mu.Unlock()
	// The identity goes first (whether it propagated or not): once the delete answers, the key
	// is refused everywhere.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.identities.Delete(ctx, id); err != nil {
		c.fail(http.StatusInternalServerError, CodeServiceFailure, "fakeaws: removing the MinIO identity: "+err.Error())
		return
	}
	s.mu.Lock()
	k.propagated = false
	s.forgetKey(k)
	s.mu.Unlock()
	c.reply("DeleteAccessKey", nil)
}

func (s *Server) getAccessKeyLastUsed(c *call) {
	id := c.params.Get("AccessKeyId")
	if len(id) < 16 || len(id) > 128 || !accessKeyIDRE.MatchString(id) {
		c.validationError(id, "accessKeyId", `Member must satisfy regular expression pattern: [\w]+`)
		return
	}
	s.mu.Lock()
	var owner string
	var use *lastUse
	if k := s.keys[id]; k != nil {
		owner, use = k.user.name, k.lastUsed
	} else if p := s.principals[id]; p != nil {
		owner, use = p.name, p.lastUsed
	}
	s.mu.Unlock()
	if owner == "" {
		// [inference] For a key that does not exist (or no longer does), AWS answers AccessDenied
		// naming the key, not NoSuchEntity (the SDK model lists no error for this action).
		c.fail(http.StatusForbidden, CodeAccessDenied, fmt.Sprintf(
			"User: %s is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key %s", c.caller.arn, id))
		return
	}
	type lastUsed struct {
		LastUsedDate string `xml:",omitempty"`
		ServiceName  string
		Region       string
	}
	// Never used: no date, "N/A" service and region, as AWS documents.
	lu := lastUsed{ServiceName: "N/A", Region: "N/A"}
	if use != nil {
		lu = lastUsed{use.at.Format(timeFormat), use.service, use.region}
	}
	c.reply("GetAccessKeyLastUsed", struct {
		UserName          string
		AccessKeyLastUsed lastUsed
	}{owner, lu})
}
