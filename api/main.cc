// capstan: the server binary. Flags and ETCD_* variables are etcd's.
#include <absl/synchronization/mutex.h>
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>
#include <vector>

#include "api/capstan_server.h"
#include "api/server_config.h"
#include "api/version.h"

namespace {

void SetUpLogging(const capstan::ServerConfig& config) {
  std::vector<spdlog::sink_ptr> sinks;
  for (const std::string& out : config.log_outputs) {
    if (out == "default" || out == "stderr") {
      sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else if (out == "stdout") {
      sinks.push_back(std::make_shared<spdlog::sinks::stdout_sink_mt>());
    } else {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(out));
    }
  }
  auto logger = std::make_shared<spdlog::logger>("capstan", sinks.begin(), sinks.end());
  std::string level = config.log_level;
  if (level == "dpanic" || level == "panic" || level == "fatal") level = "critical";
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  for (const auto& m : config.info_messages) spdlog::info("{}", m);
  for (const auto& m : config.warnings) spdlog::warn("{}", m);
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds absl with its mutex deadlock detector on; it keeps a lock
  // graph for every absl::Mutex gRPC takes, a few percent of server CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string> args(argv + 1, argv + argc);
  capstan::ServerConfig config;
  std::string message;
  bool exit_now = false;
  capstan::Status s =
      capstan::ParseServerConfig(args, capstan::CurrentEnvironment(), &config, &message, &exit_now);
  if (!s.ok()) {
    fprintf(stderr, "%s\n", s.message().c_str());
    return capstan::ExitCodeForConfigError(s);
  }
  if (exit_now) {
    fputs(message.c_str(), stdout);
    return 0;
  }
  SetUpLogging(config);

  // Signals are taken by this thread alone, with sigwait, so block them
  // before any other thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  spdlog::info("starting capstan {} (etcd API {}), name={}, data-dir={}", capstan::kCapstanVersion,
               capstan::kEtcdCompatVersion, config.name, config.data_dir);
  std::unique_ptr<capstan::api::CapstanServer> server;
  s = capstan::api::CapstanServer::Start(config, &server);
  if (!s.ok()) {
    spdlog::critical("cannot start: {}", s.ToString());
    return 1;
  }
  spdlog::info("ready to serve client requests");
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server->Shutdown();
  return 0;
}
