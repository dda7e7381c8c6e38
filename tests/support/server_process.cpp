#include "support/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace tandem::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn(const std::string& binary,
                                                          const std::vector<std::string>& args,
                                                          const std::vector<std::string>& env_overrides) {
  auto dir = std::make_unique<TempDir>();
  const std::string stderr_path = dir->file("stderr.txt");

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv_strings{binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  // The user's own data directory is never touched: the child keeps its data (knowledge base,
  // learned examples) in its temporary directory unless the test names another.
  std::vector<std::string> env_strings{"TANDEM_DATA=" + dir->file("data")};
  for (char** e = environ; *e; ++e) {
    if (!std::string_view(*e).starts_with("TANDEM_DATA=")) env_strings.emplace_back(*e);
  }
  for (const auto& entry : env_overrides) {
    if (entry.starts_with("TANDEM_DATA=")) env_strings.front() = entry;
    else env_strings.push_back(entry);
  }
  auto argv = c_strings(argv_strings);
  auto envp = c_strings(env_strings);

  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0)
    return make_error(ErrorCode::kInternal, std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return make_error(ErrorCode::kInternal, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
    if (getppid() != parent) _exit(126);
    int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (err < 0 || dup2(out_pipe[1], STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0) _exit(126);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(out_pipe[1]);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, out_pipe[0], std::move(dir)));
}

ChildProcess::~ChildProcess() {
  stop();
  close(stdout_fd_);
}

Result<std::string> ChildProcess::read_line_containing(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    size_t newline;
    while ((newline = stdout_buffer_.find('\n')) != std::string::npos) {
      std::string line = stdout_buffer_.substr(0, newline);
      stdout_buffer_.erase(0, newline + 1);
      if (line.find(needle) != std::string::npos) return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms)
      return make_error(ErrorCode::kDeadlineExceeded, "no line with '" + std::string(needle) + "' on stdout");
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100))) <= 0) continue;
    char buf[4096];
    ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n == 0) return make_error(ErrorCode::kUnavailable, "the process closed stdout (exited?)");
    if (n > 0) stdout_buffer_.append(buf, static_cast<size_t>(n));
  }
}

std::string ChildProcess::read_stdout_to_end(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n <= 0) break;
    stdout_buffer_.append(buf, static_cast<size_t>(n));
  }
  return std::exchange(stdout_buffer_, {});
}

std::string ChildProcess::stderr_text() const {
  std::ifstream in(dir_->file("stderr.txt"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (exit_status_ < 0) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_status_ = decode_wait_status(status);
      break;
    }
    if (r < 0 || Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(10ms);
  }
  return exit_status_;
}

void ChildProcess::send_signal(int signal) {
  if (exit_status_ < 0) kill(pid_, signal);
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (exit_status_ >= 0) return exit_status_;
  send_signal(SIGTERM);
  if (wait(grace) >= 0) return exit_status_;
  send_signal(SIGKILL);
  return wait(10s);
}

ProcessOutput run_tandem(const std::vector<std::string>& args, std::chrono::seconds timeout,
                         const std::vector<std::string>& env) {
  ProcessOutput out;
  auto child = ChildProcess::spawn(tandem_binary(), args, env);
  if (!child) {
    out.stderr_text = child.error().message;
    return out;
  }
  const auto deadline = Clock::now() + timeout;
  out.stdout_text = (*child)->read_stdout_to_end(timeout);
  out.exit_code = (*child)->wait(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  if (out.exit_code < 0) (*child)->stop(0ms);
  out.stderr_text = (*child)->stderr_text();
  return out;
}

Result<std::unique_ptr<ServerProcess>> ServerProcess::start(const std::vector<std::string>& args,
                                                            const std::vector<std::string>& env,
                                                            std::chrono::seconds timeout) {
  std::vector<std::string> all{"serve", "--host", "127.0.0.1", "--port", "0"};
  all.insert(all.end(), args.begin(), args.end());
  // Single-user local mode unless the test asks for API keys (TANDEM_SERVER_AUTH=keys).
  std::vector<std::string> with_auth = env;
  if (std::none_of(env.begin(), env.end(), [](const std::string& e) { return e.starts_with("TANDEM_SERVER_AUTH="); })) {
    with_auth.emplace_back("TANDEM_SERVER_AUTH=none");
  }
  auto child = ChildProcess::spawn(tandem_binary(), all, with_auth);
  if (!child) return child.error();
  constexpr std::string_view kListening = "tandem: listening on ";
  auto line = (*child)->read_line_containing(kListening, timeout);
  if (!line) {
    (*child)->stop(5s);
    return make_error(line.error().code, line.error().message + "; stderr:\n" + (*child)->stderr_text());
  }
  const int port = std::stoi(line->substr(line->rfind(':') + 1));
  return std::unique_ptr<ServerProcess>(new ServerProcess(std::move(*child), port));
}

int free_loopback_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

httplib::Client loopback_client(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10s);
  client.set_read_timeout(300s);
  client.set_write_timeout(60s);
  return client;
}

httplib::Client keyed_client(int port, const std::string& key) {
  auto client = loopback_client(port);
  if (!key.empty()) client.set_default_headers({{"Authorization", "Bearer " + key}});
  return client;
}

CreatedKey create_api_key(const std::string& keys_file, const std::string& tenant, const std::string& scope) {
  auto out = run_tandem(
      {"--set", "server.keys_file=" + keys_file, "keys", "create", "--tenant", tenant, "--scope", scope, "--json"});
  EXPECT_EQ(out.exit_code, 0) << out.stderr_text;
  auto created = nlohmann::json::parse(out.stdout_text, nullptr, false);
  if (!created.is_object()) return {};
  return {created["id"], created["key"]};
}

httplib::Result post_json(httplib::Client& client, const std::string& path, const nlohmann::json& body) {
  return client.Post(path.c_str(), body.dump(), "application/json");
}

httplib::Result post_streaming(httplib::Client& client, const std::string& path, const nlohmann::json& body,
                               const std::function<bool(std::string_view data)>& on_data) {
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&on_data](const char* data, size_t length, uint64_t, uint64_t) {
    return on_data(std::string_view(data, length));
  };
  return client.send(req);
}

std::vector<std::string> sse_data(std::string_view body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(pos, end - pos);
    if (line.starts_with("data: ")) out.emplace_back(line.substr(6));
    pos = end + 1;
  }
  return out;
}

std::string streamed_text(std::string_view body) {
  std::string text;
  for (const auto& data : sse_data(body)) {
    if (data == "[DONE]") break;
    auto chunk = nlohmann::json::parse(data);
    if (!chunk.contains("choices") || chunk["choices"].empty()) continue;
    const auto& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content") && delta["content"].is_string()) text += delta["content"].get<std::string>();
  }
  return text;
}

}  // namespace tandem::testing
