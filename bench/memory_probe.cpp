// Peak memory of one model phase on the CPU, for checking a memory change without a GPU: the
// process's resident peak (VmHWM, reset through /proc/self/clear_refs) above its level once the
// model and inputs exist. Large tensors are mapped and unmapped one by one, so this follows the
// tensors' own peak; it also counts the CPU kernels' scratch, where cuDNN's differs.
//
//   memory_probe secondary WxH [--no-checkpoint]   x̂0 and its gradient, as cond_fn takes them
//   memory_probe unet WxH [--bf16]                 the sampler's UNet forward (512x512 preset)
//   memory_probe unet-grad WxH [--no-checkpoint] [--bf16] [--lean]   its forward and input gradient (full-UNet
//                                                 path; --lean: UNetModel::set_lean_graph, as tight budgets run it)
//   memory_probe cutouts WxH [--per-batch]        one CLIP model's cutouts (DD's 4 x 16 at 224) and their
//                                                 backward, as cond_fn takes them (or batch by batch)
//   memory_probe silu-affine WxH [--plain]         the lean graph's SiLU of a norm over 384 channels (the
//                                                 512 model's first top output block's concatenation),
//                                                 forward and backward; --plain: autograd's silu(addcmul)
//   memory_probe clip NAME N [--lean-mlp]         a CLIP image encoder's forward and input gradient over N
//                                                 cuts (NAME: ViT-B/16 etc.; fp32 on the CPU)
// Run with MALLOC_MMAP_THRESHOLD_=65536: glibc's adaptive threshold otherwise keeps freed tensors
// of up to 32 MB in the heap, and the resident size overstates what is live.
//
// Build: ninja -C build memory_probe (not part of the default build).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include <torch/torch.h>

#include "clip/clip_config.h"
#include "clip/clip_model.h"
#include "common/device.h"
#include "diffusion/secondary_model.h"
#include "diffusion/unet.h"
#include "diffusion/unet_blocks_fast.h"
#include "diffusion/unet_config.h"
#include "bench/bench.h"
#include "guidance/augmentations.h"
#include "guidance/cutouts.h"

namespace {
namespace dd = disco::diffusion;

void random_frozen(torch::nn::Module& m) {  // weights as disco bench draws them, no parameter gradients
  auto gen = disco::make_device_generator(torch::kCPU, 0);
  disco::randomize_weights(m, gen);
  for (auto& p : m.parameters()) p.set_requires_grad(false);
}

dd::UNetModel random_unet(bool bf16) {
  dd::UNetModel unet(dd::preset("512x512_diffusion_uncond_finetune_008100").config);
  random_frozen(*unet);
  if (bf16) unet->set_precision(torch::kBFloat16);
  return unet;
}

// x's gradient through f against the cotangent g, as cond_fn takes it.
void input_gradient(const torch::Tensor& x, const torch::Tensor& g,
                    const std::function<torch::Tensor(const torch::Tensor&)>& f) {
  torch::AutoGradMode grad(true);
  const auto xg = x.clone().requires_grad_(true);
  const auto y = f(xg);
  torch::autograd::grad({y}, {xg}, {g.defined() ? g : torch::ones_like(y)});
}

void measure(const char* what, const std::function<void()>& f) {
  const int64_t before = disco::process_memory().current;
  if (!disco::reset_process_peak() || before < 0) {
    std::fprintf(stderr, "memory_probe: /proc/self/status or clear_refs is not available here\n");
    std::exit(1);
  }
  const auto t0 = std::chrono::steady_clock::now();
  f();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t peak = disco::process_memory().peak;
  std::printf("%s: %.2f s, resident peak +%.3f GiB over %.3f GiB\n", what, s,
              static_cast<double>(peak - before) / (1 << 30), static_cast<double>(before) / (1 << 30));
}
}  // namespace

