// DD's key-frame strings (dd-spec §11.1): "frame: (value), frame: (value), ..." parsed as DD's
// parse_key_frames does, and filled to one value per frame as its get_inbetweens does with
// pandas (first and last frames take the first and last key's value, the rest interpolated).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"

namespace disco::animation {

// A non-empty key-frame string in which DD's pattern finds no key.
class KeyFrameFormatError : public SettingsError {
 public:
  using SettingsError::SettingsError;
};

// interp_spline. Cubic needs more than 3 keys and Quadratic more than 2; with fewer, DD falls
// back to the next simpler one.
enum class Interp { Linear, Quadratic, Cubic };
const char* interp_name(Interp i);  // "Linear" | "Quadratic" | "Cubic"

struct KeyFrame {
  int64_t frame = 0;
  double value = 0;
};

// The keys of `text` in DD's order (dict order: a repeated frame keeps its first place and takes
// its last value). Values are read as Python's float() reads them. Throws SettingsError naming
// `setting` for a value that is not a number; an empty result from a non-empty string is
// `KeyFrameFormatError`, which DD answers with its fallback (key_frame_series).
std::vector<KeyFrame> parse_key_frames(const std::string& text, const std::string& setting);

// One value per frame 0 .. max_frames - 1 from `keys` (keys at or beyond max_frames take part
// in the interpolation as DD's enlarged pandas series does).
std::vector<double> inbetweens(const std::vector<KeyFrame>& keys, int64_t max_frames, Interp interp);

// What DD's settings cell does with a key-frame setting: parse, and on a string with no key
// retry as "0: (<text>)" after DD's warning (appended to `notes`). Throws SettingsError when that
// fails too, or for an empty string.
std::vector<double> key_frame_series(const std::string& text, int64_t max_frames, Interp interp,
                                     const std::string& setting, std::vector<std::string>* notes = nullptr);

// A motion setting with key_frames off: one plain number (Python's float()), every frame.
double plain_motion_value(const std::string& text, const std::string& setting);

}  // namespace disco::animation
