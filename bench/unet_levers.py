"""Where the time of one UNet forward goes, and what each candidate lever would save, measured on the
public reference model (guided-diffusion, assembled by prepare_reference.sh into $DISCO_REF) with random
weights, fp16 torso as in DD, at WH (default 1280x768). Prints each variant's median time, the conv
FLOPs and achieved rate, and the top kernels of the baseline. Read-only use of the reference: nothing
here is part of disco."""
import os, sys, time, json
sys.path.insert(0, os.environ['DISCO_REF'])
import torch
from torch.nn import functional as F
from guided_diffusion.script_util import create_model_and_diffusion, model_and_diffusion_defaults
from guided_diffusion import nn as gnn

W, H = [int(x) for x in os.environ.get('WH', '1280x768').split('x')]
dev = torch.device('cuda')
torch.manual_seed(0)
cfg = model_and_diffusion_defaults()
cfg.update(dict(attention_resolutions='32, 16, 8', class_cond=False, diffusion_steps=1000, rescale_timesteps=True,
                timestep_respacing='ddim250', image_size=512, learn_sigma=True, noise_schedule='linear',
                num_channels=256, num_head_channels=64, num_res_blocks=2, resblock_updown=True, use_checkpoint=True,
                use_fp16=True, use_scale_shift_norm=True))
model, _ = create_model_and_diffusion(**cfg)
with torch.no_grad():
    for p in model.parameters():
        if p.dim() > 1: p.normal_(0, 0.02)
model.requires_grad_(False).eval().to(dev).convert_to_fp16()

flops = [0]
def count(m, i, o):
    flops[0] += 2 * o.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
x = torch.randn(1, 3, H, W, device=dev); t = torch.tensor([500], device=dev)
with torch.no_grad(): model(x, t)
for h in hooks: h.remove()
print(f'conv FLOPs per forward: {flops[0] / 1e12:.2f} TFLOP', flush=True)

def timed(label, reps=5):
    with torch.no_grad():
        for _ in range(2): model(x, t)
        torch.cuda.synchronize(); ts = []
        for _ in range(reps):
            a = time.perf_counter(); model(x, t); torch.cuda.synchronize(); ts.append(time.perf_counter() - a)
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad(): model(x, t)
    peak = torch.cuda.max_memory_allocated() / 2**30
    med = sorted(ts)[len(ts) // 2]
    print(f'{label:40s} {med * 1e3:7.1f} ms  {flops[0] / med / 1e12:6.1f} TFLOP/s  peak {peak:.2f} GiB', flush=True)
    return med

res = {}
res['baseline'] = timed('baseline (NCHW, GN in fp32)')
gn32 = gnn.GroupNorm32.forward
def gn_half(self, x):
    return F.group_norm(x, self.num_groups, self.weight.to(x.dtype), self.bias.to(x.dtype), self.eps)
gnn.GroupNorm32.forward = gn_half
res['gn_half'] = timed('GN in fp16 (fp32 statistics inside)')
def gn_fused(self, x):  # disco's low-precision GroupNorm: float32 statistics, one a*x + b
    n, c = x.shape[:2]; g = self.num_groups
    xs = x.reshape(n, g, -1)
    mean = xs.mean(2, dtype=torch.float32)
    msq = torch.linalg.vector_norm(xs, 2, 2, dtype=torch.float32).square() / xs.shape[2]
    rstd = (msq - mean.square()).clamp_min(0).add(self.eps).rsqrt()
    a = rstd.repeat_interleave(c // g, 1) * self.weight
    b = self.bias - mean.repeat_interleave(c // g, 1) * a
    shape = (n, c) + (1,) * (x.dim() - 2)
    return torch.addcmul(b.view(shape).to(x.dtype), x, a.view(shape).to(x.dtype))
gnn.GroupNorm32.forward = gn_fused
res['gn_fused'] = timed('GN as disco: f32 stats + one addcmul')
gnn.GroupNorm32.forward = gn32
model.to(memory_format=torch.channels_last); x = x.contiguous(memory_format=torch.channels_last)
res['channels_last'] = timed('channels_last')
gnn.GroupNorm32.forward = gn_half
res['channels_last_gn_half'] = timed('channels_last + GN fp16')
gnn.GroupNorm32.forward = gn32
model.to(memory_format=torch.contiguous_format); x = x.contiguous()
torch.backends.cudnn.benchmark = True
res['cudnn_benchmark'] = timed('cudnn.benchmark')
torch.backends.cudnn.benchmark = False

from torch.profiler import profile, ProfilerActivity
with torch.no_grad():
    model(x, t); torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        model(x, t); torch.cuda.synchronize()
rows = []
for e in prof.key_averages():
    dt = getattr(e, 'device_time_total', None) or getattr(e, 'cuda_time_total', 0)
    if dt > 0 and e.key and not e.key.startswith('aten::') and not e.key.startswith('cuda'):
        rows.append((dt, e.count, e.key))
rows.sort(reverse=True)
total = sum(r[0] for r in rows)
print(f'kernels of one baseline forward: {total / 1e3:.1f} ms in {sum(r[1] for r in rows)} launches')
cats = {}
for dt, n, k in rows:
    kl = k.lower()
    c = ('conv/gemm' if any(s in kl for s in ('conv', 'gemm', 'xmma', 'sm90', 'cutlass', 'implicit', 'wgrad', 'dgrad', 'fprop'))
         else 'group_norm' if 'group_norm' in kl or 'groupnorm' in kl or 'rowwisemoments' in kl
         else 'attention' if any(s in kl for s in ('flash', 'fmha', 'attention', 'softmax'))
         else 'layout' if any(s in kl for s in ('nchw', 'nhwc', 'transpose', 'permute'))
         else 'elementwise/other')
    cats[c] = cats.get(c, 0) + dt
for c, dt in sorted(cats.items(), key=lambda p: -p[1]):
    print(f'  {c:20s} {dt / 1e3:7.1f} ms  {100 * dt / total:4.1f} %')
for dt, n, k in rows[:25]:
    print(f'  {dt / 1e3:7.2f} ms {n:4d}x  {k[:150]}')
out = os.environ.get('OUT')
if out:
    with open(os.path.join(out, 'unet_levers.json'), 'w') as f:
        json.dump(dict(res=res, conv_tflop=flops[0] / 1e12, cats=cats, top=rows[:40]), f, indent=1)
