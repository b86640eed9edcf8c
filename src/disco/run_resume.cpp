// Resuming an animation (dd-spec §12 "Resume"): which run, from which frame, and the frame it
// continues from, found as DD's "Do the Run" cell finds them; checked before anything is written.
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/strings.h"
#include "disco/run_phases.h"
#include "io/video.h"

namespace disco {
namespace fs = std::filesystem;

namespace {

// The files of `folder` DD's glob "<prefix>*<suffix>" matches.
int count_matching(const std::string& folder, const std::string& prefix, const std::string& suffix) {
  int n = 0;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return 0;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    const std::string name = e.path().filename().string();
    n += starts_with(name, prefix) && ends_with(name, suffix) && name.size() >= prefix.size() + suffix.size();
  }
  return n;
}

}  // namespace

int latest_run_number(const std::string& folder, const std::string& batch_name) {
  return count_matching(folder, batch_name + "(", ")_settings.txt") - 1;
}

}  // namespace disco

namespace disco::run_detail {
namespace {

std::string frame_file(const std::string& folder, const Settings& s, int run, int frame) {
  return (fs::path(folder) / io::frame_file_name(s.batch_name, run, frame)).string();
}

// A resumed run keeps the seed its frames were made with: without a seed of its own, the seed
// in the run's settings file.
void adopt_run_seed(Settings& s, const std::string& settings_file, std::vector<std::string>* notes) {
  if (s.seed || s.set_seed != "random_seed") return;
  std::ifstream in(settings_file);
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("seed") || !j["seed"].is_number_unsigned()) return;
  s.seed = j["seed"].get<uint32_t>();
  if (notes) notes->push_back(detail::concat("resuming with the run's seed ", *s.seed, " (from ", settings_file, ")"));
}

}  // namespace

ResumePoint find_resume_point(Settings& s, const std::string& folder, std::vector<std::string>* notes) {
  ResumePoint r;
  r.run_number = s.run_to_resume == "latest" ? latest_run_number(folder, s.batch_name) : std::stoi(s.run_to_resume);
  const std::string settings_file =
      (fs::path(folder) / (s.batch_name + "(" + std::to_string(r.run_number) + ")_settings.txt")).string();
  DISCO_CHECK(r.run_number >= 0 && fs::exists(settings_file), SettingsError, "there is no run ",
              r.run_number >= 0 ? std::to_string(r.run_number) + " " : "", "of '", s.batch_name, "' to resume in '",
              folder, "' (no ", s.batch_name, "(", r.run_number >= 0 ? std::to_string(r.run_number) : "N",
              ")_settings.txt); check --out, batch_name and run_to_resume.");
  adopt_run_seed(s, settings_file, notes);
  const std::string prefix = s.batch_name + "(" + std::to_string(r.run_number) + ")_";
  r.frames_on_disk = count_matching(folder, prefix, ".png");
  r.start_frame = s.resume_from_frame == "latest" ? r.frames_on_disk : std::stoi(s.resume_from_frame) + 1;
  if (r.start_frame > 0 && r.start_frame < s.max_frames) {
    const std::string previous = frame_file(folder, s, r.run_number, r.start_frame - 1);
    DISCO_CHECK(fs::exists(previous), SettingsError, "cannot resume run ", r.run_number, " at frame ", r.start_frame,
                ": the frame before it, '", previous, "', is missing (", r.frames_on_disk,
                " of the run's frames are on disk); give resume_from_frame the last frame that is there.");
    r.previous = io::read_png(previous);
  }
  return r;
}

void retain_frames(const Settings& s, const ResumePoint& r, const std::string& folder) {
  if (!s.retain_overwritten_frames || s.resume_from_frame == "latest") return;  // as DD's cell
  const fs::path retained = fs::path(folder) / "retained";
  for (int f = r.start_frame; f < r.frames_on_disk; ++f) {
    const fs::path from = frame_file(folder, s, r.run_number, f);
    if (!fs::exists(from)) continue;
    std::error_code ec;
    fs::create_directories(retained, ec);
    fs::rename(from, retained / from.filename(), ec);
    DISCO_CHECK(!ec, RuntimeError, "cannot move '", from.string(), "' to '", retained.string(), "': ", ec.message(), ".");
  }
}

}  // namespace disco::run_detail
