// The page in headless Chromium (tests/serve/browser_test.py, over the DevTools protocol): fill
// in the form, queue a job, watch it, find its image, edit and re-run, play an animation's video.
// Skipped, saying so, where chromium or python3 is missing. DISCO_SCREENSHOTS=DIR also saves the page's three states.
#include <gtest/gtest.h>

#include <cstdlib>

#include "io/video.h"
#include "serve_process.h"

namespace disco::test {
namespace {

bool on_path(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

TEST(ServeBrowser, FormJobProgressGalleryEdit) {
  if (!on_path("python3")) GTEST_SKIP() << "python3 is not installed: the browser test is skipped";
  if (!on_path("chromium")) GTEST_SKIP() << "chromium is not installed (apt-get install chromium): the browser test is skipped";
  const auto dir = serve_scratch("browser");
  ServeProcess server(dir);
  ASSERT_GT(server.port(), 0) << server.output();
  std::vector<std::string> args = {DISCO_SERVE_BROWSER_TEST, "http://127.0.0.1:" + std::to_string(server.port()) + "/"};
  if (!io::have_video_support()) args.push_back("--no-video");
  if (const char* shots = std::getenv("DISCO_SCREENSHOTS")) args.insert(args.end(), {"--screenshots", shots});
  const CommandResult r = run_program("python3", args, dir);
  EXPECT_EQ(r.status, 0) << r.out << r.err << server.output();
  server.stop(SIGTERM);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace disco::test
