// Helpers shared by the fuzz targets in this directory: reading structured
// values off the front of a fuzzer's input, and writing an input to a file.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace capstan::fuzz {

// Consumes a fuzzer's input from the front. Reads past the end give zeros and
// empty strings, so a target never has to check for a short input.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return rest_.empty(); }
  size_t size() const { return rest_.size(); }

  uint8_t Byte() {
    if (rest_.empty()) return 0;
    uint8_t b = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return b;
  }
  uint16_t U16() { return static_cast<uint16_t>(Byte() | (Byte() << 8)); }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= uint64_t{Byte()} << (8 * i);
    return v;
  }
  // Up to `n` bytes.
  std::string_view Bytes(size_t n) {
    std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(out.size());
    return out;
  }
  // A string prefixed by a 16-bit length.
  std::string_view LengthPrefixed() { return Bytes(U16()); }
  // Everything that is left.
  std::string_view Rest() { return Bytes(rest_.size()); }

 private:
  std::string_view rest_;
};

// Splits `data` at the first occurrence of `sep`: what comes before it, and
// after it (empty when `sep` does not occur).
inline std::pair<std::string_view, std::string_view> SplitAt(std::string_view data,
                                                             std::string_view sep) {
  size_t at = data.find(sep);
  if (at == std::string_view::npos) return {data, {}};
  return {data.substr(0, at), data.substr(at + sep.size())};
}

// Writes `data` to `path` (created or truncated); aborts on failure, which
// is the harness's fault, not the target's.
inline void WriteFileOrDie(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) abort();
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) abort();
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

// Stops the run with a message: a property the target checks does not hold.
[[noreturn]] inline void Fail(const char* what) {
  fprintf(stderr, "fuzz property violated: %s\n", what);
  abort();
}

}  // namespace capstan::fuzz
