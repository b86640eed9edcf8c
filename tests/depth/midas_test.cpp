// The MiDaS DPT port's architecture and loader: the real-size dpt_large has exactly the published
// file's keys and shapes (tests/fixtures/midas/dpt_large_keys.txt, listed by the reference), its
// configuration is read back from those shapes, MiDaS' net size rounds as numpy does, and bad
// files each give one clear error.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/error.h"
#include "depth/midas.h"
#include "io/weights_file.h"
#include "support/files.h"

namespace {
using namespace disco;

const std::string kMidasDir = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/midas/";

// dpt_large_keys.txt: "name d0,d1,..." per line, in the reference's state_dict() order.
std::vector<std::pair<std::string, std::vector<int64_t>>> published_keys() {
  std::vector<std::pair<std::string, std::vector<int64_t>>> keys;
  std::ifstream in(kMidasDir + "dpt_large_keys.txt");
  std::string name, dims;
  while (in >> name >> dims) {
    std::vector<int64_t> shape;
    std::stringstream ss(dims);
    for (std::string d; std::getline(ss, d, ',');) shape.push_back(std::stoll(d));
    keys.emplace_back(name, shape);
  }
  return keys;
}

// A temporary file name that is removed with the object.
struct MidasTempFile {
  std::string path;
  explicit MidasTempFile(const std::string& name)
      : path((std::filesystem::temp_directory_path() / ("disco_midas_" + std::to_string(::getpid()) + "_" + name)).string()) {}
  ~MidasTempFile() { std::remove(path.c_str()); }
};

template <typename E>
std::string midas_error_of(const std::string& path) {
  try {
    depth::load_midas(path);
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "load_midas('" << path << "') did not throw the expected error type";
  return "";
}

TEST(Midas, DptLargeHasThePublishedKeysAndShapes) {
  torch::NoGradGuard no_grad;
  depth::DPTDepthModel model(depth::DPTConfig::dpt_large());
  const auto expected = published_keys();
  ASSERT_EQ(expected.size(), 368u);
  const auto params = model->named_parameters();
  ASSERT_EQ(params.size(), expected.size());
  int64_t count = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(params[i].key(), expected[i].first) << "at position " << i;
    EXPECT_EQ(params[i].value().sizes().vec(), expected[i].second) << expected[i].first;
    count += params[i].value().numel();
  }
  EXPECT_EQ(count, 344055465);
  EXPECT_TRUE(model->named_buffers().is_empty());
}

TEST(Midas, ConfigFromThePublishedShapes) {
  io::TensorMap sd;  // uninitialised storage: the pages are never touched
  for (const auto& [name, shape] : published_keys()) sd.insert(name, torch::empty(shape));
  const auto c = depth::DPTConfig::from_state_dict(sd, "dpt_large");
  const auto d = depth::DPTConfig::dpt_large();
  EXPECT_EQ(c.embed_dim, d.embed_dim);
  EXPECT_EQ(c.grid, d.grid);
  EXPECT_EQ(c.depth, d.depth);
  EXPECT_EQ(c.num_heads, d.num_heads);
  EXPECT_EQ(c.mlp_hidden, d.mlp_hidden);
  EXPECT_EQ(c.num_classes, d.num_classes);
  EXPECT_EQ(c.reassemble, d.reassemble);
  EXPECT_EQ(c.fusion, d.fusion);
  EXPECT_EQ(c.hooks, (std::array<int64_t, 4>{5, 11, 17, 23}));
}

TEST(Midas, NetSizeAsMidasResizeMinimal) {
  // DD's 1280x768 default: the height needs the smaller change (x0.5), the width follows.
  EXPECT_EQ(depth::midas_net_size(1280, 768), (std::pair<int64_t, int64_t>{640, 384}));
  EXPECT_EQ(depth::midas_net_size(64, 64), (std::pair<int64_t, int64_t>{384, 384}));
  EXPECT_EQ(depth::midas_net_size(80, 48), (std::pair<int64_t, int64_t>{384, 224}));
  // numpy's round takes halves to even: 80 / 32 = 2.5 -> 2, 112 / 32 = 3.5 -> 4.
  EXPECT_EQ(depth::midas_net_size(80, 384), (std::pair<int64_t, int64_t>{64, 384}));
  EXPECT_EQ(depth::midas_net_size(112, 384), (std::pair<int64_t, int64_t>{128, 384}));
  EXPECT_THROW(depth::midas_net_size(10, 1000), SettingsError);
}

TEST(Midas, TrainingCheckpointFormIsRead) {
  // {"model": state dict, "optimizer": {...}} reads back flattened as "model.<key>".
  io::TensorMap sd = io::load_weights_file(kMidasDir + "tiny_dpt.pt"), wrapped;
  for (const auto& item : sd) wrapped.insert("model." + item.key(), item.value());
  MidasTempFile f("checkpoint.pt");
  io::save_weights_file(wrapped, f.path);
  auto model = depth::load_midas(f.path);
  EXPECT_TRUE(torch::equal(model->scratch->output_conv[4]->as<torch::nn::Conv2d>()->weight,
                           sd["scratch.output_conv.4.weight"]));
}

TEST(Midas, TruncatedFileIsACheckpointError) {
  const std::string bytes = test::slurp(kMidasDir + "tiny_dpt.pt");
  MidasTempFile f("truncated.pt");
  std::ofstream(f.path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  const std::string msg = midas_error_of<CheckpointError>(f.path);
  EXPECT_NE(msg.find(f.path), std::string::npos) << msg;
}

TEST(Midas, OtherStateDictIsNotAMidasModel) {
  io::TensorMap other;
  other.insert("net.0.weight", torch::zeros({4, 3, 3, 3}));
  MidasTempFile f("other.pt");
  io::save_weights_file(other, f.path);
  const std::string msg = midas_error_of<CheckpointError>(f.path);
  EXPECT_NE(msg.find("is not a MiDaS DPT depth model"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dpt_large-midas-2f21e586.pt"), std::string::npos) << msg;
}

TEST(Midas, WrongShapeIsAModelMismatch) {
  io::TensorMap sd = io::load_weights_file(kMidasDir + "tiny_dpt.pt");
  sd["scratch.output_conv.2.weight"] = torch::zeros({32, 8, 1, 1});
  MidasTempFile f("wrong_shape.pt");
  io::save_weights_file(sd, f.path);
  const std::string msg = midas_error_of<ModelMismatchError>(f.path);
  EXPECT_NE(msg.find("scratch.output_conv.2.weight"), std::string::npos) << msg;
}

TEST(Midas, MissingKeyIsAModelMismatch) {
  io::TensorMap sd = io::load_weights_file(kMidasDir + "tiny_dpt.pt"), less;
  for (const auto& item : sd)
    if (item.key() != "scratch.refinenet4.resConfUnit1.conv1.bias") less.insert(item.key(), item.value());
  MidasTempFile f("missing.pt");
  io::save_weights_file(less, f.path);
  const std::string msg = midas_error_of<ModelMismatchError>(f.path);
  EXPECT_NE(msg.find("scratch.refinenet4.resConfUnit1.conv1.bias"), std::string::npos) << msg;
}

}  // namespace
