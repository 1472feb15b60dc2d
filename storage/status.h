// Status: the result of an operation that can fail, in the style of LevelDB.
//
// It is the project-wide error type (storage is the lowest layer, so it lives
// here). A Status carries a code and a message; the API layer maps codes to
// gRPC status codes and the message to etcd's error text.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace capstan {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,
    kInvalidArgument,
    kCorruption,
    kIOError,
    kOutOfRange,        // e.g. compacted or future revision
    kResourceExhausted, // e.g. quota exceeded
    kFailedPrecondition,
    kUnavailable,       // e.g. stopped, no leader, timeout
    kAborted,
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string_view m) { return Status(Code::kNotFound, m); }
  static Status InvalidArgument(std::string_view m) { return Status(Code::kInvalidArgument, m); }
  static Status Corruption(std::string_view m) { return Status(Code::kCorruption, m); }
  static Status IOError(std::string_view m) { return Status(Code::kIOError, m); }
  static Status OutOfRange(std::string_view m) { return Status(Code::kOutOfRange, m); }
  static Status ResourceExhausted(std::string_view m) {
    return Status(Code::kResourceExhausted, m);
  }
  static Status FailedPrecondition(std::string_view m) {
    return Status(Code::kFailedPrecondition, m);
  }
  static Status Unavailable(std::string_view m) { return Status(Code::kUnavailable, m); }
  static Status Aborted(std::string_view m) { return Status(Code::kAborted, m); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }

  std::string ToString() const;

  bool operator==(const Status& o) const { return code_ == o.code_ && message_ == o.message_; }

 private:
  Status(Code code, std::string_view message) : code_(code), message_(message) {}
  Code code_ = Code::kOk;
  std::string message_;
};

inline std::string Status::ToString() const {
  static constexpr const char* kNames[] = {
      "OK",         "NotFound",          "InvalidArgument",    "Corruption",  "IOError",
      "OutOfRange", "ResourceExhausted", "FailedPrecondition", "Unavailable", "Aborted"};
  if (ok()) return "OK";
  return std::string(kNames[static_cast<int>(code_)]) + ": " + message_;
}

}  // namespace capstan
