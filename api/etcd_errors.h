// etcd's error texts (from its rpctypes package) without the "etcdserver: "
// prefix, and the mapping of our Status to the gRPC status etcd clients expect.
//
// The code of a Status chooses the gRPC code; ToGrpcStatus adds the prefix,
// so a storage error such as "mvcc: required revision has been compacted"
// reaches clients exactly as etcd sends it.
#pragma once

#include <grpcpp/support/status.h>

#include "storage/status.h"

namespace capstan::api {

namespace errors {
inline constexpr const char* kEmptyKey = "key is not provided";
inline constexpr const char* kKeyNotFound = "key not found";
inline constexpr const char* kValueProvided = "value is provided";
inline constexpr const char* kLeaseProvided = "lease is provided";
inline constexpr const char* kTooManyOps = "too many operations in txn request";
inline constexpr const char* kDuplicateKey = "duplicate key given in txn request";
inline constexpr const char* kInvalidSortOption = "invalid sort option";
inline constexpr const char* kNoSpace = "mvcc: database space exceeded";
inline constexpr const char* kLeaseNotFound = "requested lease not found";
inline constexpr const char* kLeaseExist = "lease already exists";
inline constexpr const char* kLeaseTTLTooLarge = "too large lease TTL";
inline constexpr const char* kRequestTooLarge = "request is too large";
inline constexpr const char* kTooManyRequests = "too many requests";
inline constexpr const char* kMemberNotFound = "member not found";
inline constexpr const char* kMemberExist = "member ID already exist";
inline constexpr const char* kPeerURLExist = "Peer URLs already exists";
inline constexpr const char* kMemberBadURLs = "given member URLs are invalid";
inline constexpr const char* kMemberNotLearner = "can only promote a learner member";
inline constexpr const char* kLearnerNotReady =
    "can only promote a learner member which is in sync with leader";
inline constexpr const char* kTooManyLearners = "too many learner members in cluster";
inline constexpr const char* kNotSupportedForLearner = "rpc not supported for learner";
inline constexpr const char* kBadLeaderTransferee = "bad leader transferee";
inline constexpr const char* kNoLeader = "no leader";
inline constexpr const char* kNotLeader = "not leader";
inline constexpr const char* kStopped = "server stopped";
inline constexpr const char* kTimeout = "request timed out";
inline constexpr const char* kLeaderChanged = "leader changed";
inline constexpr const char* kUnhealthy = "unhealthy cluster";
inline constexpr const char* kNotEnoughStartedMembers =
    "re-configuration failed due to not enough started members";
inline constexpr const char* kAuthNotEnabled = "authentication is not enabled";
inline constexpr const char* kNotCapable = "not capable";
}  // namespace errors

grpc::Status ToGrpcStatus(const Status& s);

}  // namespace capstan::api
