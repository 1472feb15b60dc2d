#include "watch/watch_stream.h"

#include "watch/watch_hub.h"

namespace capstan::watch {

WatchStream::WatchStream(PassKey, WatchHub* hub, std::function<void()> on_ready)
    : hub_(hub), on_ready_(std::move(on_ready)) {}

WatchStream::~WatchStream() { Close(); }

void WatchStream::Create(const WatchRequestOptions& req) {
  std::lock_guard l(hub_->mu_);
  hub_->CreateLocked(this, req);
}

void WatchStream::Cancel(int64_t watch_id) {
  std::lock_guard l(hub_->mu_);
  hub_->CancelLocked(this, watch_id);
}

void WatchStream::RequestProgress() {
  {
    std::lock_guard l(hub_->mu_);
    if (closed_) return;
    progress_requested_ = true;
    hub_->progress_requested_.insert(this);
  }
  // The hub thread answers after dispatching what the apply loop already
  // announced, so the revision it reports is as fresh as possible.
  hub_->Kick();
}

bool WatchStream::Next(WatchMessage* out) {
  std::lock_guard l(hub_->mu_);
  return hub_->NextLocked(this, out);
}

bool WatchStream::Backlogged() const {
  std::lock_guard l(hub_->mu_);
  return queue_.size() >= hub_->options_.stream_max_messages ||
         queued_bytes_ >= hub_->options_.stream_max_bytes;
}

void WatchStream::Close() {
  {
    std::lock_guard l(hub_->mu_);
    hub_->CloseLocked(this);
  }
  // Waits for a running on_ready, and disarms it.
  std::lock_guard l(signal_mu_);
  on_ready_ = nullptr;
}

void WatchStream::Signal() {
  std::lock_guard l(signal_mu_);
  if (on_ready_) on_ready_();
}

}  // namespace capstan::watch
