#include "kube-adapter/stack_thread.h"

#include <pthread.h>

#include <utility>

namespace capstan::kube {
namespace {

void* Trampoline(void* arg) {
  std::unique_ptr<std::function<void()>> fn(static_cast<std::function<void()>*>(arg));
  (*fn)();
  return nullptr;
}

}  // namespace

StackThread::StackThread(size_t stack_bytes, std::function<void()> fn) {
  static_assert(sizeof(pthread_t) <= sizeof(handle_));
  auto heap_fn = std::make_unique<std::function<void()>>(std::move(fn));
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return;
  pthread_attr_setstacksize(&attr, stack_bytes);
  pthread_t t;
  if (pthread_create(&t, &attr, Trampoline, heap_fn.get()) == 0) {
    heap_fn.release();  // owned by the thread now
    handle_ = static_cast<unsigned long>(t);
    started_ = true;
  }
  pthread_attr_destroy(&attr);
}

StackThread::StackThread(StackThread&& other) noexcept
    : handle_(other.handle_), started_(std::exchange(other.started_, false)) {}

StackThread& StackThread::operator=(StackThread&& other) noexcept {
  if (this != &other) {
    join();
    handle_ = other.handle_;
    started_ = std::exchange(other.started_, false);
  }
  return *this;
}

StackThread::~StackThread() { join(); }

void StackThread::join() {
  if (!started_) return;
  pthread_join(static_cast<pthread_t>(handle_), nullptr);
  started_ = false;
}

void StackThread::detach() {
  if (!started_) return;
  pthread_detach(static_cast<pthread_t>(handle_));
  started_ = false;
}

}  // namespace capstan::kube
