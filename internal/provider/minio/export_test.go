package minio

// SamePolicy exposes samePolicy to the external test package.
var SamePolicy = samePolicy
