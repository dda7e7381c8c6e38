#include "support/fault_proxy.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

namespace tandem::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kReadTimeout = 10s;

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool send_chunk(int fd, std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return send_all(fd, size) && send_all(fd, data) && send_all(fd, "\r\n");
}

// SO_LINGER 0 turns close() into a TCP reset, as a crashed server or a middlebox produces.
void reset_connection(int fd) {
  linger abort_on_close{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
  ::close(fd);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

struct HttpRequest {
  std::string path;
  std::string authorization;
  std::string body;
};

// Reads one request with a Content-Length body (what libcurl sends for a POST).
std::optional<HttpRequest> read_request(int fd) {
  std::string data;
  const auto deadline = Clock::now() + kReadTimeout;
  auto read_more = [&] {
    pollfd p{fd, POLLIN, 0};
    if (Clock::now() >= deadline || ::poll(&p, 1, 100) < 0) return false;
    if (!(p.revents & POLLIN)) return true;
    char buf[8192];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    data.append(buf, static_cast<size_t>(n));
    return true;
  };
  size_t header_end;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more()) return std::nullopt;
  }
  HttpRequest request;
  size_t content_length = 0;
  size_t line_start = 0;
  while (line_start < header_end) {
    const size_t line_end = data.find("\r\n", line_start);
    const std::string line = data.substr(line_start, line_end - line_start);
    line_start = line_end + 2;
    if (request.path.empty()) {  // request line: METHOD PATH VERSION
      const size_t first = line.find(' ');
      request.path = line.substr(first + 1, line.find(' ', first + 1) - first - 1);
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string name = lower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    if (name == "content-length") content_length = std::stoul(value);
    if (name == "authorization") request.authorization = value;
  }
  const size_t body_start = header_end + 4;
  while (data.size() < body_start + content_length) {
    if (!read_more()) return std::nullopt;
  }
  request.body = data.substr(body_start, content_length);
  return request;
}

std::string response_head(int status, std::string_view content_type, std::string_view extra_headers = {}) {
  // Clients read the code, not the reason phrase.
  return "HTTP/1.1 " + std::to_string(status) + (status < 400 ? " OK" : " Error") +
         "\r\nContent-Type: " + std::string(content_type) + "\r\nConnection: close\r\n" + std::string(extra_headers);
}

bool send_response(int fd, int status, std::string_view content_type, std::string_view body,
                   std::string_view extra_headers = {}) {
  return send_all(fd, response_head(status, content_type, extra_headers) +
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body));
}

}  // namespace

Result<std::unique_ptr<FaultProxy>> FaultProxy::start(int upstream_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(ErrorCode::kInternal, std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    return make_error(ErrorCode::kInternal, "fault proxy: " + reason);
  }
  return std::unique_ptr<FaultProxy>(new FaultProxy(fd, ntohs(address.sin_port), upstream_port));
}

FaultProxy::FaultProxy(int listen_fd, int port, int upstream_port)
    : listen_fd_(listen_fd), port_(port), upstream_port_(upstream_port) {
  acceptor_ = std::thread([this] { accept_loop(); });
}

FaultProxy::~FaultProxy() {
  stopping_ = true;
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mutex_);  // workers take it too: join outside
    workers.swap(workers_);
  }
  for (auto& worker : workers) worker.join();
}

void FaultProxy::set_fault(const Fault& fault) {
  std::lock_guard lock(mutex_);
  fault_ = fault;
}

std::string FaultProxy::last_authorization() const {
  std::lock_guard lock(mutex_);
  return last_authorization_;
}

std::vector<std::string> FaultProxy::request_bodies() const {
  std::lock_guard lock(mutex_);
  return request_bodies_;
}

Fault FaultProxy::next_fault() {
  std::lock_guard lock(mutex_);
  if (fault_.times == 0) return Fault{};
  if (fault_.times > 0) --fault_.times;
  return fault_;
}

