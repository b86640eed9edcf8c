// disco::run on the tiny fixture models (CPU): callbacks, the display cadence, cancelling, and
// DD's file-name and run-number rules.
#include "disco/run.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "disco/run_internal.h"
#include "support/fixtures.h"
#include "io/image.h"
#include "support/tiny_run.h"

namespace {
namespace fs = std::filesystem;

using disco::test::TinyRun;

TEST(Run, ReportsProgressAndPreviewsAtTheDisplayRate) {
  TinyRun t;
  std::vector<int> previews, progress;
  std::vector<std::string> logs;
  disco::Callbacks cb;
  cb.on_preview = [&](const std::string& path, int step) {
    EXPECT_EQ(fs::path(path).filename(), "progress.png");
    previews.push_back(step);
  };
  cb.on_progress = [&](int step, int steps, double) {
    EXPECT_EQ(steps, 7);  // steps - skip_steps
    progress.push_back(step);
  };
  cb.on_log = [&](const std::string& line) { logs.push_back(line); };
  const disco::RunResult r = disco::run(t.settings, t.options, cb);
  EXPECT_EQ(previews, (std::vector<int>{0, 3, 6}));  // j % display_rate == 0, and the last step
  EXPECT_EQ(progress, (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(r.seed, 7u);
  EXPECT_EQ(r.run_number, 0);
  EXPECT_EQ(r.steps_done, 7);
  ASSERT_EQ(r.images.size(), 1u);
  EXPECT_EQ(fs::path(r.images[0]).filename(), "t(0)_0.png");
  EXPECT_EQ(fs::path(r.settings_file).filename(), "t(0)_settings.txt");
  ASSERT_FALSE(logs.empty());
  EXPECT_NE(std::find(logs.begin(), logs.end(), r.summary), logs.end());

  // A second run in the same folder is run 1 (DD counts the *.txt files).
  const disco::RunResult again = disco::run(t.settings, t.options, {});
  EXPECT_EQ(again.run_number, 1);
  EXPECT_EQ(fs::path(again.images[0]).filename(), "t(1)_0.png");
}

TEST(Run, CancelStopsWithoutAFinalImage) {
  TinyRun t;
  int steps = 0;
  disco::Callbacks cb;
  cb.on_progress = [&](int, int, double) { ++steps; };
  cb.should_cancel = [&] { return steps >= 2; };
  EXPECT_THROW(disco::run(t.settings, t.options, cb), disco::CancelledError);
  EXPECT_EQ(steps, 2);
  EXPECT_FALSE(fs::exists(fs::path(t.options.out_dir) / "t(0)_0.png"));
  EXPECT_FALSE(fs::exists(fs::path(t.options.out_dir) / "t(0)_settings.txt"));
  for (const auto& e : fs::directory_iterator(t.options.out_dir))
    EXPECT_EQ(e.path().filename(), "progress.png") << "unexpected file " << e.path();
}

TEST(Run, TruncatePromptsCutsALongPromptAndSaysSo) {
  TinyRun t;
  std::string long_prompt;
  for (int i = 0; i < 80; ++i) long_prompt += "lighthouse ";
  t.settings.text_prompts = disco::PromptSchedule::single({long_prompt + ":1"}, "text_prompts");
  EXPECT_THROW(disco::run(t.settings, t.options, {}), disco::SettingsError);  // DD's error by default
  t.settings.truncate_prompts = true;
  std::vector<std::string> logs;
  disco::Callbacks cb;
  cb.on_log = [&](const std::string& line) { logs.push_back(line); };
  EXPECT_EQ(disco::run(t.settings, t.options, cb).images.size(), 1u);
  EXPECT_EQ(std::count_if(logs.begin(), logs.end(),
                          [](const std::string& l) { return l.find("over CLIP's 77 tokens: it is cut") != std::string::npos; }),
            1);
}

TEST(Run, BadInputWritesNothing) {
  TinyRun t;
  t.settings.init_image = (t.dir / "missing.png").string();
  EXPECT_THROW(disco::run(t.settings, t.options, {}), disco::CheckpointError);
  EXPECT_FALSE(fs::exists(t.options.out_dir));
}

// model_needs tells which runs can share loaded models: models loaded for more serve fewer needs;
// a run given models that lack one it needs is refused before it writes anything.
TEST(Run, ModelNeedsSayWhichRunsCanShareModels) {
  TinyRun t;
  const auto needs = [](const disco::Settings& s) { return disco::model_needs(s); };
  disco::Settings still = t.settings, frames = t.settings;
  frames.animation_mode = disco::AnimationMode::TwoD;
  frames.max_frames = 3;  // frames 1 and 2 start from the previous one, with LPIPS at frames_scale
  EXPECT_EQ(needs(frames).optional, (std::set<std::string>{"lpips"}));
  EXPECT_TRUE(needs(frames).covers(needs(still)));
  EXPECT_FALSE(needs(still).covers(needs(frames)));
  disco::Settings no_init_loss = frames;
  no_init_loss.frames_scale = 0;
  EXPECT_TRUE(needs(still).covers(needs(no_init_loss)));

  disco::Settings midas = no_init_loss, both = no_init_loss;
  midas.animation_mode = both.animation_mode = disco::AnimationMode::ThreeD;
  midas.midas_weight = 1;  // MiDaS alone
  both.midas_weight = 0.3;
  EXPECT_EQ(needs(both).optional, (std::set<std::string>{"adabins", "midas:dpt_large"}));
  EXPECT_TRUE(needs(both).covers(needs(midas)));
  EXPECT_FALSE(needs(midas).covers(needs(both)));
  EXPECT_TRUE(needs(both).covers(needs(still)));

  disco::Settings secondary = still, other_clip = still;
  secondary.use_secondary_model = true;
  EXPECT_TRUE(needs(secondary).covers(needs(still)));
  EXPECT_FALSE(needs(still).covers(needs(secondary)));
  other_clip.RN50 = !other_clip.RN50;
  EXPECT_FALSE(needs(other_clip).covers(needs(still)));  // every loaded CLIP model guides
  EXPECT_FALSE(needs(still).covers(needs(other_clip)));

  const auto models = disco::load_models(still, t.options);
  EXPECT_THROW(disco::run(frames, t.options, {}, models), disco::SettingsError);
  EXPECT_FALSE(fs::exists(t.options.out_dir));
}

// DD's 2D loop: one file per frame named by its number, the frame in the PNG's metadata, the
// animation keys in the settings file, frame 1 onwards from the warped previous frame.
TEST(Run, TwoDAnimationWritesAFilePerFrame) {
  TinyRun t;
  t.settings = disco::merge_settings(t.settings,
                                     {{"animation_mode", "2D"}, {"max_frames", 3}, {"zoom", "0: (1.1)"},
                                      {"angle", "0: (0), 2: (10)"}, {"frames_skip_steps", "50%"},
                                      {"frames_scale", 0}},  // no LPIPS: the tiny run has no VGG file
                                     "test");
  std::vector<std::string> logs;
  disco::Callbacks cb;
  cb.on_log = [&](const std::string& line) { logs.push_back(line); };
  const disco::RunResult r = disco::run(t.settings, t.options, cb);
  ASSERT_EQ(r.images.size(), 3u);
  for (int f = 0; f < 3; ++f) EXPECT_EQ(fs::path(r.images[f]).filename(), "t(0)_000" + std::to_string(f) + ".png");
  EXPECT_EQ(r.steps_done, 7 + 4 + 4);  // frame 0 skips 1 of 8 steps, later frames floor(8 * 50%) = 4
  const auto text = disco::io::read_png_text(r.images[2]);
  EXPECT_EQ(nlohmann::json::parse(text.at(disco::kImageChunk)).at("frame"), 2);
  std::ifstream settings_file(r.settings_file);
  const auto saved = nlohmann::json::parse(settings_file);
  EXPECT_EQ(saved.at("animation_mode"), "2D");
  EXPECT_EQ(saved.at("angle"), "0: (0), 2: (10)");
  EXPECT_NE(std::find_if(logs.begin(), logs.end(),
                         [](const std::string& l) { return l.rfind("frame 3/3, about ", 0) == 0; }),
            logs.end());  // the frames line, with the time left

  // The frames of a shorter run are the first frames of the longer one.
  TinyRun shorter;
  shorter.settings = t.settings;
  shorter.settings.max_frames = 2;
  const disco::RunResult s = disco::run(shorter.settings, shorter.options, {});
  for (int f = 0; f < 2; ++f)
    EXPECT_EQ(disco::io::read_png(s.images[f]).rgb, disco::io::read_png(r.images[f]).rgb) << "frame " << f;
}

disco::Settings three_frames(const disco::Settings& base) {
  return disco::merge_settings(base,
                               {{"animation_mode", "2D"}, {"max_frames", 3}, {"zoom", "0: (1.1)"},
                                {"translation_x", "0: (2.5)"}, {"frames_skip_steps", "50%"}, {"frames_scale", 0}},
                               "test");
}

// Stopped in the middle of frame 1 and resumed: the frames are the bytes of a run never stopped,
// under the same run number, and the settings file is left as it was.
TEST(Run, ResumedAnimationGivesTheFramesOfAnUnstoppedRun) {
  TinyRun whole;
  whole.settings = three_frames(whole.settings);
  const disco::RunResult w = disco::run(whole.settings, whole.options, {});

  TinyRun t;
  t.settings = three_frames(t.settings);
  int steps = 0;
  disco::Callbacks stop;
  stop.on_progress = [&](int, int, double) { ++steps; };
  stop.should_cancel = [&] { return steps >= 7 + 2; };  // frame 0's 7 steps, 2 of frame 1's
  EXPECT_THROW(disco::run(t.settings, t.options, stop), disco::CancelledError);
  const fs::path out = t.options.out_dir;
  ASSERT_TRUE(fs::exists(out / "t(0)_0000.png"));
  ASSERT_FALSE(fs::exists(out / "t(0)_0001.png"));
  std::ifstream before_file(out / "t(0)_settings.txt");
  const std::string settings_before((std::istreambuf_iterator<char>(before_file)), {});

  disco::Settings resume = t.settings;
  resume.resume_run = true;
  const disco::RunResult r = disco::run(resume, t.options, {});
  EXPECT_EQ(r.run_number, 0);
  ASSERT_EQ(r.images.size(), 2u);  // frames 1 and 2
  for (int f = 0; f < 3; ++f) {
    const std::string name = "t(0)_000" + std::to_string(f) + ".png";
    EXPECT_EQ(disco::io::read_png((out / name).string()).rgb, disco::io::read_png(w.images[f]).rgb) << name;
  }
  std::ifstream after_file(out / "t(0)_settings.txt");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(after_file)), {}), settings_before);

