// UNet building blocks and the precision split, on small random networks.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "diffusion/unet.h"
#include "diffusion/unet_blocks.h"
#include "diffusion/unet_blocks_fast.h"
#include "support/bf16.h"

namespace disco::diffusion {
namespace {

// Non-trivial weights (a fresh model has zero-initialised residual convs and output):
// ndim>=2 ~ N(0, 1/fan_in), norm weights ~ 1 + 0.1 N(0,1), biases ~ 0.05 N(0,1).
void randomise(torch::nn::Module& m, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (auto& p : m.named_parameters(true)) {
    auto& t = p.value();
    const bool is_bias = p.key().size() >= 4 && p.key().compare(p.key().size() - 4, 4, "bias") == 0;
    if (t.dim() >= 2) t.copy_(torch::randn(t.sizes()) / std::sqrt(double(t.numel() / t.size(0))));
    else if (is_bias) t.copy_(0.05 * torch::randn(t.sizes()));
    else t.copy_(1 + 0.1 * torch::randn(t.sizes()));
  }
}

// net(x, t) (detached) and the input gradient of sum(net(x, t) * w), as the full-UNet path takes it.
std::pair<torch::Tensor, torch::Tensor> output_and_input_grad(UNetModel& net, const torch::Tensor& x,
                                                              const torch::Tensor& t, const torch::Tensor& w) {
  torch::AutoGradMode grad(true);
  const auto xg = x.clone().requires_grad_(true);
  const auto out = net->forward(xg, t);
  return {out.detach(), torch::autograd::grad({(out * w).sum()}, {xg})[0]};
}

UNetConfig small_config(bool updown) {
  return UNetConfig::from_model_config({{"image_size", 32}, {"num_channels", 32}, {"num_res_blocks", 1},
                                        {"channel_mult", "1,2"}, {"attention_resolutions", "16"},
                                        {"learn_sigma", true}, {"num_head_channels", 16},
                                        {"resblock_updown", updown}, {"use_scale_shift_norm", updown}});
}

TEST(UNetBlocks, TimestepEmbeddingMatchesReferenceValues) {
  auto e = timestep_embedding(torch::tensor({0.0f, 996.0f}), 256);
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{2, 256}));
  EXPECT_TRUE(torch::equal(e[0].slice(0, 0, 128), torch::ones({128})));
  EXPECT_TRUE(torch::equal(e[0].slice(0, 128), torch::zeros({128})));
  const std::pair<int, double> ref[] = {{0, -0.99338001},   {1, -0.99680978},  {2, -0.13284992},
                                        {127, 0.99427766},  {128, -0.11487465}, {129, -0.07981365},
                                        {130, 0.99113619},  {255, 0.10682668}};
  for (const auto& [j, v] : ref) EXPECT_NEAR(e[1][j].item<double>(), v, 2e-7) << "emb[" << j << "]";
  EXPECT_EQ(timestep_embedding(torch::tensor({3.0f}), 7).size(1), 7);  // odd dim: zero column appended
}

TEST(UNetBlocks, NewAttentionOrderEqualsLegacyWithPermutedQkv) {
  const int64_t C = 64, heads = 4, ch = C / heads;
  AttentionBlock legacy(C, heads, false), fresh(C, heads, true);
  randomise(*legacy, 1);
  // Legacy channel h*3ch + p*ch + c holds what the new order keeps at p*C + h*ch + c.
  auto perm = torch::empty({3 * C}, torch::kLong);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t p = 0; p < 3; ++p)
      for (int64_t c = 0; c < ch; ++c) perm[p * C + h * ch + c] = h * 3 * ch + p * ch + c;
  {
    torch::NoGradGuard no_grad;
    auto lp = legacy->named_parameters(), fp = fresh->named_parameters();
    for (const auto& kv : lp) fp[kv.key()].copy_(kv.value());
    fp["qkv.weight"].copy_(lp["qkv.weight"].index_select(0, perm));
    fp["qkv.bias"].copy_(lp["qkv.bias"].index_select(0, perm));
  }
  auto x = torch::randn({2, C, 4, 3});
  EXPECT_TRUE(torch::allclose(legacy(x), fresh(x), 1e-5, 1e-5));
}

