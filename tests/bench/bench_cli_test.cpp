// `disco bench` on the CPU, as CI smoke-tests it: real-size architectures with random weights at
// 64x64, the reduced CPU profile, a report with the median time per step, and its JSON.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "support/files.h"

namespace {
namespace fs = std::filesystem;

using disco::test::slurp;

TEST(BenchCli, CpuSmokeRunPrintsTheMedianStepTime) {
  const fs::path dir = fs::temp_directory_path() / ("disco_bench_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path json = dir / "bench.json", out = dir / "out.txt", err = dir / "err.txt";
  const std::string cmd = std::string("'") + DISCO_BINARY + "' bench --device cpu --size 64x64 --steps 3 --json '" +
                          json.string() + "' >'" + out.string() + "' 2>'" + err.string() + "'";
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << slurp(err);
  const std::string text = slurp(out);
  EXPECT_NE(text.find("s/step (median)"), std::string::npos) << text;
  EXPECT_NE(text.find("UNet forward (sampler)"), std::string::npos) << text;
  const auto report = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(report["peak_kind"], "process resident peak (VmHWM)");
  ASSERT_EQ(report["cases"].size(), 1u);  // the CPU profile: the secondary-model case
  const auto& c = report["cases"][0];
  EXPECT_EQ(c["name"], "secondary model");
  EXPECT_EQ(c["step_s"].size(), 3u);
  EXPECT_GT(c["median_s_per_step"].get<double>(), 0);
  EXPECT_TRUE(c["finite"].get<bool>());
  EXPECT_GT(c["peak_bytes"].get<int64_t>(), 2'000'000'000) << "the resident peak holds the weights";
  EXPECT_GT(c["estimate_bytes"].get<int64_t>(), 2'000'000'000) << "the 512 UNet alone is 2.2 GB in fp32";
  fs::remove_all(dir);
}

TEST(BenchCli, BadSizeIsAUsageError) {
  const std::string cmd = std::string("'") + DISCO_BINARY + "' bench --device cpu --size 64by64 >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
}

}  // namespace
