// CLIP module behaviour on small random models: shapes, the text mask and EOT pick, the
// mixed-precision mode against float32, normalisation.
#include <gtest/gtest.h>

#include "clip/clip_model.h"
#include "common/error.h"
#include "clip/preprocess.h"
#include "clip_test_util.h"
#include "support/bf16.h"

namespace disco::clip {
namespace {

CLIPConfig small_vit() { return CLIPConfig{32, 32, {2}, 128, 8, 77, 49408, 128, 2, 2, true}; }
CLIPConfig small_rn() { return CLIPConfig{32, 64, {1, 2, 1, 1}, 8, 0, 77, 49408, 64, 1, 1, false}; }

// Random non-trivial BatchNorm statistics, so that eval mode is actually exercised.
void randomize_batch_norms(CLIP& model) {
  torch::NoGradGuard no_grad;
  for (const auto& m : model->modules())
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->running_mean.uniform_(-0.2, 0.2);
      bn->running_var.uniform_(0.5, 1.5);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
    }
}

torch::Tensor tokens_fixture() {
  auto t = torch::zeros({2, 77}, torch::kInt);
  t[0][0] = 49406, t[0][1] = 320, t[0][2] = 1125, t[0][3] = 49407;
  t[1][0] = 49406, t[1][1] = 49407;
  return t;
}

CLIP seeded(const CLIPConfig& c) {
  torch::manual_seed(0);
  CLIP m(c);
  randomize_batch_norms(m);
  m->eval();
  return m;
}

TEST(CLIPModel, ConfigRoundTripsThroughItsOwnStateDict) {
  for (const auto& c : {small_vit(), small_rn()}) {
    EXPECT_EQ(CLIPConfig::from_state_dict(ordered_state_dict(*CLIP(c))), c) << c.to_string();
  }
}

TEST(CLIPModel, DownsampleKeepsTheAvgPoolEntryNamedMinusOne) {
  CLIP m(small_rn());
  auto names = m->resnet->layer2->ptr(0)->as<BottleneckImpl>()->downsample->named_children().keys();
  EXPECT_EQ(names, (std::vector<std::string>{"-1", "0", "1"}));
}

TEST(CLIPModel, EncodersGiveEmbeddingsOfEmbedDim) {
  torch::NoGradGuard no_grad;
  for (const auto& c : {small_vit(), small_rn()}) {
    auto m = seeded(c);
    auto img = m->encode_image(torch::randn({3, 3, c.image_resolution, c.image_resolution}));
    EXPECT_EQ(img.sizes(), (std::vector<int64_t>{3, c.embed_dim}));
    EXPECT_EQ(img.scalar_type(), torch::kFloat);
    auto txt = m->encode_text(tokens_fixture());
    EXPECT_EQ(txt.sizes(), (std::vector<int64_t>{2, c.embed_dim}));
    EXPECT_TRUE(torch::isfinite(txt).all().item<bool>());
  }
}

TEST(CLIPModel, TextIgnoresEverythingAfterTheEndOfText) {
  // With the causal mask, the feature at the EOT position cannot see later positions.
  torch::NoGradGuard no_grad;
  auto m = seeded(small_vit());
  auto a = tokens_fixture();
  auto b = a.clone();
  b.index_put_({0, torch::indexing::Slice(10, 20)}, 1000);  // ids below the EOT id
  EXPECT_TRUE(torch::allclose(m->encode_text(a), m->encode_text(b), 1e-6, 1e-6));
  // ...but does see earlier ones.
  auto c = a.clone();
  c[0][1] = 500;
  EXPECT_FALSE(torch::allclose(m->encode_text(a).slice(0, 0, 1), m->encode_text(c).slice(0, 0, 1)));
}

TEST(CLIPModel, Int32AndInt64TokensAgree) {
  torch::NoGradGuard no_grad;
  auto m = seeded(small_vit());
  EXPECT_TRUE(torch::equal(m->encode_text(tokens_fixture()), m->encode_text(tokens_fixture().to(torch::kLong))));
}

TEST(CLIPModel, ConvertWeightsFollowsTheOpenAIPattern) {
  auto m = seeded(small_rn());
  m->convert_weights(torch::kBFloat16);
  auto sd = ordered_state_dict(*m);
  EXPECT_EQ(sd["visual.conv1.weight"].scalar_type(), torch::kBFloat16);
  EXPECT_EQ(sd["visual.attnpool.q_proj.bias"].scalar_type(), torch::kBFloat16);
  EXPECT_EQ(sd["text_projection"].scalar_type(), torch::kBFloat16);
  EXPECT_EQ(sd["transformer.resblocks.0.attn.in_proj_weight"].scalar_type(), torch::kBFloat16);
  EXPECT_EQ(sd["visual.bn1.weight"].scalar_type(), torch::kFloat);
  EXPECT_EQ(sd["visual.attnpool.positional_embedding"].scalar_type(), torch::kFloat);
  EXPECT_EQ(sd["token_embedding.weight"].scalar_type(), torch::kFloat);
  EXPECT_EQ(sd["ln_final.weight"].scalar_type(), torch::kFloat);
  EXPECT_EQ(m->dtype(), torch::kBFloat16);
  m->convert_weights(torch::kFloat);
  for (const auto& item : ordered_state_dict(*m))
    if (item.value().is_floating_point()) {
      EXPECT_EQ(item.value().scalar_type(), torch::kFloat) << item.key();
    }
}

// DD on CUDA runs CLIP in fp16 with fp32 LayerNorm/BatchNorm; CPU has no fp16 convolutions, so
// the same placement is checked with bfloat16 (8 mantissa bits instead of 11).
TEST(CLIPModel, MixedPrecisionStaysCloseToFloat32) {
  if (const auto missing = test::cpu_bf16_missing(); !missing.empty())
    GTEST_SKIP() << "this platform lacks bfloat16 CPU kernels: " << missing;
  for (const auto& c : {small_vit(), small_rn()}) {
    SCOPED_TRACE(c.to_string());
    auto m = seeded(c);
    torch::manual_seed(1);
    auto image = torch::randn({2, 3, c.image_resolution, c.image_resolution});
    torch::Tensor img32, txt32, img16, txt16;
    {
      torch::NoGradGuard no_grad;
      img32 = m->encode_image(image);
      txt32 = m->encode_text(tokens_fixture());
    }
    m->convert_weights(torch::kBFloat16);
    try {
      torch::NoGradGuard no_grad;
      img16 = m->encode_image(image);
      txt16 = m->encode_text(tokens_fixture());
    } catch (const c10::Error& e) {  // the platform has bfloat16 (probed above): a real failure
      FAIL() << "the bfloat16 CLIP encoders failed: " << e.what_without_backtrace();
    }
    EXPECT_EQ(img16.scalar_type(), torch::kFloat);
    double e_img = test::relative_error(img16, img32), e_txt = test::relative_error(txt16, txt32);
    std::printf("bfloat16 vs float32 (%s): image %.3e, text %.3e relative\n", c.is_vit ? "ViT" : "RN",
                e_img, e_txt);
    EXPECT_LT(e_img, 5e-2);
    EXPECT_LT(e_txt, 5e-2);
    EXPECT_GT(e_img, 0);  // it really ran in lower precision
  }
}

// The image embedding and the gradient of its squared norm w.r.t. the image (what guidance takes).
std::pair<torch::Tensor, torch::Tensor> embedding_and_gradient(CLIP& m, const torch::Tensor& image) {
  auto x = image.clone().requires_grad_(true);
  auto e = m->encode_image(x);
  auto g = torch::autograd::grad({(e * e).sum()}, {x})[0];
  return {e.detach(), g};
}

// --precision fast folds each BatchNorm into its convolution. In float32 that is the same
// function up to rounding; its gradient w.r.t. the image (what guidance uses) too.
TEST(CLIPModel, FoldedBatchNormGivesTheSameEmbeddingAndGradient) {
  const auto c = small_rn();
  auto m = seeded(c);
  torch::manual_seed(2);
  const auto image = torch::randn({2, 3, c.image_resolution, c.image_resolution});
  const auto run = [&] { return embedding_and_gradient(m, image); };
  const auto [e0, g0] = run();
  m->fold_batchnorm(true);
  ASSERT_TRUE(m->resnet->batchnorm_folded());
  const auto [e1, g1] = run();
  EXPECT_LT(test::relative_error(e1, e0), 1e-5);
  EXPECT_LT(test::relative_error(g1, g0), 1e-5);
  EXPECT_GT((e1 - e0).abs().max().item<double>(), 0);  // the folded path really ran
  m->fold_batchnorm(false);
  EXPECT_TRUE(torch::equal(run().first, e0));
  // convert_weights undoes the folding: folded weights of another dtype would be wrong.
  m->fold_batchnorm(true);
  m->convert_weights(torch::kFloat);
  EXPECT_FALSE(m->resnet->batchnorm_folded());
}

// The switch reaches every attention (text, ViT, the ResNet's attention pool): off gives the
// reference's op order, on the fused kernels, and the two agree up to rounding.
TEST(CLIPModel, FusedAndExplicitAttentionAgree) {
  for (const auto& config : {small_vit(), small_rn()}) {
    CLIP m = seeded(config);
    torch::NoGradGuard no_grad;
    const int64_t side = config.image_resolution;
    const auto image = torch::rand({2, 3, side, side});
    m->set_fused_attention(false);
    const auto img_ref = m->encode_image(image), txt_ref = m->encode_text(tokens_fixture());
    m->set_fused_attention(true);
    EXPECT_LT((m->encode_image(image) - img_ref).abs().max().item<float>(), 1e-5);
    EXPECT_LT((m->encode_text(tokens_fixture()) - txt_ref).abs().max().item<float>(), 1e-5);
  }
}

TEST(CLIPModel, FoldingNeedsEvalMode) {
  CLIP m(small_rn());
  m->train();
  EXPECT_THROW(m->fold_batchnorm(true), RuntimeError);
  CLIP vit(small_vit());
  vit->fold_batchnorm(true);  // a ViT has no BatchNorm: nothing to do
}

TEST(CLIPPreprocess, NormalizeUsesCLIPMeanAndStd) {
  auto mean = torch::tensor({kClipMean[0], kClipMean[1], kClipMean[2]}).view({1, 3, 1, 1}).expand({2, 3, 4, 5});
  auto std = torch::tensor({kClipStd[0], kClipStd[1], kClipStd[2]}).view({1, 3, 1, 1}).expand({2, 3, 4, 5});
  EXPECT_LT(normalize(mean).abs().max().item<double>(), 1e-6);
  EXPECT_LT((normalize(mean + std) - 1).abs().max().item<double>(), 1e-6);
  auto x = torch::rand({1, 3, 2, 2}, torch::TensorOptions().requires_grad(true));
  normalize(x).sum().backward();
  EXPECT_NEAR(x.grad()[0][0][0][0].item<double>(), 1 / kClipStd[0], 1e-4);
}


// The run parks the text encoder on the CPU while sampling (CUDA runs only, exercised by the GPU
// benchmark). Here: parking it where it already is changes nothing.
TEST(CLIPModel, MovingTheTextEncoderKeepsItsEmbeddings) {
  torch::manual_seed(4);
  CLIP model(small_vit());
  model->eval();
  const auto tokens = torch::zeros({1, 77}, torch::kLong).index_put_({0, 3}, 49407);
  torch::NoGradGuard no_grad;
  const auto before = model->encode_text(tokens);
  model->move_text_encoder(torch::kCPU);
  EXPECT_TRUE(torch::equal(model->encode_text(tokens), before));
  EXPECT_EQ(model->text_projection.device(), torch::Device(torch::kCPU));
}

// The lean MLP (for tight GPU budgets) keeps the MLP's input and recomputes the hidden layer in the
// backward pass: the same embedding, the same image gradient up to rounding, and only with frozen
// weights (it gives no weight gradients) and a ViT (a ResNet has no such MLP).
TEST(CLIPModel, LeanImageMlpGivesTheSameEmbeddingAndGradient) {
  const auto c = small_vit();
  torch::manual_seed(0);
  CLIP m(c);
  m->eval();
  for (auto& p : m->parameters()) p.set_requires_grad(false);
  torch::manual_seed(3);
  const auto image = torch::randn({3, 3, c.image_resolution, c.image_resolution});
  const auto run = [&] { return embedding_and_gradient(m, image); };
  const auto [e0, g0] = run();
  EXPECT_FALSE(m->lean_image_mlp());
  m->set_lean_image_mlp(true);
  EXPECT_TRUE(m->lean_image_mlp());
  const auto [e1, g1] = run();
  EXPECT_TRUE(torch::equal(e1, e0));
  EXPECT_LT(test::relative_error(g1, g0), 1e-6);
  m->set_lean_image_mlp(false);
  EXPECT_TRUE(torch::equal(run().second, g0));

  CLIP rn(small_rn());
  rn->set_lean_image_mlp(true);
  EXPECT_FALSE(rn->lean_image_mlp());
}

}  // namespace
}  // namespace disco::clip

// QuickGELU keeps only x for its backward pass; its gradient is the derivative of x * sigmoid(1.702 x).
TEST(CLIPModel, QuickGELUGradientMatchesAutograd) {
  torch::manual_seed(4);
  const auto x0 = 3 * torch::randn({5, 7, 33}, torch::kFloat64);
  auto a = x0.clone().requires_grad_(true), b = x0.clone().requires_grad_(true);
  const auto ya = disco::clip::QuickGELU()->forward(a);
  const auto yb = b * torch::sigmoid(1.702 * b);
  ASSERT_TRUE(torch::equal(ya, yb));
  const auto g = torch::randn_like(ya);
  ya.backward(g);
  yb.backward(g);
  EXPECT_TRUE(torch::allclose(a.grad(), b.grad(), 1e-12, 1e-12));
}
