// PeerTransport: Raft messages between members over TCP.
//
// Each ordered pair of members uses two connections: a data channel for log
// appends and snapshots, and a control channel for everything else
// (heartbeats, votes, read-index), so a large append never delays a heartbeat
// and costs an election. Frames are length-prefixed serialized raftpb
// Messages; everything queued while a write is in flight goes out in the next
// single gather-write. Messages to a peer that cannot be reached are dropped
// (Raft retransmits) and the peer is reported unreachable.
//
// One Asio thread does all the I/O; Send() only queues, so the Raft loop
// never blocks on the network.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raftpb.pb.h"
#include "storage/status.h"

namespace capstan::raft {

// TLS between members (etcd's --peer-cert-file, --peer-key-file,
// --peer-trusted-ca-file, --peer-client-cert-auth). Without a trusted CA the
// peer's certificate is not verified, as etcd does without one.
struct PeerTlsOptions {
  bool enabled = false;
  std::string cert_file;
  std::string key_file;
  std::string trusted_ca_file;
  bool client_cert_auth = false;  // accepted connections must present a certificate
};

struct PeerTransportOptions {
  uint64_t local_id = 0;
  uint64_t cluster_id = 0;                     // connections from another cluster are refused
  std::vector<std::string> listen_addresses;   // "host:port"
  size_t max_queued_bytes = size_t{64} << 20;  // per channel, before dropping
  PeerTlsOptions tls;
};

// The data channel to one peer, for a sender that must not outrun it
// (snapshot streaming).
struct DataChannelStats {
  uint64_t pending_bytes = 0;  // queued or being written
  uint64_t drops = 0;          // frames ever dropped (the peer misses them)
};

class PeerTransport {
 public:
  // Called on the I/O thread for every message received.
  using Handler = std::function<void(raftpb::Message msg)>;

  static Status Start(const PeerTransportOptions& options, Handler handler,
                      std::unique_ptr<PeerTransport>* out);
  ~PeerTransport();
  void Stop();

  void AddPeer(uint64_t id, const std::vector<std::string>& addresses);
  void RemovePeer(uint64_t id);
  // Thread-safe and non-blocking.
  void Send(std::vector<raftpb::Message> messages);
  // Thread-safe.
  DataChannelStats DataStats(uint64_t peer);
  // Connects to every peer not connected (past its reconnect backoff) and
  // sends an empty frame on idle connections, so that connectivity is known
  // for every peer, not only those Raft talks to. Call every tick.
  void Probe();
  // Since when the connection to `peer` has been up (etcd's ActiveSince);
  // nullopt if it is down. Thread-safe.
  std::optional<std::chrono::steady_clock::time_point> ActiveSince(uint64_t peer);
  // Peers whose messages were dropped since the last call.
  std::vector<uint64_t> TakeUnreachable();
  // Asks the members at `addresses` ("host:port") for their cluster id, as a
  // member joining an existing cluster must before it can talk to them.
  // Returns the first answer; Unavailable if none answers within `timeout`.
  static Status FetchClusterId(const std::vector<std::string>& addresses,
                               std::chrono::milliseconds timeout, uint64_t* cluster_id,
                               const PeerTlsOptions& tls = {});

  // The ports actually bound (useful with port 0 in tests).
  std::vector<uint16_t> ListeningPorts() const;

 private:
  class Impl;
  explicit PeerTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace capstan::raft
