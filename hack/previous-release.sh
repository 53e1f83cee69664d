#!/usr/bin/env bash
# Regenerates internal/e2e/testdata/previous-release/source.tar.gz: the source of the previous release
# that TestUpgradeFromThePreviousReleaseKeepsEveryBucketSecretAndCredential builds, installs and runs
# before upgrading to the working tree. CI checks out without history, so the old source is test data.
# Run it at each release with the commit just released (the test then upgrades from that one), and
# update the commit in the README.md next to the tarball:
#   hack/previous-release.sh <commit>
# It keeps what building the manager (go build .) and installing it (chart, config) need, without
# tests, test data, fakes or the e2e harness.
set -euo pipefail

commit=${1:?usage: hack/previous-release.sh <commit of the previous release>}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$ROOT/internal/e2e/testdata/previous-release/source.tar.gz"

git -C "$ROOT" archive --format=tar.gz -o "$out" "$commit" -- \
  main.go go.mod go.sum api controllers internal config charts \
  ':(exclude,glob)**/*_test.go' ':(exclude,glob)**/testdata/**' \
  ':(exclude)internal/testutil' ':(exclude)internal/e2e' ':(exclude)internal/bench'
echo "wrote $out ($(wc -c <"$out") bytes) from $(git -C "$ROOT" rev-parse "$commit")"
