// DD's symmetry_transformation_fn and the step at which the (kostarion) DDIM loop applies it,
// dd-spec §4.4, manifest "symmetry". DDIM only: PLMS never calls it.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/Tensor.h>

namespace disco {

// x [N, C, H, W]: horizontal mirrors the left half onto the right, then vertical mirrors the
// top half onto the bottom (W//2 and H//2 of the current x; an odd size loses a column/row, as
// in DD). Both off: x unchanged.
at::Tensor symmetry_transformation(const at::Tensor& x, bool horizontal, bool vertical);

// [int(L * (1 - p)) for p in transformation_percent], L = steps - skip_steps.
std::vector<int64_t> transformation_steps(int64_t L, const std::vector<double>& transformation_percent);

// When the loop transforms x: before the DDIM step at respaced index i (loop iteration
// j = L-1-i), if i is one of the transformation steps. p = 0 gives L, which never fires;
// duplicates fire once.
class SymmetrySchedule {
 public:
  SymmetrySchedule(int64_t L, const std::vector<double>& transformation_percent)
      : steps_(transformation_steps(L, transformation_percent)) {}
  bool should_fire(int64_t i) const;
  const std::vector<int64_t>& steps() const { return steps_; }

 private:
  std::vector<int64_t> steps_;
};

}  // namespace disco
