// DD's 3D warp, ported from disco.py do_3d_step, disco_xform_utils.transform_image_3d and
// pytorch3d-lite's py3d_tools.py (Ref: https://github.com/MSFTserver/pytorch3d-lite,
// https://github.com/alembics/disco-diffusion). Every step is the torch op Python runs, on the
// same shapes and dtypes: the last bits of the cameras and the grid decide which source pixel a
// destination pixel reads, so the order of the float32 operations is kept as it is there.
#include "animation/warp_3d.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <torch/torch.h>

#include "common/error.h"

namespace disco::animation {
namespace {

// disco.py: TRANSLATION_SCALE = 1.0/200.0
constexpr double kTranslationScale = 1.0 / 200.0;
// transform_image_3d adds this before grid_sample, for the truncation to 8 bits afterwards.
constexpr double kTruncationCompensation = 1.0 / 512 - 0.0001;

// py3d_tools._axis_angle_rotation: the rotation about one axis, [..., 3, 3].
at::Tensor axis_angle_rotation(char axis, const at::Tensor& angle) {
  const auto cos = torch::cos(angle), sin = torch::sin(angle);
  const auto one = torch::ones_like(angle), zero = torch::zeros_like(angle);
  std::vector<at::Tensor> r_flat;
  if (axis == 'X') r_flat = {one, zero, zero, zero, cos, -sin, zero, sin, cos};
  if (axis == 'Y') r_flat = {cos, zero, sin, zero, one, zero, -sin, zero, cos};
  if (axis == 'Z') r_flat = {cos, -sin, zero, sin, cos, zero, zero, zero, one};
  auto shape = angle.sizes().vec();
  shape.insert(shape.end(), {3, 3});
  return torch::stack(r_flat, -1).reshape(shape);
}

// FoVPerspectiveCameras.compute_projection_matrix for one camera (N = 1, degrees=True), with
// znear, zfar, fov, aspect_ratio as the [1] float32 tensors TensorProperties makes of them.
at::Tensor fov_projection_k(const at::Tensor& znear, const at::Tensor& zfar, at::Tensor fov,
                            const at::Tensor& aspect_ratio) {
  auto K = torch::zeros({1, 4, 4}, znear.options());
  const auto ones = torch::ones({1}, znear.options());
  fov = fov * (M_PI / 180);  // (np.pi / 180) * fov
  const auto tan_half_fov = torch::tan(fov / 2);
  const auto max_y = tan_half_fov * znear, min_y = -max_y;
  const auto max_x = max_y * aspect_ratio, min_x = -max_x;
  const double z_sign = 1.0;  // pytorch3d keeps a right-handed NDC, unlike OpenGL
  K.select(1, 0).select(1, 0).copy_(znear * 2.0 / (max_x - min_x));
  K.select(1, 1).select(1, 1).copy_(znear * 2.0 / (max_y - min_y));
  K.select(1, 0).select(1, 2).copy_((max_x + min_x) / (max_x - min_x));
  K.select(1, 1).select(1, 2).copy_((max_y + min_y) / (max_y - min_y));
  K.select(1, 3).select(1, 2).copy_(ones * z_sign);
  // z maps [znear, zfar] to [0, 1]; DD discards it.
  K.select(1, 2).select(1, 2).copy_(zfar * z_sign / (zfar - znear));
  K.select(1, 2).select(1, 3).copy_(-(zfar * znear) / (zfar - znear));
  return K;
}

// The value named `name` in `names`, or a SettingsError listing the names.
template <typename E>
E warp_mode_named(const std::vector<std::pair<std::string, E>>& names, const std::string& name, const char* key) {
  std::string listed;
  for (const auto& [n, value] : names) {
    if (n == name) return value;
    listed += (listed.empty() ? "" : ", ") + n;
  }
  throw SettingsError(std::string("unknown ") + key + " '" + name + "': use one of " + listed + ".");
}

}  // namespace

SamplingMode parse_sampling_mode(const std::string& name) {
  return warp_mode_named(sampling_mode_names(), name, "sampling_mode");
}

PaddingMode parse_padding_mode(const std::string& name) {
  return warp_mode_named(padding_mode_names(), name, "padding_mode");
}

at::Tensor euler_angles_to_matrix(const at::Tensor& euler_angles, const std::string& convention) {
  DISCO_CHECK(euler_angles.dim() > 0 && euler_angles.size(-1) == 3, SettingsError,
              "Euler angles must have shape [..., 3], got ", euler_angles.sizes(), ".");
  DISCO_CHECK(convention.size() == 3 && convention[1] != convention[0] && convention[1] != convention[2] &&
                  convention.find_first_not_of("XYZ") == std::string::npos,
              SettingsError, "invalid Euler convention '", convention, "': three of X, Y, Z, the middle one unlike its neighbours.");
  const auto angles = torch::unbind(euler_angles, -1);
  std::vector<at::Tensor> matrices;
  for (int i = 0; i < 3; ++i) matrices.push_back(axis_angle_rotation(convention[i], angles[i]));
  return torch::matmul(torch::matmul(matrices[0], matrices[1]), matrices[2]);
}

CameraMove3D dd_3d_camera_move(double translation_x, double translation_y, double translation_z,
                               double rotation_3d_x, double rotation_3d_y, double rotation_3d_z, c10::Device device) {
  // Python floats (float64) until torch makes float32 of them: rotate_xyz in torch.tensor(...),
  // translate_xyz in pytorch3d's Translate.
  const double translate_xyz[3] = {-translation_x * kTranslationScale, translation_y * kTranslationScale,
                                   -translation_z * kTranslationScale};
  const double deg = M_PI / 180.0;  // math.radians
  const auto rotate_xyz = torch::tensor({rotation_3d_x * deg, rotation_3d_y * deg, rotation_3d_z * deg},
                                        torch::TensorOptions(torch::kFloat).device(device));
  CameraMove3D move;
  move.R = euler_angles_to_matrix(rotate_xyz, "XYZ").unsqueeze(0);  // [1, 3, 3]
  move.T = torch::tensor({translate_xyz[0], translate_xyz[1], translate_xyz[2]}, torch::kDouble)
               .to(device, torch::kFloat)
               .view({1, 3});
  return move;
}

at::Tensor full_projection_matrix(const CameraMove3D& camera, const Warp3DOptions& options) {
  check_camera_options(options.near_plane, options.far_plane, options.fov);
  const auto f32 = camera.R.options().dtype(torch::kFloat);
  const auto param = [&](double v) { return torch::full({1}, v, f32); };  // format_tensor(v)
  const auto K = fov_projection_k(param(options.near_plane), param(options.far_plane), param(options.fov), param(1.0));
  // Rotate(R), Translate(T), and the projection Transform3d(K^T): world_to_view.compose(proj).
  auto rotate = torch::eye(4, f32).view({1, 4, 4}).repeat({1, 1, 1});
  rotate.slice(1, 0, 3).slice(2, 0, 3).copy_(camera.R.to(torch::kFloat));
  auto translate = torch::eye(4, f32).view({1, 4, 4}).repeat({1, 1, 1});
  translate.select(1, 3).slice(1, 0, 3).copy_(camera.T.to(torch::kFloat));
  const auto projection = K.transpose(1, 2).contiguous();
  // Transform3d.get_matrix: left to right, in the order composed.
  return rotate.bmm(translate).bmm(projection);
}

at::Tensor transform_points(const at::Tensor& points, const at::Tensor& matrix) {
  // points: [P, 3] -> [1, P, 4] with w = 1; row vectors times the [1, 4, 4] matrix.
  auto batch = points.clone().unsqueeze(0);
  const auto ones = torch::ones({1, points.size(0), 1}, points.options());
  batch = torch::cat({batch, ones}, 2);
  const auto out = batch.bmm(matrix);
  const auto denom = out.slice(-1, 3);
  return (out.slice(-1, 0, 3) / denom).reshape(points.sizes());
}

at::Tensor warp_3d_grid(const at::Tensor& depth, const CameraMove3D& camera, const Warp3DOptions& options) {
  DISCO_CHECK(depth.dim() == 2 && depth.is_floating_point(), SettingsError,
              "the depth map must be a float [H, W] tensor, got ", depth.scalar_type(), " ", depth.sizes(), ".");
  const int64_t h = depth.size(0), w = depth.size(1);
  const auto f32 = torch::TensorOptions(torch::kFloat).device(depth.device());
  const CameraMove3D at_identity{torch::eye(3, f32).unsqueeze(0), torch::zeros({1, 3}, f32)};
  const CameraMove3D moved{camera.R.to(depth.device()), camera.T.to(depth.device())};
  // range of [-1, 1] is important to torch grid_sample's padding handling (DD's comment)
  const auto yx = torch::meshgrid({torch::linspace(-1., 1., h, f32), torch::linspace(-1., 1., w, f32)}, "ij");
  const auto z = depth.to(f32);
  const auto xyz_old_world = torch::stack({yx[1].flatten(), yx[0].flatten(), z.flatten()}, 1);  // [H*W, 3]
  const auto old_xy = transform_points(xyz_old_world, full_projection_matrix(at_identity, options)).slice(1, 0, 2);
  const auto new_xy = transform_points(xyz_old_world, full_projection_matrix(moved, options)).slice(1, 0, 2);
  const auto offset_xy = new_xy - old_xy;
  const auto identity_2d_batch = torch::tensor({1.f, 0.f, 0.f, 0.f, 1.f, 0.f}, f32).view({1, 2, 3});
  const auto coords_2d = torch::affine_grid_generator(identity_2d_batch, {1, 1, h, w}, /*align_corners=*/false);
  return coords_2d - offset_xy.reshape({h, w, 2}).unsqueeze(0);  // [1, H, W, 2]
}

at::Tensor spherical_grid(int64_t height, int64_t width, c10::Device device) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(device);
  const auto xx = torch::linspace(-1, 1, width, f32), yy = torch::linspace(-1, 1, height, f32);
  const auto mesh = torch::meshgrid({yy, xx}, "ij");
  auto grid = torch::stack({mesh[1], mesh[0]}, -1);
  // center = torch.tensor([0, 0]): an int64 tensor, promoted to float32 by the subtraction.
  const auto d = torch::zeros({2}, torch::TensorOptions().dtype(torch::kLong).device(device)) - grid;
  const auto d_sum = d.pow(2).sum(-1).sqrt();
  grid += d * d_sum.unsqueeze(-1) * -0.4;
  return grid.unsqueeze(0);
}

