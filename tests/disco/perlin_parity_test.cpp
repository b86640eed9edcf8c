// Perlin init against manifest section "perlin": DD's CPU path, where regen_perlin draws only
// from torch's default CPU generator, so torch.manual_seed(seed) + the same randn calls in the
// same order reproduce it. Settings, seed, call table and tolerances come from the manifest.
// Slow (~1 min on one core): init1 is 3 x 4096^2 noise, as in DD.
#include <ATen/CPUGeneratorImpl.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "disco/perlin.h"
#include "io/image.h"
#include "support/fixtures.h"

namespace disco::test {
namespace {

int64_t fixture_seed(const nlohmann::json& sec, const Fixture& expected) {
  int64_t seed = expected.contains("seed") ? expected["seed"].item<int64_t>() : sec.at("settings").at("seed").get<int64_t>();
  EXPECT_EQ(seed, sec.at("settings").at("seed").get<int64_t>()) << "seed tensor and settings.seed disagree";
  return seed;
}

// Like torch.manual_seed(seed) on the default CPU generator.
at::Generator seeded_cpu_generator(int64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
}

TEST(PerlinParity, CpuGeneratorReproducesEveryRandnCallOfTheRun) {
  const auto& sec = manifest().at("perlin");
  const Fixture expected("perlin");
  const auto& table = sec.at("rng_calls");
  const auto& cols = table.at("columns");
  auto col = [&](const std::string& name) {
    for (size_t k = 0; k < cols.size(); ++k)
      if (cols[k].get<std::string>().rfind(name, 0) == 0) return k;
    ADD_FAILURE() << "rng_calls has no column " << name;
    return size_t{0};
  };
  const size_t c_shape = col("randn shape"), c_first = col("first 4 values"), c_sum = col("sum");
  const auto& rows = table.at("rows");
  auto gen = seeded_cpu_generator(fixture_seed(sec, expected));
  const int64_t n = static_cast<int64_t>(rows.size());
  auto first_got = torch::empty({n, 4}, torch::kDouble), first_want = torch::empty({n, 4}, torch::kDouble);
  auto sum_got = torch::empty({n}, torch::kDouble), sum_want = torch::empty({n}, torch::kDouble);
  for (int64_t r = 0; r < n; ++r) {
    auto shape = rows[r].at(c_shape).get<std::vector<int64_t>>();
    auto draw = torch::randn(shape, gen, torch::kFloat).flatten();
    for (int k = 0; k < 4; ++k) {
      first_got[r][k] = draw[k].item<double>();
      first_want[r][k] = rows[r].at(c_first).at(k).get<double>();
    }
    sum_got[r] = draw.to(torch::kDouble).sum().item<double>();
    sum_want[r] = rows[r].at(c_sum).get<double>();
  }
  // The manifest gives no tolerance here; its rng_note says a non-AVX2 build differs in the
  // 7th-8th digit, which this allows. A call out of order would differ completely.
  Tolerance tol{0, 1e-6};
  expect_close(first_got, first_want, "perlin.rng_calls.first4", tol);
  expect_close(sum_got, sum_want, "perlin.rng_calls.sum", Tolerance{1e-6, 1e-6});
}

TEST(PerlinParity, RegenPerlinMatchesDdOnTheCpuGenerator) {
  const auto& sec = manifest().at("perlin");
  const auto& settings = sec.at("settings");
  const Fixture expected("perlin");
  auto gen = seeded_cpu_generator(fixture_seed(sec, expected));
  PerlinInit p = regen_perlin(perlin_mode_from_string(settings.at("perlin_mode").get<std::string>()),
                              settings.at("side_x").get<int>(), settings.at("side_y").get<int>(),
                              settings.at("batch_size").get<int64_t>(), gen, torch::kCPU);
  expected.check(io::to_u8_tensor(p.init1), "init1_u8");
  expected.check(io::to_u8_tensor(p.init2), "init2_u8");
  expected.check(p.init, "init");
}

}  // namespace
}  // namespace disco::test
