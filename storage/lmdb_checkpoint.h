// LmdbCheckpoint: what lets the store run LMDB with MDB_NOSYNC and still
// survive a power loss.
//
// With MDB_NOSYNC a commit is only written, never synced, so the disk may
// keep a newer meta page without the pages it points at: after the machine
// stops uncleanly LMDB would open a tree of garbage. The store therefore
// checkpoints every so often:
//   1. a read transaction pins the newest commit, so LMDB reuses none of its
//      pages until the next checkpoint;
//   2. the data file is fsynced: every page of that commit is on disk;
//   3. that commit's meta page is saved beside the data file (Save).
// Unless the store was stopped cleanly (RecordCleanStop after a final
// checkpoint), Recover writes the saved meta page back over both meta slots
// before LMDB opens the file, if the file has a newer commit. The tree it
// names is intact on disk, and the log in front of the store replays what
// came after. This does not depend on the machine having rebooted: pages can
// be lost without a reboot too (a filesystem remounted after an I/O error, a
// volume re-attached), and then a newer meta page would name pages that never
// reached the disk. After only the process died, going back costs a replay
// of the log since the checkpoint, which is still there.
//
// The meta page layout is LMDB 0.9's data format (version 1), which is fixed
// for every 0.9 release.
#pragma once

#include <cstdint>
#include <string>

#include "storage/status.h"

namespace capstan {

class LmdbCheckpoint {
 public:
  // The name of the saved checkpoint, in the environment's directory.
  static constexpr const char* kFileName = "checkpoint";
  // Present, naming the checkpoint, only after a clean stop.
  static constexpr const char* kCleanStopFileName = "clean-stop";

  // Reads the meta page of transaction `txnid` from LMDB's data file (open
  // as `data_fd`). NotFound once two later commits have reused both slots.
  static Status Capture(int data_fd, uint32_t page_size, uint64_t txnid, LmdbCheckpoint* out);

  // Saves this checkpoint in `dir` (the environment's directory) for a
  // later Recover: written aside, fsynced, renamed into place, directory
  // fsynced, so a crash leaves the old checkpoint or this one.
  Status Save(const std::string& dir) const;

  // Records durably in `dir` that the store stopped cleanly at checkpoint
  // `txnid` (its last one, after which nothing was committed).
  static Status RecordCleanStop(const std::string& dir, uint64_t txnid);

  // Before LMDB opens the environment in `dir`: unless a clean stop at the
  // saved checkpoint was recorded, and if the data file has a newer commit
  // than that checkpoint, puts the checkpoint's meta page back. Then clears
  // the clean-stop record, durably, since commits follow. *rolled_back_to is
  // the transaction it went back to, or 0.
  static Status Recover(const std::string& dir, uint64_t* rolled_back_to);

  // This boot of the machine (Linux's random boot id), saved with each
  // checkpoint for the record; Recover does not depend on it.
  static std::string BootId();

  // The newest transaction id in a data file's two meta slots, 0 if neither
  // is a valid meta page. For tests and Recover.
  static Status NewestTxnId(const std::string& data_path, uint32_t page_size, uint64_t* txnid);

  uint64_t txnid() const { return txnid_; }

 private:
  static Status RollBackUnlessClean(const std::string& dir, const std::string& clean_stop,
                                    uint64_t* rolled_back_to);

  uint64_t txnid_ = 0;
  uint32_t page_size_ = 0;
  uint32_t slot_ = 0;  // 0 or 1: the meta page's page number
  std::string page_;   // the whole meta page, page_size_ bytes
};

}  // namespace capstan
