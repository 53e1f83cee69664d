// Package fakeaws is a test fake of the parts of AWS that tfstate-operator's AWS provider uses:
// the IAM Query API for users, inline and managed policies and access keys, STS GetCallerIdentity,
// and a thin S3 front over a real MinIO. It is test-support code and is never linked into the
// operator.
//
// # What it fakes
//
// Three listeners on 127.0.0.1, each a base URL for aws-sdk-go-v2's BaseEndpoint:
//
//	IAMEndpoint()  POST / (form-encoded; GET with a query works too), Version=2010-05-08:
//	    CreateUser        UserName, Path (default "/"), PermissionsBoundary, Tags.member.N.Key/Value;
//	                      at most Config.UserLimit users (5,000, IAM quotas) (409 LimitExceeded,
//	                      "Cannot exceed quota for UsersPerAccount: N" [inference: the wording])
//	    GetUser           UserName (none: the calling principal)
//	    ListUsers         PathPrefix (a plain string prefix of the path), Marker, MaxItems
//	    DeleteUser        UserName                       409 DeleteConflict while keys or policies remain
//	                                                     (inline or attached)
//	    PutUserPolicy     UserName, PolicyName, PolicyDocument
//	    GetUserPolicy     UserName, PolicyName           PolicyDocument URL-encoded (RFC 3986), as AWS
//	    ListUserPolicies  UserName, Marker, MaxItems
//	    DeleteUserPolicy  UserName, PolicyName
//	    CreateAccessKey   UserName                       at most 2 keys per user (409 LimitExceeded)
//	    ListAccessKeys    UserName (none: the calling principal's key), Marker, MaxItems
//	    DeleteAccessKey   UserName, AccessKeyId
//	    GetAccessKeyLastUsed AccessKeyId
//	    CreatePolicy      PolicyName, Path (default "/"), PolicyDocument, Description, Tags:
//	                      a customer managed policy arn:aws:iam::<account>:policy<path><name>,
//	                      id "ANPA" and 17 of [A-Z2-7], DefaultVersionId v1, IsAttachable
//	    AttachUserPolicy  UserName, PolicyArn            at most 10 per user (409 LimitExceeded);
//	                                                     attaching an attached one again is success
//	    DetachUserPolicy  UserName, PolicyArn
//	    ListAttachedUserPolicies UserName, PathPrefix (of the policies' paths), Marker, MaxItems:
//	                      AttachedPolicies of PolicyName and PolicyArn
//	STSEndpoint()  Action=GetCallerIdentity, Version=2011-06-15: Account, Arn, UserId of the caller
//	S3Endpoint()   path-style S3, forwarded to MinIO except the operations listed below
//
// Answers are AWS's Query API XML: <{Action}Response xmlns="https://iam.amazonaws.com/doc/
// 2010-05-08/"><{Action}Result>...</{Action}Result><ResponseMetadata><RequestId>, with no Result
// element for actions without output; STS uses its own namespace. Lists answer IsTruncated and,
// when truncated, an opaque Marker; a page holds MaxItems (default 100, AWS's) cut down to
// Config.MaxItems. ListUsers answers users without PermissionsBoundary and Tags, as AWS's list
// actions do (GetUser has them). Errors are <ErrorResponse><Error><Type>Sender</Type><Code>
// <Message></Error><RequestId></ErrorResponse> (Type Receiver for 500s) with AWS's statuses:
//
//	400 ValidationError ("1 validation error detected: Value 'x' at 'userName' failed to satisfy
//	    constraint: ..."; UserName 1..64 of [\w+=,.@-], PolicyName 1..128 of the same, Path
//	    "/" or "/.../" of \u0021-\u007E up to 512, PathPrefix "/..." up to 512, MaxItems 1..1000,
//	    tags 1..128/0..256 characters, at most 50)
//	400 InvalidInput (duplicate tag keys), MalformedPolicyDocument, Throttling "Rate exceeded",
//	    InvalidAction, IncompleteSignature
//	403 MissingAuthenticationToken, InvalidClientTokenId, SignatureDoesNotMatch, AccessDenied
//	404 NoSuchEntity ("The user with name X cannot be found.", "The user policy with name P
//	    cannot be found.", "The Access Key with id K cannot be found.", "Policy A does not exist
//	    or is not attachable." (AttachUserPolicy of an unknown ARN), "Policy A was not found."
//	    (DetachUserPolicy of a policy not attached))
//	409 EntityAlreadyExists ("A policy called P already exists. Duplicate names are not
//	    allowed."), DeleteConflict ("Cannot delete entity, must detach all policies first." for
//	    attached policies), LimitExceeded ("Cannot exceed quota for AccessKeysPerUser: 2",
//	    "Maximum policy size of 2048 bytes exceeded for user X", "Cannot exceed quota for
//	    PoliciesPerUser: 10", "Cannot exceed quota for PolicySize: 6144")
//	500 ServiceFailure (only when MinIO fails or cannot take a policy, see below)
//
// aws-sdk-go-v2 maps them to iamtypes.EntityAlreadyExistsException, NoSuchEntityException,
// LimitExceededException, DeleteConflictException, MalformedPolicyDocumentException,
// InvalidInputException and ServiceFailureException; the others are smithy.APIError codes.
// User names are unique ignoring case, as AWS's (GetUser finds "Bob" as "BOB").
//
// PolicyDocument must be a JSON identity policy: Version (if present) 2012-10-17 or 2008-10-17,
// Statement an object or a non-empty list, each with Effect Allow|Deny, Action or NotAction
// ("*" or "service:name"), Resource or NotResource ("*" or "arn:..."), optionally Sid and
// Condition, and no Principal. The messages are AWS's ("Syntax errors in policy.", "Policy
// statement must contain resources.", ...). A user's inline policies together may hold 2,048
// characters not counting whitespace; a managed policy 6,144 (both AWS's quotas). Managed policy
// names are unique in the account ignoring case, whatever their path.
//
// Access keys are "AKIA" and 16 characters of [A-Z2-7], secrets 40 characters of base64, user
// ids "AIDA" and 17 of [A-Z2-7]. ARNs are arn:aws:iam::<Config.AccountID>:user<path><name>.
//
// # Authentication
//
// Every IAM and STS request must be SigV4-signed by a key the fake knows; the signature is
// recomputed with aws-sdk-go-v2's signer over the headers the client says it signed and the
// SHA-256 of the body. IAM wants the credential scope .../us-east-1/iam/..., STS
// .../<Config.Region>/sts/... (it stands for the regional endpoint), else SignatureDoesNotMatch
// ("Credential should be scoped to ..."). The clock is not checked (no RequestExpired).
//
// Principals (AddPrincipal) are pre-existing users of the account, such as the operator's admin
// user; they are not in the user store (Users, ListUsers, GetUser by name do not show them).
// Without actions a principal may call everything; with actions (patterns with * and ?, matched
// ignoring case, such as "iam:CreateUser" or "iam:Get*") any other IAM action answers 403
// AccessDenied "User: <arn> is not authorized to perform: iam:X on resource: <user arn> because no
// identity-based policy allows the iam:X action". The keys of users made through the API
// authenticate too, but hold no IAM permission (every IAM action answers AccessDenied: their
// inline policies are not evaluated for iam: actions); STS GetCallerIdentity needs no
// permission, as AWS documents, so it answers for every key. InjectThrottle(n) makes the next n
// authenticated IAM calls answer Throttling (the SDK's default retryer retries it).
//
// # The data plane is a real MinIO enforcing the same policy
//
// Each access key (and each principal's key) is a MinIO identity (internal/testutil/minioidentity,
// prefix "aws-key-") with exactly the issued keys, so real S3 clients and Terraform are
// authenticated and authorised by a real S3 server. A user key's MinIO policy is the union of the
// user's inline and attached managed policies, as AWS evaluates them: the statements of every
// inline policy in policy-name order, then of every attached policy in ARN order, as one policy
// under Version 2012-10-17 (the only version MinIO takes). Every PutUserPolicy,
// DeleteUserPolicy, AttachUserPolicy and DetachUserPolicy updates the policy of every key of the
// user before it answers, so S3 follows out-of-band edits at once; a user without policies has a
// deny-all identity (its keys authenticate and get AccessDenied, as on AWS). A principal's
// identity has s3:* (no actions) or its s3: actions (deny-all without any).
//
// MinIO refuses actions and resources of other services (kms:Decrypt is an "unsupported
// action", arn:aws:kms:... an "invalid resource"), so each statement is reduced to its S3 part
// for MinIO while GetUserPolicy and Users() keep the document as sent:
//   - Action keeps its s3: actions ("*" becomes "s3:*", an "S3:" prefix becomes "s3:"); a
//     statement left without actions is dropped (it grants nothing on S3).
//   - NotAction keeps its s3: actions; left empty, it excluded nothing on S3 and becomes
//     Action s3:*.
//   - Resource keeps arn:aws:s3::: ARNs and "*"; left empty, the statement is dropped.
//   - NotResource keeps S3 ARNs; left empty it becomes Resource "*".
//   - Sid, Effect and Condition are kept as they are.
//
// A policy MinIO still cannot take (e.g. action names in another case, "s3:getobject", which AWS
// takes, or a condition key MinIO does not support for the action) is refused with 500
// ServiceFailure naming MinIO's reason, and is not stored: the fake never enforces something
// other than what was put. The PermissionsBoundary is recorded (GetUser, Users) and not enforced.
//
// Keys: CreateAccessKey answers at once; the MinIO identity is made after Config.KeyPropagation
// (at once when 0). Until then the key is unknown everywhere (S3 InvalidAccessKeyId, IAM/STS
// InvalidClientTokenId), as new AWS keys are for about 10 s. DeleteAccessKey removes the identity
// (or cancels the pending one) before it answers. Principals' keys work at once. Close removes
// every identity the fake made.
//
// # The S3 front
//
// S3Endpoint() is a reverse proxy to MinIO that keeps the client's Host header (it is signed).
// It answers itself what MinIO does not implement, with S3's XML shapes and error bodies:
//
//	PUT /{bucket} beyond Config.BucketLimit (10,000, S3's default bucket quota): 400
//	    TooManyBuckets "You have attempted to create more buckets than allowed" (S3 error codes)
//	PUT/GET/DELETE /{bucket}?publicAccessBlock   GET unset: 404 NoSuchPublicAccessBlockConfiguration
//	PUT/GET/DELETE /{bucket}?ownershipControls   GET unset: 404 OwnershipControlsNotFoundError;
//	                                             PUT with other than one valid rule: 400 MalformedXML
//	PUT /{bucket}?encryption with aws:kms and a key other than MinIO's KMS key (an AWS key ARN, or
//	    none for the AWS managed key): MinIO refuses them (kms:KeyNotFound), so the front keeps
//	    the configuration (Encryption.Intercepted) and answers GET ?encryption with it.
//	PUT/GET/DELETE /{bucket}?policy              PUT and DELETE 204; GET 200 with the document
//	                                             as PUT (BucketSettings.Policy), unset: 404
//	                                             NoSuchBucketPolicy "The bucket policy does not
//	                                             exist"; DELETE of none is 204 too
//
// A bucket policy PUT is checked as S3 checks one: 400 MalformedPolicy with AWS's wording
// ("Policies must be valid JSON and the first byte must be '{'", "Missing required field
// Statement", "Missing required field Principal", "Invalid principal in policy", "Policy has
// invalid action", "Policy has invalid resource", ...) unless it is a JSON object with Version
// 2012-10-17 or 2008-10-17 (or none) and a non-empty Statement whose statements each have Effect
// Allow|Deny, Principal or NotPrincipal ("*" or an object of strings or lists), s3: actions (or
// "*") and resources that are this bucket or objects in it. With the bucket's BlockPublicPolicy
// on, a public policy is refused with 403 AccessDenied, as AWS documents; public here is an Allow
// for everyone ("*" as the Principal or among its values, or a NotPrincipal) without a Condition.
// The policy is kept by the front, not given to MinIO: MinIO answers GET with its own re-encoding
// of the document, refuses condition keys it does not support, and knows nothing of the
// public-access block. So a bucket policy is recorded and answered, never enforced: it grants and
// denies nothing on the data plane, and an anonymous read of a bucket with a public policy still
// goes to MinIO, which refuses it (tests read Bucket(name).Policy instead).
//
// These are authenticated like IAM (service s3): only a principal allowed the operation's IAM
// action (s3:PutBucketPublicAccessBlock, s3:GetBucketPublicAccessBlock,
// s3:PutBucketOwnershipControls, s3:GetBucketOwnershipControls, s3:PutEncryptionConfiguration,
// s3:GetEncryptionConfiguration, whose deletes need the Put action; s3:PutBucketPolicy,
// s3:GetBucketPolicy, s3:DeleteBucketPolicy) may call them; user keys get 403 AccessDenied
// whatever their policy, unknown keys InvalidAccessKeyId, bad signatures SignatureDoesNotMatch, a
// missing bucket 404 NoSuchBucket.
//
// Forwarded but inspected: CreateBucket (MinIO ignores x-amz-object-ownership, so the signed
// request goes as it came; on success the header's value is recorded as the bucket's
// ObjectOwnership and the bucket's settings start afresh; a bucket the account already has is
// 409 BucketAlreadyOwnedByYou, except in us-east-1, where it is 200 OK and the settings stay), DeleteBucket (forgets the settings,
// the bucket policy with them),
// and AES256 (or MinIO-key aws:kms) PutBucketEncryption, GET and DELETE ?encryption (recorded
// on success). MinIO has a KMS (miniotest sets MINIO_KMS_SECRET_KEY), so AES256 bucket
// encryption and SSE-S3 object writes (x-amz-server-side-encryption: AES256, which Terraform's
// backend sends with encrypt = true) work for real. Requests() records every inspected S3 call;
// Bucket(name) returns what was recorded. Every request naming a bucket must be signed for
// Config.Region (AWS answers 400 AuthorizationHeaderMalformed otherwise; MinIO takes any
// region). The front also notes each key's last use on S3 for GetAccessKeyLastUsed.
//
// AddForeignBucket takes a name for a bucket of another account, in this region or another: S3's
// answers to requests for it at this region's endpoint (HeadBucket 403, 301 MovedPermanently or,
// for a region opened after March 2019, 400, both with x-amz-bucket-region; CreateBucket 409
// BucketAlreadyExists) are documented with their sources in foreign.go.
//
// # Inference
//
// Marked "[inference]" in the code; the choices not taken from an AWS source are:
//   - GetAccessKeyLastUsed of an unknown key answers 403 AccessDenied "User: <arn> is not
//     authorized to perform: iam:GetAccessKeyLastUsed on resource: access key <id>" (the SDK model
//     lists no error for it; older docs listed NoSuchEntity). A known key never used answers no
//     LastUsedDate and "N/A" service and region, as documented; any signed request with the key
//     counts as a use, whatever it was answered.
//   - InvalidAction "Could not find operation X for version V" for an unknown action or a wrong
//     Version; ValidationError for a marker the fake did not make.
//   - Users are listed in name order ignoring case, policy names, attached policy ARNs and key
//     ids in byte order.
//   - DetachUserPolicy of a policy not attached answers "Policy A was not found." (the wording
//     of AWS emulators; the API reference gives none), and AttachUserPolicy of a policy already
//     attached succeeds. DeleteUser names access keys, then inline, then attached policies.
//   - "Syntax errors in policy." also for an empty Statement list and a bad Effect.
//   - Bucket policies: the order of the checks, "Invalid effect: X" for a bad Effect, the
//     Content-Type of GET ?policy (application/json), and 204 for DELETE ?policy of a bucket
//     without one. BlockPublicPolicy takes any Condition as narrowing, where AWS calls a grant
//     to everyone non-public only when it is pinned to fixed values of certain keys
//     (aws:SourceIp CIDRs, aws:SourceVpce, aws:SourceArn, ...): the fake refuses less than AWS.
//     AWS's 20 KB limit on bucket policies is not checked.
//
// # Limits of the fake
//
//   - No roles, groups (so no group membership granting a user more), UpdateAccessKey (keys are
//     always Active), tagging actions, login profiles or MFA; CreateAccessKey and DeleteAccessKey
//     need UserName (the fake does not manage principals' keys).
//   - Managed policies are customer managed ones made by CreatePolicy, with one version: no
//     GetPolicy, GetPolicyVersion, policy versions, DeletePolicy or AWS managed policies
//     (arn:aws:iam::aws:policy/... is unknown: NoSuchEntity); CreatePolicy answers
//     AttachmentCount 0 and no Description.
//   - On AWS, a GetObject of a missing key answers 403 when the caller may not ListBucket
//     without a condition (an s3:prefix condition does not hold for GetObject); MinIO answers
//     404 NoSuchKey whenever GetObject is allowed.
//   - New AWS buckets have had all four public access blocks on and BucketOwnerEnforced since
//     April 2023; here GET of a configuration never PUT answers 404 (as AWS does after a DELETE).
//   - An intercepted aws:kms default encryption is recorded only: MinIO encrypts nothing by
//     default then, and object writes naming an AWS KMS key (x-amz-server-side-encryption-aws-
//     kms-key-id, Terraform's kms_key_id) are refused by MinIO with kms:KeyNotFound. SSE-S3 works.
//   - The front is path-style only; chunk signatures of STREAMING- payloads are not checked on
//     intercepted calls (the SDK does not use them for these small bodies).
//   - One account and one region of the operator's (other accounts' buckets: AddForeignBucket);
//     request time skew is not checked.
package fakeaws