void FaultProxy::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lock(mutex_);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void FaultProxy::serve(int fd) {
  const Fault fault = next_fault();
  if (fault.kind == FaultKind::kCloseImmediately) {
    reset_connection(fd);
    return;
  }
  const auto request = read_request(fd);
  if (!request) {
    ::close(fd);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    last_authorization_ = request->authorization;
    request_bodies_.push_back(request->body);
  }
  const auto parsed = nlohmann::json::parse(request->body, nullptr, false);
  const bool streaming = parsed.is_object() && parsed.value("stream", false);

  switch (fault.kind) {
    case FaultKind::kStatus: {
      const nlohmann::json error = {{"error",
                                     {{"message", "request failed; Authorization was '" + request->authorization + "'"},
                                      {"type", "fault_proxy"}}}};
      const std::string retry_after =
          fault.retry_after_s >= 0 ? "Retry-After: " + std::to_string(fault.retry_after_s) + "\r\n" : "";
      send_response(fd, fault.status, "application/json", error.dump(), retry_after);
      break;
    }
    case FaultKind::kGarbageJson:
      if (streaming) {
        send_all(fd, response_head(200, "text/event-stream", "Transfer-Encoding: chunked\r\n") + "\r\n");
        send_chunk(fd, "data: {\"choices\": [{\"delta\": {\"content\": \"Hel\n\n");
        send_chunk(fd, "");
      } else {
        send_response(fd, 200, "application/json", "{\"choices\": [{\"message\": <html>oops</html>");
      }
      break;
    case FaultKind::kHang: {
      const auto until = Clock::now() + fault.hang;
      while (!stopping_ && Clock::now() < until) std::this_thread::sleep_for(10ms);
      break;
    }
    case FaultKind::kCloseImmediately:  // handled before reading the request
      break;
    case FaultKind::kPassThrough:
    case FaultKind::kResetMidStream:
      if (!relay(fd, request->path, request->body, request->authorization, streaming, fault)) return;
      break;
  }
  ::close(fd);
}

// Returns false when it already closed `fd` (a reset).
bool FaultProxy::relay(int fd, const std::string& path, const std::string& body, const std::string& authorization,
                       bool streaming, const Fault& fault) {
  httplib::Client upstream("127.0.0.1", upstream_port_);
  upstream.set_read_timeout(120s);
  httplib::Headers headers;
  if (!authorization.empty()) headers.emplace("Authorization", authorization);

  if (!streaming) {
    auto answer = upstream.Post(path.c_str(), headers, body, "application/json");
    if (!answer) {
      send_response(fd, 502, "text/plain", "upstream unreachable");
    } else {
      send_response(fd, answer->status, answer->get_header_value("Content-Type"), answer->body);
    }
    return true;
  }

  // Relay whole events, one chunk each, so "after K events" means the same thing on every run.
  const bool reset_after = fault.kind == FaultKind::kResetMidStream;
  int events_sent = 0;
  bool was_reset = false;
  std::string pending;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = headers;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  auto send_events = [&] {
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      if (reset_after && events_sent == fault.after_events) {
        reset_connection(fd);
        was_reset = true;
        return false;
      }
      if (!send_chunk(fd, pending.substr(0, end + 2))) return false;
      pending.erase(0, end + 2);
      ++events_sent;
    }
    return !stopping_.load();
  };
  req.response_handler = [&](const httplib::Response& head) {
    if (reset_after && fault.after_events == 0) {
      reset_connection(fd);
      was_reset = true;
      return false;
    }
    const std::string content_type = head.get_header_value("Content-Type");
    return send_all(fd, response_head(head.status, content_type, "Transfer-Encoding: chunked\r\n") + "\r\n");
  };
  req.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
    pending.append(data, length);
    return send_events();
  };
  upstream.send(req);
  if (was_reset) return false;
  if (!pending.empty()) send_chunk(fd, pending);
  send_chunk(fd, "");
  return true;
}

}  // namespace tandem::testing
