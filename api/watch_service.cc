#include "api/watch_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>

#include "api/propose_and_reply.h"
#include "storage/varint.h"
#include "watch/watch_hub.h"

namespace capstan::api {
namespace {

using Bytes = grpc::ByteBuffer;

// One bidi Watch call. Lifetime follows gRPC's callback rules: the reactor
// deletes itself in OnDone, which gRPC calls once Finish has been called and
// every started read and write has completed; the hub's wake-up callback is
// disarmed (WatchStream::Close waits for a running one) before that.
class WatchReactor final : public grpc::ServerBidiReactor<Bytes, Bytes> {
 public:
  WatchReactor(EtcdServer* server, watch::WatchHub* hub) : server_(server) {
    stream_ = hub->OpenStream([this] { MaybeWrite(); });
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed (or the call is gone). Like etcd, keep
      // sending until the call ends; there is nothing more to read.
      return;
    }
    etcdserverpb::WatchRequest req;
    bool parsed =
        grpc::SerializationTraits<etcdserverpb::WatchRequest>::Deserialize(&request_, &req).ok();
    if (parsed) Handle(req);
    MaybeWrite();
    // Requests produce messages: stop reading while the client is not
    // reading what we send (etcd blocks its receive loop the same way).
    bool read_now = false;
    {
      std::lock_guard l(mu_);
      if (finishing_) {
        // no more reads
      } else if (stream_->Backlogged()) {
        read_paused_ = true;
      } else {
        read_now = true;
      }
    }
    if (read_now) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    bool finish = false;
    {
      std::lock_guard l(mu_);
      writing_ = false;
      if (!ok && !finishing_) finishing_ = true;
      finish = finishing_ && !finished_;
      if (finish) finished_ = true;
    }
    if (finish) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    MaybeWrite();
  }

  void OnCancel() override {
    bool finish = false;
    {
      std::lock_guard l(mu_);
      finishing_ = true;
      // With a write in flight, OnWriteDone finishes.
      finish = !writing_ && !finished_;
      if (finish) finished_ = true;
    }
    if (finish) Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    stream_->Close();  // no MaybeWrite runs after this
    stream_.reset();
    // The gRPC callback API's ownership rule: the reactor frees itself here.
    delete this;
  }

 private:
  void Handle(const etcdserverpb::WatchRequest& req) {
    switch (req.request_union_case()) {
      case etcdserverpb::WatchRequest::kCreateRequest: {
        const auto& c = req.create_request();
        watch::WatchRequestOptions o;
        o.key = c.key();
        o.range_end = c.range_end();
        o.start_revision = c.start_revision();
        o.watch_id = c.watch_id();
        o.prev_kv = c.prev_kv();
        o.progress_notify = c.progress_notify();
        o.fragment = c.fragment();
        for (int f : c.filters()) {
          if (f == etcdserverpb::WatchCreateRequest::NOPUT) o.no_put = true;
          if (f == etcdserverpb::WatchCreateRequest::NODELETE) o.no_delete = true;
        }
        stream_->Create(o);
        break;
      }
      case etcdserverpb::WatchRequest::kCancelRequest:
        stream_->Cancel(req.cancel_request().watch_id());
        break;
      case etcdserverpb::WatchRequest::kProgressRequest:
        stream_->RequestProgress();
        break;
      default:
        break;  // etcd ignores unknown requests and keeps the stream
    }
  }

  // Starts the next write if none is in flight and something is queued.
  void MaybeWrite() {
    bool write = false;
    bool read = false;
    {
      std::lock_guard l(mu_);
      if (writing_ || finishing_) return;
      watch::WatchMessage m;
      if (stream_->Next(&m)) {
        Encode(m, &response_);
        writing_ = true;
        write = true;
      } else if (read_paused_ && !stream_->Backlogged()) {
        read_paused_ = false;
        read = true;
      }
    }
    // Started outside the lock: gRPC may run the reaction inline.
    if (read) StartRead(&request_);
    if (write) StartWrite(&response_);
  }

  void Encode(const watch::WatchMessage& m, Bytes* out) {
    etcdserverpb::WatchResponse head;
    server_->FillHeader(head.mutable_header(), m.revision);
    // etcd sends the revision it was given, 0 included (compaction cancels).
    head.mutable_header()->set_revision(m.revision);
    head.set_watch_id(m.watch_id);
    head.set_created(m.created);
    head.set_canceled(m.canceled);
    head.set_compact_revision(m.compact_revision);
    head.set_cancel_reason(m.cancel_reason);
    head.set_fragment(m.fragment);
    std::string wire = head.SerializeAsString();
    for (const auto& ev : m.events) {
      wire.push_back(static_cast<char>((11 << 3) | 2));  // WatchResponse.events
      AppendVarint(&wire, ev->size());
      wire.append(*ev);
    }
    grpc::Slice slice(wire);
    *out = Bytes(&slice, 1);
  }

  EtcdServer* const server_;
  std::shared_ptr<watch::WatchStream> stream_;
  Bytes request_;
  Bytes response_;

  std::mutex mu_;
  bool writing_ = false;
  bool read_paused_ = false;
  bool finishing_ = false;
  bool finished_ = false;
};

}  // namespace

grpc::ServerBidiReactor<Bytes, Bytes>* WatchService::Watch(grpc::CallbackServerContext* ctx) {
  if (grpc::Status g = CheckNotLearner(*server_); !g.ok()) {
    return RefuseStream<grpc::ServerBidiReactor<Bytes, Bytes>>(g);
  }
  return std::make_unique<WatchReactor>(server_, server_->watch_hub()).release();
}

}  // namespace capstan::api
