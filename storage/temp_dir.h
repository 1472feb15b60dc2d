// TempDir: a fresh temporary directory, removed with everything in it when the
// object goes away. For tests, benchmarks and scratch space.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace capstan {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "capstan-") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace capstan
