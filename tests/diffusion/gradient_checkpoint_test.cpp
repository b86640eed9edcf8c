// Gradient checkpointing: the recomputed backward pass gives autograd's gradients.
#include <gtest/gtest.h>

#include "diffusion/gradient_checkpoint.h"

namespace disco::diffusion {
namespace {

// A block in the shape of an output block: it reads a concatenation and a per-sample vector.
torch::Tensor block(const torch::Tensor& x, const torch::Tensor& c) {
  return torch::silu(x.narrow(1, 0, 3) * x.narrow(1, 3, 3) + c.view({-1, 1, 1, 1})).tanh();
}

// checkpoint_concat(a, b, c) against autograd through block(cat(a, b), c), for every combination of
// inputs that want a gradient, with and without the offload (a and b are 1 and 2 MiB, at or over its
// threshold; on the CPU the offload keeps copies).
TEST(Checkpoint, ConcatGradientsEqualAutograd) {
  torch::manual_seed(3);
  const auto a0 = torch::randn({1, 2, 256, 512}), b0 = torch::randn({1, 4, 256, 512}), c0 = torch::randn({1});
  const auto upstream = torch::randn({1, 3, 256, 512});
  const CheckpointFn fn = [](const torch::Tensor& x, const torch::Tensor& unused, const torch::Tensor& c) {
    EXPECT_EQ(unused.numel(), 0);
    return block(x, c);
  };
  for (int wants = 1; wants < 8; ++wants) {
    for (bool offload : {false, true}) {
      const auto run = [&](bool checkpointed) {
        auto a = a0.clone().requires_grad_((wants & 1) != 0), b = b0.clone().requires_grad_((wants & 2) != 0);
        auto c = c0.clone().requires_grad_((wants & 4) != 0);
        const auto y = checkpointed ? checkpoint_concat(fn, a, b, c, offload) : block(torch::cat({a, b}, 1), c);
        torch::autograd::backward({y}, {upstream});
        return std::vector<torch::Tensor>{y.detach(), a.grad(), b.grad(), c.grad()};
      };
      const auto got = run(true), want = run(false);
      EXPECT_TRUE(torch::equal(got[0], want[0]));
      if (wants & 2) {  // b's gradient owns its memory: not a slice holding the whole concatenation's
        EXPECT_EQ(got[2].storage().nbytes(), got[2].numel() * got[2].element_size());
      }
      for (int i = 0; i < 3; ++i) {
        const bool needed = (wants >> i) & 1;
        ASSERT_EQ(got[i + 1].defined(), needed) << "input " << i << " wants " << wants;
        if (needed) {
          EXPECT_TRUE(torch::allclose(got[i + 1], want[i + 1], 1e-6, 1e-6)) << "input " << i;
        }
      }
    }
  }
  torch::NoGradGuard no_grad;  // a plain call without gradients
  EXPECT_TRUE(torch::equal(checkpoint_concat(fn, a0, b0, c0), block(torch::cat({a0, b0}, 1), c0)));
}

}  // namespace
}  // namespace disco::diffusion
