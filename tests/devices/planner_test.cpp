#include "devices/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>

namespace tandem::devices {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

DeviceCapacity device(std::string name, DeviceKind kind, std::string backend, uint64_t free, double throughput) {
  DeviceCapacity d;
  d.name = std::move(name);
  d.kind = kind;
  d.backend = std::move(backend);
  d.memory_free = free;
  d.throughput = throughput;
  return d;
}

DeviceCapacity cpu(uint64_t free = 32 * kGiB) {
  return device("CPU", DeviceKind::kCpu, "CPU", free, 1.0);
}

DeviceCapacity gpu(std::string name, uint64_t free, double throughput = 10.0) {
  return device(std::move(name), DeviceKind::kGpu, "CUDA", free, throughput);
}

ModelDemand model(std::string name, std::string label, ModelRole role, uint64_t bytes, int32_t layers) {
  ModelDemand m;
  m.name = std::move(name);
  m.label = std::move(label);
  m.role = role;
  m.weights_bytes = bytes;
  m.layers = layers;
  return m;
}

ModelDemand chat(uint64_t bytes, int32_t layers) {
  return model("chat", "the chat model", ModelRole::kChat, bytes, layers);
}

ModelDemand embedder() {
  return model("embedding", "the embedder", ModelRole::kEmbedding, 90 * kMiB, 6);
}

Pin pin(std::vector<std::string> devices, int32_t gpu_layers = -1, std::vector<double> tensor_split = {}) {
  Pin p;
  p.devices = std::move(devices);
  p.gpu_layers = gpu_layers;
  p.tensor_split = std::move(tensor_split);
  p.setting = "devices.chat";
  return p;
}

std::string all_reasons(const Placement& p) {
  std::string text;
  for (const auto& r : p.reasons) text += r + "\n";
  return text;
}

uint64_t usable(uint64_t free) {
  return free - std::max<uint64_t>(kHeadroomMinBytes, static_cast<uint64_t>(free * kHeadroomFraction));
}

TEST(Planner, WithoutAGpuEverythingRunsOnTheCpu) {
  auto plan = plan_placement({cpu()}, {chat(4 * kGiB, 32), embedder()});
  ASSERT_TRUE(plan) << plan.error().to_string();
  ASSERT_EQ(plan->size(), 2u);
  for (const auto& p : *plan) {
    EXPECT_TRUE(p.devices.empty()) << p.model;
    EXPECT_EQ(p.gpu_layers, 0) << p.model;
    EXPECT_THAT(all_reasons(p), HasSubstr("no GPU"));
  }
  EXPECT_EQ((*plan)[0].total_layers, 33);
}

TEST(Planner, ASmallModelGoesWhollyToTheGpuAndTheEmbedderStaysOnTheCpu) {
  ModelDemand gemma = chat(241 * kMiB, 18);
  gemma.label = "Gemma 3 270M (241 MiB)";
  auto plan = plan_placement({cpu(), gpu("CUDA0", 7800 * kMiB)}, {embedder(), gemma});
  ASSERT_TRUE(plan) << plan.error().to_string();
  const Placement& embed = (*plan)[0];
  const Placement& main = (*plan)[1];
  EXPECT_THAT(main.devices, ElementsAre("CUDA0"));
  EXPECT_EQ(main.gpu_layers, 19);
  EXPECT_THAT(main.tensor_split, ElementsAre(1.0));
  EXPECT_THAT(all_reasons(main),
              HasSubstr("Gemma 3 270M (241 MiB) fits entirely on CUDA0 (7.6 GiB free): all 19 layers"));
  EXPECT_TRUE(embed.devices.empty());
  EXPECT_EQ(embed.gpu_layers, 0);
  EXPECT_THAT(all_reasons(embed), HasSubstr("the embedder stays on the CPU so the chat model keeps the GPU"));
}

TEST(Planner, AGpuTooSmallTakesAsManyLayersAsFit) {
  const uint64_t model = 8 * kGiB, free = 4 * kGiB;
  auto plan = plan_placement({cpu(), gpu("CUDA0", free)}, {chat(model, 32)});
  ASSERT_TRUE(plan) << plan.error().to_string();
  const Placement& p = plan->front();
  EXPECT_THAT(p.devices, ElementsAre("CUDA0"));
  const uint64_t per_layer = (model + 32) / 33;
  EXPECT_GT(p.gpu_layers, 0);
  EXPECT_LT(p.gpu_layers, 33);
  EXPECT_LE(p.gpu_layers * per_layer, usable(free));
  EXPECT_GT((p.gpu_layers + 1) * per_layer, usable(free));  // not one layer fewer than fits
  EXPECT_THAT(all_reasons(p), HasSubstr("CUDA0 too small for the chat model"));
  EXPECT_THAT(all_reasons(p), HasSubstr(std::to_string(p.gpu_layers) + " of 33 layers on CUDA0, the rest on the CPU"));
}

TEST(Planner, AModelTooLargeForOneOfTwoGpusIsSplitByFreeMemory) {
  auto plan = plan_placement({cpu(), gpu("CUDA0", 16 * kGiB), gpu("CUDA1", 8 * kGiB)}, {chat(18 * kGiB, 47)});
  ASSERT_TRUE(plan) << plan.error().to_string();
  const Placement& p = plan->front();
  EXPECT_THAT(p.devices, ElementsAre("CUDA0", "CUDA1"));
  EXPECT_EQ(p.gpu_layers, 48);
  ASSERT_EQ(p.tensor_split.size(), 2u);
  EXPECT_NEAR(p.tensor_split[0], 2.0 / 3, 1e-6);  // usable memory x throughput, 14.4 : 7.2
  EXPECT_NEAR(p.tensor_split[0] + p.tensor_split[1], 1.0, 1e-9);
  EXPECT_THAT(all_reasons(p), HasSubstr("too large for one device: 48 of 48 layers split 32 on CUDA0, 16 on CUDA1"));
}

TEST(Planner, TheSplitFollowsThroughputButNeverOverfillsADevice) {
  // Equal memory, CUDA0 three times as fast: by memory x throughput it would take 3/4 of the
  // model, more than it holds, so it is filled and CUDA1 takes the rest.
  auto plan = plan_placement({cpu(), gpu("CUDA0", 10 * kGiB, 30), gpu("CUDA1", 10 * kGiB, 10)}, {chat(16 * kGiB, 63)});
  ASSERT_TRUE(plan) << plan.error().to_string();
  const Placement& p = plan->front();
  EXPECT_THAT(p.devices, ElementsAre("CUDA0", "CUDA1"));
  EXPECT_EQ(p.gpu_layers, 64);
  EXPECT_GT(p.tensor_split[0], 0.5);
  EXPECT_LE(p.tensor_split[0] * 16 * kGiB, usable(10 * kGiB) * 1.0001);
}

TEST(Planner, OneFastGpuThatHoldsTheModelBeatsASplit) {
  auto plan = plan_placement({cpu(), gpu("CUDA0", 24 * kGiB, 20), gpu("CUDA1", 24 * kGiB, 10)}, {chat(12 * kGiB, 40)});
  ASSERT_TRUE(plan) << plan.error().to_string();
  EXPECT_THAT(plan->front().devices, ElementsAre("CUDA0"));
  EXPECT_EQ(plan->front().gpu_layers, 41);
}

TEST(Planner, ADeviceNoFasterThanTheCpuGetsNoLayers) {
  const DeviceCapacity rpc =
      device("RPC0", DeviceKind::kGpu, "RPC", 16 * kGiB, default_throughput(DeviceKind::kGpu, "RPC"));
  auto plan = plan_placement({cpu(), rpc}, {chat(241 * kMiB, 18)});
  ASSERT_TRUE(plan) << plan.error().to_string();
  EXPECT_TRUE(plan->front().devices.empty());
  EXPECT_EQ(plan->front().gpu_layers, 0);
  EXPECT_THAT(all_reasons(plan->front()), HasSubstr("no device is expected to be faster than the CPU"));
  EXPECT_THAT(all_reasons(plan->front()), HasSubstr("RPC0 1 (default)"));
}

TEST(Planner, TheEmbedderMayUseTheGpuWhenTheChatModelIsPinnedToTheCpu) {
  ModelDemand main = chat(241 * kMiB, 18);
  main.pin = pin({"cpu"});
  auto plan = plan_placement({cpu(), gpu("CUDA0", 8 * kGiB)}, {main, embedder()});
  ASSERT_TRUE(plan) << plan.error().to_string();
  EXPECT_TRUE((*plan)[0].devices.empty());
  EXPECT_THAT(all_reasons((*plan)[0]), HasSubstr("pinned to the CPU by devices.chat"));
  EXPECT_THAT((*plan)[1].devices, ElementsAre("CUDA0"));
  EXPECT_EQ((*plan)[1].gpu_layers, 7);
}

TEST(Planner, APinnedDeviceThatIsMissingIsAClearError) {
  ModelDemand main = chat(241 * kMiB, 18);
  main.pin = pin({"CUDA1"});
  auto plan = plan_placement({cpu(), gpu("CUDA0", 8 * kGiB)}, {main});
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(plan.error().message,
              HasSubstr("devices.chat names CUDA1, which is not among this machine's devices (CPU, CUDA0)"));
}

TEST(Planner, APinThatDoesNotFitIsAClearError) {
  ModelDemand main = chat(8 * kGiB, 32);
  main.pin = pin({"CUDA0"}, 33);
  auto plan = plan_placement({cpu(), gpu("CUDA0", 4 * kGiB)}, {main});
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, ErrorCode::kResourceExhausted);
  EXPECT_THAT(plan.error().message, HasSubstr("devices.chat pins 33 layers of the chat model to CUDA0"));
}

