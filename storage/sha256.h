// Sha256: the SHA-256 digest (FIPS 180-4), streamed. etcd appends the
// sha256 of a snapshot to it, and `etcdctl snapshot restore` checks it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace capstan {

class Sha256 {
 public:
  static constexpr size_t kDigestSize = 32;

  Sha256();
  void Update(std::string_view data);
  // The digest of everything updated so far (32 raw bytes). Ends the stream.
  std::string Finish();

  static std::string Digest(std::string_view data) {
    Sha256 h;
    h.Update(data);
    return h.Finish();
  }

 private:
  void Block(const unsigned char* p);

  std::array<uint32_t, 8> state_;
  std::array<unsigned char, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t length_ = 0;  // bytes
};

}  // namespace capstan