TEST(UNetBlocks, ForwardGivesOutputChannelsAtInputSize) {
  for (bool updown : {true, false}) {
    UNetModel model(small_config(updown));
    randomise(*model, 2);
    torch::NoGradGuard no_grad;
    auto out = model(torch::randn({2, 3, 16, 24}), torch::tensor({10.0f, 990.0f}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 6, 16, 24}));
    EXPECT_GT(out.abs().max().item<double>(), 0.1);
    EXPECT_THROW(model(torch::randn({1, 3, 15, 16}), torch::tensor({1.0f})), SettingsError);
  }
}

// The speed layer (unet_blocks_fast.h) against guided-diffusion's forward op for op (fast off):
// in float32 on the CPU bit for bit, output and input gradient, with and without gradients; with a
// bfloat16 torso (folded norms) to within bfloat16's rounding.
TEST(UNetBlocks, SpeedLayerEqualsTheReferenceForward) {
  for (bool updown : {true, false}) {
    SCOPED_TRACE(updown ? "resblock_updown + scale-shift" : "conv resampling, additive emb");
    UNetModel net(small_config(updown));
    randomise(*net, 7);
    const auto x = torch::randn({2, 3, 32, 32});
    const auto t = torch::tensor({10.0f, 700.0f});
    const auto w = torch::randn({2, 6, 32, 32});
    const auto run = [&](bool fast) {
      net->set_block_execution({fast, /*lean_graph=*/false});
      torch::Tensor sampled;
      {
        torch::NoGradGuard no_grad;
        sampled = net->forward(x, t);
      }
      const auto [out, grad] = output_and_input_grad(net, x, t, w);
      return std::vector<torch::Tensor>{sampled, out, grad};
    };
    const auto reference = run(false), fast = run(true);
    for (size_t i = 0; i < reference.size(); ++i) EXPECT_TRUE(torch::equal(reference[i], fast[i])) << "tensor " << i;
    if (!test::cpu_bf16_missing().empty()) continue;
    net->set_precision(torch::kBFloat16);
    const auto reference16 = run(false), fast16 = run(true);
    for (size_t i = 0; i < reference16.size(); ++i) {
      const double rel = ((fast16[i] - reference16[i]).norm() / reference16[i].norm()).item<double>();
      std::printf("bf16 speed layer vs reference, tensor %zu: relative L2 difference %.3e\n", i, rel);
      // Outputs to within 2 %; the input gradient, through every block's backward in bfloat16, 5 %.
      EXPECT_LT(rel, i == 2 ? 5e-2 : 2e-2) << "tensor " << i;
    }
  }
}

