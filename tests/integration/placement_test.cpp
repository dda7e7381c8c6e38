// A model split across two real devices, the CPU and a ggml RPC server on loopback (the second
// device CI has), must give the same greedy output as the CPU alone: RPC moves the tensors to
// another process, whose CPU backend runs the same kernels. Both runs keep the CPU's weights in
// the plain layout (repack_cpu_weights = false): with llama.cpp's repacked CPU kernels on the
// CPU part only, the tokens agree for the first few and then drift (last-digit differences that
// this small model amplifies), which says nothing about the split itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "core/log.h"
#include "devices/devices.h"
#include "devices/replicated_chat.h"
#include "engine/engine.h"
#include "support/server_process.h"

namespace tandem::testing {
namespace {

using namespace std::chrono_literals;

std::string rpc_server_binary() {
  const char* v = std::getenv("TANDEM_RPC_SERVER");
  return v && *v ? v : std::string(TANDEM_BINARY_DIR) + "/bin/ggml-rpc-server";
}

// llama.cpp's own report of where the weights went: "<buffer> model buffer size = N MiB".
class BufferLog {
 public:
  BufferLog() {
    log::set_level(log::Level::kDebug);
    log::set_sink([this](log::Level, std::string_view component, std::string_view message) {
      if (component != "llama" || message.find("model buffer size") == std::string_view::npos) return;
      std::lock_guard lock(mutex_);
      lines_.emplace_back(message);
    });
  }
  ~BufferLog() {
    log::set_sink(nullptr);
    log::set_level(log::Level::kInfo);
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

constexpr const char* kPrompts[] = {"What is the capital of France?", "Write one sentence about the sea.",
                                    "Count to five."};

engine::GenerationRequest greedy_request(const char* prompt) {
  engine::GenerationRequest request;
  request.messages = {{"user", prompt}};
  request.sampling.temperature = 0;
  request.sampling.max_tokens = 24;
  return request;
}

Result<std::unique_ptr<engine::ChatEngine>> load_chat(const engine::DevicePlacement& placement) {
  engine::ChatEngineOptions options;
  options.model_path = chat_model_path();
  options.context = 512;
  options.slots = 1;
  options.threads = 2;
  options.placement = placement;
  options.placement.repack_cpu_weights = false;
  return engine::ChatEngine::load(options);
}

std::vector<std::string> greedy_answers(const engine::DevicePlacement& placement) {
  auto engine = load_chat(placement);
  EXPECT_TRUE(engine.ok()) << engine.error().message;
  if (!engine) return {};
  std::vector<std::string> answers;
  for (const char* prompt : kPrompts) {
    auto result = (*engine)->generate(greedy_request(prompt));
    EXPECT_TRUE(result.ok()) << result.error().message;
    answers.push_back(result ? result->text : "");
  }
  return answers;
}

// ggml-rpc-server on a free loopback port, listening (added to this process's registry, which
// is how the test knows); stopped with the object.
struct RpcServer {
  std::string endpoint;
  std::unique_ptr<ChildProcess> process;
};

Result<RpcServer> start_rpc_server() {
  RpcServer server;
  server.endpoint = "127.0.0.1:" + std::to_string(free_loopback_port());
  auto child =
      ChildProcess::spawn(rpc_server_binary(),
                          {"-H", "127.0.0.1", "-p", server.endpoint.substr(server.endpoint.rfind(':') + 1), "-t", "1"});
  if (!child) return child.error();
  server.process = std::move(*child);
  Status added = make_error(ErrorCode::kUnavailable, "not tried");
  for (int i = 0; i < 300 && !added; ++i) {  // until the server listens
    added = devices::add_rpc_server(server.endpoint);
    if (!added) std::this_thread::sleep_for(100ms);
  }
  if (!added) return make_error(added.error().code, added.error().message + "\n" + server.process->stderr_text());
  return server;
}

bool rpc_server_built() {
  return access(rpc_server_binary().c_str(), X_OK) == 0;
}

// The device of the RPC server this test program's own engines use, started once for the whole
// program: ggml keeps every RPC device it was given, and asking a stopped server's device for its
// memory aborts the process. (Tests that run `tandem` as a child start a server of their own.)
Result<std::string> shared_rpc_device() {
  static Result<RpcServer> server = start_rpc_server();
  if (!server) return server.error();
  for (const auto& d : devices::discover_devices()) {
    if (d.backend == "RPC" && d.description == server->endpoint) return d.name;
  }
  return make_error(ErrorCode::kNotFound, "the RPC server's device is not in ggml's registry");
}

TEST(RpcSplit, HalfTheLayersOnAnRpcDeviceGiveTheCpuOnlyGreedyOutput) {
  if (!rpc_server_built()) GTEST_SKIP() << "ggml-rpc-server not built (TANDEM_BUILD_BENCH=OFF)";
  auto found = shared_rpc_device();
  ASSERT_TRUE(found.ok()) << found.error().message;
  const std::string rpc_device = *found;

  const auto on_cpu = greedy_answers({});
  BufferLog buffers;
  // Gemma 3 270M has 18 blocks + the output layer: the last 9 blocks and the output go remote.
  engine::DevicePlacement half;
  half.devices = {rpc_device};
  half.gpu_layers = 10;
  const auto split = greedy_answers(half);
  ASSERT_EQ(on_cpu.size(), 3u);
  EXPECT_EQ(split, on_cpu);
  for (const auto& text : on_cpu) EXPECT_FALSE(text.empty());

  bool rpc_held_weights = false;
  for (const auto& line : buffers.lines()) rpc_held_weights = rpc_held_weights || line.find("RPC") != std::string::npos;
  EXPECT_TRUE(rpc_held_weights) << "llama.cpp put no model buffer on " << rpc_device;
}

TEST(RpcSplit, AnRpcServerThatDoesNotAnswerIsAClearError) {
  const std::string endpoint = "127.0.0.1:" + std::to_string(free_loopback_port());
  auto added = devices::add_rpc_server(endpoint);
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(added.error().message.find(endpoint), std::string::npos);
  EXPECT_EQ(devices::add_rpc_server("no-port").error().code, ErrorCode::kInvalidArgument);
}

// Two copies of the model, one on the CPU and one wholly on the RPC device: requests that arrive
// together are spread over both, each copy gives the CPU's greedy answer (up to a late near-tie,
// see closest_answer), and every result says where it ran and why.
TEST(ReplicatedChat, ConcurrentRequestsUseBothCopiesAndGiveTheSameAnswers) {
  if (!rpc_server_built()) GTEST_SKIP() << "ggml-rpc-server not built (TANDEM_BUILD_BENCH=OFF)";
  auto found = shared_rpc_device();
  ASSERT_TRUE(found.ok()) << found.error().message;
  const std::string rpc_device = *found;

  const auto on_cpu = greedy_answers({});
  engine::DevicePlacement remote;
  remote.devices = {rpc_device};
  remote.gpu_layers = 19;  // 18 blocks + the output layer
  auto cpu_copy = load_chat({});
  auto rpc_copy = load_chat(remote);
  ASSERT_TRUE(cpu_copy && rpc_copy);
  std::vector<devices::ReplicaEngine> replicas;
  replicas.push_back({std::move(*cpu_copy), {.device = "CPU", .prompt_tokens_per_second = 300,
                                             .generation_tokens_per_second = 30}});
  replicas.push_back({std::move(*rpc_copy), {.device = rpc_device, .prompt_tokens_per_second = 300,
                                             .generation_tokens_per_second = 30}});
  auto chat = devices::make_replicated_chat(std::move(replicas), devices::Objective::kFastest);
  ASSERT_TRUE(chat.ok()) << chat.error().message;
  EXPECT_EQ((*chat)->info().slots, 2);

  std::vector<Result<engine::GenerationResult>> results(2 * std::size(kPrompts),
                                                        make_error(ErrorCode::kUnavailable, "not run"));
  std::vector<std::thread> callers;
  for (size_t i = 0; i < results.size(); ++i) {
    callers.emplace_back([&, i] { results[i] = (*chat)->generate(greedy_request(kPrompts[i % std::size(kPrompts)])); });
  }
  for (auto& t : callers) t.join();
  std::set<std::string> used;
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].error().message;
    EXPECT_EQ(testing::closest_answer(results[i]->text, on_cpu), i % std::size(kPrompts))
        << "on " << results[i]->device << ": " << results[i]->text;
    EXPECT_NE(results[i]->device_reason.find("is expected to finish first"), std::string::npos)
        << results[i]->device_reason;
    used.insert(results[i]->device);
  }
  EXPECT_EQ(used, (std::set<std::string>{"CPU", rpc_device}));
  EXPECT_EQ((*chat)->active_requests(), 0);
}

TEST(ReplicatedChat, NoCopiesOrCopiesWithoutThroughputAreRefused) {
  auto chat = load_chat({});
  ASSERT_TRUE(chat.ok()) << chat.error().message;
  std::vector<devices::ReplicaEngine> none;
  EXPECT_EQ(devices::make_replicated_chat(std::move(none), devices::Objective::kFastest).error().code,
            ErrorCode::kInvalidArgument);
  std::vector<devices::ReplicaEngine> unmeasured;
  unmeasured.push_back({std::move(*chat), {.device = "CPU"}});
  auto refused = devices::make_replicated_chat(std::move(unmeasured), devices::Objective::kFastest);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("CPU has no measured throughput"), std::string::npos)
      << refused.error().message;
}

// The same through `tandem serve` and its settings: devices.chat_replicas loads a copy per entry,
// `tandem plan` lists them, and each answer's `tandem.device` says which copy answered and why.
TEST(ReplicatedChat, TandemServeSpreadsRequestsOverTheConfiguredCopies) {
  if (!rpc_server_built()) GTEST_SKIP() << "ggml-rpc-server not built (TANDEM_BUILD_BENCH=OFF)";
  auto rpc = start_rpc_server();
  ASSERT_TRUE(rpc.ok()) << rpc.error().message;
  const std::vector<std::string> env = {"TANDEM_DEVICES_RPC_SERVERS=" + rpc->endpoint,
                                        "TANDEM_DEVICES_CHAT_REPLICAS=cpu; RPC0", "TANDEM_ENGINE_SLOTS=1",
                                        "TANDEM_ENGINE_CONTEXT=512"};

  auto plan = run_tandem({"plan", "--json"}, std::chrono::seconds(120), env);
  ASSERT_EQ(plan.exit_code, 0) << plan.stderr_text;
  const auto models = nlohmann::json::parse(plan.stdout_text)["models"];
  ASSERT_GE(models.size(), 2U) << models.dump();
  EXPECT_EQ(models[0]["model"], "chat");
  EXPECT_EQ(models[0]["devices"], nlohmann::json::array());
  EXPECT_EQ(models[1]["model"], "chat 2");
  EXPECT_EQ(models[1]["devices"], nlohmann::json::array({"RPC0"}));

  auto server = ServerProcess::start({}, env);
  ASSERT_TRUE(server.ok()) << server.error().message;
  std::vector<nlohmann::json> answers(4);
  std::vector<std::thread> callers;
  for (size_t i = 0; i < answers.size(); ++i) {
    callers.emplace_back([&, i] {
      auto client = loopback_client((*server)->port());
      auto res = post_json(client, "/v1/chat/completions",
                           {{"messages", {{{"role", "user"}, {"content", kPrompts[0]}}}},
                            {"temperature", 0},
                            {"max_tokens", 16}});
      if (res && res->status == 200) answers[i] = nlohmann::json::parse(res->body);
    });
  }
  for (auto& t : callers) t.join();
  std::set<std::string> used;
  for (const auto& a : answers) {
    ASSERT_TRUE(a.contains("tandem")) << a.dump();
    const auto& device = a["tandem"]["device"];
    used.insert(device.value("name", ""));
    EXPECT_NE(device.value("reason", "").find("is expected to finish first"), std::string::npos) << device.dump();
  }
  EXPECT_EQ(used, (std::set<std::string>{"CPU", "RPC0"}));
  EXPECT_EQ((*server)->stop(), 0);
}

TEST(ReplicatedChat, ACopyWithoutDevicesOrNextToDevicesChatIsRefused) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"devices.chat_replicas=cpu;auto"}, "devices.chat_replicas: 'auto' names no device"},
      {{"devices.chat_replicas=cpu;cpu", "devices.chat=cpu"}, "leave devices.chat"}};
  for (const auto& [settings, message] : refused) {
    std::vector<std::string> args;
    for (const auto& s : settings) args.insert(args.end(), {"--set", s});
    args.push_back("plan");
    auto out = run_tandem(args);
    EXPECT_EQ(out.exit_code, 2) << settings[0];
    EXPECT_NE(out.stderr_text.find(message), std::string::npos) << out.stderr_text;
  }
}

