// DD's SecondaryDiffusionImageNet2 (models-spec §7, dd-spec §7): a small v-objective UNet on the
// cosine schedule that DD's cond_fn uses to get x̂0 cheaply. Keys as in secondary_model_imagenet_2.pth.
#pragma once
#include <functional>
#include <torch/torch.h>

namespace disco::diffusion {

// (alpha, sigma) -> cosine-schedule time: atan2(sigma, alpha) * 2 / pi, in the tensors' dtype.
torch::Tensor alpha_sigma_to_t(const torch::Tensor& alpha, const torch::Tensor& sigma);

struct SecondaryOutput {
  torch::Tensor v, pred, eps;  // each [N, 3, H, W]
};

// ConvBlock(a -> b) = Sequential(Conv3x3 pad 1, ReLU): weights at <prefix>.0. A subclass so that
// Sequentials can nest (AnyModule needs a non-template forward).
class ConvBlockImpl : public torch::nn::SequentialImpl {
 public:
  ConvBlockImpl(int64_t c_in, int64_t c_out);
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(ConvBlock);

// concat([main(x), x]) on channels; main is registered as "main" so keys read net.2.main.3.main...
class SkipBlockImpl : public torch::nn::Module {
 public:
  explicit SkipBlockImpl(torch::nn::Sequential main);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential& main() { return main_; }

 private:
  torch::nn::Sequential main_;
};
TORCH_MODULE(SkipBlock);

// FourierFeatures(1 -> 16): weight [8, 1]; f = 2*pi*t*W^T -> [cos f, sin f].
class FourierFeaturesImpl : public torch::nn::Module {
 public:
  FourierFeaturesImpl(int64_t in_features, int64_t out_features, double std = 1.0);
  torch::Tensor forward(const torch::Tensor& input);  // [N, in] -> [N, out]
  torch::Tensor weight;
};
TORCH_MODULE(FourierFeatures);

class SecondaryDiffusionImageNet2Impl : public torch::nn::Module {
 public:
  SecondaryDiffusionImageNet2Impl();
  // x [N, 3, H, W] (H, W divisible by 32), t [N] cosine time in [0, 1].
  SecondaryOutput forward(const torch::Tensor& x, const torch::Tensor& t);
  // When a gradient is taken, keep none of the network's activations during cond_fn's CLIP passes
  // and compute them again for the backward pass (about 3 GiB at 1280x768). That recomputation is
  // itself checkpointed in three segments, so its backward pass holds one segment's activations at
  // a time (two more forwards in all).
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }
  // The network's dtype: kFloat as DD (the default), or kHalf / kBFloat16 for `--precision fast`.
  // The timestep features and the v -> (pred, eps) arithmetic stay in x's dtype; the network's
  // input is cast down and its output cast back, so the gradient still reaches x in float32.
  void set_precision(torch::Dtype dtype);

 private:
  using Segment = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>;
  torch::Tensor run_segments(const torch::Tensor& input);
  // The segments. `top` is net.2, the outermost skip block: cat([branch(x), x]).
  //   head   net.0, net.1                          full resolution in, 64 channels
  //   body   top's branch                          half resolution and below, back to full
  //   tail   top's concatenation, net.3, net.4     full resolution out
  // The cut falls before the concatenation: body and tail hand over its two halves, which exist
  // anyway, rather than a copy of both (0.23 GiB in fp32 at 1280x768, held from the forward pass to
  // the backward, and held again as the output of the body's recomputation).
  torch::Tensor head(const torch::Tensor& input);
  torch::Tensor body(const torch::Tensor& h);
  torch::Tensor tail(const torch::Tensor& branch, const torch::Tensor& h);
  bool checkpointing_ = false;
  torch::Dtype net_dtype_ = torch::kFloat;
  // Held by address by checkpoint() until the backward pass, hence members.
  Segment net_fn_ = [this](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor&) {
    return run_segments(x);
  };
  Segment head_fn_ = [this](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor&) { return head(x); };
  Segment body_fn_ = [this](const torch::Tensor& h, const torch::Tensor&, const torch::Tensor&) { return body(h); };
  Segment tail_fn_ = [this](const torch::Tensor& b, const torch::Tensor& h, const torch::Tensor&) { return tail(b, h); };
  SkipBlock top_{nullptr};
  FourierFeatures timestep_embed{nullptr};
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(SecondaryDiffusionImageNet2);

}  // namespace disco::diffusion