TEST(UNetPrecision, BFloat16TorsoStaysCloseToFloat32AndKeepsDDSplit) {
  if (const auto missing = test::cpu_bf16_missing(); !missing.empty())
    GTEST_SKIP() << "this platform lacks bfloat16 CPU kernels: " << missing;
  for (bool updown : {true, false}) {
    SCOPED_TRACE(updown ? "resblock_updown + scale-shift" : "conv resampling, additive emb");
    UNetModel model(small_config(updown));
    randomise(*model, 3);
    torch::NoGradGuard no_grad;
    auto x = torch::randn({2, 3, 16, 16});
    auto t = torch::tensor({100.0f, 900.0f});
    auto ref = model(x, t);
    model->set_precision(torch::kBFloat16);
    auto params = model->named_parameters();
    EXPECT_EQ(params["input_blocks.0.0.weight"].scalar_type(), torch::kBFloat16);
    EXPECT_EQ(params["middle_block.1.qkv.weight"].scalar_type(), torch::kBFloat16);
    EXPECT_EQ(params["output_blocks.0.0.out_layers.3.bias"].scalar_type(), torch::kBFloat16);
    EXPECT_EQ(params["middle_block.1.norm.weight"].scalar_type(), torch::kFloat32);
    EXPECT_EQ(params["middle_block.0.emb_layers.1.weight"].scalar_type(), torch::kFloat32);
    EXPECT_EQ(params["time_embed.0.weight"].scalar_type(), torch::kFloat32);
    EXPECT_EQ(params["out.2.weight"].scalar_type(), torch::kFloat32);
    torch::Tensor low;
    try {
      low = model(x, t);
    } catch (const c10::Error& e) {  // the platform has bfloat16 (probed above): a real failure
      FAIL() << "the bfloat16 UNet torso failed: " << e.what_without_backtrace();
    }
    EXPECT_EQ(low.scalar_type(), torch::kFloat32);
    const double rel = ((low - ref).norm() / ref.norm()).item<double>();
    std::printf("bf16 torso vs fp32: relative L2 difference %.3e\n", rel);
    EXPECT_LT(rel, 2e-2);
    EXPECT_GT(rel, 0.0);  // the torso really ran in bfloat16
  }
}


// The fp16/bf16 torso's GroupNorm (float32 statistics over the low-precision tensor, one fused
// a*x + b) equals the reference's upcast-normalise-round to within the final rounding, with and
// without scale-shift, in NCHW and channels-last, with and without autograd; and so does its gradient.
TEST(UNetMemory, LowPrecisionGroupNormMatchesFloat32Norm) {
  GroupNorm32 norm(64);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(1 + 0.1 * torch::randn({64}));
    norm->bias.copy_(0.1 * torch::randn({64}));
  }
  const auto scale = 0.2 * torch::randn({2, 64, 1, 1});
  const auto shift = 0.2 * torch::randn({2, 64, 1, 1});
  const auto x32 = (3 + 2 * torch::randn({2, 64, 8, 12})).to(torch::kBFloat16).to(torch::kFloat32);
  const auto reference = torch::group_norm(x32, 32, norm->weight, norm->bias, 1e-5);
  const auto reference_ss = reference * (1 + scale) + shift;
  const auto close = [](const torch::Tensor& got, const torch::Tensor& want) {
    EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
    // bf16 keeps 8 significant bits: a rounding of |value| <= 4 is at most 2^-6; a, b and the
    // result are each rounded once.
    EXPECT_LE((got.to(torch::kFloat32) - want).abs().max().item<double>(), 3.0 / 64);
  };
  for (bool channels_last : {false, true}) {
    auto x = x32.to(torch::kBFloat16);
    if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor plain, ss;
    {
      torch::NoGradGuard no_grad;
      plain = norm(x);
      ss = fast::group_norm(*norm, x, scale.to(torch::kBFloat16), shift.to(torch::kBFloat16));
    }
    close(plain, reference);
    close(ss, reference_ss.to(torch::kBFloat16).to(torch::kFloat32));
    EXPECT_EQ(plain.is_contiguous(torch::MemoryFormat::ChannelsLast), channels_last);
    torch::AutoGradMode grad(true);
    EXPECT_TRUE(torch::equal(norm(x), plain));
  }
  // A conv bias folded into the statistics (pre_bias): the norm of x + bias, without adding it.
  const auto conv_bias = 0.5 * torch::randn({64});
  const auto reference_pb = torch::group_norm(x32 + conv_bias.view({1, -1, 1, 1}), 32, norm->weight, norm->bias, 1e-5);
  for (bool grad : {false, true}) {
    torch::AutoGradMode mode(grad);
    const auto got = fast::group_norm_consuming(*norm, x32.to(torch::kBFloat16), scale.to(torch::kBFloat16),
                                                         shift.to(torch::kBFloat16), conv_bias);
    close(got, (reference_pb * (1 + scale) + shift).to(torch::kBFloat16).to(torch::kFloat32));
  }
  {  // the float32 CPU path (aten's group_norm) adds the bias first: the same norm
    torch::NoGradGuard no_grad;
    const auto got = fast::group_norm_consuming(*norm, x32.clone(), {}, {}, conv_bias);
    EXPECT_TRUE(torch::allclose(got, reference_pb, 1e-5, 1e-5));
  }
  // Gradient with respect to the input: against float32 autograd through aten's group_norm.
  const auto upstream = torch::randn({2, 64, 8, 12});
  auto xr = x32.clone().requires_grad_(true);
  (torch::group_norm(xr, 32, norm->weight, norm->bias, 1e-5) * upstream).sum().backward();
  auto xl = x32.to(torch::kBFloat16).requires_grad_(true);
  (norm(xl).to(torch::kFloat32) * upstream).sum().backward();
  const auto want = xr.grad(), got = xl.grad().to(torch::kFloat32);
  const double rel = ((got - want).norm() / want.norm()).item<double>();
  EXPECT_LT(rel, 2e-2) << "relative L2 difference of the input gradient";
}

