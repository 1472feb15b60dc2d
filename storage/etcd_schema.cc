#include "storage/etcd_schema.h"

#include <cstdio>

#include "storage/revision.h"
#include "storage/varint.h"

namespace capstan::etcd {
namespace {

// A varint field (proto3: omitted when zero).
void PutVarintField(std::string* out, int field, uint64_t v) {
  if (v == 0) return;
  AppendVarint(out, static_cast<uint64_t>(field) << 3);  // wire type 0
  AppendVarint(out, v);
}

// Reads a message of varint fields, calling `fn(field, value)`; skips
// fields of other wire types. False if malformed.
template <typename Fn>
bool ParseVarintFields(std::string_view in, Fn fn) {
  while (!in.empty()) {
    uint64_t tag, v;
    if (!GetVarint(&in, &tag)) return false;
    switch (tag & 7) {
      case 0:
        if (!GetVarint(&in, &v)) return false;
        fn(static_cast<int>(tag >> 3), v);
        break;
      case 1:
        if (in.size() < 8) return false;
        in.remove_prefix(8);
        break;
      case 2:
        if (!GetVarint(&in, &v) || v > in.size()) return false;
        in.remove_prefix(v);
        break;
      case 5:
        if (in.size() < 4) return false;
        in.remove_prefix(4);
        break;
      default:
        return false;
    }
  }
  return true;
}

void PutJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        // Go also escapes <, > and & for HTML safety.
        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void PutJsonStrings(std::string* out, const std::vector<std::string>& v) {
  out->push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out->push_back(',');
    PutJsonString(out, v[i]);
  }
  out->push_back(']');
}

}  // namespace

std::string EncodeLease(const Lease& lease) {
  std::string out;
  PutVarintField(&out, 1, static_cast<uint64_t>(lease.id));
  PutVarintField(&out, 2, static_cast<uint64_t>(lease.ttl));
  PutVarintField(&out, 3, static_cast<uint64_t>(lease.remaining_ttl));
  return out;
}

bool DecodeLease(std::string_view data, Lease* lease) {
  *lease = Lease();
  return ParseVarintFields(data, [&](int field, uint64_t v) {
    if (field == 1) lease->id = static_cast<int64_t>(v);
    if (field == 2) lease->ttl = static_cast<int64_t>(v);
    if (field == 3) lease->remaining_ttl = static_cast<int64_t>(v);
  });
}

std::string EncodeAlarmMember(uint64_t member_id, int alarm) {
  std::string out;
  PutVarintField(&out, 1, member_id);
  PutVarintField(&out, 2, static_cast<uint64_t>(alarm));
  return out;
}

bool DecodeAlarmMember(std::string_view data, uint64_t* member_id, int* alarm) {
  *member_id = 0;
  *alarm = 0;
  return ParseVarintFields(data, [&](int field, uint64_t v) {
    if (field == 1) *member_id = v;
    if (field == 2) *alarm = static_cast<int>(v);
  });
}

std::string EncodeMember(const Member& m) {
  std::string out = "{\"id\":" + std::to_string(m.id) + ",\"peerURLs\":";
  PutJsonStrings(&out, m.peer_urls);
  if (m.is_learner) out += ",\"isLearner\":true";
  if (!m.name.empty()) {
    out += ",\"name\":";
    PutJsonString(&out, m.name);
  }
  if (!m.client_urls.empty()) {
    out += ",\"clientURLs\":";
    PutJsonStrings(&out, m.client_urls);
  }
  out += "}";
  return out;
}

std::string MemberKey(uint64_t id) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(id));
  return buf;
}

std::string EncodeConfState(const std::vector<uint64_t>& voters) {
  std::string out = "{\"voters\":[";
  for (size_t i = 0; i < voters.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += std::to_string(voters[i]);
  }
  out += "],\"auto_leave\":false}";
  return out;
}

std::string EncodeCompactRev(int64_t main) { return EncodeRevisionKey(Revision{main, 0}); }

bool DecodeCompactRev(std::string_view data, int64_t* main) {
  Revision rev;
  bool tombstone;
  if (!DecodeRevisionKey(data, &rev, &tombstone) || tombstone) return false;
  *main = rev.main;
  return true;
}

}  // namespace capstan::etcd
