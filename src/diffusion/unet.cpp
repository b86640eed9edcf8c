// guided_diffusion.unet.UNetModel, models-spec §1.3–1.7.
#include "diffusion/unet.h"

#include "common/attention.h"
#include "common/conv.h"
#include "common/error.h"
#include "diffusion/gradient_checkpoint.h"
#include "diffusion/unet_blocks_fast.h"

namespace disco::diffusion {
using torch::Tensor;

namespace {

ResBlock unet_res_block(const UNetConfig& c, int64_t cin, int64_t cout, bool up = false, bool down = false) {
  return ResBlock(ResBlockOptions{cin, c.time_embed_dim(), cout, c.dropout, c.use_scale_shift_norm, up, down});
}

AttentionBlock unet_attention_block(const UNetConfig& c, int64_t ch, bool upsample) {
  return AttentionBlock(ch, c.heads_for(ch, upsample), c.use_new_attention_order);
}

}  // namespace

// The parts are built and registered in guided-diffusion's order: the parameter names are the
// checkpoints' keys, and the default initialisation draws from the global generator in that order.
UNetModelImpl::UNetModelImpl(const UNetConfig& config) : config_(config) {
  const auto& c = config_;
  const int64_t ted = c.time_embed_dim();
  time_embed = register_module("time_embed", torch::nn::Sequential(torch::nn::Linear(c.num_channels, ted),
                                                                    torch::nn::SiLU(),
                                                                    torch::nn::Linear(ted, ted)));
  UNetWalk walk;
  build_input_blocks(walk);
  build_middle_block(walk);
  build_output_blocks(walk);

  auto out_conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(c.level_channels()[0], c.out_channels(), 3).padding(1));
  {
    torch::NoGradGuard no_grad;  // zero_module(): a fresh model predicts zero
    out_conv->weight.zero_();
    out_conv->bias.zero_();
  }
  out = register_module("out", torch::nn::Sequential(GroupNorm32(walk.ch), torch::nn::SiLU(), out_conv));
}

void UNetModelImpl::build_input_blocks(UNetWalk& w) {
  const auto& c = config_;
  const auto chans = c.level_channels();
  const int64_t levels = static_cast<int64_t>(chans.size());
  input_blocks = register_module("input_blocks", torch::nn::ModuleList());
  auto add_input = [&](TimestepEmbedSequential b) {
    input_blocks->push_back(b);
    inputs_.push_back(b);
  };
  w.ch = chans.at(0);
  TimestepEmbedSequential first;
  first->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(c.in_channels, w.ch, 3).padding(1)));
  add_input(first);
  w.skip_chans = {w.ch};
  w.ds = 1;
  for (int64_t level = 0; level < levels; ++level) {
    for (int64_t r = 0; r < c.num_res_blocks; ++r) {
      TimestepEmbedSequential b;
      b->push_back(unet_res_block(c, w.ch, chans[level]));
      w.ch = chans[level];
      if (c.has_attention(w.ds)) b->push_back(unet_attention_block(c, w.ch, false));
      add_input(b);
      w.skip_chans.push_back(w.ch);
    }
    if (level != levels - 1) {
      TimestepEmbedSequential b;
      if (c.resblock_updown) b->push_back(unet_res_block(c, w.ch, w.ch, false, true));
      else b->push_back(Downsample(w.ch, /*use_conv=*/true));
      add_input(b);
      w.skip_chans.push_back(w.ch);
      w.ds *= 2;
    }
  }
}

void UNetModelImpl::build_middle_block(const UNetWalk& w) {
  const auto& c = config_;
  middle_block = register_module("middle_block", TimestepEmbedSequential());
  middle_block->push_back(unet_res_block(c, w.ch, w.ch));
  middle_block->push_back(unet_attention_block(c, w.ch, false));
  middle_block->push_back(unet_res_block(c, w.ch, w.ch));
}

void UNetModelImpl::build_output_blocks(UNetWalk& w) {
  const auto& c = config_;
  const auto chans = c.level_channels();
  const int64_t levels = static_cast<int64_t>(chans.size());
  output_blocks = register_module("output_blocks", torch::nn::ModuleList());
  for (int64_t level = levels - 1; level >= 0; --level) {
    for (int64_t i = 0; i <= c.num_res_blocks; ++i) {
      const int64_t ich = w.skip_chans.back();
      w.skip_chans.pop_back();
      TimestepEmbedSequential b;
      b->push_back(unet_res_block(c, w.ch + ich, chans[level]));
      w.ch = chans[level];
      if (c.has_attention(w.ds)) b->push_back(unet_attention_block(c, w.ch, true));
      if (level > 0 && i == c.num_res_blocks) {
        if (c.resblock_updown) b->push_back(unet_res_block(c, w.ch, w.ch, true, false));
        else b->push_back(Upsample(w.ch, /*use_conv=*/true));
        w.ds /= 2;
      }
      output_blocks->push_back(b);
      outputs_.push_back(b);
    }
  }
}

