#include "support/fixtures.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <regex>
#include <set>
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
  return io::load_weights_file(fixture_path(file));
}

Tolerance tolerance_from(const nlohmann::json& entry) {
  Tolerance t;
  const auto& j = entry.contains("tolerance") ? entry.at("tolerance") : entry;
  t.atol = j.value("atol", 0.0);
  t.rtol = j.value("rtol", 0.0);
  return t;
}

namespace {

// What each test (by current_test_name()) compared and fed, for expect_section_handled.
struct Handled {
  std::mutex mutex;
  std::map<std::string, std::set<std::string>> compared, fed;
};
Handled& handled() {
  static Handled h;
  return h;
}
void record(std::map<std::string, std::set<std::string>> Handled::*which, const std::string& name) {
  auto& h = handled();
  std::lock_guard<std::mutex> lock(h.mutex);
  (h.*which)[current_test_name()].insert(name);
}

}  // namespace

double expect_close(const torch::Tensor& actual_in, const torch::Tensor& expected_in,
                    const std::string& name, Tolerance tol) {
  record(&Handled::compared, name);
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

// --- Manifest coverage ---

const std::vector<CoverageRule>& coverage_rules() {
  // Owners by section; a section split over several tests lists each test's part. Patterns name
  // what is there (a new kind of tensor matches none and fails ManifestCoverage) or a whole
  // family the owner enumerates (a new member must then be handled by the owner).
  static const std::vector<CoverageRule> rules = {
      {"unet", R"(x|t|out_{param})", R"(Manifest/UNetParity\.MatchesReference/.+)"},
      {"secondary", "x|t|pred|eps", R"(SecondaryParity\.PredAndEpsMatchReference)"},
      {"secondary", "alpha|sigma", R"(SecondaryParity\.CosineTimeFromAlphaSigma)"},
      {"clip", ".+", R"(CLIPParity\.EncodersAndImageGradientMatchReference)"},
      {"schedule", ".+", R"(Schedule\.EveryManifestTensorMatchesReference)"},
      {"samplers", ".+", R"(Samplers\.DdimAndPlmsStepsMatchReferenceOnTinyUNet)"},
      {"cond_fn", ".+", R"(CondFnParity\.GradientAndGuidedDdimStepMatchReference)"},
      {"resize_cutouts", ".+", R"(ResizeCutouts\.MatchesReference)"},
      {"losses", ".+", R"(Losses\.MatchReferenceValuesAndGradients)"},
      {"lpips", ".+", R"(LpipsParity\.PairsMatchReference)"},
      {"init_image", "resized_u8", R"(PilResizeParity\.InitImageStretchedWithLanczosIsBitExact)"},
      {"init_image", R"(init|noise|run\d+\..+)", R"(InitImageParity\.InitTensorAndLoopStartMatch)"},
      {"symmetry", "x|horizontal|vertical|both", R"(SymmetryParity\.TransformationsMatchExactly)"},
      {"symmetry", R"(steps_skip|case\d+\..+)", R"(SymmetryParity\.FiresAtTheManifestLoopIterations)"},
      {"plms_cond_fn", ".+", R"(CondFnParity\.GuidedPlmsStepsMatchReference)"},
      {"image_prompt", R"(resample\..+)", R"(ImagePrompt\.ResampleMatchesReference)"},
      {"image_prompt", R"(prompt\.resized_u8)", R"(PilResizeParity\.ImagePromptShorterEdgeResizeIsBitExact)"},
      {"image_prompt", R"(prompt\.full_cut)", R"(ImagePrompt\.FullCutOfThePaddedPromptMatchesReference)"},
      {"image_prompt", R"(prompt\.full_cut_embed)", R"(ImagePrompt\.TargetEmbedsAndWeightsMatchReference)"},
      {"perlin", ".+", R"(PerlinParity\.RegenPerlinMatchesDdOnTheCpuGenerator)"},
  };
  return rules;
}

const std::map<std::string, std::string>& descriptive_sections() {
  static const std::map<std::string, std::string> sections = {
      {"title", "the fixture set's name"},
      {"generator", "how the fixtures were made (versions, seed, device)"},
      {"conventions", "file format, tolerance rule, roles, formula-weight rule (used by the tests, nothing to compare)"},
      {"files", "file list with sha256, checked by every load_fixture (nothing to compare)"},
      {"design_notes", "prose"},
      {"not_covered", "prose: what the fixtures leave out"},
  };
  return sections;
}

const std::map<std::string, std::string>& sections_without_tensor_table() {
  static const std::map<std::string, std::string> sections = {
      {"tokenizer", "CLIPTokenizerParity.MatchesEveryFixtureCase (every case of its cases file)"},
  };
  return sections;
}

std::string current_test_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info ? std::string(info->test_suite_name()) + "." + info->name() : std::string();
}

