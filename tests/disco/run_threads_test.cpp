// Two runs in one process at once: each owns its generators, its options and its caches, so two
// different runs on two threads, their steps interleaved, make the images each makes alone.
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "disco/run.h"
#include "io/image.h"
#include "support/tiny_run.h"

namespace disco {
namespace {
using test::TinyRun;

struct Job {
  Settings settings;
  RunOptions options;
};

// Two runs take their sampler steps in turn, 0 first: before each step, run `who` (0 or 1) waits
// until the other has finished or it is its turn. `order` records who stepped when.
class Turns {
 public:
  void before_step(int who) {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto my_turn = [&] {
      return done_[1 - who] || (who == 0 ? steps_[1] >= steps_[0] : steps_[0] > steps_[1]);
    };
    // A bound, not a rule: a run that never comes back must fail the test, not hang it.
    cv_.wait_for(lock, std::chrono::seconds(60), my_turn);
    ++steps_[who];
    order.push_back(who);
    cv_.notify_all();
  }
  void finished(int who) {
    std::lock_guard<std::mutex> lock(mutex_);
    done_[who] = true;
    cv_.notify_all();
  }
  std::vector<int> order;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int steps_[2] = {0, 0};
  bool done_[2] = {false, false};
};

// The final image's pixels (RGB bytes).
std::vector<uint8_t> final_pixels(const RunResult& r) {
  EXPECT_EQ(r.images.size(), 1u);
  return r.images.empty() ? std::vector<uint8_t>{} : io::read_png(r.images[0]).rgb;
}

RunResult run_in(const Job& job, const std::filesystem::path& out, const Callbacks& cb = {}) {
  RunOptions options = job.options;
  options.out_dir = out.string();
  return run(job.settings, options, cb);
}

TEST(RunThreads, InterleavedRunsMakeTheImagesEachMakesAlone) {
  TinyRun t;
  // A: the tiny run (seed 7, two prompt sets, 8 steps, cutouts batched).
  const Job a{t.settings, t.options};
  // B: another seed and prompts, 6 steps, two cutn batches, and the other forms of the cutouts
  // (inner cuts box by box, the batches' augmentations together), which are B's options alone.
  Job b{merge_settings(t.settings,
                       {{"text_prompts", {{"0", {"a red fox in the snow:2", "blurry:-1"}}}},
                        {"seed", 1234},
                        {"steps", 6},
                        {"cutn_batches", 2}},
                       "test"),
        t.options};
  b.options.per_crop_cutouts = true;
  b.options.augment_blocks = "together";

  const auto alone_a = final_pixels(run_in(a, t.dir / "alone_a"));
  const auto alone_b = final_pixels(run_in(b, t.dir / "alone_b"));
  ASSERT_FALSE(alone_a.empty());
  ASSERT_FALSE(alone_b.empty());
  ASSERT_NE(alone_a, alone_b);

  Turns turns;
  RunResult together[2];
  std::exception_ptr error[2];
  const auto side = [&](int who, const Job& job) {
    Callbacks cb;
    cb.should_cancel = [&turns, who] {  // polled before every sampler step
      turns.before_step(who);
      return false;
    };
    try {
      together[who] = run_in(job, t.dir / (who == 0 ? "together_a" : "together_b"), cb);
    } catch (...) {
      error[who] = std::current_exception();
    }
    turns.finished(who);
  };
  std::thread thread_a(side, 0, std::cref(a));
  std::thread thread_b(side, 1, std::cref(b));
  thread_a.join();
  thread_b.join();
  for (const auto& e : error)
    if (e) std::rethrow_exception(e);

  EXPECT_EQ(together[0].steps_done, 7);  // steps - skip_steps
  EXPECT_EQ(together[1].steps_done, 5);
  // The steps alternated while both ran: A B A B ... then A's last two.
  EXPECT_EQ(turns.order, (std::vector<int>{0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0})) << "the steps did not interleave";
  EXPECT_EQ(final_pixels(together[0]), alone_a) << "run A on a thread beside run B differs from run A alone";
  EXPECT_EQ(final_pixels(together[1]), alone_b) << "run B on a thread beside run A differs from run B alone";
}

}  // namespace
}  // namespace disco
