// AdaBins' structure and loader (depth/adabins, depth/efficientnet): the published configuration's
// keys and shapes (tests/fixtures/adabins/adabins_nyu_keys.txt, written by the reference), the
// configuration inferred from them, DD's input sizes, and one clear error per kind of bad file.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/error.h"
#include "depth/adabins.h"
#include "io/weights_file.h"
#include "support/files.h"

namespace disco::depth {
namespace {

std::string adabins_file(const std::string& name) {
  return std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/adabins/" + name;
}

using Shapes = std::map<std::string, std::vector<int64_t>>;

// "name [d0,d1,...]" per line, as make_adabins_fixtures.py writes AdaBins_nyu.pt's 'model' keys.
Shapes published_shapes() {
  Shapes out;
  std::ifstream in(adabins_file("adabins_nyu_keys.txt"));
  std::string name, dims;
  while (in >> name >> dims) {
    std::vector<int64_t> shape;
    std::stringstream ss(dims.substr(1, dims.size() - 2));
    for (std::string d; std::getline(ss, d, ',');) shape.push_back(std::stoll(d));
    out[name] = shape;
  }
  return out;
}

Shapes shapes_of(const torch::nn::Module& m) {
  Shapes out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().sizes().vec();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value().sizes().vec();
  return out;
}

// A temporary file removed at the end of the test.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& name)
      : path((std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()))).string()) {}
  ~TempFile() { std::remove(path.c_str()); }
};

