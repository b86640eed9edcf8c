// DD's 2D motion (dd-spec §11.3): the previous frame, as 8-bit pixels, rotated and zoomed about
// its centre after a translation, with OpenCV's warpPerspective (bilinear, BORDER_WRAP) as DD
// calls it. Reproduced exactly: OpenCV's fixed-point coordinates (1/32 pixel) and weights
// (1/32768), so the next frame's init has DD's bytes.
#pragma once
#include <array>

#include "io/image.h"

namespace disco::animation {

using Matrix3 = std::array<double, 9>;  // row-major 3x3

// DD's transformation matrix for one frame: getRotationMatrix2D((w // 2, h // 2), angle, zoom)
// times [[1, 0, tx], [0, 1, ty], [0, 0, 1]], with tx and ty rounded to float32 first (DD builds
// that matrix with np.float32), multiplied as numpy's matmul does (see warp_2d.cpp).
Matrix3 dd_2d_matrix(int width, int height, double angle_deg, double zoom, double tx, double ty);

// cv2.warpPerspective(src, m, (w, h), flags=INTER_LINEAR, borderMode=BORDER_WRAP): `m` maps
// source to destination and is inverted as cv::invert inverts a 3x3 matrix. Same size out.
// Throws SettingsError for a singular matrix (zoom 0).
io::Image8 warp_perspective_wrap(const io::Image8& src, const Matrix3& m);

// The inverse OpenCV computes for a 3x3 double matrix (the adjugate over the determinant).
Matrix3 invert_3x3(const Matrix3& m);

}  // namespace disco::animation
