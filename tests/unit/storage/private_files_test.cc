#include "storage/private_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "storage/temp_dir.h"

namespace capstan {
namespace {

mode_t Mode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void MakeFile(const std::string& path, mode_t mode) {
  std::ofstream(path) << "secret";
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// Sets the umask for one test and puts the old one back.
class Umask {
 public:
  explicit Umask(mode_t m) : old_(::umask(m)) {}
  ~Umask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(PrivateFilesTest, CreatePrivateDirsIs0700WhateverTheUmask) {
  TempDir tmp;
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0277}}) {
    Umask u(mask);
    const std::string top = tmp.Sub("m" + std::to_string(mask));
    ASSERT_TRUE(CreatePrivateDirs(top + "/a/b/").ok());
    for (const std::string& d : {top, top + "/a", top + "/a/b"}) {
      EXPECT_EQ(Mode(d), 0700u) << d << " umask " << mask;
    }
    // Existing: no error, nothing changed.
    ASSERT_EQ(::chmod((top + "/a").c_str(), 0750), 0);
    ASSERT_TRUE(CreatePrivateDirs(top + "/a/b").ok());
    EXPECT_EQ(Mode(top + "/a"), 0750u);
  }
  MakeFile(tmp.Sub("file"), 0600);
  EXPECT_FALSE(CreatePrivateDirs(tmp.Sub("file")).ok());
}

TEST(PrivateFilesTest, TightenPermissionsFixesEveryLoosePathAndNamesIt) {
  TempDir tmp;
  const std::string root = tmp.Sub("data");
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(root.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root + "/member").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((root + "/member/wal").c_str(), 0700), 0);
  ASSERT_EQ(::chmod((root + "/member/wal").c_str(), 0777), 0);
  MakeFile(root + "/member/wal/1.wal", 0644);
  MakeFile(root + "/member/marker", 0600);    // already private
  MakeFile(root + "/member/readonly", 0400);  // stricter: left alone
  MakeFile(tmp.Sub("outside"), 0644);         // reached only through a link
  ASSERT_EQ(::symlink(tmp.Sub("outside").c_str(), (root + "/member/link").c_str()), 0);

  std::vector<std::string> fixed;
  ASSERT_TRUE(TightenPermissions(root, &fixed).ok());
  EXPECT_EQ(Mode(root), 0700u);
  EXPECT_EQ(Mode(root + "/member/wal"), 0700u);
  EXPECT_EQ(Mode(root + "/member/wal/1.wal"), 0600u);
  EXPECT_EQ(Mode(root + "/member/marker"), 0600u);
  EXPECT_EQ(Mode(root + "/member/readonly"), 0400u);
  EXPECT_EQ(Mode(tmp.Sub("outside")), 0644u);
  std::sort(fixed.begin(), fixed.end());
  EXPECT_EQ(fixed, (std::vector<std::string>{root + " (was 0755)", root + "/member/wal (was 0777)",
                                             root + "/member/wal/1.wal (was 0644)"}));
  // A second pass has nothing to do.
  fixed.clear();
  ASSERT_TRUE(TightenPermissions(root, &fixed).ok());
  EXPECT_TRUE(fixed.empty());
}

TEST(PrivateFilesTest, TightenPermissionsFollowsALinkedRoot) {
  TempDir tmp;
  ASSERT_EQ(::mkdir(tmp.Sub("real").c_str(), 0755), 0);
  ASSERT_EQ(::chmod(tmp.Sub("real").c_str(), 0755), 0);
  ASSERT_EQ(::symlink(tmp.Sub("real").c_str(), tmp.Sub("data").c_str()), 0);
  ASSERT_TRUE(TightenPermissions(tmp.Sub("data"), nullptr).ok());
  EXPECT_EQ(Mode(tmp.Sub("real")), 0700u);
}

TEST(PrivateFilesTest, MissingRootIsAnError) {
  TempDir tmp;
  EXPECT_FALSE(TightenPermissions(tmp.Sub("nothing"), nullptr).ok());
}

}  // namespace
}  // namespace capstan