void UNetModelImpl::set_precision(torch::Dtype torso) {
  torch::NoGradGuard no_grad;
  for (torch::nn::Module* part : {static_cast<torch::nn::Module*>(input_blocks.get()),
                                  static_cast<torch::nn::Module*>(middle_block.get()),
                                  static_cast<torch::nn::Module*>(output_blocks.get())}) {
    for (const auto& m : part->modules()) {
      if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(m.get())) conv->to(torso);
      if (auto* conv = dynamic_cast<torch::nn::Conv1dImpl*>(m.get())) conv->to(torso);
    }
  }
  torso_dtype_ = torso;
}

void UNetModelImpl::set_gradient_checkpointing(bool on, bool offload) {
  for (auto& b : inputs_) b->set_checkpointing(on, offload);
  middle_block->set_checkpointing(on, offload);
  for (auto& b : outputs_) b->set_checkpointing(on, offload);
  checkpoint_offload_ = on && offload;
}

void UNetModelImpl::set_block_execution(const BlockExecution& e) {
  for (const auto& m : modules()) {
    if (auto* r = dynamic_cast<ResBlockImpl*>(m.get())) r->set_execution(e);
    if (auto* n = dynamic_cast<GroupNorm32Impl*>(m.get())) n->set_execution(e);
  }
  block_execution_ = e;
}

void UNetModelImpl::set_lean_graph(bool on) {
  auto e = block_execution_;
  e.lean_graph = on;
  set_block_execution(e);
}

void UNetModelImpl::set_fused_attention(bool on) {
  for (const auto& m : modules())
    if (auto* a = dynamic_cast<AttentionBlockImpl*>(m.get())) a->set_fused_attention(on);
  fused_attention_ = on;
}

bool UNetModelImpl::fused_attention() const { return fused_attention_ && fused_attention_available(); }

void UNetModelImpl::set_channels_last(bool on) {
  torch::NoGradGuard no_grad;
  const auto format = on ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  for (const auto& m : modules())
    if (auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(m.get())) conv->weight.set_data(conv->weight.contiguous(format));
  channels_last_ = on;
}

Tensor UNetModelImpl::forward(const Tensor& x, const Tensor& t) {
  const int64_t levels = static_cast<int64_t>(config_.level_channels().size());
  const int64_t factor = int64_t{1} << (levels - 1);
  DISCO_CHECK(x.dim() == 4 && x.size(2) % factor == 0 && x.size(3) % factor == 0, SettingsError,
              "the UNet needs an image of shape [N, C, H, W] with H and W divisible by ", factor,
              ", got ", x.sizes());
  auto emb = time_embed->forward(timestep_embedding(t, config_.num_channels));  // [N, 4*mc], fp32
  std::vector<Tensor> hs;
  auto h = x.to(torso_dtype_);  // [N, in, H, W]
  if (channels_last_) h = h.contiguous(torch::MemoryFormat::ChannelsLast);
  // The input conv and the first num_res_blocks ResBlocks give the full-resolution skips; they may
  // wait on the host (set_offload_skips).
  const bool offload = offload_skips_ && !torch::GradMode::is_enabled();
  for (size_t i = 0; i < inputs_.size(); ++i) {
    h = inputs_[i](h, emb);
    const bool to_host = offload && static_cast<int64_t>(i) <= config_.num_res_blocks && h.size(-1) == x.size(-1);
    hs.push_back(to_host ? copy_to_host(h) : h);
  }
  h = middle_block(h, emb);  // [N, Cmax, H/2^(L-1), W/2^(L-1)]
  for (auto& block : outputs_) {
    auto skip = std::move(hs.back());
    hs.pop_back();
    if (skip.device() != h.device()) skip = skip.to(h.device(), /*non_blocking=*/true);  // from the host
    h = block->forward_with_skip(std::move(h), std::move(skip), emb);  // on cat(h, skip)
  }
  h = h.to(x.scalar_type());  // [N, C0, H, W]
  if (!block_execution_.fast) return out->forward(h);  // GroupNorm32, SiLU, Conv2d(3x3)
  h = fast::silu_norm(*out->ptr(0)->as<GroupNorm32Impl>(), std::move(h), {}, {}, {}, /*consume=*/true);
  const auto& conv = *out->ptr(2)->as<torch::nn::Conv2dImpl>();
  return block_execution_.lean_graph ? conv2d_input_grad(h, conv.weight, conv.bias, 1, 1)  // [N, out, H, W]
                                     : torch::conv2d(h, conv.weight, conv.bias, 1, 1);
}

}  // namespace disco::diffusion
