#include "job_worker.h"

#include <filesystem>
#include <random>

#include <c10/util/Exception.h>

#include "common/error.h"
#include "io/video.h"

namespace disco::serve {
namespace fs = std::filesystem;

std::string random_id() {
  std::random_device rd;
  const uint64_t v = (uint64_t(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// What the running job reports: which image or frame it is at, turned into progress events.
struct JobWorker::Reporter {
  EventHub& hub;
  int64_t job;
  int total;
  bool animation;
  int index = 0;  // the image or frame being made

  void progress(int step, int steps, double elapsed) {
    const double rate = elapsed > 0 ? step / elapsed : 0;
    const double per_image = rate > 0 ? steps / rate : 0;
    const double eta = rate > 0 ? (steps - step) / rate + per_image * (total - index - 1) : -1;
    hub.publish(job, "progress", {{"image", index}, {"images", total}, {"frame", animation ? index : -1},
                                  {"step", step}, {"steps", steps}, {"it_s", rate}, {"eta_s", eta}});
  }
};

JobWorker::JobWorker(JobStore& store, EventHub& hub, RunOptions run, std::string data_dir, io::VideoOptions video)
    : store_(store), hub_(hub), run_(std::move(run)), data_dir_(std::move(data_dir)), video_(std::move(video)) {}

JobWorker::~JobWorker() { stop(); }

void JobWorker::start() { thread_ = std::thread([this] { loop(); }); }

void JobWorker::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stopping_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JobWorker::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool JobWorker::cancel(int64_t id) {
  if (running_ != id) return false;
  cancel_ = true;
  return true;
}

std::string JobWorker::preview_path(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  return running_ == id ? preview_ : std::string();
}

void JobWorker::loop() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      woken_ = false;
    }
    if (auto job = store_.claim_next()) {
      run_job(*job);
      continue;
    }
    std::unique_lock<std::mutex> lock(mu_);
    // The timeout also picks up jobs queued by anything that did not wake us.
    cv_.wait_for(lock, std::chrono::seconds(2), [this] { return stop_ || woken_; });
  }
}

Callbacks JobWorker::callbacks_for(Reporter& rep) {
  Callbacks cb;
  cb.on_log = [this, &rep](const std::string& line) { hub_.publish(rep.job, "log", {{"line", line}}); };
  cb.on_progress = [&rep](int step, int steps, double elapsed) { rep.progress(step, steps, elapsed); };
  cb.on_preview = [this, &rep](const std::string& path, int step) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      preview_ = path;
    }
    hub_.publish(rep.job, "preview", {{"image", rep.index}, {"step", step}});
  };
  cb.should_cancel = [this] { return cancel_ || stopping_; };
  return cb;
}

void JobWorker::run_job(const Job& job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    preview_.clear();
  }
  cancel_ = false;
  running_ = job.id;
  const auto end = [&](JobState state, const std::string& error) {
    running_ = 0;
    if (stopping_ && state == JobState::Cancelled) {
      store_.requeue(job.id);  // the server is stopping, not the user: resume at the next start
      return;
    }
    store_.finish(job.id, state, error);
    hub_.publish(job.id, "state", {{"state", job_state_name(state)}, {"error", error}});
  };
  hub_.publish(job.id, "state", {{"state", "running"}, {"error", ""}});
  try {
    const Settings s = merge_settings(Settings{}, job.settings, "the job's settings");
    Reporter rep{hub_, job.id, job.total, s.animation_mode != AnimationMode::None};
    if (rep.animation) run_animation(job, s, rep);
    else run_still(job, s, rep);
    end(JobState::Done, "");
  } catch (const CancelledError& e) {
    end(JobState::Cancelled, "cancelled");
  } catch (const c10::Error& e) {
    models_.reset();  // a failure inside libtorch (out of memory) may leave the models unusable
    loaded_ = {};
    end(JobState::Failed, e.what_without_backtrace());
  } catch (const std::exception& e) {
    end(JobState::Failed, e.what());
  }
}

