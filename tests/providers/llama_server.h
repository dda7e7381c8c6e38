// llama.cpp's own llama-server with the test chat model on a free loopback port: the "public
// cloud" of the provider tests. Built from the same llama.cpp source as Tandem's engine.
//
//   auto server = LlamaServer::start();
//   ASSERT_TRUE(server) << server.error().message;
//   options.base_url = (*server)->base_url();
//   // ~LlamaServer stops the process (and it dies with the test process anyway).
//
// The binary is $TANDEM_LLAMA_SERVER, else <build>/bin/llama-server.
// Thread-safety: one thread starts and stops it; requests may come from any thread.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem::testing {

inline std::string llama_server_binary() {
  const char* path = std::getenv("TANDEM_LLAMA_SERVER");
  return path && *path ? path : std::string(TANDEM_BINARY_DIR) + "/bin/llama-server";
}

// Builds with TANDEM_BUILD_BENCH=OFF have no llama-server of their own: tests skip, saying so.
inline bool llama_server_available() {
  return ::access(llama_server_binary().c_str(), X_OK) == 0;
}

// A loopback port nobody listened on a moment ago (llama-server cannot report a port 0 choice).
inline int unused_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

class LlamaServer {
 public:
  static Result<std::unique_ptr<LlamaServer>> start() {
    using namespace std::chrono_literals;
    std::string last_failure;
    for (int tries = 0; tries < 3; ++tries) {  // another process may take the port first
      const int port = unused_loopback_port();
      // The test GGUF has no chat template; Tandem's engine then uses llama.cpp's built-in gemma
      // one, and so must the peer for both to see the same prompt. The engine's KV layout (full
      // SWA cache, one buffer per slot) keeps greedy numerics, and so the text, identical too.
      auto child = ChildProcess::spawn(
          llama_server_binary(), {"-m", chat_model_path(), "-np", "2", "-c", "2048", "-t", "2", "--host", "127.0.0.1",
                                  "--port", std::to_string(port), "--no-webui", "--no-jinja", "--chat-template",
                                  "gemma", "--swa-full", "--no-kv-unified"});
      if (!child) return child.error();
      httplib::Client client("127.0.0.1", port);
      client.set_connection_timeout(1s);
      const auto deadline = std::chrono::steady_clock::now() + 120s;
      while (std::chrono::steady_clock::now() < deadline && (*child)->wait(0ms) < 0) {
        auto health = client.Get("/health");
        if (health && health->status == 200) {
          return std::unique_ptr<LlamaServer>(new LlamaServer(std::move(*child), port));
        }
        std::this_thread::sleep_for(100ms);
      }
      (*child)->stop(5s);
      last_failure = (*child)->stderr_text();
    }
    return make_error(ErrorCode::kUnavailable, "llama-server did not become healthy; stderr:\n" + last_failure);
  }

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  LlamaServer(std::unique_ptr<ChildProcess> process, int port) : process_(std::move(process)), port_(port) {}
  std::unique_ptr<ChildProcess> process_;
  int port_;
};

}  // namespace tandem::testing