TEST(Planner, APinnedDeviceWithAutoLayersTakesWhatFits) {
  ModelDemand main = chat(8 * kGiB, 32);
  main.pin = pin({"CUDA0"});
  auto plan = plan_placement({cpu(), gpu("CUDA0", 4 * kGiB, 0.5)}, {main});  // slower, but pinned
  ASSERT_TRUE(plan) << plan.error().to_string();
  EXPECT_GT(plan->front().gpu_layers, 0);
  EXPECT_LT(plan->front().gpu_layers, 33);
  EXPECT_THAT(all_reasons(plan->front()), HasSubstr("pinned by devices.chat"));
}

TEST(Planner, APinnedSplitIsKeptAndChecked) {
  ModelDemand main = chat(241 * kMiB, 18);
  main.pin = pin({"CUDA0", "CUDA1"}, 9, {1, 2});
  auto plan = plan_placement({cpu(), gpu("CUDA0", 8 * kGiB), gpu("CUDA1", 8 * kGiB)}, {main});
  ASSERT_TRUE(plan) << plan.error().to_string();
  EXPECT_EQ(plan->front().gpu_layers, 9);
  EXPECT_NEAR(plan->front().tensor_split[0], 1.0 / 3, 1e-9);
  EXPECT_THAT(all_reasons(plan->front()), HasSubstr("(3 on CUDA0, 6 on CUDA1), the rest on the CPU"));

  main.pin.tensor_split = {1};
  auto mismatched = plan_placement({cpu(), gpu("CUDA0", 8 * kGiB), gpu("CUDA1", 8 * kGiB)}, {main});
  ASSERT_FALSE(mismatched);
  EXPECT_THAT(mismatched.error().message, HasSubstr("pins 2 devices but the tensor split has 1 ratios"));
}

