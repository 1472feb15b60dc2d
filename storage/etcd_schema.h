// etcd's backend schema (the buckets and keys of its bbolt file, as etcd 3.4
// and 3.5 write them), shared by EtcdSnapshotWriter and EtcdSnapshotReader.
// Sources: etcd's mvcc/kvstore.go, lease/lessor.go, etcdserver/api/membership
// (store.go, member.go), auth/store.go, server/storage/schema/bucket.go.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace capstan::etcd {

// Buckets.
inline constexpr std::string_view kKeyBucket = "key";  // revision -> mvccpb.KeyValue
inline constexpr std::string_view kMetaBucket = "meta";
inline constexpr std::string_view kLeaseBucket = "lease";  // int64 BE id -> leasepb.Lease
inline constexpr std::string_view kAlarmBucket = "alarm";  // etcdserverpb.AlarmMember -> ""
inline constexpr std::string_view kClusterBucket = "cluster";
inline constexpr std::string_view kMembersBucket = "members";  // hex id -> Member JSON
inline constexpr std::string_view kMembersRemovedBucket = "members_removed";
inline constexpr std::string_view kAuthBucket = "auth";
inline constexpr std::string_view kAuthUsersBucket = "authUsers";
inline constexpr std::string_view kAuthRolesBucket = "authRoles";

// meta keys. Compaction revisions are revision keys (17 bytes: main, '_',
// sub 0); the others 8-byte big-endian numbers. term and confState exist
// since 3.5 (3.4 ignores them).
inline constexpr std::string_view kConsistentIndexKey = "consistent_index";
inline constexpr std::string_view kTermKey = "term";
inline constexpr std::string_view kConfStateKey = "confState";
inline constexpr std::string_view kScheduledCompactKey = "scheduledCompactRev";
inline constexpr std::string_view kFinishedCompactKey = "finishedCompactRev";
// cluster keys (since 3.5; 3.4 keeps the cluster version in its v2 store).
inline constexpr std::string_view kClusterVersionKey = "clusterVersion";
// auth keys: the auth store's revision (8-byte big-endian), enabled flag (1 byte).
inline constexpr std::string_view kAuthRevisionKey = "authRevision";
inline constexpr std::string_view kAuthEnabledKey = "authEnabled";

// leasepb.Lease {int64 ID = 1; int64 TTL = 2; int64 RemainingTTL = 3;}.
// RemainingTTL is 0 unless the lease was checkpointed.
struct Lease {
  int64_t id = 0;
  int64_t ttl = 0;
  int64_t remaining_ttl = 0;
};
std::string EncodeLease(const Lease& lease);
bool DecodeLease(std::string_view data, Lease* lease);

// etcdserverpb.AlarmMember {uint64 memberID = 1; AlarmType alarm = 2;}.
std::string EncodeAlarmMember(uint64_t member_id, int alarm);
bool DecodeAlarmMember(std::string_view data, uint64_t* member_id, int* alarm);

// membership.Member as json.Marshal writes it:
// {"id":N,"peerURLs":[...],"isLearner":true,"name":"...","clientURLs":[...]}
// (isLearner, name and clientURLs omitted when empty).
struct Member {
  uint64_t id = 0;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
  bool is_learner = false;
};
std::string EncodeMember(const Member& m);
// types.ID.String(): lower-case hex without padding.
std::string MemberKey(uint64_t id);
// raftpb.ConfState as json.Marshal writes it: {"voters":[...],"auto_leave":false}.
std::string EncodeConfState(const std::vector<uint64_t>& voters);

// The revision-key encoding of a compaction revision.
std::string EncodeCompactRev(int64_t main);
bool DecodeCompactRev(std::string_view data, int64_t* main);

}  // namespace capstan::etcd
