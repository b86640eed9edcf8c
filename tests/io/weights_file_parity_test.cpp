// The reader against the fixture set: every file the manifest lists loads, with the tensors,
// storages, shapes and dtypes the manifest states. All cases come from manifest.json.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <map>
#include <set>

#include "io/weights_file.h"
#include "io/sha256.h"
#include "support/fixtures.h"

namespace disco::test {
namespace {

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(t);
  }
}

const void* storage_base(const at::Tensor& t) { return t.storage().data_ptr().get(); }

bool bitwise_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.dtype() != b.dtype() || a.sizes() != b.sizes()) return false;
  auto ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0;
}

std::string stem(const std::string& file) { return file.substr(0, file.rfind('.')); }

TEST(CheckpointParity, UNetFilesHaveTheManifestsTensorsStoragesAndGroups) {
  const auto& files = manifest().at("unet").at("files");
  ASSERT_FALSE(files.empty());
  for (const auto& [file, info] : files.items()) {
    SCOPED_TRACE(file);
    io::TensorMap sd = load_fixture(file);
    EXPECT_EQ(int64_t(sd.size()), info.at("n_tensors").get<int64_t>());
    std::set<const void*> storages;
    int64_t n_params = 0;
    for (const auto& item : sd) {
      storages.insert(storage_base(item.value()));
      n_params += item.value().numel();
    }
    EXPECT_EQ(int64_t(storages.size()), info.at("n_storages").get<int64_t>());
    if (info.contains("n_params")) {
      EXPECT_EQ(n_params, info.at("n_params").get<int64_t>());
    }
    if (info.contains("keys")) {
      EXPECT_EQ(sd.keys(), info.at("keys").get<std::vector<std::string>>());
    }

    for (const auto& group : info.value("storage_groups", nlohmann::json::array())) {
      auto keys = group.at("keys_in_order").get<std::vector<std::string>>();
      ASSERT_FALSE(keys.empty());
      const at::Tensor& first = sd[keys[0]];
      int64_t numel = int64_t(first.storage().nbytes()) / int64_t(first.element_size());
      EXPECT_EQ(numel, group.at("storage_numel").get<int64_t>()) << keys[0];
      int64_t previous_end = 0;
      for (const auto& key : keys) {
        const at::Tensor& t = sd[key];
        EXPECT_EQ(storage_base(t), storage_base(first)) << key << " should share the group's storage";
        // Views follow each other in order; all but the first sit at a non-zero offset.
        EXPECT_GE(t.storage_offset(), previous_end) << key;
        if (&key != &keys[0]) {
          EXPECT_GT(t.storage_offset(), 0) << key;
        }
        previous_end = t.storage_offset() + t.numel();
      }
      EXPECT_LE(previous_end, numel);
    }
  }
}

// A file in another layout (e.g. the fp16-training save) holds the same numbers as the plain file
// whose name its own name extends (unet_cfgA_fp16train_subset.pt -> unet_cfgA.pt): bit for bit.
TEST(CheckpointParity, OtherLayoutsHoldTheSameBitsAsThePlainFile) {
  const auto& files = manifest().at("unet").at("files");
  int compared_files = 0;
  for (const auto& [file, info] : files.items()) {
    if (!info.contains("storage_groups")) continue;
    std::string reference;
    for (const auto& [other, unused] : files.items())
      if (other != file && stem(file).rfind(stem(other), 0) == 0 && other.size() > reference.size()) reference = other;
    ASSERT_FALSE(reference.empty()) << file << ": no plain file whose name it extends";
    SCOPED_TRACE(file + " vs " + reference);
    io::TensorMap sd = load_fixture(file), ref = load_fixture(reference);
    for (const auto& item : sd) {
      ASSERT_TRUE(ref.contains(item.key())) << item.key();
      EXPECT_TRUE(bitwise_equal(item.value(), ref[item.key()])) << item.key() << " differs";
      expect_close(item.value(), ref[item.key()], "io." + stem(file) + "." + item.key(), Tolerance{0, 0});
    }
    ++compared_files;
  }
  EXPECT_GT(compared_files, 0) << "the manifest lists no file with storage_groups";
}

TEST(CheckpointParity, ExpectedFilesHaveTheManifestsKeysShapesAndDtypes) {
  // Tensor tables of every section, by the expected file they describe.
  std::map<std::string, std::vector<const nlohmann::json*>> tables;
  for (const auto& [section, body] : manifest().items())
    if (body.is_object() && body.contains("expected_file") && body.contains("tensors") && body.at("tensors").is_object())
      tables[body.at("expected_file").get<std::string>()].push_back(&body.at("tensors"));

  int files_read = 0;
  for (const auto& [file, info] : manifest().at("files").items()) {
    if (file.rfind("expected_", 0) != 0 || stem(file) + ".pt" != file) continue;
    SCOPED_TRACE(file);
    io::TensorMap sd = load_fixture(file);
    ++files_read;
    std::set<std::string> listed;
    for (const nlohmann::json* tensors : tables[file])
      for (const auto& [name, entry] : tensors->items()) {
        if (!entry.contains("shape") || !entry.contains("dtype")) continue;
        listed.insert(name);
        ASSERT_TRUE(sd.contains(name)) << name << " is in the manifest but not in the file";
        EXPECT_EQ(sd[name].sizes().vec(), entry.at("shape").get<std::vector<int64_t>>()) << name;
        EXPECT_EQ(dtype_name(sd[name].scalar_type()), entry.at("dtype").get<std::string>()) << name;
      }
    if (!listed.empty()) {
      for (const auto& key : sd.keys()) {
        EXPECT_TRUE(listed.count(key)) << key << " is in the file but not in the manifest";
      }
    }
  }
  EXPECT_GT(files_read, 0);
}

TEST(CheckpointParity, ClipTorchScriptFilesHaveTheManifestsKeysInOrder) {
  const auto& files = manifest().at("clip").at("files");
  ASSERT_FALSE(files.empty());
  for (const auto& [file, info] : files.items()) {
    SCOPED_TRACE(file);
    std::string path = fixture_path(file);
    if (manifest().at("files").contains(file)) {
      EXPECT_EQ(io::sha256_file(path), manifest().at("files").at(file).at("sha256").get<std::string>());
    }
    EXPECT_EQ(io::detect_file_kind(path), io::FileKind::TorchScript);
    io::TensorMap sd = io::load_torchscript(path);
    const auto& want = info.at("keys_in_order");
    if (info.contains("n_tensors")) {
      EXPECT_EQ(int64_t(sd.size()), info.at("n_tensors").get<int64_t>());
    }
    ASSERT_EQ(sd.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) {
      const auto& item = sd[k];
      EXPECT_EQ(item.key(), want[k][0].get<std::string>()) << "position " << k;
      EXPECT_EQ(item.value().sizes().vec(), want[k][1].get<std::vector<int64_t>>()) << item.key();
      EXPECT_EQ(dtype_name(item.value().scalar_type()), want[k][2].get<std::string>()) << item.key();
    }
    EXPECT_EQ(io::load_tensors(path).keys(), sd.keys());
  }
}

}  // namespace
}  // namespace disco::test