TEST(Planner, ACpuPinWithOffloadedLayersIsContradictory) {
  ModelDemand main = chat(241 * kMiB, 18);
  main.pin = pin({"cpu"}, 10);
  auto plan = plan_placement({cpu(), gpu("CUDA0", 8 * kGiB)}, {main});
  ASSERT_FALSE(plan);
  EXPECT_THAT(plan.error().message, HasSubstr("devices.chat pins the CPU, which takes no offloaded layers"));
}

TEST(Planner, TheCpuCannotBeAPinnedOffloadTarget) {
  ModelDemand main = chat(241 * kMiB, 18);
  main.pin = pin({"BLAS"});
  const DeviceCapacity blas = device("BLAS", DeviceKind::kAccelerator, "BLAS", 0, 1);
  auto plan = plan_placement({cpu(), blas}, {main});
  ASSERT_FALSE(plan);
  EXPECT_THAT(plan.error().message, HasSubstr("holds no layers"));
}

TEST(Planner, ModelsShareADevicesMemory) {
  // Two chat-sized models on one 8 GiB GPU: the second gets only what the first left.
  ModelDemand first = chat(5 * kGiB, 32), second = chat(5 * kGiB, 32);
  second.name = "second";
  auto plan = plan_placement({cpu(), gpu("CUDA0", 8 * kGiB)}, {first, second});
  ASSERT_TRUE(plan) << plan.error().to_string();
  EXPECT_EQ((*plan)[0].gpu_layers, 33);
  EXPECT_GT((*plan)[1].gpu_layers, 0);
  EXPECT_LT((*plan)[1].gpu_layers, 33);
}

TEST(FormatBytes, UsesMiBBelowOneGiB) {
  EXPECT_EQ(format_bytes(241 * kMiB), "241 MiB");
  EXPECT_EQ(format_bytes(7800 * kMiB), "7.6 GiB");
}

}  // namespace
}  // namespace tandem::devices
