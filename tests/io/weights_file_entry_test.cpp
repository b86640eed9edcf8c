// load_weights_entry (io/weights_file): one entry of a training checkpoint whose other entries hold
// what a dict of tensors may not (ints, floats, lists, int-keyed optimizer state).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/error.h"
#include "io/weights_file.h"

namespace disco::io {
namespace {

struct EntryTempFile {
  std::string path = (std::filesystem::temp_directory_path() / ("entry_ckpt" + std::to_string(::getpid()))).string();
  ~EntryTempFile() { std::remove(path.c_str()); }
};

// {'model': {'w': [2, 3]}, 'optimizer': {'state': {0: {'step': 3, 'exp_avg': ...}}, 'param_groups': [...]},
//  'epoch': 5}
void write_training_checkpoint(const std::string& path) {
  c10::Dict<std::string, at::Tensor> model;
  model.insert("w", torch::arange(6, torch::kFloat).view({2, 3}));
  c10::impl::GenericDict moments(c10::StringType::get(), c10::AnyType::get());
  moments.insert("step", int64_t{3});
  moments.insert("exp_avg", torch::ones({2, 3}));
  c10::impl::GenericDict state(c10::IntType::get(), c10::AnyType::get());
  state.insert(int64_t{0}, moments);
  c10::impl::GenericDict group(c10::StringType::get(), c10::AnyType::get());
  group.insert("lr", 3.57e-4);
  c10::impl::GenericList params(c10::AnyType::get());  // a List[int] would be pickled as build_intlist
  params.push_back(int64_t{0});
  group.insert("params", params);
  c10::impl::GenericDict optimizer(c10::StringType::get(), c10::AnyType::get());
  optimizer.insert("state", state);
  c10::impl::GenericList groups(c10::AnyType::get());
  groups.push_back(group);
  optimizer.insert("param_groups", groups);
  c10::impl::GenericDict top(c10::StringType::get(), c10::AnyType::get());
  top.insert("model", model);
  top.insert("optimizer", optimizer);
  top.insert("epoch", int64_t{5});
  const std::vector<char> bytes = torch::pickle_save(top);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(WeightsFileEntry, TakesTheEntryAndIgnoresTrainingState) {
  EntryTempFile f;
  write_training_checkpoint(f.path);
  TensorMap sd = load_weights_entry(f.path, "model");
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_TRUE(torch::equal(sd["w"], torch::arange(6, torch::kFloat).view({2, 3})));
}

TEST(WeightsFileEntry, WholeFileIsStillRefused) {
  EntryTempFile f;
  write_training_checkpoint(f.path);
  EXPECT_THROW(load_weights_file(f.path), CheckpointError);
}

TEST(WeightsFileEntry, MissingOrNonDictEntryNamesTheEntries) {
  EntryTempFile f;
  write_training_checkpoint(f.path);
  try {
    load_weights_entry(f.path, "state_dict");
    ADD_FAILURE() << "no error";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("has no entry 'state_dict' (its entries: 'model', 'optimizer', 'epoch')"),
              std::string::npos)
        << e.what();
  }
  try {
    load_weights_entry(f.path, "epoch");
    ADD_FAILURE() << "no error";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("entry 'epoch' holding an int"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace disco::io
