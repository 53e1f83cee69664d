// Package fakedigitalocean is a test fake of the DigitalOcean API's Spaces keys endpoints, the part
// of the API tfstate-operator uses. It is test-support code and is never linked into the operator.
//
// # What it fakes
//
// Paths are those of the API reference (specification/resources/spaces in digitalocean/openapi)
// and of what github.com/digitalocean/godo sends, relative to URL():
//
//	GET    v2/spaces/keys                ?page=&per_page=
//	POST   v2/spaces/keys                {"name","grants":[{"bucket","permission"}]}   -> 201
//	GET    v2/spaces/keys/{access_key}
//	PUT    v2/spaces/keys/{access_key}   {"name","grants":[{"bucket","permission"}]}   -> 200
//	DELETE v2/spaces/keys/{access_key}                                                  -> 204
//
// A list is newest first unless sort_direction=asc (the documented defaults: sort=created_at,
// sort_direction=desc, digitalocean/openapi spaces/parameters.yml); Config.OnList lets a test
// change the account between pages.
//
// Replies use the documented shapes: {"key":{...}} for one key (the "secret_key" only in the
// create reply; an update answers the key as stored),
// {"keys":[...],"links":{"pages":{...}},"meta":{"total":N}} for a list, and
// {"id","message","request_id"} for every error, with the request id also in x-request-id.
//
// # The data plane is a real MinIO
//
// S3Endpoint is a front over MinIO's S3 API (s3front.go) that passes requests through with their
// Host header, so MinIO authenticates and authorises every one; the front adds what Spaces has and
// MinIO lacks. Buckets are made through it (Spaces creates buckets only through S3), at most
// Config.BucketLimit (100, the Spaces limits page: "up to 100 Spaces buckets and 200 access keys
// per account"); beyond that CreateBucket answers 400 TooManyBuckets. Bucket ACLs (acl.go) are the
// front's: GET and PUT /{bucket}?acl take the canned "private" (a new bucket's) and "public-read"
// (Spaces API reference) as x-amz-acl or an AccessControlPolicy body, any other canned ACL is 400
// InvalidArgument [inference], and GET answers the S3 AccessControlPolicy (owner FULL_CONTROL, plus
// READ to AllUsers when public-read). MinIO authorises ACL calls as it does bucket-policy calls.
// SetBucketACLInConsole is the control panel's "File Listing" switch.
//
// A key
// issued through the fake is a real MinIO identity (internal/testutil/minioidentity) with the same
// access key and secret, limited to its grants:
//
//	read on B       -> s3:ListBucket, s3:GetBucketLocation on B; s3:GetObject on B/*
//	readwrite on B  -> the same, plus s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload,
//	                   s3:ListMultipartUploadParts on B/*
//	fullaccess      -> s3:* on every bucket (it wins over scoped grants in the same key, as
//	                   DigitalOcean's client docs say)
//	no grant        -> a deny-all identity (its keys authenticate and are denied)
//
// The identity exists before the create answers (after Config.KeyPropagation when set: the key
// is refused on S3 with InvalidAccessKeyId until then, [inference] as new keys are on R2 and AWS;
// DigitalOcean documents no delay) and is removed before the delete answers. An
// update replaces the identity's policy before it answers, with the same keys: S3 enforces the new
// grants at once and the key never stops authenticating. As the API reference says of updates, a
// fullaccess key cannot become a scoped one or the reverse (400 "bad_request").
//
// # Authentication, scopes, limits
//
// Every request needs "Authorization: Bearer <token>" of a token made with AddToken. A token made
// with scopes holds only those (custom-scoped tokens); one made without holds every scope (a
// full-access token). Listing and reading keys needs spaces_key:read, creating them
// spaces_key:create_credentials, updating them spaces_key:update, deleting them spaces_key:delete.
//
// Rate limits, per token, as documented: Config.PerMinute (250) requests in any rolling minute and
// Config.PerHour (5,000) in any rolling hour. Every authenticated reply carries RateLimit-Limit (the
// hourly limit), RateLimit-Remaining and RateLimit-Reset (epoch seconds at which the oldest counted
// request expires); a request beyond either limit gets 429 {"id":"too_many_requests"} and is not
// counted. Key limit: Config.KeyLimit (200, the documented default per account) live keys.
//
// # Inference
//
// Marked "[inference]" in the code; the choices not taken from a DigitalOcean source are:
//   - 401 "unauthorized" / "Unable to authenticate you", 403 "forbidden" / "You are not authorized
//     to perform this operation", 404 "not_found" also for unknown routes, 405 "method_not_allowed".
//   - The key-limit refusal: 422 "unprocessable_entity" with a message naming the limit, as
//     DigitalOcean answers other per-account limits (Droplets).
//   - 422 for a missing name, an unknown permission, or a read/readwrite grant without a bucket,
//     on create and update alike; a grant naming a bucket that does not exist is accepted. An
//     update needs both name and grants (it replaces the key; doctl requires both).
//   - The refusal of an update between fullaccess and scoped grants is 400 "bad_request" (the
//     only client error the update operation documents); an update of an unknown key is 404
//     whatever its body.
//   - per_page defaults to 20 and must be 1..200; page must be >= 1. Config.MaxPerPage (tests)
//     cuts pages shorter than asked, as APIs that clamp page sizes do.
//   - Access keys are "DO" and 18 characters of [0-9A-Z]; secrets are 43 characters of base64.
//   - A 429 reply carries no Retry-After, only the RateLimit-* headers.
//   - The refusal at the bucket limit is S3's 400 TooManyBuckets ("You have attempted to create
//     more buckets than allowed", AWS's S3 error codes); DigitalOcean does not document its reply.
//
// # Limits of the fake
//
//   - One account, one region: every bucket is on MinIO's single endpoint S3Endpoint(), and a
//     grant is not checked against the bucket's region.
//   - A public-read ACL is recorded and answered, not enforced: anonymous requests still reach
//     MinIO, which knows no ACLs (a bucket policy is enforced, by MinIO).
//   - Only buckets made through the front count toward the limit, and at the limit a create is
//     refused before MinIO has authenticated it.
//   - Partial key update (PATCH on a key answers 405 "method_not_allowed"; godo has no Patch);
//     the list's name, bucket and permission filters and a sort other than created_at are
//     ignored. godo sends only page and per_page.
package fakedigitalocean
