// MemberTable: the cluster's members as the state machine knows them.
//
// Seeded at a member's first start from --initial-cluster (every member
// computes the same ids from the same flags), then changed only by applied
// log entries: conf changes (add, remove, update, promote) and each member's
// published attributes (name, client URLs). Rows persist in the store's
// member table in the apply loop's batch.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "internal.pb.h"
#include "raftpb.pb.h"
#include "storage/mvcc_store.h"

namespace capstan::api {

struct MemberInfo {
  uint64_t id = 0;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
  bool is_learner = false;
};

class MemberTable {
 public:
  // A member's id: a hash of its sorted peer URLs and the cluster token, so
  // any member (or `member add`) derives the same id from the same flags.
  static uint64_t MemberId(std::vector<std::string> peer_urls, const std::string& token);
  // The cluster's id: a hash of its initial members' ids.
  static uint64_t ClusterId(std::vector<uint64_t> member_ids);

  // Reads the rows; if there are none, writes `initial` (first start).
  Status Load(MvccStore* store, const std::vector<MemberInfo>& initial);

  // Applies a committed conf change (inside the apply batch).
  void ApplyConfChange(WriteBatch* batch, const raftpb::ConfChange& cc);
  void ApplyAttributes(WriteBatch* batch, const internalpb::MemberAttributes& attrs);

  std::vector<MemberInfo> List() const;
  bool Find(uint64_t id, MemberInfo* out) const;
  // Without copying the member (asked on every request).
  bool IsLearner(uint64_t id) const;
  // Whether any member other than `except` uses one of `peer_urls`.
  bool PeerUrlsTaken(const std::vector<std::string>& peer_urls, uint64_t except) const;

  static raftpb::MemberContext ToContext(const MemberInfo& m);
  static MemberInfo FromContext(const raftpb::MemberContext& c);

 private:
  void PutLocked(WriteBatch* batch, const MemberInfo& m);

  mutable std::mutex mu_;
  std::map<uint64_t, MemberInfo> members_;
};

}  // namespace capstan::api