// torch.save-style {'model': sd, 'epoch': 0} (the reader treats pickle_save's dicts as torch.save's).
void save_checkpoint(const io::TensorMap& sd, const std::string& path) {
  c10::Dict<std::string, at::Tensor> model;
  for (const auto& item : sd) model.insert(item.key(), item.value().contiguous());
  c10::impl::GenericDict top(c10::StringType::get(), c10::AnyType::get());
  top.insert("model", model);
  top.insert("epoch", int64_t{0});
  const std::vector<char> bytes = torch::pickle_save(top);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename E>
std::string message_of(const std::string& path) {
  try {
    load_adabins(path);
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "load_adabins('" << path << "') did not throw the expected error type";
  return "";
}

TEST(AdaBins, NyuConfigurationHasThePublishedKeysAndShapes) {
  const Shapes expected = published_shapes();
  ASSERT_GT(expected.size(), 900u);
  UnetAdaptiveBins model(AdaBinsConfig::nyu());
  const Shapes actual = shapes_of(*model);
  for (const auto& [k, s] : expected) {
    auto it = actual.find(k);
    if (it == actual.end()) ADD_FAILURE() << "missing " << k;
    else EXPECT_EQ(it->second, s) << k;
  }
  for (const auto& [k, s] : actual) EXPECT_TRUE(expected.count(k)) << "unexpected " << k;
}

TEST(AdaBins, ConfigurationInferredFromThePublishedShapesIsNyu) {
  io::TensorMap sd;
  for (const auto& [k, s] : published_shapes()) sd.insert(k, torch::scalar_tensor(0.0).expand(s));  // no memory
  const AdaBinsConfig c = AdaBinsConfig::from_state_dict(sd, "AdaBins_nyu.pt");
  const AdaBinsConfig nyu = AdaBinsConfig::nyu();
  ASSERT_EQ(c.encoder.stages.size(), nyu.encoder.stages.size());
  for (size_t s = 0; s < c.encoder.stages.size(); ++s) {
    ASSERT_EQ(c.encoder.stages[s].size(), nyu.encoder.stages[s].size()) << "stage " << s;
    for (size_t b = 0; b < c.encoder.stages[s].size(); ++b) {
      const auto &x = c.encoder.stages[s][b], &y = nyu.encoder.stages[s][b];
      EXPECT_TRUE(x.inverted_residual == y.inverted_residual && x.in_chs == y.in_chs && x.out_chs == y.out_chs &&
                  x.mid_chs == y.mid_chs && x.kernel == y.kernel && x.stride == y.stride && x.se_chs == y.se_chs)
          << "blocks." << s << "." << b;
    }
  }
  EXPECT_EQ(c.encoder.stem_size, 48);
  EXPECT_EQ(c.encoder.num_features, 2048);
  EXPECT_EQ(c.num_features, 2048);
  EXPECT_EQ(c.decoder_out, 128);
  EXPECT_EQ(c.embedding_dim, 128);
  EXPECT_EQ(c.dim_feedforward, 1024);
  EXPECT_EQ(c.num_layers, 4);
  EXPECT_EQ(c.patch_size, 16);
  EXPECT_EQ(c.max_patches, 500);
  EXPECT_EQ(c.n_query_channels, 128);
  EXPECT_EQ(c.n_bins, 256);
}

TEST(AdaBins, InputSizeAsTransformImage3d) {
  // Values from disco_xform_utils' formula in Python.
  EXPECT_EQ(adabins_input_size(1280, 768), std::make_pair(912, 547));
  EXPECT_EQ(adabins_input_size(64, 64), std::make_pair(448, 448));
  EXPECT_EQ(adabins_input_size(80, 48), std::make_pair(578, 347));
  EXPECT_EQ(adabins_input_size(1000, 500), std::make_pair(1000, 500));
  EXPECT_EQ(adabins_input_size(512, 448), std::make_pair(512, 448));
}

TEST(AdaBins, TruncatedFileIsRefused) {
  const std::string bytes = test::slurp(adabins_file("tiny_adabins.pt"));
  ASSERT_FALSE(bytes.empty());
  TempFile f("adabins_truncated");
  std::ofstream(f.path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  const std::string msg = message_of<CheckpointError>(f.path);
  EXPECT_NE(msg.find("truncated or damaged"), std::string::npos) << msg;
  EXPECT_NE(msg.find("AdaBins"), std::string::npos) << msg;
}

TEST(AdaBins, PlainStateDictIsNotAnAdaBinsCheckpoint) {
  TempFile f("adabins_plain");
  io::TensorMap sd;
  sd.insert("conv.weight", torch::zeros({2, 2}));
  io::save_weights_file(sd, f.path);
  const std::string msg = message_of<CheckpointError>(f.path);
  EXPECT_NE(msg.find("has no entry 'model'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'conv.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("AdaBins_nyu.pt"), std::string::npos) << msg;
}

TEST(AdaBins, WrongShapeAndMissingKeyNameTheTensor) {
  io::TensorMap sd = io::load_weights_entry(adabins_file("tiny_adabins.pt"), "model");
  ASSERT_TRUE(sd.contains("module.encoder.original_model.bn1.running_var"));
  TempFile wrong("adabins_wrong_shape");
  io::TensorMap misshaped = sd;
  misshaped["module.encoder.original_model.bn1.running_var"] = torch::ones({5});
  save_checkpoint(misshaped, wrong.path);
  std::string msg = message_of<ModelMismatchError>(wrong.path);
  EXPECT_NE(msg.find("'encoder.original_model.bn1.running_var' has shape [5]"), std::string::npos) << msg;

  TempFile missing("adabins_missing_key");
  io::TensorMap fewer;
  for (const auto& item : sd)
    if (item.key() != "module.adaptive_bins_layer.regressor.2.bias") fewer.insert(item.key(), item.value());
  save_checkpoint(fewer, missing.path);
  msg = message_of<ModelMismatchError>(missing.path);
  EXPECT_NE(msg.find("no tensor 'adaptive_bins_layer.regressor.2.bias'"), std::string::npos) << msg;
}

TEST(AdaBins, TinyCheckpointLoadsThroughTheTrainingLayout) {
  UnetAdaptiveBins model = load_adabins(adabins_file("tiny_adabins.pt"));
  EXPECT_FALSE(model->is_training());
  const io::TensorMap sd = io::load_weights_entry(adabins_file("tiny_adabins.pt"), "model");
  EXPECT_EQ(shapes_of(*model).size(), sd.size());  // every 'module.'-prefixed tensor has its place
  EXPECT_TRUE(torch::equal(model->conv_out[0]->as<torch::nn::Conv2dImpl>()->bias,
                           sd["module.conv_out.0.bias"]));
}

}  // namespace
}  // namespace disco::depth
