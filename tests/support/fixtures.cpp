#include "support/fixtures.h"

#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <gtest/gtest.h>

#include "io/sha256.h"

namespace disco::test {

std::string shared_dir() {
  const char* env = std::getenv("DISCO_SHARED");
  return env && *env ? env : std::string(DISCO_SOURCE_DIR) + "/../shared";
}

std::string fixtures_dir() {
  const char* env = std::getenv("DISCO_FIXTURES");
  return env && *env ? env : shared_dir() + "/fixtures";
}

std::string fixture_path(const std::string& file) { return fixtures_dir() + "/" + file; }

const nlohmann::json& manifest() {
  static const nlohmann::json m = [] {
    std::string path = fixture_path("manifest.json");
    std::ifstream f(path);
    if (!f) throw std::runtime_error("cannot open " + path + " (set DISCO_FIXTURES to the fixture folder)");
    return nlohmann::json::parse(f);
  }();
  return m;
}

io::TensorMap load_fixture(const std::string& file) {
  const auto& files = manifest().at("files");
  if (files.contains(file) && files.at(file).contains("sha256")) {
    std::string want = files.at(file).at("sha256").get<std::string>();
    std::string got = io::sha256_file(fixture_path(file));
    EXPECT_EQ(got, want) << "fixture " << file << " does not match manifest.json: the fixture set is "
                         << "damaged or from another version; restore ../shared/fixtures";
  }
  return io::load_checkpoint(fixture_path(file));
}

Tolerance tolerance_from(const nlohmann::json& entry) {
  Tolerance t;
  const auto& j = entry.contains("tolerance") ? entry.at("tolerance") : entry;
  t.atol = j.value("atol", 0.0);
  t.rtol = j.value("rtol", 0.0);
  return t;
}

double expect_close(const torch::Tensor& actual_in, const torch::Tensor& expected_in,
                    const std::string& name, Tolerance tol) {
  EXPECT_EQ(actual_in.sizes(), expected_in.sizes()) << name << ": shape mismatch";
  if (actual_in.sizes() != expected_in.sizes()) return INFINITY;
  auto a = actual_in.detach().to(torch::kCPU, torch::kDouble).contiguous();
  auto e = expected_in.detach().to(torch::kCPU, torch::kDouble).contiguous();
  if (a.numel() == 0) return 0;
  auto diff = (a - e).abs();
  auto bound = tol.atol + tol.rtol * e.abs();
  auto excess = diff - bound;
  double max_abs = diff.max().item<double>();
  double max_rel = (diff / e.abs().clamp_min(1e-12)).max().item<double>();
  int64_t worst = excess.flatten().argmax().item<int64_t>();
  bool nan = a.isnan().any().item<bool>() != e.isnan().any().item<bool>();
  bool ok = !nan && excess.flatten()[worst].item<double>() <= 0;
  std::printf("PARITY %-40s max_abs=%.3e max_rel=%.3e (atol %.0e rtol %.0e) %s\n", name.c_str(),
              max_abs, max_rel, tol.atol, tol.rtol, ok ? "ok" : "FAIL");
  if (!ok) {
    std::ostringstream os;
    os << name << ": " << (nan ? "NaN pattern differs; " : "") << "max |diff| " << max_abs
       << " at flat index " << worst << " (actual " << a.flatten()[worst].item<double>()
       << ", expected " << e.flatten()[worst].item<double>() << ", allowed "
       << bound.flatten()[worst].item<double>() << ")\n  first values (actual | expected):\n";
    auto af = a.flatten(), ef = e.flatten();
    for (int64_t i = 0; i < std::min<int64_t>(6, af.numel()); ++i)
      os << "    " << std::setprecision(9) << af[i].item<double>() << " | " << ef[i].item<double>() << "\n";
    ADD_FAILURE() << os.str();
  }
  return max_abs;
}

std::string png_file_of(const nlohmann::json& section) {
  for (auto& [name, what] : section.at("files").items())
    if (name.size() > 4 && name.substr(name.size() - 4) == ".png") return name;
  ADD_FAILURE() << "the manifest section lists no .png file";
  return "";
}

}  // namespace disco::test
