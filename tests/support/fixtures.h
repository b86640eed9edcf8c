// Golden fixtures from ../shared/fixtures (or $DISCO_FIXTURES) and the llm.c-style comparison
// every parity test uses.
#pragma once
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/checkpoint.h"

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

struct Tolerance {
  double atol = 0;
  double rtol = 0;
};
// {"atol":..,"rtol":..} as in the manifest.
Tolerance tolerance_from(const nlohmann::json& tensor_entry);

// numpy.allclose-style check |a - e| <= atol + rtol*|e|. On failure prints the worst element,
// its index and the first values side by side. Always prints one "PARITY name ..." line with the
// measured max abs/rel error, for the parity report. Returns the max abs error.
double expect_close(const torch::Tensor& actual, const torch::Tensor& expected,
                    const std::string& name, Tolerance tol);

}  // namespace disco::test
