#include "api/etcd_errors.h"

namespace capstan::api {

grpc::Status ToGrpcStatus(const Status& s) {
  using C = Status::Code;
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (s.code()) {
    case C::kOk:
      return grpc::Status::OK;
    case C::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case C::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case C::kOutOfRange:
      code = grpc::StatusCode::OUT_OF_RANGE;
      break;
    case C::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case C::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case C::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case C::kCorruption:
      code = grpc::StatusCode::DATA_LOSS;
      break;
    case C::kAborted:
      code = grpc::StatusCode::ABORTED;
      break;
    case C::kIOError:
      code = grpc::StatusCode::INTERNAL;
      break;
  }
  // gRPC's own errors (a message too large to send) go out as grpc-go words them.
  if (s.message().starts_with("grpc: ")) return grpc::Status(code, s.message());
  return grpc::Status(code, "etcdserver: " + s.message());
}

}  // namespace capstan::api
