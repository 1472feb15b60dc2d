// KubeCredentials: private files (keys, admin token, kubeconfig) are created
// 0600 in a 0700 directory, and written to a fresh inode, never through a
// file planted under the temporary name (issue 12 item 5).
#include "kube-adapter/kube_credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace capstan::kube {
namespace {

namespace fs = std::filesystem;

class KubeCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kube-credentials-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/kube";
  }
  void TearDown() override { fs::remove_all(root_); }

  static unsigned Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  static std::string Read(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  std::string root_, dir_;
};

TEST_F(KubeCredentialsTest, PrivateFilesAre0600InA0700Directory) {
  // Even a permissive umask must not widen a private file.
  const mode_t old_umask = ::umask(0);
  KubeCredentials c;
  std::string error;
  const bool ok = KubeCredentials::Ensure(dir_, "", "", "127.0.0.1", &c, &error);
  const bool kubeconfig_ok =
      ok && c.WriteAdminKubeconfig(dir_ + "/admin.kubeconfig", "https://127.0.0.1:6443", &error);
  ::umask(old_umask);
  ASSERT_TRUE(ok) << error;
  ASSERT_TRUE(kubeconfig_ok) << error;
  EXPECT_EQ(Mode(dir_), 0700u);
  for (const char* f : {"ca.key", "apiserver.key", "admin.token", "sa.key", "admin.kubeconfig"}) {
    EXPECT_EQ(Mode(dir_ + "/" + f), 0600u) << f;
  }
  // Certificates are public.
  EXPECT_EQ(Mode(dir_ + "/ca.crt"), 0644u);
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_NE(e.path().extension(), ".tmp") << "temporary left behind: " << e.path();
  }
}

TEST_F(KubeCredentialsTest, KeysNeverGoThroughAPlantedTemporaryFile) {
  // Someone who could create `ca.key.tmp` (a hard link to a file of theirs)
  // before the key is written must not receive the key: the writer unlinks
  // the leftover and creates a new inode with O_EXCL instead of truncating
  // and writing through the planted one, then chmod'ing it.
  fs::create_directories(dir_);
  const std::string spy = root_ + "/spy";
  for (const char* name : {"ca.key", "apiserver.key", "admin.token", "sa.key"}) {
    const std::string s = spy + "-" + name;
    { std::ofstream(s) << ""; }
    ASSERT_EQ(::link(s.c_str(), (dir_ + "/" + name + ".tmp").c_str()), 0);
  }
  KubeCredentials c;
  std::string error;
  ASSERT_TRUE(KubeCredentials::Ensure(dir_, "", "", "127.0.0.1", &c, &error)) << error;
  for (const char* name : {"ca.key", "apiserver.key", "admin.token", "sa.key"}) {
    EXPECT_EQ(Read(spy + "-" + name), "") << name << " was written through the planted link";
    EXPECT_EQ(Mode(dir_ + "/" + name), 0600u) << name;
  }
  EXPECT_NE(Read(dir_ + "/ca.key").find("PRIVATE KEY"), std::string::npos);
  // A second start reuses what is there.
  KubeCredentials again;
  ASSERT_TRUE(KubeCredentials::Ensure(dir_, "", "", "127.0.0.1", &again, &error)) << error;
  EXPECT_EQ(again.admin_token, c.admin_token);
  EXPECT_EQ(again.ca_pem, c.ca_pem);
  EXPECT_EQ(again.sa_key_pem, c.sa_key_pem);
}

}  // namespace
}  // namespace capstan::kube
