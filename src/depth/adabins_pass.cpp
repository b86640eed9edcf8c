// load_adabins (model_io.load_checkpoint) and DD's per-frame AdaBins pass
// (disco_xform_utils.transform_image_3d, infer.InferenceHelper.predict_pil / predict).
#include <cmath>

#include "common/error.h"
#include "depth/adabins.h"
#include "io/pil_resize.h"
#include "io/state_dict.h"

namespace disco::depth {

namespace F = torch::nn::functional;

namespace {

// disco_xform_utils: MAX_ADABINS_AREA, MIN_ADABINS_AREA.
constexpr int64_t kMaxAdabinsArea = 500000;
constexpr int64_t kMinAdabinsArea = 448 * 448;

// load_checkpoint's key handling: a key starting with 'module.' loses every 'module.' in it
// (str.replace), and two older names of mViT's convolutions are renamed.
std::string adabins_key(std::string k) {
  if (k.rfind("module.", 0) == 0)
    for (size_t at = k.find("module."); at != std::string::npos; at = k.find("module.", at)) k.erase(at, 7);
  auto rename = [&](const std::string& from, const std::string& to) {
    if (k.rfind(from, 0) == 0) k = to + k.substr(from.size());
  };
  rename("adaptive_bins_layer.embedding_conv.", "adaptive_bins_layer.conv3x3.");
  rename("adaptive_bins_layer.patch_transformer.embedding_encoder",
         "adaptive_bins_layer.patch_transformer.embedding_convPxP");
  return k;
}

io::TensorMap read_adabins_checkpoint(const std::string& path) {
  io::TensorMap file;
  try {
    file = io::load_weights_entry(path, "model");
  } catch (const CheckpointError& e) {
    throw CheckpointError(detail::concat(e.what(), " AdaBins needs its training checkpoint ({'model': ..., "
                                         "'optimizer': ..., 'epoch': ...}), as DD's AdaBins_nyu.pt."));
  }
  io::TensorMap sd;
  for (const auto& item : file) {
    const std::string key = adabins_key(item.key());
    DISCO_CHECK(!sd.contains(key), CheckpointError, "checkpoint '", path, "' names two tensors '", key,
                "' once AdaBins' 'module.' prefix and old names are mapped; the file is damaged");
    sd.insert(key, item.value());
  }
  return sd;
}

// [1, 3, h, w] float32: np.asarray(img) / 255. then ToTensor's Normalize, both in float64.
torch::Tensor adabins_input(const io::Image8& image) {
  torch::Tensor rgb = torch::from_blob(const_cast<uint8_t*>(image.rgb.data()), {image.height, image.width, 3},
                                       torch::kUInt8);
  torch::Tensor x = rgb.to(torch::kDouble).div(255.0).permute({2, 0, 1});
  torch::Tensor mean = torch::tensor({0.485, 0.456, 0.406}, torch::kDouble).view({-1, 1, 1});
  torch::Tensor std = torch::tensor({0.229, 0.224, 0.225}, torch::kDouble).view({-1, 1, 1});
  return x.sub(mean).div(std).to(torch::kFloat).unsqueeze(0).contiguous();
}

}  // namespace

UnetAdaptiveBins load_adabins(const std::string& path) {
  io::TensorMap sd = read_adabins_checkpoint(path);
  UnetAdaptiveBins model(AdaBinsConfig::from_state_dict(sd, path));
  io::load_state_dict(*model, sd, path);
  model->eval();
  for (auto& p : model->parameters()) p.requires_grad_(false);
  return model;
}

std::pair<int, int> adabins_input_size(int width, int height) {
  const int64_t area = int64_t{width} * height;
  double scale;
  if (area > kMaxAdabinsArea) scale = std::sqrt(double(kMaxAdabinsArea)) / std::sqrt(double(area));
  else if (area < kMinAdabinsArea) scale = std::sqrt(double(kMinAdabinsArea)) / std::sqrt(double(area));
  else return {width, height};
  return {static_cast<int>(width * scale), static_cast<int>(height * scale)};  // Python int(): truncation
}

AdaBinsTrace adabins_depth_trace(UnetAdaptiveBins& model, const io::Image8& image, c10::Device device) {
  torch::NoGradGuard no_grad;
  const AdaBinsConfig& c = model->config;
  const int64_t area = int64_t{image.width} * image.height;
  AdaBinsTrace t;
  auto [w, h] = adabins_input_size(image.width, image.height);
  if (area > kMaxAdabinsArea) t.input_image = io::resize_lanczos(image, w, h);  // "good for downsampling"
  else if (area < kMinAdabinsArea) t.input_image = io::resize_bicubic(image, w, h);
  else t.input_image = image;

  // InferenceHelper.predict: the model on the image and on its mirror image, each clipped.
  t.input = adabins_input(t.input_image).to(device);
  t.pred = model->forward(t.input).pred.clamp(c.min_val, c.max_val);
  t.pred_lr = model->forward(t.input.flip({3})).pred.flip({3}).clamp(c.min_val, c.max_val);
  torch::Tensor final = 0.5 * (t.pred + t.pred_lr);
  final = F::interpolate(final, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{t.input.size(2), t.input.size(3)})
                                    .mode(torch::kBilinear)
                                    .align_corners(true));
  t.final = final.clamp(c.min_val, c.max_val).masked_fill(torch::isnan(final), c.min_val);  // inf: clamped

  // transform_image_3d: torchvision's resize back to the frame's size (tensor input: no antialias).
  // QUIRK: skipped only at exactly 500000 pixels, where the sizes already agree.
  if (area != kMaxAdabinsArea)
    t.depth = F::interpolate(t.final, F::InterpolateFuncOptions()
                                          .size(std::vector<int64_t>{image.height, image.width})
                                          .mode(torch::kBicubic)
                                          .align_corners(false))
                  .squeeze();
  else
    t.depth = t.final.squeeze();
  return t;
}

at::Tensor adabins_depth(UnetAdaptiveBins& model, const io::Image8& image, c10::Device device) {
  return adabins_depth_trace(model, image, device).depth;
}

}  // namespace disco::depth
