// --initial-snapshot (Capstan-only): parsed as a flag and as ETCD_INITIAL_SNAPSHOT,
// listed in --help under Capstan's flags.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "api/server_config.h"

namespace capstan {
namespace {

using ::testing::HasSubstr;

struct Parsed {
  Status status;
  ServerConfig config;
  std::string message;
  bool exit_now = false;
};

Parsed Parse(const std::vector<std::string>& args,
             const std::map<std::string, std::string>& env = {}) {
  Parsed p;
  p.status = ParseServerConfig(args, env, &p.config, &p.message, &p.exit_now);
  return p;
}

TEST(InitialSnapshotFlagTest, DefaultIsEmpty) {
  Parsed p = Parse({});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.config.initial_snapshot, "");
}

TEST(InitialSnapshotFlagTest, FlagAndEnvironment) {
  Parsed p = Parse({"--initial-snapshot", "/backup/snap.db"});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.config.initial_snapshot, "/backup/snap.db");
  p = Parse({"-initial-snapshot=/b.db"});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.config.initial_snapshot, "/b.db");
  p = Parse({}, {{"ETCD_INITIAL_SNAPSHOT", "/env.db"}});
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(p.config.initial_snapshot, "/env.db");
}

TEST(InitialSnapshotFlagTest, Help) {
  Parsed p = Parse({"--help"});
  ASSERT_TRUE(p.status.ok());
  EXPECT_THAT(p.message, HasSubstr("--initial-snapshot"));
}

}  // namespace
}  // namespace capstan
