// disco::run on the tiny fixture models (CPU): callbacks, the display cadence, cancelling, and
// DD's file-name and run-number rules.
#include "disco/run.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "disco/run_internal.h"
#include "support/fixtures.h"
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

TEST(Run, BadInputWritesNothing) {
  TinyRun t;
  t.settings.init_image = (t.dir / "missing.png").string();
  EXPECT_THROW(disco::run(t.settings, t.options, {}), disco::CheckpointError);
  EXPECT_FALSE(fs::exists(t.options.out_dir));
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
