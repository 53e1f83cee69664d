// Package fakecloudflare is a test fake of the parts of the Cloudflare v4 REST API that
// tfstate-operator uses: account-owned API tokens and R2 buckets. It is test-support code and is
// never linked into the operator binary.
//
// # What it fakes
//
// Paths are relative to URL() (".../client/v4/"), and follow what
// github.com/cloudflare/cloudflare-go/v7 sends:
//
//	GET    accounts/{acct}/tokens/verify
//	GET    user/tokens/verify                       (always 401: every token here is account-owned)
//	GET    accounts/{acct}/tokens/permission_groups ?name=&scope=
//	POST   accounts/{acct}/tokens
//	GET    accounts/{acct}/tokens                   ?page=&per_page=&direction=
//	GET    accounts/{acct}/tokens/{id}
//	PUT    accounts/{acct}/tokens/{id}              (name, policies, expires_on, not_before, condition, status)
//	DELETE accounts/{acct}/tokens/{id}
//	POST   accounts/{acct}/r2/temp-access-credentials  {bucket, parentAccessKeyId, permission, ttlSeconds, prefixes, objects}
//	POST   accounts/{acct}/r2/buckets               header cf-r2-jurisdiction
//	GET    accounts/{acct}/r2/buckets               ?per_page=&cursor=&name_contains=&start_after=&order=&direction=
//	GET    accounts/{acct}/r2/buckets/{name}
//	DELETE accounts/{acct}/r2/buckets/{name}
//	GET    accounts/{acct}/r2/buckets/{name}/domains/managed
//	PUT    accounts/{acct}/r2/buckets/{name}/domains/managed  {enabled}
//
// Every JSON answer uses Cloudflare's envelope {"success","errors":[{"code","message"}],
// "messages":[],"result"} (plus "result_info" for lists); errors carry "result":null.
//
// # The data plane is a real MinIO
//
// A bucket created through the fake is a real MinIO bucket. A token with R2 permissions becomes a
// real MinIO identity whose access key is the token id and whose secret key is
// hex(SHA-256(token value)) (see SecretAccessKey), exactly the derivation R2 documents, so real S3
// clients and real Terraform authenticate against S3Endpoint() as they would against R2. The
// identity's IAM policy is translated from the token's policies:
//
//	Workers R2 Storage Bucket Item Write on bucket B -> s3:ListBucket, s3:GetBucketLocation on B;
//	    s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload,
//	    s3:ListMultipartUploadParts on B/*
//	Workers R2 Storage Bucket Item Read on bucket B  -> s3:ListBucket, s3:GetBucketLocation on B;
//	    s3:GetObject on B/*
//	Workers R2 Storage Write (account)               -> s3:* on every bucket
//	Workers R2 Storage Read (account)                -> s3:Get*, s3:List* on every bucket
//
// "deny" policies become Deny statements. A token that allows no R2 permission group gets no MinIO
// identity at all, so its keys are refused with InvalidAccessKeyId. A bucket grant whose resource
// key names a jurisdiction other than the one the bucket lives in grants nothing (a token left
// with R2 groups that grant nothing gets a deny-all identity: its keys authenticate and get
// AccessDenied); a grant naming a bucket that does not exist (yet) names the bucket in the policy.
//
// MinIO identity kind: each token becomes a MinIO user with the exact R2 keys (a token id is 32
// hex characters and hex(SHA-256) is 64, beyond what MinIO service accounts take), member of a
// group "cf-token-<id>" to which the canned policy "cf-token-<id>" is attached; see
// internal/testutil/minioidentity, shared with the other fakes. TestMinIOKeyLimits pins MinIO's
// limits.
//
// New tokens: R2 documents that a new token may take up to a minute to work. Config.PropagationDelay
// models that: the MinIO identity is created only after the delay (immediately when it is 0), so
// S3 calls with new keys fail with InvalidAccessKeyId until then; deleting a token before then
// cancels it. Tokens made with Server.AddToken stand for pre-existing admin tokens and work at once.
// Deleting a token removes its MinIO identity before the DELETE answers. Updating one (PUT) replaces
// its identity's policy before the PUT answers, keeping its keys; status "disabled" disables it.
//
// Expiry: Config.Now is the fake's clock (default time.Now). A token past its expires_on is refused
// by the REST API and, within 250 ms (or at once through ExpireDue), turns "expired" (still listed,
// as on Cloudflare) and loses its MinIO identity, so its S3 keys are refused too.
//
// Temporary credentials: a real MinIO STS session (AssumeRole) of the parent token's identity with
// a session policy for the bucket and permission (object-* may read, and with read-write write and
// delete, objects under the prefixes or objects given, else all; admin-* may do anything in the
// bucket), so S3 needs the session token and refuses anything beyond the parent's grant. The
// parent must be a live token with an R2 permission covering the request ([inference] 400 10040
// for an unknown or unusable parent, 403 10000 for one that does not cover it). Deleting or
// expiring the parent removes its identity, and MinIO drops the sessions with it (documented: "
// revoking the parent invalidates all derived credentials").
//
// Public access: a bucket's r2.dev domain (domains/managed) starts disabled. Enabling it sets an
// anonymous read-only bucket policy on the MinIO bucket (s3:GetObject on bucket/* for Principal
// {"AWS":["*"]}), so an unsigned GET of S3Endpoint()/<bucket>/<key> succeeds, as a GET of
// https://pub-<id>.r2.dev/<key> would on R2; disabling removes the policy before the PUT answers.
// Deleting the bucket drops the policy with it, and a bucket created again starts disabled.
//
// # Authentication, permissions, limits
//
// Every request needs "Authorization: Bearer <token value>". The permission each endpoint needs is
// the "Accepted Permissions" list of Cloudflare's API reference: R2 bucket reads need Workers R2
// Storage Read or Write, bucket create/delete need Workers R2 Storage Write ([inference] the r2.dev
// domain likewise: reading it needs Read or Write, changing it Write); token list/get need
// Account API Tokens Read or Write, token create/delete need Account API Tokens Write, the
// permission-group list needs either; verify needs only a valid token. A permission counts when an
// "allow" policy grants it on com.cloudflare.api.account.<this account> and no "deny" policy takes
// it away. Rate limit: Config.RateLimit requests per Config.RateWindow per token (Cloudflare: 1200
// per 5 minutes); when exceeded, Cloudflare documents that "all API calls for the next five
// minutes will be blocked", so the fake blocks that token for one RateWindow from the moment it is
// exceeded. Answers to authenticated requests carry the documented Ratelimit / Ratelimit-Policy
// headers, and 429 answers a Retry-After in whole seconds rounded up. Token quota: Config.TokenQuota (Cloudflare: 500 account
// tokens), counting every live token including AddToken ones. Bucket limit: Config.BucketLimit
// (R2: 1,000,000 per account), beyond which a create answers 400 with code 10009 (R2 error codes:
// TooManyBuckets, "Account bucket limit exceeded").
//
// # Inference
//
// Marked "[inference]" in the code; the choices not taken from a Cloudflare source are:
//   - 401 code 1000 "Invalid API Token" for an unknown, expired or not-yet-valid token on the
//     verify endpoints, and for any token on user/tokens/verify (third-party reports: account
//     tokens get 401 there). Elsewhere such a token is 403 code 9109 "Invalid access token"
//     (ddns-go #890), a malformed Authorization header 400 code 6003 "Invalid request headers"
//     with 6111 "Invalid format for Authorization header" in its error_chain (users' reports),
//     and no Authorization header 400 code 9106 (the code is [inference]). cloudflare-go's
//     ErrorData has no error_chain field: the SDK keeps it among its ExtraFields.
//   - 403 code 10000 "Authentication error" for a token lacking the permission (terraform-provider-
//     cloudflare #1533, cf-terraforming #754: "comes from the API gateway and is associated with
//     not having the right permissions") or using another account's path ([inference]).
//   - 400 code 1001 for every token-create validation failure, the quota (its message contains
//     "quota") and bad token-list paging (1001 is what third-party reports show for token-create
//     refusals such as "Reusing existing policies is not supported by token creation").
//   - 404 code 1003 "Token not found" for an unknown token id.
//   - 400 code 6007 "Malformed JSON in request body" for unparsable JSON.
//   - 400 code 10040 "InvalidArgument" for a bad cf-r2-jurisdiction, locationHint, storageClass,
//     per_page or cursor on the R2 endpoints; 400 code 10005 (the documented InvalidBucketName)
//     also for a bad name in a bucket path.
//   - 429 code 971 "Please wait and consider throttling your request speed".
//   - 404 code 7000 "No route for that URI" and 405 code 7001 "Method not allowed".
//   - The token value format "cfat_" + 40 alphanumerics + 8 hex checksum (the docs give prefix and
//     length; the checksum here is CRC-32 of the 40 characters).
//   - A bucket's "location" is the locationHint, else "enam"; "eu" buckets report "weur". Bucket
//     list per_page defaults to 20 (documented range 1..1000); the cursor is opaque.
//   - Listing buckets without the jurisdiction header lists only "default" buckets.
//   - A bucket's id (bucketId of the r2.dev domain endpoints) is 32 random hex characters and its
//     r2.dev domain "pub-<bucketId>.r2.dev" (the shape of the API reference's example answer).
//   - PUT domains/managed without a boolean "enabled" is 400 10040; for a bucket absent from the
//     request's jurisdiction both domains/managed calls are 404 10006, like the other bucket calls.
//   - Ids of "Account API Tokens Read/Write" and of the unrelated groups are invented; those of
//     the four R2 groups are the ones the reference notes give (one from Cloudflare docs, three
//     from third-party code).
//
// # Limits of the fake
//
//   - MinIO has one bucket namespace, so a bucket name is refused (409 10073) when it exists in
//     any jurisdiction of the account, where R2 would allow one per jurisdiction. All
//     jurisdictions share the single S3 endpoint S3Endpoint().
//   - Buckets created or deleted through S3 (e.g. with an admin token's s3:*) are invisible to
//     the REST API; MinIO policies are computed when the identity is created, so a bucket created
//     later in another jurisdiction does not revoke a grant already made.
//   - Token conditions (request_ip) are stored and echoed but not enforced; not_before is
//     enforced on the REST API only, not on S3.
//   - MinIO's STS grants at least 900 s: a temporary credential with a shorter ttlSeconds works
//     on S3 for 900 s (unless its parent goes first). A session cannot be ended before its
//     parent is.
//   - A parent whose identity is not yet propagated (PropagationDelay) is refused with 400 10040
//     until it is. [inference] Cloudflare does not document whether minting from a new parent
//     waits on its propagation; the fake answers the worst case, which the client must survive
//     without minting a second parent (r2.Client retries the same parent, bounded by
//     Config.PropagationTimeout).
//   - ListBucket of a temporary credential scoped to prefixes is not confined to them.
//   - There is a single account; any other account id in a path is answered 403.
//   - Token roll, user tokens, bucket edit/lock/lifecycle and custom domains (domains/custom) are
//     not implemented (404).
//   - Public r2.dev reads are served by the S3 endpoint (path style, unsigned), not on an r2.dev
//     host; r2.dev's rate limiting is not modelled.
package fakecloudflare
