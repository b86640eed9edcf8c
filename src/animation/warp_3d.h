// DD's 3D motion (dd-spec §11.4) for a depth map the caller supplies: do_3d_step's camera move
// and disco_xform_utils.transform_image_3d's warp, with pytorch3d-lite's (py3d_tools.py)
// euler_angles_to_matrix, FoVPerspectiveCameras and Transform3d. The same torch ops in the same
// order and dtypes (float32 throughout), so on the same libtorch the grid and the frame come out
// as DD's. The depth networks (MiDaS, AdaBins) are not here.
#pragma once
#include <string>

#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include "animation/warp_modes.h"
#include "io/image.h"

namespace disco::animation {

// DD's setting strings (sampling_mode_names(), padding_mode_names()). Throws SettingsError
// naming the allowed values for anything else.
SamplingMode parse_sampling_mode(const std::string& name);
PaddingMode parse_padding_mode(const std::string& name);

// The camera of one frame: pytorch3d's extrinsics, X_cam = X_world @ R + T (row vectors).
struct CameraMove3D {
  at::Tensor R;  // [1, 3, 3] float32
  at::Tensor T;  // [1, 3] float32
};

// do_3d_step: translate_xyz = [-tx, ty, -tz] * (1/200), rot_mat = euler_angles_to_matrix(
// radians(rx, ry, rz), "XYZ"). Translations in DD's scene units, rotations in degrees.
CameraMove3D dd_3d_camera_move(double translation_x, double translation_y, double translation_z,
                               double rotation_3d_x, double rotation_3d_y, double rotation_3d_z,
                               c10::Device device = c10::kCPU);

// pytorch3d euler_angles_to_matrix(euler_angles, convention): [..., 3] radians -> [..., 3, 3],
// R = R_c0(a0) @ R_c1(a1) @ R_c2(a2). Throws SettingsError for a bad convention.
at::Tensor euler_angles_to_matrix(const at::Tensor& euler_angles, const std::string& convention);

// The fixed parameters of DD's two FoVPerspectiveCameras (aspect_ratio 1, fov in degrees).
struct Warp3DOptions {
  double near_plane = 200;   // znear; only moves z_ndc, which the warp discards
  double far_plane = 10000;  // zfar, likewise
  double fov = 40;           // degrees, in (0, 180)
  SamplingMode sampling_mode = SamplingMode::Bicubic;
  PaddingMode padding_mode = PaddingMode::Border;
  // DD's VR eye views (generate_eye_views, transform_image_3d's spherical=True): the depth warp
  // samples with align_corners=True, then a fish-eye resample follows (spherical_grid).
  bool spherical = false;
};

// FoVPerspectiveCameras(near, far, 1.0, fov, R=R, T=T).get_full_projection_transform()
// .get_matrix(): [1, 4, 4] float32, row-vector convention (points @ M, then divide by w).
// Throws SettingsError for near_plane 0, near_plane >= far_plane or fov outside (0, 180).
at::Tensor full_projection_matrix(const CameraMove3D& camera, const Warp3DOptions& options);

// Transform3d.transform_points: [P, 3] points -> [P, 3], homogeneous product and divide.
at::Tensor transform_points(const at::Tensor& points, const at::Tensor& matrix);

// transform_image_3d's sampling grid for depth [H, W] (any float dtype, read as float32):
// the identity affine_grid (align_corners=False) minus the offset between the points' NDC xy
// in the moved camera and in the camera at identity. [1, H, W, 2] float32 on depth's device.
at::Tensor warp_3d_grid(const at::Tensor& depth, const CameraMove3D& camera, const Warp3DOptions& options);

// get_spherical_projection(H, W, center (0, 0), magnitude -0.4): grid += (c - grid) * |c - grid|
// * magnitude over the linspace(-1, 1) grid. [1, H, W, 2] float32.
at::Tensor spherical_grid(int64_t height, int64_t width, c10::Device device = c10::kCPU);

// transform_image_3d: the frame warped to the moved camera, given its depth
// [H, W]: grid_sample of image + (1/512 - 1e-4) (align_corners=False), clamped to [0, 1] and
// truncated to 8 bits as ToPILImage does; with options.spherical, sampled with align_corners=True
// and resampled through spherical_grid (bilinear, zeros padding, align_corners=True). Runs on depth's device. Throws SettingsError when the
// depth's size is not the image's, or for the camera errors above.
io::Image8 transform_image_3d(const io::Image8& image, const at::Tensor& depth, const CameraMove3D& camera,
                              const Warp3DOptions& options);

// cv2.addWeighted(a, alpha, b, beta, 0) on 8-bit frames of one size, as DD's turbo blends them:
// per byte, float32 a*alpha + b*beta rounded to nearest (ties to even) and saturated.
io::Image8 add_weighted(const io::Image8& a, double alpha, const io::Image8& b, double beta);

}  // namespace disco::animation
