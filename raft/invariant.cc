#include "raft/invariant.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace capstan::raft {

namespace {
std::atomic<FatalHandler> g_handler{nullptr};
}  // namespace

FatalHandler SetFatalHandler(FatalHandler handler) { return g_handler.exchange(handler); }

void Fatal(const char* file, int line, const std::string& message) {
  std::string full = std::string("raft invariant violated at ") + file + ":" +
                     std::to_string(line) + ": " + message;
  std::fprintf(stderr, "%s\n", full.c_str());
  if (FatalHandler h = g_handler.load()) h(full);
  std::abort();
}

}  // namespace capstan::raft
