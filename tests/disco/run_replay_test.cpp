// Whole-run replay (ctest label "replay"): every case of the replay folder's manifest.json
// ($DISCO_REPLAY, default ../shared/replay) is a settings file and the images DD v5.7's own
// do_run() wrote for it on the fixture models. Each case runs as `disco --settings FILE` with the
// case's run options would (the settings file, then the options as command-line settings, then
// disco::run), and every image DD wrote must exist under the same name and match within the
// manifest's tolerance; no other image may be written.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "depth/dd_depth.h"
#include "disco/run.h"
#include "disco/run_internal.h"
#include "io/image.h"
#include "support/fixtures.h"
#include "support/formula_models.h"

namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

// Animation modes this build runs; a case in another mode is skipped with the reason.
const std::set<std::string> kSupportedModes = {"None", "2D", "3D"};

fs::path replay_dir() {
  const char* env = std::getenv("DISCO_REPLAY");
  return env && *env ? fs::path(env) : fs::path(disco::test::shared_dir()) / "replay";
}

// The project's own cases (new modes add theirs here, in the same format).
fs::path project_replay_dir() { return fs::path(DISCO_SOURCE_DIR) / "tests" / "replay"; }

const json& manifest_of(const fs::path& dir) {
  static std::map<std::string, json> cache;
  auto it = cache.find(dir.string());
  if (it != cache.end()) return it->second;
  const fs::path path = dir / "manifest.json";
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path.string() + " (set DISCO_REPLAY to the replay folder)");
  return cache.emplace(dir.string(), json::parse(f)).first->second;
}

const json& replay_manifest() { return manifest_of(replay_dir()); }

// Every case of both folders; a name says which folder it is in (case_dir).
std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& dir : {replay_dir(), project_replay_dir()})
    for (const auto& c : manifest_of(dir).at("cases")) names.push_back(c.at("name").get<std::string>());
  return names;
}

fs::path case_dir(const std::string& name) {
  for (const auto& dir : {replay_dir(), project_replay_dir()})
    for (const auto& c : manifest_of(dir).at("cases"))
      if (c.at("name") == name) return dir;
  throw std::runtime_error("no replay case " + name);
}

const json& case_entry(const std::string& name) {
  for (const auto& c : manifest_of(case_dir(name)).at("cases"))
    if (c.at("name") == name) return c;
  throw std::runtime_error("no replay case " + name);
}

// "../fixtures/manifest.json: unet.cfgA.model_config": a JSON file (relative to the replay
// folder) and the dotted path of the value in it.
json model_config_of(const std::string& reference) {
  const auto colon = reference.find(": ");
  if (colon == std::string::npos) throw std::runtime_error("model_config '" + reference + "' is not 'FILE: a.b.c'");
  std::ifstream f(replay_dir() / reference.substr(0, colon));
  json v = json::parse(f);
  std::string path = reference.substr(colon + 2);
  path = path.substr(0, path.find(' '));
  for (std::size_t start = 0; start <= path.size();) {
    const auto dot = std::min(path.find('.', start), path.size());
    v = json(v.at(path.substr(start, dot - start)));
    start = dot + 1;
  }
  return v;
}

// The case's run options, as the command line's setting flags give them (--n-batches 1 ...).
disco::Settings case_settings(const json& entry) {
  std::vector<std::string> notes;
  const fs::path file = case_dir(entry.at("name")) / entry.at("settings").get<std::string>();
  disco::Settings s = disco::load_settings_file(file.string(), disco::Settings{}, &notes);
  if (!entry.at("run_options").empty()) s = disco::merge_settings(s, entry.at("run_options"), "the command line", &notes);
  return s;
}

struct Models {
  fs::path work;
  disco::RunOptions options;
  std::shared_ptr<disco::LoadedModels> loaded;
};

// The fixture models of the manifest; the secondary model and LPIPS from the fixtures' formula
// weights (they have no files). Loaded once per process.
const Models& models() {
  static const Models m = [] {
    Models out;
    const json& spec = replay_manifest().at("models");
    out.work = fs::temp_directory_path() / ("disco_replay_" + std::to_string(::getpid()));
    fs::create_directories(out.work);
    const fs::path config = out.work / "model_config.json";
    std::ofstream(config) << model_config_of(spec.at("diffusion").at("model_config").get<std::string>()).dump();
    out.options.device = "cpu";
    out.options.precision = "fp32";
    out.options.input_dir = replay_dir().string();
    out.options.models.diffusion = (replay_dir() / spec.at("diffusion").at("file").get<std::string>()).string();
    out.options.models.diffusion_config = config.string();
    for (const auto& c : spec.at("clip")) out.options.models.clip.push_back((replay_dir() / c.get<std::string>()).string());
    out.options.models.vocab = (replay_dir() / spec.at("vocab").get<std::string>()).string();
    disco::Settings load_only;  // no files for the secondary model and LPIPS: set below
    load_only.use_secondary_model = false;
    load_only.init_scale = 0;
    out.loaded = disco::load_models(load_only, out.options);
    out.loaded->secondary = disco::test::formula_secondary_model();
    out.loaded->lpips = disco::test::formula_lpips();
    return out;
  }();
  return m;
}