// silu_norm with gradients keeps x and the affine instead of the normalised tensor; its output and
// input gradient equal autograd's through the folded norm and silu (bfloat16: the folded path).
TEST(UNetMemory, SiluNormGradientEqualsAutograd) {
  GroupNorm32 norm(64);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(1 + 0.1 * torch::randn({64}));
    norm->bias.copy_(0.1 * torch::randn({64}));
  }
  const auto scale = (0.2 * torch::randn({2, 64, 1, 1})).to(torch::kBFloat16);
  const auto shift = (0.2 * torch::randn({2, 64, 1, 1})).to(torch::kBFloat16);
  const auto x0 = (1 + torch::randn({2, 64, 8, 12})).to(torch::kBFloat16);
  const auto upstream = torch::randn({2, 64, 8, 12}).to(torch::kBFloat16);
  auto a = x0.clone().requires_grad_(true), b = x0.clone().requires_grad_(true);
  const auto fused = fast::silu_norm(*norm, a * 1, scale, shift, {}, /*consume=*/true);
  const auto plain = torch::silu(fast::group_norm(*norm, b * 1, scale, shift));
  ASSERT_TRUE(torch::equal(fused, plain));
  (fused * upstream).sum().backward();
  (plain * upstream).sum().backward();
  const double rel = ((a.grad().to(torch::kFloat) - b.grad().to(torch::kFloat)).norm() /
                      b.grad().to(torch::kFloat).norm()).item<double>();
  EXPECT_LT(rel, 1e-2) << "bfloat16 sums may round differently";
  torch::NoGradGuard no_grad;  // without gradients: in place over a consumed x, the same values
  EXPECT_TRUE(torch::equal(fast::silu_norm(*norm, x0.clone(), scale, shift, {}, true), plain));
}

