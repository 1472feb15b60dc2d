// UserInfo: who a request runs as, after authentication and impersonation.
#pragma once

#include <string>
#include <vector>

namespace capstan::kube {

struct UserInfo {
  std::string name;  // e.g. "kubernetes-admin", "system:serviceaccount:dev:sa1", "system:anonymous"
  std::string uid;
  std::vector<std::string> groups;  // e.g. {"system:masters", "system:authenticated"}

  bool InGroup(const std::string& g) const {
    for (const auto& x : groups) {
      if (x == g) return true;
    }
    return false;
  }
};

}  // namespace capstan::kube
