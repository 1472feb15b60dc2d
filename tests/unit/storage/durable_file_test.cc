#include "storage/durable_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "storage/temp_dir.h"

namespace capstan {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DurableFileTest, WriteReplacesTheFileAndLeavesNothingBeside) {
  TempDir dir;
  const std::string path = dir.path() + "/f";
  ASSERT_TRUE(WriteFileDurably(path, "first, longer").ok());
  ASSERT_TRUE(WriteFileDurably(path, "second").ok());
  EXPECT_EQ(Slurp(path), "second");
  ASSERT_TRUE(WriteFileDurably(dir.path() + "/empty", "").ok());
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/empty"));
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().extension(), "") << e.path();
    ++entries;
  }
  EXPECT_EQ(entries, 2u);
}

TEST(DurableFileTest, ErrorsNameWhatFailed) {
  TempDir dir;
  Status s = WriteFileDurably(dir.path() + "/missing/f", "x");
  EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();
  EXPECT_NE(s.ToString().find("missing/f.tmp"), std::string::npos) << s.ToString();
  EXPECT_FALSE(SyncDir(dir.path() + "/missing").ok());
  EXPECT_TRUE(SyncDir(dir.path()).ok());
}

}  // namespace
}  // namespace capstan
