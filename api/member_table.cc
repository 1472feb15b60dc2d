#include "api/member_table.h"

#include <xxhash.h>

#include <algorithm>

#include "storage/revision.h"

namespace capstan::api {
namespace {

std::string RowKey(uint64_t id) {
  std::string k(8, '\0');
  PutBigEndian64(k.data(), id);
  return k;
}

}  // namespace

uint64_t MemberTable::MemberId(std::vector<std::string> peer_urls, const std::string& token) {
  std::sort(peer_urls.begin(), peer_urls.end());
  std::string seed;
  for (const auto& u : peer_urls) seed += u;
  seed += token;
  return XXH64(seed.data(), seed.size(), 0) | 1;  // never 0: Raft's "none"
}

uint64_t MemberTable::ClusterId(std::vector<uint64_t> member_ids) {
  std::sort(member_ids.begin(), member_ids.end());
  return XXH64(member_ids.data(), member_ids.size() * sizeof(uint64_t), 1) | 1;
}

raftpb::MemberContext MemberTable::ToContext(const MemberInfo& m) {
  raftpb::MemberContext c;
  c.set_id(m.id);
  c.set_name(m.name);
  for (const auto& u : m.peer_urls) c.add_peer_urls(u);
  for (const auto& u : m.client_urls) c.add_client_urls(u);
  c.set_is_learner(m.is_learner);
  return c;
}

MemberInfo MemberTable::FromContext(const raftpb::MemberContext& c) {
  MemberInfo m;
  m.id = c.id();
  m.name = c.name();
  m.peer_urls.assign(c.peer_urls().begin(), c.peer_urls().end());
  m.client_urls.assign(c.client_urls().begin(), c.client_urls().end());
  m.is_learner = c.is_learner();
  return m;
}

Status MemberTable::Load(MvccStore* store, const std::vector<MemberInfo>& initial) {
  std::lock_guard l(mu_);
  members_.clear();
  Status s = store->ScanAux(Table::kMember, [&](std::string_view, std::string_view value) {
    raftpb::MemberContext c;
    if (c.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      members_[c.id()] = FromContext(c);
    }
  });
  if (!s.ok() || !members_.empty()) return s;
  auto batch = store->NewBatch();
  for (const MemberInfo& m : initial) PutLocked(batch.get(), m);
  return batch->Commit();
}

void MemberTable::PutLocked(WriteBatch* batch, const MemberInfo& m) {
  members_[m.id] = m;
  batch->PutAux(Table::kMember, RowKey(m.id), ToContext(m).SerializeAsString());
}

void MemberTable::ApplyConfChange(WriteBatch* batch, const raftpb::ConfChange& cc) {
  std::lock_guard l(mu_);
  raftpb::MemberContext ctx;
  const bool has_ctx = !cc.context().empty() && ctx.ParseFromString(cc.context());
  switch (cc.type()) {
    case raftpb::CONF_CHANGE_ADD_NODE:
    case raftpb::CONF_CHANGE_ADD_LEARNER_NODE: {
      MemberInfo m = has_ctx ? FromContext(ctx) : MemberInfo{};
      m.id = cc.node_id();
      if (auto it = members_.find(m.id); it != members_.end()) {
        // Promotion of a learner, or a re-add: keep what is known.
        if (m.peer_urls.empty()) m.peer_urls = it->second.peer_urls;
        if (m.name.empty()) m.name = it->second.name;
        if (m.client_urls.empty()) m.client_urls = it->second.client_urls;
      }
      m.is_learner = cc.type() == raftpb::CONF_CHANGE_ADD_LEARNER_NODE;
      PutLocked(batch, m);
      break;
    }
    case raftpb::CONF_CHANGE_REMOVE_NODE:
      members_.erase(cc.node_id());
      batch->DeleteAux(Table::kMember, RowKey(cc.node_id()));
      break;
    case raftpb::CONF_CHANGE_UPDATE_NODE: {
      auto it = members_.find(cc.node_id());
      if (it == members_.end() || !has_ctx) break;
      MemberInfo m = it->second;
      m.peer_urls.assign(ctx.peer_urls().begin(), ctx.peer_urls().end());
      PutLocked(batch, m);
      break;
    }
    default:
      break;
  }
}

void MemberTable::ApplyAttributes(WriteBatch* batch, const internalpb::MemberAttributes& attrs) {
  std::lock_guard l(mu_);
  auto it = members_.find(attrs.id());
  if (it == members_.end()) return;
  MemberInfo m = it->second;
  m.name = attrs.name();
  m.client_urls.assign(attrs.client_urls().begin(), attrs.client_urls().end());
  PutLocked(batch, m);
}

std::vector<MemberInfo> MemberTable::List() const {
  std::lock_guard l(mu_);
  std::vector<MemberInfo> out;
  for (const auto& [id, m] : members_) out.push_back(m);
  return out;
}

bool MemberTable::IsLearner(uint64_t id) const {
  std::lock_guard l(mu_);
  auto it = members_.find(id);
  return it != members_.end() && it->second.is_learner;
}

bool MemberTable::Find(uint64_t id, MemberInfo* out) const {
  std::lock_guard l(mu_);
  auto it = members_.find(id);
  if (it == members_.end()) return false;
  *out = it->second;
  return true;
}

bool MemberTable::PeerUrlsTaken(const std::vector<std::string>& peer_urls, uint64_t except) const {
  std::lock_guard l(mu_);
  for (const auto& [id, m] : members_) {
    if (id == except) continue;
    for (const auto& u : peer_urls) {
      if (std::find(m.peer_urls.begin(), m.peer_urls.end(), u) != m.peer_urls.end()) return true;
    }
  }
  return false;
}

}  // namespace capstan::api