TEST(TandemPlan, ShowsAndAppliesAPinToAnRpcDevice) {
  if (!rpc_server_built()) GTEST_SKIP() << "ggml-rpc-server not built (TANDEM_BUILD_BENCH=OFF)";
  auto server = start_rpc_server();
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::vector<std::string> settings = {"--set", "engine.model=" + chat_model_path(),
                                             "--set", "devices.rpc_servers=" + server->endpoint,
                                             "--set", "devices.chat=RPC0",
                                             "--set", "devices.chat_gpu_layers=10"};
  auto with = [&](std::vector<std::string> command) {
    std::vector<std::string> all = settings;
    all.insert(all.end(), command.begin(), command.end());
    return run_tandem(all);
  };

  auto plan = with({"plan", "--json"});
  ASSERT_EQ(plan.exit_code, 0) << plan.stderr_text;
  const auto json = nlohmann::json::parse(plan.stdout_text);
  bool listed = false;
  for (const auto& d : json["devices"]) listed = listed || (d["name"] == "RPC0" && d["backend"] == "RPC");
  EXPECT_TRUE(listed) << json["devices"].dump();
  const auto& chat = json["models"][0];
  EXPECT_EQ(chat["model"], "chat");
  EXPECT_EQ(chat["devices"], nlohmann::json::array({"RPC0"}));
  EXPECT_EQ(chat["gpu_layers"], 10);
  EXPECT_EQ(chat["total_layers"], 19);
  EXPECT_EQ(chat["layers_per_device"], nlohmann::json::array({10}));
  EXPECT_NE(chat["reasons"].dump().find("pinned by devices.chat"), std::string::npos) << chat.dump();

  auto table = with({"plan"});
  ASSERT_EQ(table.exit_code, 0) << table.stderr_text;
  EXPECT_NE(table.stdout_text.find("RPC0 10 + CPU 9"), std::string::npos) << table.stdout_text;

  auto asked = with({"ask", "-r", "local", "-n", "8", "What is the capital of France?"});
  EXPECT_EQ(asked.exit_code, 0) << asked.stderr_text;
  EXPECT_FALSE(asked.stdout_text.empty());
}

TEST(TandemPlan, APinToAMissingDeviceIsRefusedByEveryCommand) {
  for (const auto& command : {std::vector<std::string>{"plan"}, std::vector<std::string>{"ask", "-r", "local", "Hi"}}) {
    std::vector<std::string> args = {"--set", "engine.model=" + chat_model_path(), "--set", "devices.chat=CUDA7"};
    args.insert(args.end(), command.begin(), command.end());
    auto out = run_tandem(args);
    EXPECT_EQ(out.exit_code, 2) << command[0];
    EXPECT_NE(out.stderr_text.find("devices.chat names CUDA7, which is not among this machine's devices"),
              std::string::npos)
        << out.stderr_text;
  }
}

TEST(TandemPlan, AnRpcServerThatDoesNotAnswerIsRefused) {
  const std::string endpoint = "127.0.0.1:" + std::to_string(free_loopback_port());
  auto out = run_tandem({"--set", "devices.rpc_servers=" + endpoint, "plan"});
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(out.stderr_text.find("no ggml RPC server answers at " + endpoint), std::string::npos) << out.stderr_text;
}

}  // namespace
}  // namespace tandem::testing