io::Image8 transform_image_3d(const io::Image8& image, const at::Tensor& depth, const CameraMove3D& camera,
                              const Warp3DOptions& options) {
  DISCO_CHECK(depth.dim() == 2 && depth.size(0) == image.height && depth.size(1) == image.width, SettingsError,
              "the depth map is ", depth.sizes(), " but the frame is ", image.height, "x", image.width,
              " (H x W); give one depth per pixel.");
  torch::NoGradGuard no_grad;
  const auto grid = warp_3d_grid(depth, camera, options);
  const auto image_tensor = io::to_tensor_01(image).to(depth.device());  // [1, 3, H, W]
  auto new_image =
      at::grid_sampler(image_tensor.add(kTruncationCompensation), grid, static_cast<int64_t>(options.sampling_mode),
                       static_cast<int64_t>(options.padding_mode), /*align_corners=*/options.spherical);
  if (options.spherical)  // DD leaves this resample at grid_sample's defaults, bilinear and zeros
    new_image = at::grid_sampler(new_image, spherical_grid(image.height, image.width, depth.device()),
                                 static_cast<int64_t>(SamplingMode::Bilinear), static_cast<int64_t>(PaddingMode::Zeros),
                                 /*align_corners=*/true);
  return io::from_tensor_01(new_image.squeeze(0).clamp(0, 1.));  // ToPILImage: mul(255).byte()
}

io::Image8 add_weighted(const io::Image8& a, double alpha, const io::Image8& b, double beta) {
  DISCO_CHECK(a.width == b.width && a.height == b.height, SettingsError, "cannot blend a ", a.width, "x", a.height,
              " frame with a ", b.width, "x", b.height, " one.");
  // OpenCV converts the weights to float and computes each byte in float.
  const float fa = static_cast<float>(alpha), fb = static_cast<float>(beta);
  io::Image8 out = a;
  for (size_t i = 0; i < a.rgb.size(); ++i) {
    const float v = std::nearbyint(static_cast<float>(a.rgb[i]) * fa + static_cast<float>(b.rgb[i]) * fb);
    out.rgb[i] = static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
  }
  return out;
}

}  // namespace disco::animation
