// StackThread: a joinable thread with a chosen stack size (std::thread takes
// the process default, 8 MiB here). The kube port runs its request handlers
// on these so that documents nested kMaxJsonDepth deep (json_parse.h) can be
// copied, compared, printed and patched by the recursive code paths; the
// stack is reserved address space, touched only as deep as a request goes.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

namespace capstan::kube {

// Stack of a kube handler thread: room for kMaxJsonDepth levels of the
// deepest recursive operation on a document, with a wide margin.
inline constexpr size_t kHandlerStackBytes = 64 << 20;

class StackThread {
 public:
  StackThread() = default;
  // Starts `fn` on a new thread with `stack_bytes` of stack. If the thread
  // cannot be created, joinable() is false and `fn` was not run.
  StackThread(size_t stack_bytes, std::function<void()> fn);
  StackThread(StackThread&& other) noexcept;
  StackThread& operator=(StackThread&& other) noexcept;
  StackThread(const StackThread&) = delete;
  StackThread& operator=(const StackThread&) = delete;
  ~StackThread();  // joins

  bool joinable() const { return started_; }
  void join();
  void detach();

 private:
  unsigned long handle_ = 0;  // pthread_t
  bool started_ = false;
};

}  // namespace capstan::kube
