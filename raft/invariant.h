// Invariant checks of the Raft core.
//
// A failed check means a bug in the core or a broken contract by its user
// (for example storage that lost entries it had acknowledged). Carrying on
// could lose committed data, so the process stops: there is no sensible way to
// return an error from the middle of a state transition. Tests install a
// handler to print what they were doing (e.g. a simulation seed) first.
#pragma once

#include <string>

namespace capstan::raft {

using FatalHandler = void (*)(const std::string& message);

// Installs `handler` (nullptr for none), called with the message before the
// process aborts. Returns the previous handler.
FatalHandler SetFatalHandler(FatalHandler handler);

[[noreturn]] void Fatal(const char* file, int line, const std::string& message);

}  // namespace capstan::raft

// The message expression is evaluated only when the check fails.
#define RAFT_CHECK(cond, message)                                       \
  do {                                                                  \
    if (!(cond)) ::capstan::raft::Fatal(__FILE__, __LINE__, (message)); \
  } while (0)