int main(int argc, char** argv) {
  int w = 0, h = 0;
  if (argc >= 4 && std::string(argv[1]) == "clip") {
    const std::string name = argv[2];
    const int64_t n = std::atoll(argv[3]);
    const bool lean = argc > 4 && std::string(argv[4]) == "--lean-mlp";
    for (const auto& k : disco::clip::known_models()) {
      if (k.name != name) continue;
      disco::clip::CLIP model(k.config);
      random_frozen(*model);
      model->set_lean_image_mlp(lean);
      const int64_t side = k.config.image_resolution;
      const auto cuts = torch::rand({n, 3, side, side});
      measure((name + " forward+backward, " + std::to_string(n) + " cuts" + (lean ? ", lean MLP" : "")).c_str(), [&] {
        input_gradient(cuts, torch::Tensor(), [&](const torch::Tensor& c) { return model->encode_image(c).sum(); });
      });
      return 0;
    }
    std::fprintf(stderr, "memory_probe: unknown CLIP model '%s'\n", name.c_str());
    return 2;
  }
  if (argc < 3 || std::sscanf(argv[2], "%dx%d", &w, &h) != 2) {
    std::fprintf(stderr, "usage: memory_probe secondary|unet|unet-grad|cutouts|silu-affine WxH [--no-checkpoint] [--bf16] [--lean]\n"
                 "                    [--per-batch] [--plain]\n"
                 "       memory_probe clip NAME N [--lean-mlp]\n");
    return 2;
  }
  const std::string what = argv[1];
  bool checkpoint = true, bf16 = false, per_batch = false, lean = false, plain = false;
  for (int i = 3; i < argc; ++i) {
    checkpoint = checkpoint && std::string(argv[i]) != "--no-checkpoint";
    bf16 = bf16 || std::string(argv[i]) == "--bf16";
    per_batch = per_batch || std::string(argv[i]) == "--per-batch";
    lean = lean || std::string(argv[i]) == "--lean";
    plain = plain || std::string(argv[i]) == "--plain";
  }
  torch::manual_seed(0);
  const auto x = torch::randn({1, 3, h, w});
  if (what == "secondary") {
    dd::SecondaryDiffusionImageNet2 net;
    random_frozen(*net);
    net->set_gradient_checkpointing(checkpoint);
    const auto t = torch::tensor({0.6f});
    const auto g = torch::randn_like(x);
    measure(checkpoint ? "secondary forward+backward (checkpointed)" : "secondary forward+backward", [&] {
      input_gradient(x, g, [&](const torch::Tensor& xg) { return net->forward(xg, t).pred; });
    });
  } else if (what == "unet") {
    auto unet = random_unet(bf16);
    const auto t = torch::tensor({500.0f});
    measure(bf16 ? "UNet forward, no gradient (bf16 torso)" : "UNet forward, no gradient (fp32)", [&] {
      torch::NoGradGuard no_grad;
      unet->forward(x, t);
    });
  } else if (what == "unet-grad") {
    auto unet = random_unet(bf16);
    unet->set_gradient_checkpointing(checkpoint);
    unet->set_lean_graph(lean);
    const auto t = torch::tensor({500.0f});
    const auto g = torch::randn_like(x);
    const std::string label = std::string(checkpoint ? "UNet forward+backward (checkpointed)" : "UNet forward+backward") +
                              (bf16 ? ", bf16 torso" : "") + (lean ? ", lean graph" : "");
    measure(label.c_str(), [&] {
      input_gradient(x, g, [&](const torch::Tensor& xg) { return unet->forward(xg, t).slice(1, 0, 3); });
    });
  } else if (what == "cutouts") {
    namespace dg = disco::guidance;
    const dg::MakeCutoutsDango cutouts({224, 12, 4, 1.0, 0.2}, dg::AugMode::None, false);  // DD's first steps
    auto cpu = dg::make_cpu_generator(1);
    const int64_t base = disco::process_memory().current;
    int64_t held = 0;
    measure(per_batch ? "cutouts 4 x 16, batch by batch, forward+backward" : "cutouts 4 x 16, forward+backward", [&] {
      input_gradient(x.add(1).div(2), torch::Tensor(), [&](const torch::Tensor& xg) {
        const auto overview = cutouts.overview(xg);
        torch::Tensor cuts;
        if (per_batch) {
          std::vector<torch::Tensor> parts;
          for (int b = 0; b < 4; ++b) parts.push_back(cutouts.with_overview(xg, overview, cpu, cpu));
          cuts = torch::cat(parts);
        } else {
          cuts = cutouts.batches(xg, overview, 4, cpu, cpu);
        }
        held = disco::process_memory().current - base;
        return cuts.sum();
      });
    });
    std::printf("  held after the forward pass (the graph the CLIP passes wait beside): +%.3f GiB\n",
                static_cast<double>(held) / (1 << 30));
  } else if (what == "silu-affine") {
    const auto x0 = torch::randn({1, 384, h, w}), g = torch::randn({1, 384, h, w});
    const auto a = torch::rand({1, 384, 1, 1}).requires_grad_(true), b = torch::randn({1, 384, 1, 1}).requires_grad_(true);
    measure(plain ? "silu(addcmul) with autograd, 384 channels" : "silu_of_affine, 384 channels", [&] {
      const auto x = x0.clone().requires_grad_(true);  // as the recomputed block's concatenation: a leaf
      const auto y = plain ? torch::silu(torch::addcmul(b, x, a)) : dd::fast::silu_of_affine(x, a, b);
      torch::autograd::backward({y}, {g});
    });
  } else {
    std::fprintf(stderr, "memory_probe: unknown phase '%s'\n", what.c_str());
    return 2;
  }
  return 0;
}
