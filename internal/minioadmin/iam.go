package minioadmin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
)

// The calls in this file manage MinIO users, groups and canned policies. The operator itself does
// not use them (it issues service accounts); they serve test support code such as
// internal/testutil/fakecloudflare, which needs identities with keys longer than a service account
// may have.

// UserStatus is whether a MinIO user may authenticate.
type UserStatus string

const (
	// UserEnabled lets the user authenticate.
	UserEnabled UserStatus = "enabled"
	// UserDisabled refuses the user's keys; S3 answers InvalidAccessKeyId as for an absent key.
	UserDisabled UserStatus = "disabled"
)

// AddUser creates the MinIO user accessKey with secretKey and status, or replaces the secret key
// and status of an existing one. The body carrying the secret key is encrypted. MinIO requires at
// least 3 characters of access key and 8 of secret key. Not used by the operator itself.
func (c *Client) AddUser(ctx context.Context, accessKey, secretKey string, status UserStatus) error {
	body, err := json.Marshal(struct {
		SecretKey string     `json:"secretKey"`
		Status    UserStatus `json:"status"`
	}{secretKey, status})
	if err != nil {
		return err
	}
	sealed, err := encrypt(c.secretKey, body)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPut, "/add-user", url.Values{"accessKey": {accessKey}}, sealed)
	return err
}

// SetUserStatus enables or disables the existing user accessKey. Not used by the operator itself.
func (c *Client) SetUserStatus(ctx context.Context, accessKey string, status UserStatus) error {
	_, err := c.do(ctx, http.MethodPut, "/set-user-status", url.Values{"accessKey": {accessKey}, "status": {string(status)}}, nil)
	return err
}

// RemoveUser deletes the user accessKey, which also takes it out of its groups. An absent user is
// success. Not used by the operator itself.
func (c *Client) RemoveUser(ctx context.Context, accessKey string) error {
	_, err := c.do(ctx, http.MethodDelete, "/remove-user", url.Values{"accessKey": {accessKey}}, nil)
	return ignoreNotFound(err)
}

// AddCannedPolicy creates the canned (named) IAM policy name with the policy document policy, or
// replaces the document of an existing one. Not used by the operator itself.
func (c *Client) AddCannedPolicy(ctx context.Context, name string, policy []byte) error {
	_, err := c.do(ctx, http.MethodPut, "/add-canned-policy", url.Values{"name": {name}}, policy)
	return err
}

// RemoveCannedPolicy deletes the canned policy name. An absent policy is success. Not used by the
// operator itself.
func (c *Client) RemoveCannedPolicy(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, "/remove-canned-policy", url.Values{"name": {name}}, nil)
	return ignoreNotFound(err)
}

// AddGroupMembers adds the existing users members to group, creating the group when it is absent.
// Not used by the operator itself.
func (c *Client) AddGroupMembers(ctx context.Context, group string, members []string) error {
	return c.updateGroupMembers(ctx, group, members, false)
}

// RemoveGroup deletes group, which must have no members left, together with its policy mapping.
// An absent group is success. Not used by the operator itself.
func (c *Client) RemoveGroup(ctx context.Context, group string) error {
	return ignoreNotFound(c.updateGroupMembers(ctx, group, []string{}, true))
}

// updateGroupMembers adds members to group or removes them; removing no members removes the group.
func (c *Client) updateGroupMembers(ctx context.Context, group string, members []string, remove bool) error {
	body, err := json.Marshal(struct {
		Group    string   `json:"group"`
		Members  []string `json:"members"`
		IsRemove bool     `json:"isRemove"`
	}{group, members, remove})
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPut, "/update-group-members", nil, body)
	return err
}

// SetGroupPolicy makes the canned policy policy the one attached to the existing group, replacing
// any attached before; the group's members get its permissions. Not used by the operator itself.
func (c *Client) SetGroupPolicy(ctx context.Context, group, policy string) error {
	_, err := c.do(ctx, http.MethodPut, "/set-user-or-group-policy",
		url.Values{"policyName": {policy}, "userOrGroup": {group}, "isGroup": {"true"}}, nil)
	return err
}

// ignoreNotFound turns an admin API "no such ..." reply into success, for idempotent deletes.
func ignoreNotFound(err error) error {
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.IsNotFound() {
		return nil
	}
	return err
}