// A 3D case's depth models: the files its manifest's "depth_models" names (relative to the
// case's folder), loaded on first use.
void load_depth_models(const fs::path& dir) {
  if (models().loaded->depth) return;
  const json& spec = manifest_of(dir).at("depth_models");
  const std::string midas = (dir / spec.at("midas").get<std::string>()).string();
  const std::string adabins = (dir / spec.at("adabins").get<std::string>()).string();
  models().loaded->depth = disco::depth::load_dd_depth(midas, adabins, torch::kCPU);
}

double psnr(const disco::io::Image8& a, const disco::io::Image8& b) {
  double se = 0;
  for (std::size_t i = 0; i < a.rgb.size(); ++i) {
    const double d = double(a.rgb[i]) - double(b.rgb[i]);
    se += d * d;
  }
  const double mse = se / double(a.rgb.size());
  return mse == 0 ? INFINITY : 10 * std::log10(255.0 * 255.0 / mse);
}

// PSNR against DD, the largest per-channel difference and the share of identical pixels; fails
// under the case's tolerance.
void compare_image(const std::string& case_name, const std::string& rel, const fs::path& ours, const fs::path& dd,
                   double need) {
  if (!fs::exists(ours)) {
    ADD_FAILURE() << case_name << ": " << rel << " is missing (DD wrote it)";
    return;
  }
  const auto a = disco::io::read_png(dd.string());
  const auto b = disco::io::read_png(ours.string());
  ASSERT_EQ(a.width, b.width) << case_name << ": " << rel;
  ASSERT_EQ(a.height, b.height) << case_name << ": " << rel;
  int max_diff = 0;
  int64_t equal = 0;
  for (std::size_t p = 0; p < a.rgb.size(); p += 3) {
    int d = 0;
    for (int c = 0; c < 3; ++c) d = std::max(d, std::abs(int(a.rgb[p + c]) - int(b.rgb[p + c])));
    max_diff = std::max(max_diff, d);
    equal += d == 0;
  }
  const double db = psnr(a, b);
  std::printf("REPLAY %s %s: PSNR %.1f dB (needs %.1f), max |diff| %d, equal pixels %.1f%%\n", case_name.c_str(),
              rel.c_str(), db, need, max_diff, 100.0 * double(equal) / double(a.rgb.size() / 3));
  EXPECT_GE(db, need) << case_name << ": " << rel << " differs from DD's image beyond the tolerance";
}

// Every .png under `folder` but DD's scratch file progress.png, relative to it.
std::set<std::string> written_images(const fs::path& folder) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(folder))
    if (e.path().extension() == ".png" && e.path().filename() != "progress.png")
      out.insert(fs::relative(e.path(), folder).generic_string());
  return out;
}

// The work folder goes when every test of the process passed (kept to look at otherwise).
class RemoveWorkFolder : public ::testing::Environment {
 public:
  void TearDown() override {
    if (!::testing::UnitTest::GetInstance()->Failed())
      fs::remove_all(fs::temp_directory_path() / ("disco_replay_" + std::to_string(::getpid())));
  }
};
[[maybe_unused]] ::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new RemoveWorkFolder);

class Replay : public ::testing::TestWithParam<std::string> {};

TEST_P(Replay, MatchesDDsImages) {
  const json& entry = case_entry(GetParam());
  const std::string mode = entry.value("animation_mode", "None");
  if (!kSupportedModes.count(mode)) GTEST_SKIP() << "animation_mode '" << mode << "' is not supported by this build yet";

  const disco::Settings settings = case_settings(entry);
  if (mode == "3D") load_depth_models(case_dir(GetParam()));
  disco::RunOptions options = models().options;
  options.out_dir = (models().work / GetParam()).string();
  options.input_dir = case_dir(GetParam()).string();
  fs::remove_all(options.out_dir);
  disco::run(settings, options, {}, models().loaded);

  const fs::path dir = case_dir(GetParam());
  const json& tolerance = manifest_of(dir).at("tolerance");
  const double psnr_min = tolerance.at("psnr_min_db").get<double>();
  const json dd_self = entry.value("dd_vs_dd_psnr_db", json::object());
  const fs::path dd_folder = dir / GetParam();
  std::set<std::string> expected;
  for (const auto& image : entry.at("images")) {
    const std::string rel = image.get<std::string>();
    expected.insert(rel);
    // DD against itself with another thread count: where that is below the floor, 5 dB under it.
    const double need = dd_self.contains(rel) ? std::min(psnr_min, dd_self.at(rel).get<double>() - 5) : psnr_min;
    compare_image(GetParam(), rel, fs::path(options.out_dir) / rel, dd_folder / rel, need);
  }
  for (const auto& rel : written_images(options.out_dir))
    EXPECT_TRUE(expected.count(rel)) << GetParam() << ": wrote " << rel << ", which DD does not write";
}

INSTANTIATE_TEST_SUITE_P(Cases, Replay, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