// The loaded models while they cover the job's needs, else the job's own: jobs that take turns
// (stills, animations with an init loss) reload only until the models of the one that needs more
// are loaded.
std::shared_ptr<LoadedModels> JobWorker::models_for(const Settings& s, const Callbacks& cb) {
  const ModelNeeds needs = model_needs(s);
  if (models_ && loaded_.covers(needs)) return models_;
  models_.reset();  // the old models' memory is freed before the new ones load
  models_ = load_models(s, run_, cb);
  loaded_ = needs;
  return models_;
}

void JobWorker::run_still(const Job& job, const Settings& s, Reporter& rep) {
  Callbacks cb = callbacks_for(rep);
  const auto models = models_for(s, cb);
  for (int k = int(job.images.size()); k < s.n_batches; ++k) {
    rep.index = k;
    Settings one = s;
    one.n_batches = 1;
    one.seed = *s.seed + static_cast<uint32_t>(k);
    RunOptions o = run_;
    o.out_dir = (fs::path(data_dir_) / "jobs" / std::to_string(job.id) / std::to_string(k)).string();
    o.input_dir = (fs::path(data_dir_) / "uploads").string();
    fs::remove_all(o.out_dir);  // an image a killed server left unfinished is made again
    const RunResult r = run(one, o, cb, models);
    const JobImage image{random_id(), k, r.images.at(0), r.settings_file};
    if (store_.add_image(job.id, image)) hub_.publish(job.id, "image", {{"id", image.id}, {"index", k}});
  }
}

// Records the frames below `below` of run `run` that are on disk and not yet recorded.
void JobWorker::record_frames(const Job& job, const Settings& s, const std::string& folder, int run, int below) {
  const std::string settings_file =
      (fs::path(folder) / (s.batch_name + "(" + std::to_string(run) + ")_settings.txt")).string();
  for (int f = 0; f < below; ++f) {
    const std::string path = (fs::path(folder) / io::frame_file_name(s.batch_name, run, f)).string();
    if (!fs::exists(path)) continue;
    const JobImage image{random_id(), f, path, settings_file};
    if (store_.add_image(job.id, image)) hub_.publish(job.id, "image", {{"id", image.id}, {"index", f}});
  }
}

void JobWorker::run_animation(const Job& job, Settings s, Reporter& rep) {
  const std::string folder = (fs::path(data_dir_) / "jobs" / std::to_string(job.id) / "frames").string();
  const int previous_run = latest_run_number(folder, s.batch_name);
  if (previous_run >= 0) s.resume_run = true;  // DD's resume: on from the frames on disk
  const int run_number = previous_run >= 0 ? previous_run : 0;
  Callbacks cb = callbacks_for(rep);
  const auto log = cb.on_log;
  // "frame N/M" starts frame N-1: every frame before it is finished and on disk.
  cb.on_log = [&, log](const std::string& line) {
    int n = 0, m = 0;
    if (std::sscanf(line.c_str(), "frame %d/%d", &n, &m) == 2) {
      rep.index = n - 1;
      record_frames(job, s, folder, run_number, n - 1);
    }
    log(line);
  };
  RunOptions o = run_;
  o.out_dir = folder;
  o.input_dir = (fs::path(data_dir_) / "uploads").string();
  const RunResult r = run(s, o, cb, models_for(s, cb));
  record_frames(job, s, folder, r.run_number, s.max_frames);
  make_video(job, s, folder, r.run_number);
}

// The frames into an mp4 for the gallery. A video that cannot be made is said in the log and
// leaves the job done: its frames are all there.
void JobWorker::make_video(const Job& job, const Settings& s, const std::string& folder, int run) {
  const auto log = [&](const std::string& line) { hub_.publish(job.id, "log", {{"line", line}}); };
  if (s.max_frames <= video_.init_frame) return;  // no frame from init_frame on: nothing to play
  if (!io::have_video_support()) return log("no video: this disco was built without FFmpeg; the frames are in the gallery");
  try {
    log("joining the frames into a video");
    const std::string path = io::write_video(folder, s.batch_name, run, video_);
    const JobVideo video{random_id(), path, io::probe_video(path).frames};
    store_.set_video(job.id, video);
    hub_.publish(job.id, "video", {{"id", video.id}, {"frames", video.frames}});
  } catch (const std::exception& e) {
    log(std::string("no video: ") + e.what());
  }
}

}  // namespace disco::serve