// silu_of_affine (the lean graph's SiLU of a norm) works its backward pass in one buffer and, for a
// large x (64 MiB and up), sums a's gradient a few channels at a time; the gradients are autograd's
// through addcmul and silu.
TEST(UNetMemory, SiluOfAffineGradientsEqualAutograd) {
  struct Case {
    torch::Dtype dtype;
    std::vector<int64_t> shape;
  };
  // The last case is over 64 MiB, and its 42 channels make chunks of 5 and a last one of 2. At 1x1, b
  // has x's shape: its gradient is dz itself, which must not be overwritten by x's.
  for (const auto& [dtype, shape] : {Case{torch::kFloat, {2, 42, 6, 10}}, Case{torch::kBFloat16, {2, 42, 6, 10}},
                                     Case{torch::kFloat, {2, 42, 1, 1}}, Case{torch::kFloat, {1, 42, 640, 656}}}) {
    const auto x0 = torch::randn(shape).to(dtype);
    const auto a0 = (1 + 0.3 * torch::randn({shape[0], 42, 1, 1})).to(dtype);
    const auto b0 = (0.3 * torch::randn({shape[0], 42, 1, 1})).to(dtype);
    const auto upstream = torch::randn(shape).to(dtype);
    const auto grads = [&](bool lean) {
      auto x = x0.clone().requires_grad_(true), a = a0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
      const auto y = lean ? fast::silu_of_affine(x, a, b) : torch::silu(torch::addcmul(b, x, a));
      torch::autograd::backward({y}, {upstream});
      return std::vector<torch::Tensor>{y.detach(), x.grad(), a.grad(), b.grad()};
    };
    const auto lean = grads(true), plain = grads(false);
    EXPECT_TRUE(torch::equal(lean[0], plain[0]));
    EXPECT_TRUE(torch::equal(lean[1], plain[1])) << "x's gradient";
    EXPECT_TRUE(torch::equal(lean[3], plain[3])) << "b's gradient";
    const auto da = lean[2].to(torch::kFloat), da_plain = plain[2].to(torch::kFloat);
    EXPECT_LT((da - da_plain).abs().max().item<float>(), 1e-5f * (1 + da_plain.abs().max().item<float>()))
        << "a's gradient, shape " << x0.sizes();
  }
}

// No-gradient forward (norms writing in place, in-place SiLU and scale-shift) = the autograd forward,
// checkpointed or not. The run relies on it: without the secondary model, cond_fn's forward pass
// with gradients also gives the sampler its output (diffusion::with_shared_condition_score).
TEST(UNetMemory, NoGradForwardEqualsGradForward) {
  for (bool updown : {false, true}) {
    UNetModel net(small_config(updown));
    randomise(*net, 3);
    net->set_precision(torch::kBFloat16);
    const auto x = torch::randn({1, 3, 32, 32});
    const auto t = torch::tensor({321.0f});
    torch::Tensor a;
    {
      torch::NoGradGuard no_grad;
      a = net->forward(x, t);
    }
    for (bool checkpoint : {false, true}) {
      net->set_gradient_checkpointing(checkpoint);
      torch::AutoGradMode grad(true);
      const auto b = net->forward(x.clone().requires_grad_(true), t).detach();
      EXPECT_TRUE(torch::equal(a, b)) << "updown " << updown << " checkpoint " << checkpoint << " max diff "
                                      << (a - b).abs().max().item<float>();
    }
  }
}

// Under a tight budget the sampler's UNet keeps its full-resolution skips on the host (on the CPU,
// in a copy): the output is bit-identical, and a forward pass with a gradient ignores the setting.
TEST(UNetMemory, OffloadedSkipsGiveTheSameOutput) {
  for (bool updown : {false, true}) {
    for (int64_t blocks : {1, 2}) {
      auto config = small_config(updown);
      config.num_res_blocks = blocks;
      UNetModel net(config);
      randomise(*net, 4);
      const auto x = torch::randn({1, 3, 32, 32});
      const auto t = torch::tensor({123.0f});
      torch::NoGradGuard no_grad;
      const auto plain = net->forward(x, t);
      net->set_offload_skips(true);
      EXPECT_TRUE(torch::equal(net->forward(x, t), plain)) << "updown " << updown << " blocks " << blocks;
      torch::AutoGradMode grad(true);
      EXPECT_TRUE(torch::equal(net->forward(x.clone().requires_grad_(true), t).detach(), plain));
    }
  }
}