  // From a given frame, with the frames to be made again kept in retained/.
  resume.resume_from_frame = "0";
  resume.retain_overwritten_frames = true;
  disco::run(resume, t.options, {});
  EXPECT_TRUE(fs::exists(out / "retained" / "t(0)_0001.png"));
  EXPECT_TRUE(fs::exists(out / "retained" / "t(0)_0002.png"));
  EXPECT_EQ(disco::io::read_png((out / "t(0)_0002.png").string()).rgb, disco::io::read_png(w.images[2]).rgb);
}

TEST(Run, ResumeErrorsSayWhatIsMissing) {
  TinyRun t;
  t.settings = three_frames(t.settings);
  t.settings.resume_run = true;
  try {
    disco::run(t.settings, t.options, {});
    ADD_FAILURE() << "resumed a run that does not exist";
  } catch (const disco::SettingsError& e) {
    EXPECT_NE(std::string(e.what()).find("no run"), std::string::npos) << e.what();
  }
  t.settings.resume_run = false;
  disco::run(t.settings, t.options, {});
  fs::remove(fs::path(t.options.out_dir) / "t(0)_0001.png");  // a hole in the middle
  t.settings.resume_run = true;
  t.settings.resume_from_frame = "1";
  try {
    disco::run(t.settings, t.options, {});
    ADD_FAILURE() << "resumed after a missing frame";
  } catch (const disco::SettingsError& e) {
    EXPECT_NE(std::string(e.what()).find("t(0)_0001.png', is missing"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(fs::path(t.options.out_dir) / "t(0)_0002.png"));  // nothing touched
}

TEST(RunFiles, NamesFollowDD) {
  using namespace disco::run_detail;
  disco::Settings s;
  s.batch_name = "TimeToDisco";
  EXPECT_EQ(final_name(s, 3, 12, 239, 239), "TimeToDisco(3)_12.png");  // not zero-padded
  EXPECT_EQ(intermediate_name(s, 3, 12, 60, 239), "TimeToDisco(3)_0012-26%.png");  // ceil(60/239*100)
  // At the last step DD names the partials/ copy as the final image.
  EXPECT_EQ(intermediate_name(s, 3, 12, 239, 239), "TimeToDisco(3)_12.png");
  s.intermediates_in_subfolder = false;
  EXPECT_EQ(final_name(s, 3, 2, 239, 239), "TimeToDisco(3)_0002-100%.png");
  EXPECT_EQ(intermediate_name(s, 3, 2, 239, 239), "TimeToDisco(3)_0002-100%.png");
  s.intermediate_saves.steps = std::vector<int>{5, 60};
  EXPECT_EQ(intermediate_name(s, 0, 1, 60, 239), "TimeToDisco(0)_0001-060.png");
  EXPECT_TRUE(is_intermediate_step(s, 60));
  EXPECT_FALSE(is_intermediate_step(s, 61));
  // Integer mode: steps_per_checkpoint = max(1, (steps - skip_steps - 1) // (N + 1)) = 239 // 4 = 59.
  disco::Settings n;
  n.intermediate_saves.count = 3;
  EXPECT_FALSE(is_intermediate_step(n, 0));
  EXPECT_TRUE(is_intermediate_step(n, 59));
  EXPECT_TRUE(is_intermediate_step(n, 118));
  EXPECT_FALSE(is_intermediate_step(n, 60));
}

TEST(RunFiles, RunNumberCountsTextFilesThenSkipsTakenNames) {
  const fs::path dir = fs::temp_directory_path() / ("disco_run_number_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  EXPECT_EQ(disco::run_detail::next_run_number(dir.string(), "b"), 0);  // no folder yet
  fs::create_directories(dir);
  std::ofstream(dir / "notes.txt") << "x";
  EXPECT_EQ(disco::run_detail::next_run_number(dir.string(), "b"), 1);
  std::ofstream(dir / "b(1)_settings.txt") << "{}";
  std::ofstream(dir / "b-3_settings.txt") << "{}";
  // 3 .txt files -> 3, taken (b-3) -> 4.
  EXPECT_EQ(disco::run_detail::next_run_number(dir.string(), "b"), 4);
  fs::remove_all(dir);
}

}  // namespace
