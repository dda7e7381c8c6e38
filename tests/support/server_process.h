// Runs `tandem serve` as a real child process for integration tests, and talks HTTP to a server
// on loopback.
//
//   auto server = ServerProcess::start({"--set", "engine.slots=2"});
//   ASSERT_TRUE(server) << server.error().message;
//   auto client = loopback_client((*server)->port());
//   auto res = post_json(client, "/v1/chat/completions", {{"messages", ...}});
//   // ~ServerProcess sends SIGTERM, and SIGKILL if the process outlives the grace period.
//
// The child dies with the test process too (PR_SET_PDEATHSIG), so a crashed test leaves nothing
// running. Thread-safety: a ServerProcess belongs to one thread; one httplib::Client per thread.
#pragma once

#include <httplib.h>
#include <sys/types.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "support/test_support.h"

namespace tandem::testing {

// A child process with stdout on a pipe and stderr in a file.
class ChildProcess {
 public:
  // Starts `binary args...` with `env_overrides` ("NAME=value") added to this environment, and
  // TANDEM_DATA in its own temporary directory unless `env_overrides` sets it.
  static Result<std::unique_ptr<ChildProcess>> spawn(const std::string& binary, const std::vector<std::string>& args,
                                                     const std::vector<std::string>& env_overrides = {});
  ~ChildProcess();  // stop(): never leaves the process running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Reads stdout until a line containing `needle` (returned without the newline), EOF or timeout.
  Result<std::string> read_line_containing(std::string_view needle, std::chrono::milliseconds timeout);
  // Reads stdout until EOF or timeout.
  std::string read_stdout_to_end(std::chrono::milliseconds timeout);
  std::string stderr_text() const;
  // Waits for the exit; -1 on timeout. Exit status, or 128 + signal number.
  int wait(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status. Idempotent.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(30));
  void send_signal(int signal);

 private:
  ChildProcess(pid_t pid, int stdout_fd, std::unique_ptr<TempDir> dir)
      : pid_(pid), stdout_fd_(stdout_fd), dir_(std::move(dir)) {}

  pid_t pid_;
  int stdout_fd_;
  std::unique_ptr<TempDir> dir_;  // holds stderr.txt
  std::string stdout_buffer_;
  int exit_status_ = -1;
};

struct ProcessOutput {
  int exit_code = -1;  // -1: killed at the timeout
  std::string stdout_text;
  std::string stderr_text;
};

// Runs `tandem args...` to completion (killed after `timeout`), with `env` ("NAME=value") added.
ProcessOutput run_tandem(const std::vector<std::string>& args,
                         std::chrono::seconds timeout = std::chrono::seconds(120),
                         const std::vector<std::string>& env = {});

// `tandem serve --host 127.0.0.1 --port 0 args...`, started and listening. Settings go through
// `env` ("TANDEM_SERVER_DRAIN_TIMEOUT_S=60"), as global options cannot follow the subcommand. It
// runs in single-user local mode unless `env` sets TANDEM_SERVER_AUTH=keys.
class ServerProcess {
 public:
  static Result<std::unique_ptr<ServerProcess>> start(const std::vector<std::string>& args = {},
                                                      const std::vector<std::string>& env = {},
                                                      std::chrono::seconds timeout = std::chrono::seconds(120));
  int port() const { return port_; }
  ChildProcess& process() { return *process_; }
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(30)) { return process_->stop(grace); }

 private:
  ServerProcess(std::unique_ptr<ChildProcess> process, int port) : process_(std::move(process)), port_(port) {}
  std::unique_ptr<ChildProcess> process_;
  int port_;
};

// A TCP port on 127.0.0.1 that was free a moment ago, for peers that cannot take port 0
// (llama-server, ggml-rpc-server).
int free_loopback_port();

// A client for 127.0.0.1:port with timeouts long enough for CPU inference.
httplib::Client loopback_client(int port);

// The same, sending `key` as its bearer token (none when empty).
httplib::Client keyed_client(int port, const std::string& key);

// A key made with the real `tandem keys create` in `keys_file`; empty (with a test failure
// recorded) when it could not be made.
struct CreatedKey {
  std::string id;
  std::string key;
};
CreatedKey create_api_key(const std::string& keys_file, const std::string& tenant, const std::string& scope);

httplib::Result post_json(httplib::Client& client, const std::string& path, const nlohmann::json& body);

// POSTs and hands each received piece of the response body to `on_data`; returning false closes
// the connection (a client that goes away mid-stream).
httplib::Result post_streaming(httplib::Client& client, const std::string& path, const nlohmann::json& body,
                               const std::function<bool(std::string_view data)>& on_data);

// The payloads of the `data: ...` server-sent events in `body`, in order.
std::vector<std::string> sse_data(std::string_view body);

// The concatenated choices[0].delta.content of a chat completion stream.
std::string streamed_text(std::string_view body);

}  // namespace tandem::testing
