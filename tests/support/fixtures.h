// Golden fixtures from ../shared/fixtures (or $DISCO_FIXTURES) and the llm.c-style comparison
// every parity test uses.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/weights_file.h"

namespace disco::test {

// $DISCO_FIXTURES if set, else ../shared/fixtures (tests run from the repository root).
std::string fixtures_dir();
// ../shared (the BPE vocabulary lives in data/, the spec in spec/).
std::string shared_dir();
std::string fixture_path(const std::string& file);

// manifest.json of fixtures_dir(), parsed once.
const nlohmann::json& manifest();
// The .png file a manifest section lists among its "files" (fails the current test when none).
std::string png_file_of(const nlohmann::json& section);

// Reads a fixture file through disco::io (which tests the reader too). Fails the current test
// with a hint when the file's sha256 differs from the manifest's.
io::TensorMap load_fixture(const std::string& file);

// A module's parameters by name (buffers left out), as a loaded state dict would hold them.
io::TensorMap parameters_of(const torch::nn::Module& m);

struct Tolerance {
  double atol = 0;
  double rtol = 0;
};
// {"atol":..,"rtol":..} as in the manifest.
Tolerance tolerance_from(const nlohmann::json& tensor_entry);

// numpy.allclose-style check |a - e| <= atol + rtol*|e|. On failure prints the worst element,
// its index and the first values side by side. Always prints one "PARITY name ..." line with the
// measured max abs/rel error, for the parity report. Returns the max abs error.
// The running test is recorded as having compared `name`: "<section>.<tensor>", or that followed
// by a space and a qualifier ("cond_fn.sec.x_in_grad (times the clamp factor)"), names a manifest
// tensor (see the coverage rules below).
double expect_close(const torch::Tensor& actual, const torch::Tensor& expected,
                    const std::string& name, Tolerance tol);

// --- Manifest coverage ---
// Every tensor a manifest section lists belongs to an owner test, which must handle it: compare it
// (expect_close labelled "<section>.<tensor>") or, for role "input", feed it (read it through a
// Fixture). A tensor no rule assigns fails ManifestCoverage ("unhandled case <section>.<tensor>");
// one its owner leaves alone fails the owner ("unhandled case ...", from Fixture's destructor).
struct CoverageRule {
  std::string section;
  // Regex (whole name) over the section's tensor names; "{param}" stands for the owner's test
  // parameter (the part of its name after the last '/').
  std::string tensors;
  // Regex (whole name) over the owner's gtest name "<suite>.<test>" (with any "<prefix>/" and "/<param>").
  std::string test;
};
const std::vector<CoverageRule>& coverage_rules();
// Top-level manifest sections with nothing to compare (descriptive), each with why.
const std::map<std::string, std::string>& descriptive_sections();
// Sections compared without a "tensors" table, each with the test that handles all its cases.
const std::map<std::string, std::string>& sections_without_tensor_table();

// "<suite>.<test>" of the running test ("" outside one).
std::string current_test_name();
// Fails "unhandled case <section>.<tensor>" for each tensor of `section` the coverage rules give
// the running test and that it has neither compared nor (inputs) fed. Quiet when the test already
// stopped on a fatal failure or was skipped.
void expect_section_handled(const std::string& section);

// The expected file of one manifest section, reads recorded for the coverage check, which runs
// when the Fixture goes out of scope (keep it alive until the test's comparisons are done).
class Fixture {
 public:
  explicit Fixture(std::string section);
  ~Fixture();
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  const std::string& section() const { return section_; }
  const nlohmann::json& sec() const;      // manifest().at(section)
  const nlohmann::json& tensors() const;  // its "tensors" table
  bool lists(const std::string& name) const { return tensors().contains(name); }  // the manifest lists it
  bool contains(const std::string& name) const { return map_.contains(name); }    // the file holds it
  // The stored tensor (throws when the file lacks it); an input read here counts as fed.
  const torch::Tensor& operator[](const std::string& name) const;
  // expect_close(actual, stored `name`, "<section>.<name>", the manifest's tolerance for it).
  double check(const torch::Tensor& actual, const std::string& name) const;
  const io::TensorMap& map() const { return map_; }

 private:
  std::string section_;
  io::TensorMap map_;
};

}  // namespace disco::test
