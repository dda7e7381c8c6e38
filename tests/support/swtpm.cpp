#include "support/swtpm.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace tandem::testing {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// Binds `port` (0: any) on loopback and returns the port bound, or -1.
int bind_port(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = loopback(port);
  socklen_t length = sizeof address;
  int bound = -1;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    bound = ntohs(address.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return bound;
}

// A free loopback port whose neighbour is free too: swtpm's TCTI finds the control port at port + 1.
// Free unless someone takes it in between (start() then tries again).
int free_port_pair() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int port = bind_port(0);
    if (port > 0 && port < 65535 && bind_port(port + 1) == port + 1) return port;
  }
  return -1;
}

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = loopback(port);
  const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

}  // namespace

std::string swtpm_binary() {
  for (const char* candidate : {"/usr/bin/swtpm", "/usr/local/bin/swtpm"}) {
    if (std::filesystem::exists(candidate)) return candidate;
  }
  return "";
}

Result<std::unique_ptr<Swtpm>> Swtpm::start(const std::string& state_dir) {
  const std::string binary = swtpm_binary();
  if (binary.empty()) return make_error(ErrorCode::kNotFound, "swtpm is not installed (scripts/setup.sh installs it)");
  std::string last_error;
  for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take a port before swtpm binds it
    const int port = free_port_pair();
    const int control = port + 1;
    auto process = ChildProcess::spawn(
        binary, {"socket", "--tpm2", "--server", "type=tcp,bindaddr=127.0.0.1,port=" + std::to_string(port), "--ctrl",
                 "type=tcp,bindaddr=127.0.0.1,port=" + std::to_string(control), "--tpmstate", "dir=" + state_dir,
                 "--flags", "not-need-init,startup-clear"});
    if (!process) return process.error();
    for (int i = 0; i < 200; ++i) {
      if (accepts_connections(port)) return std::unique_ptr<Swtpm>(new Swtpm(std::move(*process), port));
      if ((*process)->wait(std::chrono::milliseconds(0)) >= 0) break;  // it exited: the port was taken
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    last_error = (*process)->stderr_text();
  }
  return make_error(ErrorCode::kUnavailable, "swtpm did not start: " + last_error);
}

std::string Swtpm::tcti() const {
  return "swtpm:host=127.0.0.1,port=" + std::to_string(port_);
}

}  // namespace tandem::testing
