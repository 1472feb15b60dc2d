#include "raft/wal_writer.h"

#include <pthread.h>

#include <future>

namespace capstan::raft {

WalWriter::WalWriter(std::unique_ptr<Wal> wal) : wal_(std::move(wal)) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "cap-wal");
    Loop();
  });
}

WalWriter::~WalWriter() { Stop(); }

void WalWriter::Submit(WalBatch batch, Callback done) {
  {
    std::lock_guard l(mu_);
    if (!stopping_) {
      queue_.push_back(Item{std::move(batch), nullptr, std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  if (done) done(Status::Unavailable("WAL writer stopped"));
}

void WalWriter::Run(Task task, Callback done) {
  {
    std::lock_guard l(mu_);
    if (!stopping_) {
      queue_.push_back(Item{WalBatch(), std::move(task), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  if (done) done(Status::Unavailable("WAL writer stopped"));
}

Status WalWriter::RunAndWait(Task task) {
  // Shared, so that the writer thread never touches a promise this thread
  // has already destroyed on waking up.
  auto result = std::make_shared<std::promise<Status>>();
  std::future<Status> f = result->get_future();
  Run(std::move(task), [result](const Status& s) { result->set_value(s); });
  return f.get();
}

void WalWriter::Stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  wal_.reset();  // closes the log, so that it can be opened again
}

void WalWriter::Loop() {
  std::vector<Item> items;
  std::vector<raftpb::Entry> entries;  // kept to reuse its capacity
  while (true) {
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is done
      items.swap(queue_);
    }
    for (size_t i = 0; i < items.size();) {
      if (items[i].task) {
        Status s = items[i].task(*wal_);
        if (items[i].done) items[i].done(s);
        i++;
        continue;
      }
      // A run of consecutive batches becomes one write and one fdatasync.
      // HardState is a whole state, so the group's last one is all that is
      // needed; it goes after all the entries, as in each batch.
      size_t j = i;
      const raftpb::HardState* hs = nullptr;
      entries.clear();
      for (; j < items.size() && !items[j].task; j++) {
        WalBatch& b = items[j].batch;
        for (raftpb::Entry& e : b.entries) entries.push_back(std::move(e));
        if (b.hard_state) hs = &*b.hard_state;
      }
      Status s = wal_->Save(hs, entries, /*sync=*/true);
      for (; i < j; i++) {
        if (items[i].done) items[i].done(s);
      }
    }
    items.clear();
  }
}

}  // namespace capstan::raft