// The lean graph (SiLU of each norm keeping the norm's input; on CUDA also convolutions keeping
// only their weights) gives the same output and, up to bfloat16's sums, the same input gradient.
TEST(UNetMemory, LeanGraphGivesTheSameGradient) {
  for (bool updown : {false, true}) {
    UNetModel net(small_config(updown));
    randomise(*net, 6);
    for (auto& p : net->parameters()) p.set_requires_grad(false);
    net->set_precision(torch::kBFloat16);  // the folded norms: where the lean SiLU applies on the CPU
    const auto x = torch::randn({1, 3, 32, 32});
    const auto t = torch::tensor({400.0f});
    const auto w = torch::randn({1, 6, 32, 32});
    const auto run = [&](bool lean) {
      net->set_lean_graph(lean);
      return output_and_input_grad(net, x, t, w);
    };
    const auto [out0, g0] = run(false);
    const auto [out1, g1] = run(true);
    EXPECT_TRUE(net->lean_graph());
    EXPECT_TRUE(torch::equal(out0, out1)) << "updown " << updown;
    const double rel = ((g1 - g0).norm() / g0.norm()).item<double>();
    EXPECT_LT(rel, 1e-2) << "updown " << updown;
  }
}

// Gradient checkpointing recomputes each block in the backward pass: same input gradient.
TEST(UNetMemory, CheckpointedGradientEqualsPlainGradient) {
  for (bool updown : {false, true}) {
    UNetModel net(small_config(updown));
    randomise(*net, 5);
    for (auto& p : net->parameters()) p.set_requires_grad(false);
    const auto x = torch::randn({1, 3, 32, 32});
    const auto t = torch::tensor({500.0f});
    const auto w = torch::randn({1, 6, 32, 32});
    const auto grad_of = [&](bool checkpoint) {
      net->set_gradient_checkpointing(checkpoint);
      return output_and_input_grad(net, x, t, w).second;
    };
    const auto plain = grad_of(false), checkpointed = grad_of(true);
    EXPECT_GT(plain.abs().max().item<float>(), 0);
    // Recomputation may round differently in the last bit (different kernels' summation order).
    const float scale = plain.abs().max().item<float>();
    EXPECT_LT((checkpointed - plain).abs().max().item<float>(), 1e-5f * scale) << "updown " << updown;
  }
}


// Under a tight budget the checkpointed blocks' inputs wait on the host until the backward pass
// (on the CPU, as copies). At 96x96 the full-resolution inputs pass the 1 MiB threshold and the
// others do not: the gradient is bit-identical to plain checkpointing either way.
TEST(UNetMemory, OffloadedCheckpointsGiveTheSameGradient) {
  UNetModel net(small_config(true));
  randomise(*net, 6);
  for (auto& p : net->parameters()) p.set_requires_grad(false);
  const auto x = torch::randn({1, 3, 96, 96});
  const auto t = torch::tensor({400.0f});
  const auto w = torch::randn({1, 6, 96, 96});
  const auto grad_of = [&](bool offload) {
    net->set_gradient_checkpointing(true, offload);
    return output_and_input_grad(net, x, t, w).second;
  };
  const auto kept = grad_of(false), offloaded = grad_of(true);
  EXPECT_TRUE(net->checkpoint_offload());
  EXPECT_GT(kept.abs().max().item<float>(), 0);
  EXPECT_TRUE(torch::equal(kept, offloaded));
  net->set_gradient_checkpointing(false, true);  // offloading needs checkpointing
  EXPECT_FALSE(net->checkpoint_offload());
}

TEST(UNetMemory, ChannelsLastGivesTheSameOutput) {
  UNetModel net(small_config(true));
  randomise(*net, 9);
  const auto x = torch::randn({1, 3, 32, 32});
  const auto t = torch::tensor({100.0f});
  torch::NoGradGuard no_grad;
  const auto plain = net->forward(x, t);
  net->set_channels_last(true);
  const auto nhwc = net->forward(x, t);
  net->set_channels_last(false);
  EXPECT_TRUE(torch::allclose(nhwc, plain, 1e-4, 1e-5)) << (nhwc - plain).abs().max().item<float>();
  EXPECT_TRUE(torch::equal(net->forward(x, t), plain));
}

}  // namespace
}  // namespace disco::diffusion
