// SingleNodeLog: the ConsensusLog of a one-member cluster.
//
// With one voter an entry is committed as soon as it is durable, so the log is
// a group-committing WAL writer: one thread takes every proposal that arrived
// while the previous fdatasync ran, appends them as one WAL write with one
// sync, and hands the batch to the apply callback. Term is fixed at 1.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "raft/consensus_log.h"
#include "raft/wal.h"

namespace capstan::raft {

struct SingleNodeLogOptions {
  std::string wal_dir;
  uint64_t member_id = 1;
  size_t max_batch_entries = 4096;
  WalOptions wal;
};

class SingleNodeLog : public ConsensusLog {
 public:
  explicit SingleNodeLog(SingleNodeLogOptions options);
  ~SingleNodeLog() override;

  Status Start(uint64_t applied_index, ApplyFn apply) override;
  void Stop() override;
  Status Propose(std::string data) override;
  void ReadIndex(ReadIndexFn done) override;
  Status ProposeConfChange(const raftpb::ConfChange&) override {
    return Status::FailedPrecondition("membership changes need a Raft cluster");
  }
  Status TransferLeadership(uint64_t to) override {
    return to == options_.member_id ? Status::OK()
                                    : Status::FailedPrecondition("bad leader transferee");
  }
  void ReleaseBefore(uint64_t index) override;
  LogStatus GetStatus() const override;

 private:
  void Run();

  const SingleNodeLogOptions options_;
  std::unique_ptr<Wal> wal_;
  ApplyFn apply_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> pending_;  // proposals not yet written
  uint64_t release_before_ = 0;       // guarded by mu_
  bool stopping_ = false;
  bool started_ = false;

  uint64_t last_index_ = 0;  // log thread only
  std::atomic<uint64_t> commit_index_{0};
};

}  // namespace capstan::raft