namespace {

// The rule's tensor pattern with "{param}" replaced (regex-escaped) by the test's parameter.
std::string tensor_pattern(const CoverageRule& rule, const std::string& test) {
  static const std::string placeholder = "{param}";
  std::string pattern = rule.tensors;
  const auto pos = pattern.find(placeholder);
  if (pos == std::string::npos) return pattern;
  const auto slash = test.rfind('/');
  const std::string param = slash == std::string::npos ? "" : test.substr(slash + 1);
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return pattern.replace(pos, placeholder.size(), std::regex_replace(param, special, R"(\$&)"));
}

}  // namespace

void expect_section_handled(const std::string& section) {
  if (::testing::Test::HasFatalFailure() || ::testing::Test::IsSkipped()) return;
  const std::string test = current_test_name();
  std::vector<std::regex> owned;
  for (const auto& rule : coverage_rules())
    if (rule.section == section && std::regex_match(test, std::regex(rule.test)))
      owned.emplace_back(tensor_pattern(rule, test));
  if (owned.empty()) return;
  std::set<std::string> compared, fed;
  {
    auto& h = handled();
    std::lock_guard<std::mutex> lock(h.mutex);
    compared = h.compared[test];
    fed = h.fed[test];
  }
  int owned_tensors = 0, unhandled = 0;
  for (const auto& [name, entry] : manifest().at(section).at("tensors").items()) {
    if (std::none_of(owned.begin(), owned.end(), [&](const std::regex& r) { return std::regex_match(name, r); }))
      continue;
    ++owned_tensors;
    const std::string full = section + "." + name;
    const bool input = entry.value("role", "") == "input";
    // Compared under its name, or under its name and a qualifier after a space.
    const bool was_compared =
        compared.count(full) > 0 ||
        std::any_of(compared.begin(), compared.end(), [&](const std::string& l) { return l.rfind(full + " ", 0) == 0; });
    if (was_compared || (input && fed.count(full))) continue;
    ++unhandled;
    ADD_FAILURE() << "unhandled case " << full << ": " << test << " owns it (tests/support/fixtures.cpp, "
                  << "coverage_rules) but " << (input ? "neither fed nor compared it" : "did not compare it")
                  << " (expect_close labelled \"" << full << "\")";
  }
  std::printf("COVERAGE %s: %s handled %d of the %d tensors it owns\n", section.c_str(), test.c_str(),
              owned_tensors - unhandled, owned_tensors);
}

Fixture::Fixture(std::string section)
    : section_(std::move(section)), map_(load_fixture(sec().at("expected_file").get<std::string>())) {}

Fixture::~Fixture() {
  if (std::uncaught_exceptions() > 0) return;  // the test already fails on the exception
  expect_section_handled(section_);
}

const nlohmann::json& Fixture::sec() const { return manifest().at(section_); }
const nlohmann::json& Fixture::tensors() const { return sec().at("tensors"); }

const torch::Tensor& Fixture::operator[](const std::string& name) const {
  const torch::Tensor* t = map_.find(name);
  if (!t) throw std::runtime_error(name + " is missing from " + sec().at("expected_file").get<std::string>());
  record(&Handled::fed, section_ + "." + name);
  return *t;
}

double Fixture::check(const torch::Tensor& actual, const std::string& name) const {
  if (!lists(name)) {
    ADD_FAILURE() << "manifest section " << section_ << " lists no tensor " << name;
    return INFINITY;
  }
  return expect_close(actual, (*this)[name], section_ + "." + name, tolerance_from(tensors().at(name)));
}

io::TensorMap parameters_of(const torch::nn::Module& m) {
  io::TensorMap sd;
  for (const auto& p : m.named_parameters(true)) sd.insert(p.key(), p.value());
  return sd;
}

}  // namespace disco::test
